"""ML-DSA (FIPS 204) certificates through the real binary, on a build against OpenSSL 3.5 or later
(issue 26; run by tests/pqc/run in a Debian 13 chroot, registered with ctest only for such
builds). The sandbox gets an ML-DSA-65 issuing CA and the ML-DSA templates of
tests/pqc/templates.json; it signs with the openssl command line (python3-cryptography 43 has no
ML-DSA)."""

import json
import os
import subprocess

import cli

HERE = os.path.dirname(os.path.abspath(__file__))


def certificate_text(path):
    return cli.openssl("x509", "-in", path, "-noout", "-text")


class MlDsaTest(cli.CustomSandboxTest, cli.SandboxTest):
    @classmethod
    def configure(cls, config):
        with open(os.path.join(HERE, "..", "pqc", "templates.json"), encoding="utf-8") as f:
            extra = json.load(f)
        config["cas"].update(extra["cas"])
        config["templates"] += extra["templates"]

    def enroll(self, template, name, *extra):
        return self.cli("enroll", *self.cep(), *self.user(), "--template", template, "--name",
                        name, "--cn", name + ".example.test", "--dns", name + ".example.test",
                        *extra)

    def assertVerifies(self, files):
        out = cli.openssl("verify", "-x509_strict", "-CAfile", self.info["ca_bundle"],
                          "-untrusted", files["chain"], files["cert"])
        self.assertIn(": OK", out)

    def test_policy_names_ml_dsa_templates_and_they_are_usable(self):
        result = self.cli("policy", *self.cep(), *self.user())
        self.assertExit(result, 0)
        by_name = {t["name"]: t for t in result.json["templates"]}
        for name, algorithm in (("MLDSA44Signing", "ML-DSA-44"), ("MLDSA65WebServer", "ML-DSA-65"),
                                ("MLDSA87FromRSA", "ML-DSA-87")):
            self.assertEqual(by_name[name]["key_algorithm"], algorithm)
            self.assertTrue(by_name[name]["usable"], by_name[name])
        table = self.cli("policy", *self.cep(), *self.user(), json_mode=False)
        self.assertExit(table, 0)
        row = next(l for l in table.stdout.splitlines() if l.startswith("MLDSA65WebServer"))
        self.assertIn("ML-DSA-65", row)
        self.assertNotIn("2.16.840", table.stdout)

    def test_diagnose_names_the_ml_dsa_requirement(self):
        result = self.cli("diagnose", *self.cep(), *self.user(), "--template", "MLDSA65WebServer")
        template = next(c for c in result.json["checks"] if c["id"] == "template")
        self.assertEqual(template["status"], "pass", template)
        self.assertIn("key ML-DSA-65, hash", json.dumps(template))

    def test_ml_dsa_44_65_87_enrolled_with_software_keys(self):
        for level, template, issuer in ((44, "MLDSA44Signing", "Sandbox-MLDSA-CA"),
                                        (65, "MLDSA65WebServer", "Sandbox-MLDSA-CA"),
                                        (87, "MLDSA87FromRSA", "Sandbox-RSA-CA")):
            with self.subTest(level=level):
                result = self.enroll(template, f"pq{level}")
                self.assertExit(result, 0)
                self.assertEqual(result.json["key"], f"ML-DSA-{level}")
                files = result.json["files"]
                self.assertKeyMatches(files["cert"], files["key"])
                self.assertIn(f"ML-DSA-{level}", cli.openssl("pkey", "-in", files["key"],
                                                            "-noout", "-text"))
                text = certificate_text(files["cert"])
                self.assertIn(f"CN={issuer}", text.replace(" = ", "="))
                self.assertVerifies(files)
                # The request itself: signed with ML-DSA (no separate digest), and it verifies.
                der = self.sandbox.submitted_csr(issuer, result.json["request_id"])
                req = subprocess.run(["openssl", "req", "-inform", "DER", "-noout", "-text",
                                      "-verify"], input=der, capture_output=True, check=True)
                self.assertIn(f"Signature Algorithm: ML-DSA-{level}", req.stdout.decode())
                self.assertIn("verify OK", req.stdout.decode() + req.stderr.decode())

    def test_key_type_option_and_a_mismatch_refused_locally(self):
        result = self.enroll("MLDSA65WebServer", "opt", "--key-type", "ml-dsa-65")
        self.assertExit(result, 0)
        before = len(cli.ces_requests(self.sandbox))
        wrong = self.enroll("MLDSA65WebServer", "wrong", "--key-type", "ml-dsa-87")
        self.assertExit(wrong, 2)
        self.assertIn("requires ML-DSA-65, not --key-type ML-DSA-87", wrong.json["error"]["message"])
        self.assertEqual(before, len(cli.ces_requests(self.sandbox)))

    def test_ml_dsa_on_a_token_is_refused_before_anything_is_sent(self):
        before = len(cli.ces_requests(self.sandbox))
        result = self.enroll("MLDSA65WebServer", "tok", "--key-backend", "tpm")
        self.assertExit(result, 2)
        self.assertIn("ML-DSA-65", result.json["error"]["message"])
        self.assertEqual(before, len(cli.ces_requests(self.sandbox)))
