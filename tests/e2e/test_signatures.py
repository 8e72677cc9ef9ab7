"""RSASSA-PSS requests (issue 26): a template with the alternate signature flag
(CT_FLAG_REQUIRE_ALTERNATE_SIGNATURE_ALGORITHM, privateKeyFlags 0x40) and `--signature rsa-pss`
make PSS-signed requests; the sandbox's PSS-signed certificate is verified and installed. Runs on
OpenSSL 3.0 and 3.5 alike (tests/pqc runs it in the Debian 13 chroot too)."""

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
