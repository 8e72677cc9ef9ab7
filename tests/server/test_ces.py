"""CES Issue and QueryTokenStatus: CSRs from the openssl CLI, posted with curl."""

import os
import subprocess
import unittest

from cryptography import x509
from cryptography.x509.oid import NameOID

import sbtest
from sbtest import WSSE, WST, WSTEP

TEMPLATE_OIDS = {}


def openssl_text(der_bytes, kind="x509"):
    return subprocess.run(["openssl", kind, "-inform", "DER", "-noout", "-text"], input=der_bytes,
                          capture_output=True, check=True).stdout.decode()


class IssueTest(sbtest.SandboxCase):
    def csr(self, template="WebServer", subject="/CN=web1.example.test", key="rsa:2048", extra=()):
        exts = [sbtest.v1_template_ext(template)] if template else []
        return sbtest.openssl_csr(self.tmp, key, subject, exts + list(extra))[0]

    def test_issued_response_shape_chain_order_and_cms(self):
        reply = self.ces(sbtest.rst_body(self.csr(extra=["subjectAltName=DNS:web1.example.test,IP:192.0.2.7"])))
        leaf = x509.load_der_x509_certificate(self.issued_cert_der(reply))
        self.assertEqual(leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value,
                         "web1.example.test")
        text = openssl_text(self.issued_cert_der(reply))
        self.assertIn("DNS:web1.example.test", text)
        self.assertIn("IP Address:192.0.2.7", text)
        self.assertIn("1.3.6.1.4.1.311.21.7", text)
        self.assertEqual(reply.find(WSTEP, "DispositionMessage").text, "Issued")
        self.assertTrue(reply.find(WSTEP, "RequestID").text.isdigit())
        p7 = self.pkcs7_der(reply)
        certs = subprocess.run(["openssl", "pkcs7", "-inform", "DER", "-print_certs", "-noout"],
                               input=p7, capture_output=True, check=True).stdout.decode()
        subjects = [line for line in certs.splitlines() if line.startswith("subject=")]
        self.assertEqual(len(subjects), 3)
        self.assertIn("Sandbox Root CA", subjects[0])
        self.assertIn("Sandbox-RSA-CA", subjects[1])
        self.assertIn("web1.example.test", subjects[2])
        cms = os.path.join(self.tmp, "p7.der")
        with open(cms, "wb") as f:
            f.write(p7)
        verified = subprocess.run(["openssl", "cms", "-verify", "-inform", "DER", "-in", cms,
                                   "-CAfile", self.info["ca_bundle"], "-out", "/dev/null"],
                                  capture_output=True, text=True)
        self.assertEqual(verified.returncode, 0, verified.stderr)
        printed = subprocess.run(["openssl", "cms", "-cmsout", "-print", "-inform", "DER", "-in", cms],
                                 capture_output=True, text=True, check=True).stdout
        self.assertIn("id-cct-PKIResponse", printed)
        # The leaf verifies against the bundle with the CA from the PKCS#7.
        leaf_pem = os.path.join(self.tmp, "leaf.pem")
        with open(leaf_pem, "w") as f:
            f.write(sbtest.der_to_pem(self.issued_cert_der(reply), "CERTIFICATE"))
        chain = subprocess.run(["openssl", "pkcs7", "-inform", "DER", "-print_certs"], input=p7,
                               capture_output=True, check=True).stdout
        chain_pem = os.path.join(self.tmp, "chain.pem")
        with open(chain_pem, "wb") as f:
            f.write(chain)
        ok = subprocess.run(["openssl", "verify", "-CAfile", self.info["ca_bundle"], "-untrusted",
                             chain_pem, leaf_pem], capture_output=True, text=True)
        self.assertIn(": OK", ok.stdout, ok.stderr)
        entry = self.log()[-1]
        self.assertEqual((entry["endpoint"], entry["outcome"], entry["template"], entry["identity"]),
                         ("CES", "issued", "WebServer", "alice"))
        self.assertEqual(entry["serial"], format(leaf.serial_number, "x"))

    def test_template_by_v2_extension(self):
        oid = "1.3.6.1.4.1.311.21.8.8560482.1672094.4917392.13420931.9823478.147.102"
        csr, _ = sbtest.openssl_csr(self.tmp, "rsa:3072", "/CN=big.example.test",
                                    [sbtest.v2_template_ext(oid, 100, 1)])
        self.issued_cert_der(self.ces(sbtest.rst_body(csr)))
        self.assertEqual(self.log()[-1]["template"], "WebServer3072")

    def test_template_by_name_value_pair(self):
        key = sbtest.new_rsa()
        csr = sbtest.build_csr(key, "nv.example.test",
                               [sbtest.name_value_pairs({"CertificateTemplate": "WebServer"})])
        self.issued_cert_der(self.ces(sbtest.rst_body(csr)))
        self.assertEqual(self.log()[-1]["template"], "WebServer")

    def test_template_by_additional_context(self):
        reply = self.ces(sbtest.rst_body(self.csr(template=None),
                                         context={"CertificateTemplate": "WebServer", "ccm": "h"}))
        self.issued_cert_der(reply)

    def test_machine_template_builds_subject_and_dns_from_identity(self):
        reply = self.ces(sbtest.rst_body(self.csr("Machine", subject="/CN=ignored.example.test")),
                         user="bob")
        leaf = x509.load_der_x509_certificate(self.issued_cert_der(reply))
        self.assertEqual(leaf.subject.rfc4514_string(), "CN=bob")
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        self.assertEqual(san.get_values_for_type(x509.DNSName), ["bob.sandbox.test"])

    def test_ec_template_on_the_ec_ca(self):
        csr, _ = sbtest.openssl_csr(self.tmp, "ec:P-256", "/CN=ec.example.test",
                                    [sbtest.v1_template_ext("ECWebServer")])
        reply = self.ces(sbtest.rst_body(csr), ca="Sandbox-EC-CA")
        leaf = x509.load_der_x509_certificate(self.issued_cert_der(reply))
        self.assertIn("Sandbox-EC-CA", leaf.issuer.rfc4514_string())
        self.assertEqual(leaf.signature_hash_algorithm.name, "sha384")

    def test_pkcs10_labelled_pkcs7_is_sniffed(self):
        # MS-WSTEP 4.1.1.1 sends a bare PKCS#10 under the wsse #PKCS7 ValueType.
        self.issued_cert_der(self.ces(sbtest.rst_body(self.csr(), value_type=sbtest.PKCS7_VT)))

    def test_content_type_with_action_parameter(self):
        ct = f'application/soap+xml; charset=utf-8; action="{sbtest.RST}"'
        self.issued_cert_der(self.ces(sbtest.rst_body(self.csr()), content_type=ct))

    def test_client_certificate_endpoint(self):
        reply = self.ces(sbtest.rst_body(self.csr()), auth="certificate", cert=self.client_cert())
        self.issued_cert_der(reply)
        self.assertEqual(self.log()[-1]["identity"], "alice")
        self.assertEqual(self.ces(sbtest.rst_body(self.csr()), auth="certificate").status, 401)

    def test_keep_alive_serves_two_requests_on_one_connection(self):
        url = self.info["cep"]["password"]
        body = sbtest.envelope(sbtest.GET_POLICIES, url, sbtest.get_policies_body(), self.sec())
        path = os.path.join(self.tmp, "gp.xml")
        with open(path, "wb") as f:
            f.write(body)
        done = subprocess.run(["curl", "-sS", "-v", "--cacert", self.info["ca_bundle"], "-H",
                               f"Content-Type: {sbtest.SOAP_CT}", "--data-binary", "@" + path, url,
                               "--next", "-sS", "--cacert", self.info["ca_bundle"], "-H",
                               f"Content-Type: {sbtest.SOAP_CT}", "--data-binary", "@" + path, url],
                              capture_output=True, text=True)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("Re-using existing connection", done.stderr)


class PendingTest(sbtest.SandboxCase):
    def submit_pending(self, user="alice"):
        csr, _ = sbtest.openssl_csr(self.tmp, "rsa:2048", "/CN=pending.example.test",
                                    [sbtest.v1_template_ext("ApprovalRequired")])
        reply = self.ces(sbtest.rst_body(csr), user=user)
        self.assertEqual(reply.status, 200, reply.body[:2000])
        self.assertEqual(reply.find(WSTEP, "DispositionMessage").text, "Taken Under Submission")
        ref = reply.find(WSSE, "Reference")
        self.assertEqual(ref.get("URI"), self.info["ces"]["Sandbox-RSA-CA"]["password"])
        self.assertIsNone(reply.find(WST, "RequestedSecurityToken").find(f"{{{WSSE}}}BinarySecurityToken"))
        return reply.find(WSTEP, "RequestID").text

    def query(self, request_id, user="alice"):
        return self.ces(sbtest.rst_body(None, request_type=sbtest.QUERY, request_id=request_id), user=user)

    def test_pending_approve_then_query_token_status(self):
        request_id = self.submit_pending()
        self.assertEqual(self.log()[-1]["outcome"], "pending")
        still = self.query(request_id)
        self.assertEqual(still.find(WSTEP, "DispositionMessage").text, "Taken Under Submission")
        code, record = self.admin("POST", f"/requests/Sandbox-RSA-CA/{request_id}/approve")
        self.assertEqual((code, record["status"]), (200, "issued"))
        done = self.query(request_id)
        leaf = x509.load_der_x509_certificate(self.issued_cert_der(done))
        self.assertEqual(format(leaf.serial_number, "x"), record["serial"])
        self.assertEqual(done.find(WSTEP, "RequestID").text, request_id)
        self.assertEqual(self.log()[-1]["request_type"], "QueryTokenStatus")
        code, _ = self.admin("POST", f"/requests/Sandbox-RSA-CA/{request_id}/approve")
        self.assertEqual(code, 409)

    def test_deny_then_query_is_admin_denied(self):
        request_id = self.submit_pending()
        code, record = self.admin("POST", f"/requests/Sandbox-RSA-CA/{request_id}/deny")
        self.assertEqual((code, record["status"]), (200, "denied"))
        self.assertFault(self.query(request_id), 0x80094014)

    def test_query_of_unknown_or_foreign_request(self):
        self.assertFault(self.query("999999"), 0x80094004)
        request_id = self.submit_pending()
        self.assertFault(self.query(request_id, user="bob"), 0x80070005)

    def test_admin_lists_requests_and_rejects_unknown_ids(self):
        request_id = self.submit_pending()
        code, doc = self.admin("GET", "/requests")
        self.assertEqual(code, 200)
        self.assertIn(("Sandbox-RSA-CA", int(request_id), "pending"),
                      [(r["ca"], r["id"], r["status"]) for r in doc["requests"]])
        self.assertEqual(self.admin("POST", "/requests/Sandbox-RSA-CA/987654/approve")[0], 404)
        self.assertEqual(self.admin("POST", "/requests/No-Such-CA/1/approve")[0], 404)

    def test_request_ids_increase_per_ca(self):
        first = int(self.submit_pending())
        second = int(self.submit_pending())
        self.assertGreater(second, first)

    def test_pending_requests_survive_a_restart(self):
        request_id = self.submit_pending()
        sbtest.run(sbtest.SANDBOX, "stop", "--state-dir", self.state_dir)
        import json
        type(self).info = json.loads(sbtest.run(sbtest.SANDBOX, "start", "--state-dir",
                                                self.state_dir).stdout)
        self.info = type(self).info
        self.assertEqual(self.admin("POST", f"/requests/Sandbox-RSA-CA/{request_id}/approve")[0], 200)
        self.issued_cert_der(self.query(request_id))


if __name__ == "__main__":
    unittest.main()
