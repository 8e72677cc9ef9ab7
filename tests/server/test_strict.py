"""Every strict rejection the sandbox makes, like IIS/WCF and AD CS would."""

import unittest

from cryptography.hazmat.primitives.asymmetric import ec

import sbtest
from sbtest import WSSE


class StrictTest(sbtest.SandboxCase):
    def csr(self, template="WebServer", key="rsa:2048", subject="/CN=strict.example.test"):
        return sbtest.openssl_csr(self.tmp, key, subject, [sbtest.v1_template_ext(template)])[0]

    # Transport and SOAP layer (WCF).
    def test_text_xml_content_type_is_415(self):
        reply = self.ces(sbtest.rst_body(self.csr()), content_type="text/xml; charset=utf-8")
        self.assertEqual(reply.status, 415)
        self.assertIn(b"application/soap+xml", reply.body)

    def test_soap11_envelope_is_a_version_mismatch(self):
        url = self.info["cep"]["password"]
        body = (b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body '
                b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
                + sbtest.get_policies_body().encode() + b"</s:Body></s:Envelope>")
        reply = self.post(url, body)
        self.assertEqual(reply.status, 500)
        code = reply.xml().find(".//{http://www.w3.org/2003/05/soap-envelope}Code/"
                                "{http://www.w3.org/2003/05/soap-envelope}Value").text
        self.assertEqual(code, "s:VersionMismatch")

    def test_unknown_action_is_action_not_supported(self):
        reply = self.ces(sbtest.rst_body(self.csr()), action=sbtest.WSTEP + "/RST/bogus")
        self.assertEqual(reply.status, 500)
        self.assertEqual(reply.subcode(), "a:ActionNotSupported")
        cep = self.post(self.info["cep"]["password"], sbtest.envelope(
            sbtest.RST, self.info["cep"]["password"], sbtest.get_policies_body(), self.sec()))
        self.assertEqual(cep.subcode(), "a:ActionNotSupported")

    def test_action_with_whitespace_is_not_the_action(self):
        reply = self.ces(sbtest.rst_body(self.csr()), action=f"\n  {sbtest.RST}\n")
        self.assertEqual(reply.subcode(), "a:ActionNotSupported")

    def test_content_type_action_must_match_the_header(self):
        ct = 'application/soap+xml; charset=utf-8; action="urn:other"'
        reply = self.ces(sbtest.rst_body(self.csr()), content_type=ct)
        self.assertEqual(reply.subcode(), "a:ActionMismatch")

    def test_unknown_must_understand_header(self):
        url = self.info["cep"]["password"]
        reply = self.post(url, sbtest.envelope(
            sbtest.GET_POLICIES, url, sbtest.get_policies_body(), self.sec(),
            extra_headers='<x:Custom s:mustUnderstand="1" xmlns:x="urn:x">1</x:Custom>'))
        self.assertEqual(reply.status, 500)
        self.assertIn(b"MustUnderstand", reply.body)

    def test_not_xml_is_a_sender_fault(self):
        reply = self.post(self.info["cep"]["password"], b"<s:Envelope")
        self.assertEqual(reply.status, 500)
        self.assertIn("not well-formed", reply.fault_reason())

    # WS-Trust / WSTEP message checks (E_INVALIDARG, as cepces saw).
    def test_qualified_encoding_type_is_invalid(self):
        attrs = (f'ValueType="{sbtest.PKCS10_VT}" wsse:EncodingType="{sbtest.BASE64_ET}" '
                 f'xmlns:wsse="{WSSE}"')
        reply = self.ces(sbtest.rst_body(self.csr(), bst_attrs=attrs))
        self.assertFault(reply, 0x80070057)
        self.assertIn("EncodingType is invalid", reply.fault_reason())

    def test_qualified_value_type_is_invalid(self):
        attrs = (f'wsse:ValueType="{sbtest.PKCS10_VT}" EncodingType="{sbtest.BASE64_ET}" '
                 f'xmlns:wsse="{WSSE}"')
        reply = self.ces(sbtest.rst_body(self.csr(), bst_attrs=attrs))
        self.assertFault(reply, 0x80070057)
        self.assertIn("ValueType is invalid", reply.fault_reason())

    def test_unknown_value_type_is_invalid(self):
        self.assertFault(self.ces(sbtest.rst_body(self.csr(), value_type="urn:bogus")), 0x80070057)

    def test_unknown_request_type_and_missing_token(self):
        self.assertFault(self.ces(sbtest.rst_body(self.csr(), request_type="urn:renew")), 0x80070057)
        self.assertFault(self.ces(sbtest.rst_body(None)), 0x80070057)

    def test_garbage_der_is_bad_tag(self):
        self.assertFault(self.ces(sbtest.rst_body(b"\x01\x02\x03garbage")), 0x8009310B)

    # The CA's policy module.
    def test_unidentifiable_template(self):
        csr = sbtest.openssl_csr(self.tmp, "rsa:2048", "/CN=none.example.test")[0]
        reply = self.ces(sbtest.rst_body(csr))
        self.assertFault(reply, 0x80094801)
        self.assertEqual(self.log()[-1]["outcome"], "denied")

    def test_unknown_template_name_and_template_not_on_this_ca(self):
        self.assertFault(self.ces(sbtest.rst_body(self.csr("NoSuchTemplate"))), 0x80094800)
        self.assertFault(self.ces(sbtest.rst_body(self.csr("ECWebServer", "ec:P-256"))), 0x80094800)

    def test_conflicting_template_information(self):
        reply = self.ces(sbtest.rst_body(self.csr("WebServer"),
                                         context={"CertificateTemplate": "Machine"}))
        self.assertFault(reply, 0x80094802)

    def test_key_below_template_minimum(self):
        reply = self.ces(sbtest.rst_body(self.csr("WebServer3072", "rsa:2048")))
        self.assertFault(reply, 0x80094811)
        self.assertIn("3072", reply.fault_reason())
        self.assertTrue(reply.find(sbtest.WSTEP, "RequestID").text.isdigit())

    def test_wrong_key_algorithm(self):
        self.assertFault(self.ces(sbtest.rst_body(self.csr("WebServer", "ec:P-256"))), 0x80090008)
        self.assertFault(self.ces(sbtest.rst_body(self.csr("ECWebServer", "rsa:2048")),
                                  ca="Sandbox-EC-CA"), 0x80090008)
        self.assertFault(self.ces(sbtest.rst_body(self.csr("ECWebServer", "ec:P-384")),
                                  ca="Sandbox-EC-CA"), 0x80090008)

    def test_csr_signature_that_fails(self):
        key = ec.generate_private_key(ec.SECP256R1())
        csr = sbtest.build_csr(key, "bad.example.test",
                               [sbtest.name_value_pairs({"CertificateTemplate": "ECWebServer"})],
                               corrupt=True)
        self.assertFault(self.ces(sbtest.rst_body(csr), ca="Sandbox-EC-CA"), 0x80090006)

    def test_missing_subject_where_the_template_needs_one(self):
        key = sbtest.new_rsa()
        csr = sbtest.build_csr(key, None, [sbtest.name_value_pairs({"CertificateTemplate": "WebServer"})])
        self.assertFault(self.ces(sbtest.rst_body(csr)), 0x80094001)

    def test_template_denied(self):
        reply = self.ces(sbtest.rst_body(self.csr("Restricted")))
        self.assertFault(reply, 0x80094012)
        self.assertEqual(reply.find(sbtest.WSTEP, "InvalidRequest").text, "true")
        self.assertEqual(self.log()[-1]["outcome"], "denied")
        self.assertEqual(self.log()[-1]["hresult"], "0x80094012")
        self.assertFault(self.ces(sbtest.rst_body(self.csr("WebServer")), user="nobody"), 0x80094012)

    # Authentication.
    def test_ces_authentication_failures_are_401(self):
        url = self.info["ces"]["Sandbox-RSA-CA"]["password"]
        body = sbtest.rst_body(self.csr())
        self.assertEqual(self.post(url, sbtest.envelope(sbtest.RST, url, body,
                                                        sbtest.security("alice", "nope"))).status, 401)
        self.assertEqual(self.post(url, sbtest.envelope(sbtest.RST, url, body,
                                                        self.sec(expired=True))).status, 401)
        digest = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
        self.assertEqual(self.post(url, sbtest.envelope(sbtest.RST, url, body, self.sec(
            password_type=digest))).status, 401)

    def test_unknown_path_is_404(self):
        base = self.info["base_url"]
        self.assertEqual(self.post(base + "/Nope_CES_UsernamePassword/service.svc/CES", b"x").status, 404)


if __name__ == "__main__":
    unittest.main()
