#!/usr/bin/env python3
"""Regenerates the MS-WSTEP response fixtures of tests/unit/wstep_test.cpp.

The envelopes follow the shapes of the MS-WSTEP section 4 examples (4.1.1.2 issued, 4.1.2 pending,
4.1.3.2 QueryTokenStatus issued, 4.1.5.2 renewal, 4.1.4.2 InternalServiceFault) with the spec's
typos repaired (protocol.md section 5 item 20), plus WCF-style (s:/a:/o: prefixes, ActivityId,
CRLF-wrapped base64), ns0:-style and broken variants. The spec's own base64 blobs are replaced by a
freshly generated test PKI (root -> sub CA -> leaf), so every blob is valid DER: leaf.der and
pkcs7.der hold the expected decoded bytes. Run: python3 make_fixtures.py (in this directory).
"""

import base64
import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

HERE = Path(__file__).resolve().parent

S = "http://www.w3.org/2003/05/soap-envelope"
A = "http://www.w3.org/2005/08/addressing"
WST = "http://docs.oasis-open.org/ws-sx/ws-trust/200512"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSTEP = "http://schemas.microsoft.com/windows/pki/2009/01/enrollment"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
DIAG = "http://schemas.microsoft.com/2004/09/ServiceModel/Diagnostics"
X509V3 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
PKCS7 = WSSE + "#PKCS7"
B64 = WSSE + "#base64binary"
RSTRC = WSTEP + "/RSTRC/wstep"
FAULT_ACTION = WSTEP + "/RequestSecurityTokenCertificateEnrollmentWSDetailFault"
WCF_FAULT = "http://schemas.microsoft.com/net/2005/12/windowscommunicationfoundation/dispatcher/fault"
CES_URL = "https://ca.contoso.com/Contoso-CA_CES_Kerberos/service.svc/CES"
RELATES = "urn:uuid:b5d1a601-5091-4a7d-b34b-5204c18b5919"
ACTIVITY = ('<ActivityId CorrelationId="4f8b2a31-1c2e-4c41-9b8f-7a0f4e3d2c10" xmlns="' + DIAG +
            '">e3c1a8f2-9d14-4a67-8b35-2f6c0d9e1b47</ActivityId>')


def make_pki():
    now = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)

    def cert(subject, issuer, key, signer, ca, days):
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                   .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=days))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        return builder.sign(signer, hashes.SHA256())

    root_key, sub_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = cert("Contoso Root CA", "Contoso Root CA", root_key, root_key, True, 3650)
    sub = cert("Contoso-CA", "Contoso Root CA", sub_key, root_key, True, 1825)
    leaf = cert("host.contoso.com", "Contoso-CA", leaf_key, sub_key, False, 365)
    der = serialization.Encoding.DER
    # Windows order: root first, leaf last (protocol.md section 2.4).
    bundle = pkcs7.serialize_certificates([root, sub, leaf], der)
    return leaf.public_bytes(der), bundle


def b64(data, wrap=None):
    text = base64.b64encode(data).decode()
    if wrap is None:
        return text
    return wrap.join(text[i:i + 64] for i in range(0, len(text), 64))


def envelope(body, action=RSTRC, activity=True):
    return (f'<s:Envelope xmlns:a="{A}" xmlns:s="{S}">\n<s:Header>\n'
            f'<a:Action s:mustUnderstand="1">{action}</a:Action>\n'
            f'<a:RelatesTo>{RELATES}</a:RelatesTo>\n' + (ACTIVITY + "\n" if activity else "") +
            f'</s:Header>\n<s:Body>\n{body}\n</s:Body>\n</s:Envelope>\n')


def bst(value_type, text):
    return (f'<BinarySecurityToken ValueType="{value_type}" EncodingType="{B64}" '
            f'xmlns="{WSSE}">{text}</BinarySecurityToken>')


def rstr(message, pkcs7_text, requested, request_id, extra=""):
    disposition = (f'<DispositionMessage xml:lang="en-US" xmlns="{WSTEP}">{message}</DispositionMessage>'
                   if message is not None else "")
    rid = f'<RequestID xmlns="{WSTEP}">{request_id}</RequestID>' if request_id is not None else ""
    pk = bst(PKCS7, pkcs7_text) if pkcs7_text is not None else ""
    return ("<RequestSecurityTokenResponse>\n"
            f"<TokenType>{X509V3}</TokenType>\n{disposition}\n{pk}\n"
            f"<RequestedSecurityToken>{requested}</RequestedSecurityToken>\n{rid}{extra}\n"
            "</RequestSecurityTokenResponse>")


def collection(*responses):
    return (f'<RequestSecurityTokenResponseCollection xmlns="{WST}">\n' + "\n".join(responses) +
            "\n</RequestSecurityTokenResponseCollection>")


def reference(uri=CES_URL):
    return f'<SecurityTokenReference xmlns="{WSSE}"><Reference URI="{uri}"/></SecurityTokenReference>'


def fault(code, subcode, reason, detail, action=FAULT_ACTION):
    sub = f"<s:Subcode><s:Value>{subcode}</s:Value></s:Subcode>" if subcode else ""
    det = f"<s:Detail>{detail}</s:Detail>" if detail else ""
    return envelope(f'<s:Fault><s:Code><s:Value>{code}</s:Value>{sub}</s:Code>'
                    f'<s:Reason><s:Text xml:lang="en-US">{reason}</s:Text></s:Reason>{det}</s:Fault>',
                    action)


def wstep_detail(error_code, request_id, invalid_request):
    rid = (f"<RequestID>{request_id}</RequestID>" if request_id is not None
           else '<RequestID xsi:nil="true"/>')
    return (f'<CertificateEnrollmentWSDetail xmlns="{WSTEP}" '
            f'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="{XSI}">'
            f'<BinaryResponse xsi:nil="true"/><ErrorCode>{error_code}</ErrorCode>'
            f"<InvalidRequest>{invalid_request}</InvalidRequest>{rid}</CertificateEnrollmentWSDetail>")


def main():
    leaf, bundle = make_pki()
    (HERE / "leaf.der").write_bytes(leaf)
    (HERE / "pkcs7.der").write_bytes(bundle)
    leaf_b64, p7_b64 = b64(leaf), b64(bundle)
    issued_token = bst(X509V3, leaf_b64)
    files = {}

    # Section 4.1.1.2 (issued), 4.1.3.2 (QueryTokenStatus issued), 4.1.5.2 (renewal issued).
    files["issued.xml"] = envelope(collection(rstr("Issued", p7_b64, issued_token, "60")))
    files["query_issued.xml"] = envelope(collection(rstr("Issued", p7_b64, issued_token, "61")))
    files["renewal_issued.xml"] = envelope(collection(rstr("Issued", p7_b64, issued_token, "62")))
    # Section 4.1.2: CR_DISP_UNDER_SUBMISSION comes back as a reference to the CES URL.
    files["pending.xml"] = envelope(
        collection(rstr("Taken Under Submission", p7_b64, reference(), "63")))

    # WCF serialisation: prefixes everywhere, CRLF (raw and as &#xD;) inside the base64.
    files["wcf_issued.xml"] = (
        f'<s:Envelope xmlns:s="{S}" xmlns:a="{A}" xmlns:u="http://docs.oasis-open.org/wss/2004/01/'
        'oasis-200401-wss-wssecurity-utility-1.0.xsd">\r\n<s:Header>\r\n'
        f'<a:Action s:mustUnderstand="1">{RSTRC}</a:Action>\r\n{ACTIVITY}\r\n'
        f"<a:RelatesTo>{RELATES}</a:RelatesTo>\r\n</s:Header>\r\n<s:Body>\r\n"
        f'<t:RequestSecurityTokenResponseCollection xmlns:t="{WST}" xmlns:o="{WSSE}" '
        f'xmlns:e="{WSTEP}">\r\n<t:RequestSecurityTokenResponse>\r\n'
        f"<t:TokenType>{X509V3}</t:TokenType>\r\n"
        '<e:DispositionMessage xml:lang="en-US">Issued</e:DispositionMessage>\r\n'
        f'<o:BinarySecurityToken ValueType="{PKCS7}" EncodingType="{B64}">\r\n'
        f"{b64(bundle, chr(13) + chr(10))}\r\n</o:BinarySecurityToken>\r\n"
        f'<t:RequestedSecurityToken><o:BinarySecurityToken ValueType="{X509V3}" '
        f'EncodingType="{B64}">{b64(leaf, "&#xD;" + chr(10))}</o:BinarySecurityToken>'
        "</t:RequestedSecurityToken>\r\n<e:RequestID>64</e:RequestID>\r\n"
        "</t:RequestSecurityTokenResponse>\r\n</t:RequestSecurityTokenResponseCollection>\r\n"
        "</s:Body>\r\n</s:Envelope>\r\n")

    # Re-serialised captures (cepces style): ns0/ns1/... prefixes, nil DispositionMessage.
    files["ns0_pending.xml"] = (
        f'<ns0:Envelope xmlns:ns0="{S}" xmlns:ns1="{A}" xmlns:ns2="{WST}" xmlns:ns3="{WSSE}" '
        f'xmlns:ns4="{WSTEP}" xmlns:ns5="{XSI}"><ns0:Header>'
        f'<ns1:Action ns0:mustUnderstand="1">{RSTRC}</ns1:Action>'
        f"<ns1:RelatesTo>{RELATES}</ns1:RelatesTo></ns0:Header><ns0:Body>"
        "<ns2:RequestSecurityTokenResponseCollection><ns2:RequestSecurityTokenResponse>"
        f"<ns2:TokenType>{X509V3}</ns2:TokenType>"
        '<ns4:DispositionMessage ns5:nil="true"/>'
        f'<ns2:RequestedSecurityToken><ns3:SecurityTokenReference><ns3:Reference URI="{CES_URL}"/>'
        "</ns3:SecurityTokenReference></ns2:RequestedSecurityToken>"
        "<ns4:RequestID> 65 </ns4:RequestID>"
        "</ns2:RequestSecurityTokenResponse></ns2:RequestSecurityTokenResponseCollection>"
        "</ns0:Body></ns0:Envelope>\n")

    # Faults: denied with a request id (HTTP 500), E_INVALIDARG, WCF InternalServiceFault.
    files["fault_denied.xml"] = fault(
        "s:Receiver", None,
        "Denied by Policy Module  0x80094012, The permissions on the certificate template do not "
        "allow the current user to enroll for this type of certificate.",
        wstep_detail(-2146877422, 42, "true"))
    files["fault_invalidarg.xml"] = fault("s:Receiver", None, "The EncodingType is invalid.",
                                          wstep_detail(-2147024809, None, "false"))
    files["fault_internal.xml"] = fault(
        "s:Receiver", "a:InternalServiceFault",
        "The server was unable to process the request due to an internal error.", None, WCF_FAULT)

    # Broken responses: each must be a protocol error.
    one = rstr("Issued", p7_b64, issued_token, "70")
    files["broken_two_rstr.xml"] = envelope(collection(one, one))
    files["broken_no_rstr.xml"] = envelope(collection())
    files["broken_neither.xml"] = envelope(collection(rstr("Issued", p7_b64, "", "71")))
    files["broken_both.xml"] = envelope(
        collection(rstr("Issued", p7_b64, issued_token + reference(), "72")))
    files["broken_absurd_request_id.xml"] = envelope(
        collection(rstr("Taken Under Submission", p7_b64, reference(), "7" * 65)))
    files["broken_request_id_spaces.xml"] = envelope(
        collection(rstr("Taken Under Submission", p7_b64, reference(), "73 OR 1=1")))
    files["broken_garbage_base64.xml"] = envelope(
        collection(rstr("Issued", p7_b64, bst(X509V3, "MIIB*not%base64!"), "74")))
    files["broken_duplicate_request_id.xml"] = envelope(
        collection(rstr("Issued", p7_b64, issued_token, "75",
                        f'<RequestID xmlns="{WSTEP}">76</RequestID>')))
    files["broken_pending_without_id.xml"] = envelope(
        collection(rstr("Taken Under Submission", p7_b64, reference(), None)))
    files["broken_reference_without_uri.xml"] = envelope(
        collection(rstr("Taken Under Submission", p7_b64,
                        f'<SecurityTokenReference xmlns="{WSSE}"><Reference/></SecurityTokenReference>',
                        "77")))
    files["broken_wrong_value_type.xml"] = envelope(
        collection(rstr("Issued", p7_b64, bst(PKCS7, leaf_b64), "78")))
    files["broken_empty_certificate.xml"] = envelope(
        collection(rstr("Issued", p7_b64, bst(X509V3, ""), "79")))

    for name, text in files.items():
        (HERE / name).write_bytes(text.encode())


if __name__ == "__main__":
    main()
