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
        # TPM 2.0 has no ML-DSA; libp11 turns no ML-DSA token key into an OpenSSL key (and
        # SoftHSM2 2.6 has no ML-DSA mechanism). The PKCS#11 module named does not exist: the
        # refusal comes before any module is opened.
        for backend in (("--key-backend", "tpm"),
                        ("--key-backend", "pkcs11", "--pkcs11-module",
                         "/nonexistent/pkcs11-module.so")):
            with self.subTest(backend=backend[1]):
                before = len(cli.ces_requests(self.sandbox))
                result = self.enroll("MLDSA65WebServer", "tok", *backend)
                self.assertExit(result, 2)
                self.assertIn("ML-DSA-65", result.json["error"]["message"])
                self.assertEqual(before, len(cli.ces_requests(self.sandbox)))

    def renew(self, name, *extra):
        return self.cli("renew", name, "--force", "--ca-bundle", self.info["ca_bundle"], *extra,
                        env={"CERTENROLL_PASSWORD": self.sandbox.password()})

    def test_ml_dsa_certificates_renewed_with_a_cms_signed_by_the_old_ml_dsa_key(self):
        # ML-DSA-65 from the ML-DSA CA (new key), ML-DSA-87 from the RSA CA (same key): the CMS
        # renewal request is signed with the old ML-DSA key as RFC 9882 describes, and the CA
        # verifies it with OpenSSL 3.5 (sandboxd/submission.py) before issuing.
        for template, name, level, extra in (("MLDSA65WebServer", "rn65", 65, ()),
                                              ("MLDSA87FromRSA", "rn87", 87, ("--reuse-key",))):
            with self.subTest(template=template):
                enrolled = self.enroll(template, name)
                self.assertExit(enrolled, 0)
                files = enrolled.json["files"]
                old_serial = cli.openssl("x509", "-in", files["cert"], "-noout", "-serial")
                old_key = cli.public_key_of_key(files["key"])
                before = {(r["ca"], r["id"]) for r in self.sandbox.ca_requests()}
                result = self.renew(name, *extra)
                self.assertExit(result, 0)
                entry = result.json["certificates"][0]
                self.assertEqual(entry["status"], "renewed", entry)
                self.assertNotEqual(old_serial, cli.openssl("x509", "-in", files["cert"],
                                                            "-noout", "-serial"))
                self.assertEqual(bool(extra), cli.public_key_of_key(files["key"]) == old_key)
                self.assertKeyMatches(files["cert"], files["key"])
                self.assertIn(f"ML-DSA-{level}", certificate_text(files["cert"]))
                self.assertVerifies(files)
                # The CA saw a CMS renewal request (not a fresh PKCS#10) and issued it.
                new = [r for r in self.sandbox.ca_requests() if (r["ca"], r["id"]) not in before]
                self.assertEqual([(r["kind"], r["renewal"], r["status"]) for r in new],
                                 [("cms-pkcs10", True, "issued")], new)

    def approve_and_retrieve(self, pending):
        """A pending enrollment (exit 3) approved by the CA manager, then collected with
        retrieve-pending (exit 0); the files it wrote."""
        self.assertExit(pending, 3)
        self.sandbox.approve(pending.json["ca"], pending.json["request_id"])
        done = self.cli("retrieve-pending", pending.json["request_id"], *self.user(),
                        "--ca-bundle", self.info["ca_bundle"])
        self.assertExit(done, 0)
        return done.json["files"]

    def test_pending_ml_dsa_request_retrieved_after_approval(self):
        pending = self.enroll("MLDSA65Approval", "pend65")
        files = self.approve_and_retrieve(pending)
        self.assertKeyMatches(files["cert"], files["key"])
        self.assertIn("ML-DSA-65", cli.openssl("pkey", "-in", files["key"], "-noout", "-text"))
        self.assertIn("CN=Sandbox-MLDSA-CA", certificate_text(files["cert"]).replace(" = ", "="))
        self.assertVerifies(files)

    def pfx_part(self, path, *what):
        return cli.openssl("pkcs12", "-in", path, "-passin", "pass:pfx-secret", "-nodes", *what)

    def test_ml_dsa_key_in_a_pfx_written_read_back_and_renewed(self):
        # OpenSSL 3.5 puts ML-DSA keys into PKCS#12 (PKCS#8 shrouded key bag) like any other.
        password = os.path.join(self.tmp, "pfx-password")
        with open(password, "w", encoding="utf-8") as f:
            f.write("pfx-secret\n")
        result = self.enroll("MLDSA44Signing", "pfx44", "--format", "pfx",
                             "--pfx-password-file", password)
        self.assertExit(result, 0)
        files = result.json["files"]
        self.assertIn("ML-DSA-44", cli.openssl("pkey", "-noout", "-text", input=self.pfx_part(
            files["pfx"], "-nocerts")))
        from_pfx = os.path.join(self.tmp, "from-pfx.pem")
        with open(from_pfx, "w", encoding="utf-8") as f:
            f.write(self.pfx_part(files["pfx"], "-nokeys", "-clcerts"))
        self.assertKeyMatches(from_pfx, files["key"])
        # renew reads the certificate back from the PFX and writes the successor's PFX.
        renewed = self.renew("pfx44", "--pfx-password-file", password)
        self.assertExit(renewed, 0)
        self.assertEqual(renewed.json["certificates"][0]["status"], "renewed")
        with open(from_pfx, "w", encoding="utf-8") as f:
            f.write(self.pfx_part(files["pfx"], "-nokeys", "-clcerts"))
        self.assertKeyMatches(from_pfx, files["key"])
        self.assertIn("ML-DSA-44", certificate_text(from_pfx))

    def test_key_based_renewal_with_an_ml_dsa_client_certificate(self):
        # As the KeyBasedRenewal template of tests/server/templates.json (AD CS: CA manager
        # approval for the first issuance, then "valid existing certificate" renewals at a CES
        # installed with -AllowKeyBasedRenewal), with an ML-DSA-65 key: the TLS 1.3 client
        # certificate and its CertificateVerify are ML-DSA (OpenSSL 3.5 on both sides).
        pending = self.cli("enroll", *self.cep(), *self.user(), "--template",
                           "MLDSA65KeyBasedRenewal", "--name", "kbr65", "--cn", "kbr65")
        files = self.approve_and_retrieve(pending)
        old_serial = cli.openssl("x509", "-in", files["cert"], "-noout", "-serial")
        before = len(self.sandbox.requests())
        # No password: the ML-DSA certificate is the only credential.
        result = self.cli("renew", "kbr65", "--force", "--key-based", "--ca-bundle",
                          self.info["ca_bundle"])
        self.assertExit(result, 0)
        self.assertNotEqual(old_serial, cli.openssl("x509", "-in", files["cert"], "-noout",
                                                    "-serial"))
        self.assertKeyMatches(files["cert"], files["key"])
        self.assertIn("ML-DSA-65", certificate_text(files["cert"]))
        ces = [r for r in self.sandbox.requests()[before:] if r.get("endpoint") == "CES"]
        self.assertEqual(ces[-1]["path"],
                         "/keybased/Sandbox-MLDSA-CA_CES_Certificate/service.svc/CES")
        self.assertEqual((ces[-1]["auth"], ces[-1]["outcome"], ces[-1]["identity"]),
                         ("keybasedrenewal", "issued", "alice"))
