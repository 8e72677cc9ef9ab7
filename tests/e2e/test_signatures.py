"""RSASSA-PSS requests (issue 26): a template with the alternate signature flag
(CT_FLAG_REQUIRE_ALTERNATE_SIGNATURE_ALGORITHM, privateKeyFlags 0x40) and `--signature rsa-pss`
make PSS-signed requests; the sandbox's PSS-signed certificate is verified and installed. Runs on
OpenSSL 3.0 and 3.5 alike (tests/pqc runs it in the Debian 13 chroot too)."""

import json
import subprocess

import cli

OID_RSASSA_PSS = "1.2.840.113549.1.1.10"


def request_text(sandbox, outcome):
    """`openssl req -text` of the request the CA recorded for an enroll outcome (JSON)."""
    der = sandbox.submitted_csr(outcome["ca"], outcome["request_id"])
    return subprocess.run(["openssl", "req", "-inform", "DER", "-noout", "-text"], input=der,
                          capture_output=True, check=True).stdout.decode()


class RsaPssTest(cli.SandboxTest):
    def enroll(self, template, *extra):
        return self.cli("enroll", *self.cep(), *self.user(), "--template", template,
                        "--cn", "pss.example.test", *extra)

    def test_template_with_the_alternate_signature_flag_gets_a_pss_request(self):
        result = self.enroll("WebServerPSS")
        self.assertExit(result, 0)
        text = request_text(self.sandbox, result.json)
        self.assertIn("Signature Algorithm: rsassaPss", text)
        self.assertIn("Salt Length: 0x20", text)  # as long as SHA-256, MS-WCCE's PKCS#1 v2.1
        # The CA (AD CS with AlternateSignatureAlgorithm=1) signed the certificate with PSS too,
        # and the client verified its chain before installing it.
        cert = cli.openssl("x509", "-in", result.json["files"]["cert"], "-noout", "-text")
        self.assertIn("rsassaPss", cert)
        out = cli.openssl("verify", "-CAfile", self.info["ca_bundle"], "-untrusted",
                          result.json["files"]["chain"], result.json["files"]["cert"])
        self.assertIn(": OK", out)

    def test_signature_option_asks_for_pss_on_any_rsa_template(self):
        result = self.enroll("WebServer", "--signature", "rsa-pss")
        self.assertExit(result, 0)
        self.assertIn("rsassaPss", request_text(self.sandbox, result.json))
        plain = self.enroll("WebServer", "--name", "plain")
        self.assertExit(plain, 0)
        self.assertIn("sha256WithRSAEncryption",
                      request_text(self.sandbox, plain.json))

    def test_pss_with_a_key_that_is_not_rsa_is_refused_before_anything_is_sent(self):
        before = len(cli.ces_requests(self.sandbox))
        result = self.cli("enroll", *self.cep(), *self.user(), "--template", "ECP256WebServer",
                          "--cn", "ec.example.test", "--signature", "rsa-pss")
        self.assertExit(result, 2)
        self.assertIn("--signature rsa-pss needs an RSA key, not EC P-256",
                      result.json["error"]["message"])
        self.assertEqual(before, len(cli.ces_requests(self.sandbox)))

    def test_signature_option_is_kept_in_the_record_and_renew_signs_with_pss_again(self):
        result = self.enroll("WebServer", "--name", "pssrenew", "--signature", "rsa-pss")
        self.assertExit(result, 0)
        with open(self.state + "/certificates/pssrenew.json", encoding="utf-8") as f:
            self.assertEqual(json.load(f)["endpoint"]["signature"], "rsa-pss")
        before = len(self.sandbox.ca_requests())
        renewed = self.cli("renew", "pssrenew", "--force", "--ca-bundle", self.info["ca_bundle"],
                           env={"CERTENROLL_PASSWORD": self.sandbox.password()})
        self.assertExit(renewed, 0)
        self.assertEqual(renewed.json["certificates"][0]["status"], "renewed")
        # The CA got a CMS renewal (its old-key signature checked, PSS or not, by
        # sandboxd/submission.py) wrapping a PSS-signed PKCS#10: WebServer does not ask for PSS.
        new = self.sandbox.ca_requests()[before:]
        self.assertEqual([(r["kind"], r["renewal"], r["status"]) for r in new],
                         [("cms-pkcs10", True, "issued")], new)
        self.assertIn("Signature Algorithm: rsassaPss",
                      request_text(self.sandbox, {"ca": new[0]["ca"], "request_id": new[0]["id"]}))
