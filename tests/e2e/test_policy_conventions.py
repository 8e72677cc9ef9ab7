"""AD CS conventions through the real binary (issue 22): CNG templates whose key algorithm is a
curve OID, algorithms this client cannot generate named by their defaultName, template rules
enforced before anything is sent, a CA's refusal of a key, and a policy with one broken template
and one broken CA (the sandbox's "partialpolicy" fault)."""

import os
import re
import subprocess

import cli


def openssl(*args):
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=True).stdout


def ces_requests(sandbox):
    return [r for r in sandbox.requests() if r.get("endpoint") == "CES"]


class ConventionsTest(cli.SandboxTest):
    def tearDown(self):
        self.sandbox.clear_faults()
        super().tearDown()

    def policy(self, *extra, json_mode=True):
        return self.cli("policy", *self.cep(), *self.user(), *extra, json_mode=json_mode)

    def enroll(self, template, *extra):
        return self.cli("enroll", *self.cep(), *self.user(), "--template", template, *extra)

    def partial(self):
        """The next GetPolicies answer carries the broken template and CA entries."""
        self.sandbox.inject_fault("partialpolicy", count=1, match="CEP")

    def assertNoKeyLeft(self, name):
        self.assertFalse(os.path.exists(os.path.join(self.state, "live", name)),
                         os.listdir(os.path.join(self.state, "live"))
                         if os.path.isdir(os.path.join(self.state, "live")) else "no live dir")

    def assertColumnsApart(self, table):
        """Every row's cells start where the header's columns do, after a space."""
        lines = [l for l in table.splitlines() if l.strip()]
        header = lines[0]
        starts = [m.start() for m in re.finditer(r"\S+", header)]
        rows = [l for l in lines[1:] if not l.startswith("CA '")]
        self.assertTrue(rows)
        for line in rows:
            for start in starts[1:]:
                if start < len(line):
                    self.assertEqual(line[start - 1], " ", f"column at {start} runs into: {line!r}")
                    self.assertNotEqual(line[start], " ", f"empty cell at {start}: {line!r}")

    # 1. Key algorithms as Windows writes them.
    def test_curve_oid_templates_and_named_algorithms_in_json_and_table(self):
        result = self.policy()
        self.assertExit(result, 0)
        by_name = {t["name"]: t for t in result.json["templates"]}
        p256, p384 = by_name["ECP256WebServer"], by_name["ECP384WebServer"]
        self.assertEqual((p256["key_algorithm"], p256["key_curve"], p256["key_algorithm_oid"]),
                         ("ECDSA", "P-256", "1.2.840.10045.3.1.7"))
        self.assertEqual((p384["key_algorithm"], p384["key_curve"]), ("ECDSA", "P-384"))
        self.assertTrue(p256["usable"], p256["unusable_reasons"])
        generic = by_name["ECWebServer"]  # id-ecPublicKey: the curve follows minimalKeyLength
        self.assertEqual((generic["key_algorithm"], generic["key_curve"]), ("ECDSA", None))
        mldsa = by_name["MLDSA65Signing"]
        self.assertEqual(mldsa["key_algorithm"], "ML-DSA-65")
        self.assertFalse(mldsa["usable"])
        self.assertIn("requires ML-DSA-65 keys", mldsa["unusable_reasons"][0])
        self.assertNotIn("2.16.840.1.101.3.4.3.18", mldsa["unusable_reasons"][0])

        table = self.policy(json_mode=False)
        self.assertExit(table, 0)
        rows = {l.split()[0]: l for l in table.stdout.splitlines()[1:] if l.strip()}
        self.assertIn("ECDSA P-256", rows["ECP256WebServer"])
        self.assertIn("ECDSA P-384", rows["ECP384WebServer"])
        self.assertIn("ML-DSA-65", rows["MLDSA65Signing"])
        self.assertNotIn("2.16.840.1.101.3.4.3.18", table.stdout)
        self.assertNotIn("1.2.840.10045.3.1.7", table.stdout)
        self.assertColumnsApart(table.stdout)

        details = self.policy("--template", "ECP384WebServer", json_mode=False)
        self.assertExit(details, 0)
        self.assertIn("key: ECDSA P-384, at least 384 bits; hash sha384", details.stdout)

    def test_curve_oid_templates_issue_with_their_curve(self):
        for template, curve, nist in (("ECP256WebServer", "P-256", "prime256v1"),
                                      ("ECP384WebServer", "P-384", "secp384r1")):
            result = self.enroll(template, "--cn", f"{template.lower()}.example.test")
            self.assertExit(result, 0)
            self.assertEqual(result.json["key"], f"EC {curve}")
            text = openssl("x509", "-in", result.json["files"]["cert"], "-noout", "-text")
            self.assertIn(nist, text)

    def test_ml_dsa_key_type_on_this_build_is_refused_naming_the_openssl_version(self):
        result = self.cli("enroll", "--ces-url", self.info["ces"]["Sandbox-RSA-CA"]["password"],
                          "--ca-bundle", self.info["ca_bundle"], *self.user(), "--template",
                          "WebServer", "--cn", "pq.example.test", "--key-type", "ml-dsa-65")
        self.assertExit(result, 2)
        self.assertIn("ML-DSA-65 keys need OpenSSL 3.5 or later", result.json["error"]["message"])

    def test_unsupported_algorithm_is_refused_by_name_before_anything_is_sent(self):
        before = len(ces_requests(self.sandbox))
        result = self.enroll("MLDSA65Signing", "--cn", "pq.example.test")
        self.assertExit(result, 2)
        message = result.json["error"]["message"]
        # The Debian 12 (OpenSSL 3.0) build: the refusal names the algorithm and the OpenSSL
        # version it needs (issue 26; builds against 3.5 enroll it: tests/e2e/test_pqc.py).
        self.assertIn("requires ML-DSA-65 keys, which need OpenSSL 3.5 or later; this "
                      "certenroll-cli was built with OpenSSL 3.0", message)
        self.assertIn("OpenSSL 3.5", result.json["error"]["hint"])
        self.assertNotIn("2.16.840", message)
        self.assertEqual(before, len(ces_requests(self.sandbox)))
        self.assertNoKeyLeft("MLDSA65Signing")

    # 7. Template rules enforced locally; the CA's refusal of a key.
    def test_key_the_template_forbids_is_refused_locally_with_nothing_left_behind(self):
        before = len(ces_requests(self.sandbox))
        for template, key_type, expected in (
                ("ECP256WebServer", "ec:P-384", "requires curve P-256"),
                ("ECP256WebServer", "rsa:3072", "requires an EC key"),
                ("WebServer3072", "rsa:2048", "at least 3072 bits"),
                ("WebServer", "ec:P-256", "requires an RSA key")):
            with self.subTest(template=template, key_type=key_type):
                result = self.enroll(template, "--cn", "rules.example.test", "--key-type", key_type)
                self.assertExit(result, 2)
                self.assertIn(expected, result.json["error"]["message"])
                self.assertIn("--key-type", result.json["error"]["hint"])
                self.assertNoKeyLeft(template)
        self.assertEqual(before, len(ces_requests(self.sandbox)), "a request was sent")

    def test_ca_refusal_of_a_key_is_denied_with_the_hresult_once(self):
        # Straight to the CES (no policy, so no local rules): the CA itself refuses the curve.
        ces = self.info["ces"]["Sandbox-EC-CA"]["password"]
        result = self.cli("enroll", "--ces-url", ces, "--ca-bundle", self.info["ca_bundle"],
                          *self.user(), "--template", "ECP256WebServer", "--cn", "ca.example.test",
                          "--key-type", "ec:P-384", "--name", "refused")
        self.assertExit(result, 4)
        error = result.json["error"]
        self.assertEqual(error["category"], "denied")
        self.assertEqual(error["hresult"], "0x80090008")
        self.assertEqual(error["hresult_name"], "NTE_BAD_ALGID")
        self.assertEqual(result.stderr.lower().count("0x80090008"), 1, result.stderr)
        self.assertEqual(result.stderr.count("-2146893816"), 0, result.stderr)
        self.assertEqual(ces_requests(self.sandbox)[-1]["hresult"], "0x80090008")
        self.assertNoKeyLeft("refused")  # the refused key is of no further use
        # Too small a key: CERTSRV_E_KEY_LENGTH, denied as well.
        rsa_ces = self.info["ces"]["Sandbox-RSA-CA"]["password"]
        small = self.cli("enroll", "--ces-url", rsa_ces, "--ca-bundle", self.info["ca_bundle"],
                         *self.user(), "--template", "WebServer3072", "--cn", "s.example.test",
                         "--key-type", "rsa:2048", "--name", "small", json_mode=False)
        self.assertExit(small, 4)
        self.assertIn("CERTSRV_E_KEY_LENGTH", small.stderr)
        self.assertEqual(small.stderr.lower().count("0x80094811"), 1, small.stderr)
        self.assertNoKeyLeft("small")

    # 6. Partial policies.
    def test_partial_policy_marks_the_broken_parts_and_the_rest_works(self):
        self.partial()
        result = self.policy()
        self.assertExit(result, 0)
        by_name = {t["name"]: t for t in result.json["templates"]}
        oid = by_name["BrokenTemplateOid"]
        self.assertFalse(oid["usable"])
        self.assertEqual(oid["unusable_reasons"],
                         ["policyOIDReference 9999 does not match any oID"])
        self.assertEqual(oid["policy_errors"], oid["unusable_reasons"])
        algorithm = by_name["BrokenKeyAlgorithm"]
        self.assertEqual(algorithm["unusable_reasons"],
                         ["algorithmOIDReference 9999 does not match any oID"])
        only_broken_ca = by_name["BrokenCaOnly"]
        self.assertFalse(only_broken_ca["usable"])
        self.assertIn("is not a DER X.509 certificate", only_broken_ca["unusable_reasons"][0])
        broken_cas = [ca for ca in result.json["cas"] if not ca["usable"]]
        self.assertEqual(len(broken_cas), 1)
        self.assertIn("is not a DER X.509 certificate", broken_cas[0]["policy_error"])
        # WebServer is offered by the broken CA too, and by a good one: still usable.
        self.assertTrue(by_name["WebServer"]["usable"])
        self.assertEqual(len(by_name["WebServer"]["cas"]), 2)
        # Machine's flag words came as xsi:nil: unknown, not 0.
        machine = by_name["Machine"]
        for word in ("private_key_flags", "subject_name_flags", "enrollment_flags",
                     "general_flags"):
            self.assertIsNone(machine[word], word)
            self.assertIsNone(machine["flags"][word], word)
        self.assertIsNone(machine["subject_source"])
        self.assertEqual(by_name["WebServer"]["subject_name_flags"], 1)

        self.partial()
        table = self.policy("--refresh", json_mode=False)
        self.assertExit(table, 0)
        rows = {l.split()[0]: l for l in table.stdout.splitlines()[1:] if l.strip()}
        self.assertIn("cannot use: policyOIDReference 9999 does not match any oID",
                      rows["BrokenTemplateOid"])
        self.assertIn("unknown", rows["Machine"])
        self.assertRegex(table.stdout, r"CA '.*' cannot be used: .*not a DER X.509 certificate")
        self.assertColumnsApart(table.stdout)
        self.partial()
        details = self.policy("--refresh", "--template", "Machine", json_mode=False)
        self.assertExit(details, 0)
        self.assertIn("subject_name_flags: unknown", details.stdout)
        self.assertIn("subject: unknown", details.stdout)

    def test_partial_policy_enroll_good_template_works_and_broken_one_is_refused(self):
        self.partial()
        good = self.enroll("WebServer", "--cn", "partial.example.test")
        self.assertExit(good, 0)
        self.assertEqual(good.json["ca"], "Sandbox-RSA-CA")
        before = len(ces_requests(self.sandbox))
        for template, reason in (("BrokenTemplateOid", "policyOIDReference 9999"),
                                 ("BrokenCaOnly", "not a DER X.509 certificate")):
            with self.subTest(template=template):
                self.partial()
                broken = self.enroll(template, "--cn", "broken.example.test", "--refresh-policy")
                self.assertExit(broken, 8)
                self.assertIn(f"template '{template}' cannot be used", broken.json["error"]["message"])
                self.assertIn(reason, broken.json["error"]["message"])
                self.assertNoKeyLeft(template)
        self.assertEqual(before, len(ces_requests(self.sandbox)), "a broken template was sent")
