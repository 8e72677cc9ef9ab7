"""The MS-XCEP / MS-WSTEP §4 example requests (repaired copies in testdata/) are accepted."""

import datetime
import os
import unittest

from cryptography import x509

import sbtest
from sbtest import WSTEP

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "testdata")


class SpecExamplesTest(sbtest.SandboxCase):
    def fill(self, name, url, **values):
        with open(os.path.join(DATA, name), encoding="utf-8") as f:
            text = f.read()
        now = datetime.datetime.now(datetime.timezone.utc)
        values = dict({"TO": url, "USERNAME": "alice", "PASSWORD": self.password(),
                       "CREATED": sbtest.iso(now),
                       "EXPIRES": sbtest.iso(now + datetime.timedelta(minutes=5))}, **values)
        for key, value in values.items():
            text = text.replace(f"@{key}@", value)
        self.assertNotIn("@", text.replace("@sandbox", ""))
        return text.encode()

    def test_xcep_4_1_1_1_initial_request(self):
        url = self.info["cep"]["password"]
        reply = self.post(url, self.fill("xcep-4.1.1.1-initial-getpolicies.xml", url))
        self.assertEqual(reply.status, 200, reply.body[:1500])
        self.assertIsNotNone(reply.find(sbtest.XCEP, "policies"))
        self.assertEqual(self.log()[-1]["outcome"], "policy")

    def test_xcep_4_1_2_1_request_with_last_update(self):
        url = self.info["cep"]["password"]
        later = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=2))
        body = self.fill("xcep-4.1.2.1-getpolicies-lastupdate.xml", url,
                         LAST_UPDATE=later.strftime("%Y-%m-%dT%H:%M:%S"))
        reply = self.post(url, body)
        self.assertEqual(reply.status, 200, reply.body[:1500])
        self.assertEqual(reply.find(sbtest.XCEP, "policiesNotChanged").text, "true")
        # The spec's own (repaired) 2009 date is older than the policy: a full answer.
        reply = self.post(url, self.fill("xcep-4.1.2.1-getpolicies-lastupdate.xml", url,
                                         LAST_UPDATE="2009-03-15T09:38:46"))
        self.assertEqual(reply.find(sbtest.XCEP, "policiesNotChanged").text, "false")

    def test_unrepaired_action_with_line_breaks_is_refused(self):
        url = self.info["cep"]["password"]
        body = self.fill("xcep-4.1.1.1-initial-getpolicies.xml", url).replace(
            b">http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy/IPolicy/GetPolicies<",
            b">\nhttp://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy/IPolicy/GetPolicies\n<")
        self.assertEqual(self.post(url, body).subcode(), "a:ActionNotSupported")

    def test_to_must_name_this_endpoint(self):
        url = self.info["cep"]["password"]
        body = self.fill("xcep-4.1.1.1-initial-getpolicies.xml",
                         "https://ca.example.test/ADPolicyProvider_CEP_Kerberos/service.svc/CEP")
        self.assertEqual(self.post(url, body).subcode(), "a:DestinationUnreachable")
        lower = self.fill("xcep-4.1.1.1-initial-getpolicies.xml", url.lower())
        self.assertEqual(self.post(url, lower).status, 200)

    def pending(self):
        url = self.info["ces"]["Sandbox-RSA-CA"]["password"]
        csr, _ = sbtest.openssl_csr(self.tmp, "rsa:2048", "/CN=spec.example.test",
                                    [sbtest.v1_template_ext("ApprovalRequired")])
        reply = self.post(url, self.fill("wstep-4.1.1.1-issue.xml", url,
                                         TOKEN=sbtest.base64.b64encode(csr).decode()))
        self.assertEqual(reply.status, 200, reply.body[:1500])
        return url, reply.find(WSTEP, "RequestID").text

    def test_wstep_4_1_1_1_issue(self):
        url = self.info["ces"]["Sandbox-RSA-CA"]["password"]
        csr, _ = sbtest.openssl_csr(self.tmp, "rsa:2048", "/CN=spec.example.test",
                                    [sbtest.v1_template_ext("WebServer")])
        reply = self.post(url, self.fill("wstep-4.1.1.1-issue.xml", url,
                                         TOKEN=sbtest.base64.b64encode(csr).decode()))
        x509.load_der_x509_certificate(self.issued_cert_der(reply))

    def test_wstep_4_1_3_1_query_token_status(self):
        url, request_id = self.pending()
        self.assertEqual(self.admin("POST", f"/requests/Sandbox-RSA-CA/{request_id}/approve")[0], 200)
        reply = self.post(url, self.fill("wstep-4.1.3.1-querytokenstatus.xml", url,
                                         REQUEST_ID=request_id))
        self.issued_cert_der(reply)

    def test_wstep_4_1_5_1_renewal(self):
        url = self.info["ces"]["Sandbox-RSA-CA"]["password"]
        csr, key = sbtest.openssl_csr(self.tmp, "rsa:2048", "/CN=spec.example.test",
                                      [sbtest.v1_template_ext("WebServer")])
        old = self.issued_cert_der(self.ces(sbtest.rst_body(csr)))
        pem = os.path.join(self.tmp, "old.crt")
        with open(pem, "w") as f:
            f.write(sbtest.der_to_pem(old, "CERTIFICATE"))
        inner = sbtest.build_csr(sbtest.new_rsa(), "spec.example.test",
                                 [sbtest.renewal_attribute(old)])
        cms = sbtest.cms_sign(self.tmp, inner, pem, key, attrs=False)
        reply = self.post(url, self.fill("wstep-4.1.5.1-renewal.xml", url,
                                         TOKEN=sbtest.base64.b64encode(cms).decode()))
        self.issued_cert_der(reply)


if __name__ == "__main__":
    unittest.main()
