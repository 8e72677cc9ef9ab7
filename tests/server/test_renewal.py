"""Renewal: Issue with a CMS SignedData (openssl cms -sign) wrapping a PKCS#10 that carries the
certificate being renewed (1.3.6.1.4.1.311.13.1); normal and key-based renewal endpoints."""

import os
import unittest

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

import sbtest


class RenewalTest(sbtest.SandboxCase):
    def enroll(self, template, cn="renew.example.test", user="alice"):
        """Enrolls with a CSR from openssl (approving it when the template pends every
        request); returns (cert DER, cert PEM path, key path)."""
        csr, key = sbtest.openssl_csr(self.tmp, "rsa:2048", f"/CN={cn}",
                                      [sbtest.v1_template_ext(template)], name=template)
        reply = self.ces(sbtest.rst_body(csr), user=user)
        if reply.find(sbtest.WSSE, "Reference") is not None:
            request_id = reply.find(sbtest.WSTEP, "RequestID").text
            code, _ = self.admin("POST", f"/requests/Sandbox-RSA-CA/{request_id}/approve")
            self.assertEqual(code, 200)
            reply = self.ces(sbtest.rst_body(None, request_type=sbtest.QUERY,
                                             request_id=request_id), user=user)
        cert = self.issued_cert_der(reply)
        pem = os.path.join(self.tmp, template + ".crt")
        with open(pem, "w") as f:
            f.write(sbtest.der_to_pem(cert, "CERTIFICATE"))
        return cert, pem, key

    def renewal(self, old_der, old_pem, old_key, new_key=None, attrs=True, template_pair=None,
                signer=None):
        key = new_key or sbtest.new_rsa()
        attributes = [sbtest.renewal_attribute(old_der)]
        if template_pair:
            attributes.append(sbtest.name_value_pairs({"CertificateTemplate": template_pair}))
        inner = sbtest.build_csr(key, "renew.example.test", attributes)
        signer_cert, signer_key = signer or (old_pem, old_key)
        return sbtest.cms_sign(self.tmp, inner, signer_cert, signer_key, attrs), key

    def assertRenewed(self, reply, old_der):
        new = x509.load_der_x509_certificate(self.issued_cert_der(reply))
        old = x509.load_der_x509_certificate(old_der)
        self.assertNotEqual(new.serial_number, old.serial_number)
        return new

    def test_renewal_with_new_key_on_the_password_endpoint(self):
        old_der, old_pem, old_key = self.enroll("WebServer")
        cms, key = self.renewal(old_der, old_pem, old_key)
        reply = self.ces(sbtest.rst_body(cms, value_type=sbtest.PKCS7_VT))
        new = self.assertRenewed(reply, old_der)
        self.assertEqual(new.public_key().public_bytes(Encoding.DER, sbtest_spki()),
                         key.public_key().public_bytes(Encoding.DER, sbtest_spki()))
        entry = self.log()[-1]
        self.assertEqual((entry["template"], entry["outcome"]), ("WebServer", "issued"))

    def test_renewal_cms_without_signed_attributes_like_the_spec_example(self):
        old_der, old_pem, old_key = self.enroll("WebServer")
        cms, _ = self.renewal(old_der, old_pem, old_key, attrs=False)
        self.assertRenewed(self.ces(sbtest.rst_body(cms, value_type=sbtest.PKCS7_VT)), old_der)

    def test_same_key_renewal_template(self):
        old_der, old_pem, old_key = self.enroll("SameKeyRenewal")
        cms, _ = self.renewal(old_der, old_pem, old_key)
        self.assertFault(self.ces(sbtest.rst_body(cms, value_type=sbtest.PKCS7_VT)), 0x80094816)
        same, _ = self.renewal(old_der, old_pem, old_key, new_key=sbtest.load_key(old_key))
        new = self.assertRenewed(self.ces(sbtest.rst_body(same, value_type=sbtest.PKCS7_VT)), old_der)
        self.assertEqual(new.public_key().public_numbers(),
                         x509.load_der_x509_certificate(old_der).public_key().public_numbers())

    def kbr(self, body: str, cert: tuple[str, str] | None) -> sbtest.Reply:
        """Posts to the key-based renewal CES, presenting `cert` (PEM, key) over TLS."""
        url = self.info["ces"]["Sandbox-RSA-CA"]["keybasedrenewal"]
        return self.post(url, sbtest.envelope(sbtest.RST, url, body, ""), cert=cert)

    def test_key_based_renewal_needs_manager_approval_first(self):
        csr = sbtest.openssl_csr(self.tmp, "rsa:2048", "/CN=first.example.test",
                                 [sbtest.v1_template_ext("KeyBasedRenewal")])[0]
        reply = self.ces(sbtest.rst_body(csr), user="bob")
        self.assertEqual(reply.find(sbtest.WSTEP, "DispositionMessage").text,
                         "Taken Under Submission")

    def test_key_based_renewal_with_the_renewed_certificate_as_tls_credential(self):
        old_der, old_pem, old_key = self.enroll("KeyBasedRenewal", user="bob")
        cms, _ = self.renewal(old_der, old_pem, old_key)
        body = sbtest.rst_body(cms, value_type=sbtest.PKCS7_VT)
        # Without a client certificate: refused at the HTTP layer, like IIS.
        self.assertEqual(self.kbr(body, None).status, 401)
        # The old certificate (it maps to no sandbox account: CN renew.example.test) is enough.
        new = self.assertRenewed(self.kbr(body, (old_pem, old_key)), old_der)
        # subjectNameFlags 0x8: the old certificate supplies the subject; renewal (0x40) is not
        # pended although first issuance was.
        self.assertEqual(new.subject, x509.load_der_x509_certificate(old_der).subject)
        entry = self.log()[-1]
        self.assertEqual((entry["auth"], entry["identity"], entry["outcome"]),
                         ("keybasedrenewal", "bob", "issued"))

    def test_key_based_renewal_endpoint_refuses_other_requests(self):
        old_der, old_pem, old_key = self.enroll("KeyBasedRenewal")
        csr = sbtest.openssl_csr(self.tmp, "rsa:2048", "/CN=x.example.test",
                                 [sbtest.v1_template_ext("KeyBasedRenewal")])[0]
        self.assertFault(self.kbr(sbtest.rst_body(csr), (old_pem, old_key)), 0x80070005)
        # Another certificate at the TLS layer than the one being renewed.
        cms, _ = self.renewal(old_der, old_pem, old_key)
        alice = self.client_cert("alice")
        self.assertFault(self.kbr(sbtest.rst_body(cms, value_type=sbtest.PKCS7_VT), alice),
                         0x80070005)
        # A template without enrollmentFlags 0x10000 (with the clientAuth EKU that TLS needs).
        old_der, old_pem, old_key = self.enroll("SameKeyRenewal")
        cms, _ = self.renewal(old_der, old_pem, old_key)
        reply = self.kbr(sbtest.rst_body(cms, value_type=sbtest.PKCS7_VT), (old_pem, old_key))
        self.assertFault(reply, 0x80094012)

    def test_key_based_renewal_cep_offers_only_key_based_templates(self):
        old_der, old_pem, old_key = self.enroll("KeyBasedRenewal")
        url = self.info["cep"]["keybasedrenewal"]
        reply = self.post(url, sbtest.envelope(sbtest.GET_POLICIES, url,
                                               sbtest.get_policies_body(), ""),
                          cert=(old_pem, old_key))
        self.assertEqual(reply.status, 200, reply.body[:2000])
        names = [e.text for e in reply.xml().iter(f"{{{sbtest.XCEP}}}commonName")]
        self.assertEqual(names, ["KeyBasedRenewal"])
        uris = [(u.find(f"{{{sbtest.XCEP}}}clientAuthentication").text,
                 u.find(f"{{{sbtest.XCEP}}}uri").text,
                 u.find(f"{{{sbtest.XCEP}}}renewalOnly").text)
                for u in reply.xml().iter(f"{{{sbtest.XCEP}}}cAURI")]
        self.assertIn(("8", self.info["ces"]["Sandbox-RSA-CA"]["keybasedrenewal"], "true"), uris)
        self.assertNotIn("1", [auth for auth, _, _ in uris])
        # The username/password variant filters the same way.
        reply = self.cep(auth="keybasedrenewal_password")
        self.assertEqual([e.text for e in reply.xml().iter(f"{{{sbtest.XCEP}}}commonName")],
                         ["KeyBasedRenewal"])

    def test_revoked_certificate_cannot_renew(self):
        old_der, old_pem, old_key = self.enroll("WebServer")
        serial = format(x509.load_der_x509_certificate(old_der).serial_number, "x")
        self.assertEqual(self.admin("POST", "/revoke", {"serial": serial})[0], 200)
        cms, _ = self.renewal(old_der, old_pem, old_key)
        self.assertFault(self.ces(sbtest.rst_body(cms, value_type=sbtest.PKCS7_VT)), 0x800B010C)

    def test_signed_by_another_key_has_no_signer(self):
        old_der, old_pem, old_key = self.enroll("WebServer")
        _, other_pem, other_key = self.enroll("Machine")
        cms, _ = self.renewal(old_der, old_pem, old_key, signer=(other_pem, other_key))
        self.assertFault(self.ces(sbtest.rst_body(cms, value_type=sbtest.PKCS7_VT)), 0x8009200E)

    def test_foreign_certificate_is_untrusted(self):
        key_path = os.path.join(self.tmp, "self.key")
        crt_path = os.path.join(self.tmp, "self.crt")
        sbtest.run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key_path,
                   "-out", crt_path, "-subj", "/CN=foreign", "-days", "30")
        der = x509.load_pem_x509_certificate(open_bytes(crt_path)).public_bytes(Encoding.DER)
        cms, _ = self.renewal(der, crt_path, key_path, template_pair="WebServer")
        self.assertFault(self.ces(sbtest.rst_body(cms, value_type=sbtest.PKCS7_VT)), 0x800B0109)

    def test_unsorted_attribute_set_is_tolerated_like_ad_cs(self):
        old_der, old_pem, old_key = self.enroll("WebServer")
        attributes = [sbtest.renewal_attribute(old_der),
                      sbtest.name_value_pairs({"CertificateTemplate": "WebServer", "ccm": "host"})]
        inner = sbtest.build_csr(sbtest.new_rsa(), "renew.example.test", attributes, sort=False)
        cms = sbtest.cms_sign(self.tmp, inner, old_pem, old_key)
        self.assertRenewed(self.ces(sbtest.rst_body(cms, value_type=sbtest.PKCS7_VT)), old_der)
        bad = sbtest.build_csr(sbtest.new_rsa(), "renew.example.test", attributes, sort=False,
                               corrupt=True)
        cms = sbtest.cms_sign(self.tmp, bad, old_pem, old_key)
        self.assertFault(self.ces(sbtest.rst_body(cms, value_type=sbtest.PKCS7_VT)), 0x80090006)

    def test_signed_request_without_renewal_attribute(self):
        old_der, old_pem, old_key = self.enroll("WebServer")
        inner = sbtest.build_csr(sbtest.new_rsa(), "x.example.test",
                                 [sbtest.name_value_pairs({"CertificateTemplate": "WebServer"})])
        cms = sbtest.cms_sign(self.tmp, inner, old_pem, old_key)
        self.assertFault(self.ces(sbtest.rst_body(cms, value_type=sbtest.PKCS7_VT)), 0x8009400E)


def sbtest_spki():
    from cryptography.hazmat.primitives.serialization import PublicFormat
    return PublicFormat.SubjectPublicKeyInfo


def open_bytes(path):
    with open(path, "rb") as f:
        return f.read()


if __name__ == "__main__":
    unittest.main()
