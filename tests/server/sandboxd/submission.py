"""Decoding what a client submits: PKCS#10, or a CMS SignedData wrapping one (renewal).

Like the CA (CR_IN_FORMATANY), the format is sniffed from the DER, not taken from ValueType.
Failures raise CaError with the HRESULT AD CS reports for the same problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from . import der
from . import openssl_cli
from .errors import (CaError, CERTSRV_E_BAD_RENEWAL_CERT_ATTRIBUTE, CRYPT_E_ASN1_BADTAG,
                     CRYPT_E_INVALID_MSG_TYPE, CRYPT_E_NO_SIGNER, NTE_BAD_SIGNATURE)

OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
OID_DATA = "1.2.840.113549.1.7.1"
OID_PKI_DATA = "1.3.6.1.5.5.7.12.2"
OID_EXTENSION_REQUEST = "1.2.840.113549.1.9.14"
OID_NAME_VALUE_PAIR = "1.3.6.1.4.1.311.13.2.1"
OID_RENEWAL_CERTIFICATE = "1.3.6.1.4.1.311.13.1"
OID_TEMPLATE_NAME = "1.3.6.1.4.1.311.20.2"
OID_TEMPLATE_V2 = "1.3.6.1.4.1.311.21.7"
OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
OID_REG_INFO = "1.3.6.1.5.5.7.7.18"
DIGESTS = {"1.3.14.3.2.26": hashes.SHA1, "2.16.840.1.101.3.4.2.1": hashes.SHA256,
           "2.16.840.1.101.3.4.2.2": hashes.SHA384, "2.16.840.1.101.3.4.2.3": hashes.SHA512}


@dataclass
class TemplateHint:
    """How the request names its template (any of the MS-WCCE ways)."""

    v1_name: str | None = None
    v2_oid: str | None = None
    v2_major: int | None = None
    v2_minor: int | None = None
    pairs: dict[str, str] = field(default_factory=dict)


@dataclass
class Submission:
    """A decoded request: the PKCS#10 to certify, and the certificate being renewed if any."""

    csr: x509.CertificateSigningRequest
    csr_der: bytes
    hint: TemplateHint
    kind: str  # "pkcs10" | "cms-pkcs10" | "cms-cmc"
    renewal_cert: x509.Certificate | None = None


def decode(data: bytes) -> Submission:
    try:
        top = der.parse(data)
        children = top.children()
    except der.DerError as e:
        raise CaError(CRYPT_E_ASN1_BADTAG, f"ASN1 bad tag value met: the request is not DER ({e})")
    if children and children[0].tag == der.OID:
        return _decode_cms(children)
    return _decode_pkcs10(data, "pkcs10")


SIGNATURES = {"1.2.840.113549.1.1.5": ("rsa", hashes.SHA1), "1.2.840.113549.1.1.11": ("rsa", hashes.SHA256),
              "1.2.840.113549.1.1.12": ("rsa", hashes.SHA384), "1.2.840.113549.1.1.13": ("rsa", hashes.SHA512),
              "1.2.840.10045.4.3.2": ("ec", hashes.SHA256), "1.2.840.10045.4.3.3": ("ec", hashes.SHA384),
              "1.2.840.10045.4.3.4": ("ec", hashes.SHA512), "1.2.840.10045.4.1": ("ec", hashes.SHA1)}


def _load_csr(data: bytes) -> tuple[x509.CertificateSigningRequest, bool]:
    """Loads a CSR and checks its signature. python cryptography insists on DER-sorted SETs;
    AD CS does not, so an unsorted attribute SET is re-sorted for parsing while the signature
    is still checked over the bytes the client signed."""
    try:
        csr = x509.load_der_x509_csr(data)
        # RSASSA-PSS and ML-DSA: checked by the openssl command line, which knows both.
        if _signature_oid(data) in openssl_cli.ML_DSA_OIDS or _signature_oid(data) == openssl_cli.OID_RSASSA_PSS:
            return csr, openssl_cli.verify_csr(data)
        return csr, csr.is_signature_valid
    except ValueError as e:
        if "SetOrdering" not in str(e):
            raise
    top = der.parse(data).children()
    info = top[0].children()
    attrs = info[3]
    resorted = []
    for attr in attrs.children():
        attr_oid, values = attr.children()[:2]
        resorted.append(der.seq(attr_oid.raw, der.set_of_sorted(*[v.raw for v in values.children()])))
    resorted_attrs = der.tlv(attrs.tag, b"".join(sorted(resorted)))
    resorted_info = der.seq(*[n.raw for n in info[:3]], resorted_attrs)
    csr = x509.load_der_x509_csr(der.seq(resorted_info, top[1].raw, top[2].raw))
    sig_oid = der.decode_oid(top[1].children()[0])
    if sig_oid not in SIGNATURES or top[2].content[:1] != b"\x00":
        return csr, False
    scheme, algorithm = SIGNATURES[sig_oid]
    try:
        key = csr.public_key()
        if scheme == "rsa":
            key.verify(top[2].content[1:], top[0].raw, padding.PKCS1v15(), algorithm())
        else:
            key.verify(top[2].content[1:], top[0].raw, ec.ECDSA(algorithm()))
    except (InvalidSignature, TypeError, AttributeError):
        return csr, False
    return csr, True


def _signature_oid(data: bytes) -> str | None:
    try:
        return der.decode_oid(der.parse(data).children()[1].children()[0])
    except (der.DerError, IndexError):
        return None


def _decode_pkcs10(data: bytes, kind: str) -> Submission:
    try:
        csr, signature_ok = _load_csr(data)
        info = der.parse(data).children()[0].children()
    except (ValueError, der.DerError, IndexError) as e:
        raise CaError(CRYPT_E_ASN1_BADTAG, f"the request is not a PKCS#10 certificate request ({e})")
    if not signature_ok:
        raise CaError(NTE_BAD_SIGNATURE, "the PKCS#10 signature does not verify with its public key")
    hint = TemplateHint()
    renewal = None
    attrs = info[3].children() if len(info) > 3 and info[3].context(0) else []
    for attr in attrs:
        parts = attr.children()
        attr_oid = der.decode_oid(parts[0])
        values = parts[1].children()
        if attr_oid == OID_EXTENSION_REQUEST:
            for ext in values[0].children():
                _read_template_extension(ext, hint)
        elif attr_oid == OID_NAME_VALUE_PAIR:
            for value in values:
                _read_name_value(value, hint)
        elif attr_oid == OID_RENEWAL_CERTIFICATE:
            try:
                renewal = x509.load_der_x509_certificate(values[0].raw)
            except ValueError as e:
                raise CaError(CERTSRV_E_BAD_RENEWAL_CERT_ATTRIBUTE,
                              f"the renewal certificate attribute is not a certificate ({e})")
    return Submission(csr, data, hint, kind, renewal)


def _read_template_extension(ext: der.Node, hint: TemplateHint) -> None:
    parts = ext.children()
    ext_oid = der.decode_oid(parts[0])
    value = der.parse(parts[-1].content)
    if ext_oid == OID_TEMPLATE_NAME:
        # Real requests carry a bare BMPString; MS-WCCE's text says SEQUENCE { UTF8String }.
        if value.tag == der.SEQUENCE:
            value = value.children()[0]
        hint.v1_name = der.decode_string(value)
    elif ext_oid == OID_TEMPLATE_V2:
        fields = value.children()
        hint.v2_oid = der.decode_oid(fields[0])
        if len(fields) > 1:
            hint.v2_major = der.decode_int(fields[1])
        if len(fields) > 2:
            hint.v2_minor = der.decode_int(fields[2])


def _read_name_value(value: der.Node, hint: TemplateHint) -> None:
    items = value.children()
    if items and items[0].tag == der.SEQUENCE:  # tolerate SEQUENCE OF pairs
        for item in items:
            _read_name_value(item, hint)
        return
    if len(items) == 2:
        hint.pairs[der.decode_string(items[0])] = der.decode_string(items[1])


def _decode_cms(content_info: list[der.Node]) -> Submission:
    if der.decode_oid(content_info[0]) != OID_SIGNED_DATA or len(content_info) < 2:
        raise CaError(CRYPT_E_INVALID_MSG_TYPE, "the CMS request is not a SignedData")
    try:
        signed = content_info[1].children()[0].children()
        encap = signed[2].children()
        e_type = der.decode_oid(encap[0])
        e_content = encap[1].children()[0].content
        certs = []
        signer_infos = signed[-1].children()
        for node in signed[3:-1]:
            if node.context(0):
                certs = [x509.load_der_x509_certificate(c.raw) for c in node.children()]
    except (der.DerError, IndexError, ValueError) as e:
        raise CaError(CRYPT_E_ASN1_BADTAG, f"the CMS SignedData is malformed ({e})")
    if e_type == OID_DATA:
        sub = _decode_pkcs10(e_content, "cms-pkcs10")
    elif e_type == OID_PKI_DATA:
        sub = _decode_pki_data(e_content)
    else:
        raise CaError(CRYPT_E_INVALID_MSG_TYPE, f"unsupported CMS content type {e_type}")
    if sub.renewal_cert is None:
        raise CaError(CERTSRV_E_BAD_RENEWAL_CERT_ATTRIBUTE,
                      "the signed request carries no renewal certificate (1.3.6.1.4.1.311.13.1)")
    _verify_old_cert_signer(signer_infos, e_content, sub.renewal_cert, certs)
    return sub


def _decode_pki_data(data: bytes) -> Submission:
    try:
        controls, requests = der.parse(data).children()[:2]
        tagged = requests.children()[0]
        if not tagged.context(0):
            raise CaError(CRYPT_E_INVALID_MSG_TYPE, "only tcr (PKCS#10) CMC requests are supported")
        csr_node = tagged.children()[1]
        reg_info = {}
        for control in controls.children():
            parts = control.children()
            if der.decode_oid(parts[1]) == OID_REG_INFO:
                text = parts[2].children()[0].content.decode("utf-8")
                for item in filter(None, text.split("&")):
                    name, _, value = item.partition("=")
                    reg_info[name] = value
    except (der.DerError, IndexError) as e:
        raise CaError(CRYPT_E_ASN1_BADTAG, f"the CMC PKIData is malformed ({e})")
    sub = _decode_pkcs10(csr_node.raw, "cms-cmc")
    sub.hint.pairs.update(reg_info)
    return sub


def _sid_matches(sid: der.Node, cert: x509.Certificate) -> bool:
    if sid.tag == der.SEQUENCE:
        issuer, serial = sid.children()
        return (issuer.raw == cert.issuer.public_bytes() and der.decode_int(serial) == cert.serial_number)
    if sid.context(0):
        try:
            ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        except x509.ExtensionNotFound:
            return False
        return sid.content == ski
    return False


def _verify_old_cert_signer(signer_infos, e_content, old, certs) -> None:
    old_der = old.public_bytes(Encoding.DER)
    for info in signer_infos:
        parts = info.children()
        if not _sid_matches(parts[1], old):
            continue
        digest_oid = der.decode_oid(parts[2].children()[0])
        if digest_oid not in DIGESTS:
            raise CaError(CRYPT_E_NO_SIGNER, f"unsupported digest algorithm {digest_oid}")
        algorithm = DIGESTS[digest_oid]()
        signed_attrs = parts[3] if parts[3].context(0) else None
        signature = parts[-1] if parts[-1].tag == der.OCTET_STRING else parts[-2]
        if signed_attrs is not None:
            _check_message_digest(signed_attrs, e_content, algorithm)
            data = der.tlv(der.SET, signed_attrs.content)
        else:
            data = e_content
        signature_oid = der.decode_oid(parts[-2].children()[0]) if parts[-1] is signature else None
        try:
            old_spki = openssl_cli.cert_spki(old)
            if openssl_cli.ml_dsa_name(old_spki):  # RFC 9882: pure ML-DSA over the content
                if not openssl_cli.verify(old_spki, data, signature.content):
                    raise InvalidSignature()
                key = None
            else:
                key = old.public_key()
            if key is None:
                pass
            elif isinstance(key, rsa.RSAPublicKey) and signature_oid == openssl_cli.OID_RSASSA_PSS:
                # RFC 4056; certenroll-cli's parameters: MGF1 with the same hash, salt = hash size.
                key.verify(signature.content, data,
                           padding.PSS(padding.MGF1(algorithm), algorithm.digest_size), algorithm)
            elif isinstance(key, rsa.RSAPublicKey):
                key.verify(signature.content, data, padding.PKCS1v15(), algorithm)
            elif isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(signature.content, data, ec.ECDSA(algorithm))
            else:
                raise CaError(CRYPT_E_NO_SIGNER, "unsupported signer key type")
        except InvalidSignature:
            raise CaError(NTE_BAD_SIGNATURE,
                          "the CMS signature does not verify with the certificate being renewed")
        if certs and not any(c.public_bytes(Encoding.DER) == old_der for c in certs):
            raise CaError(CRYPT_E_NO_SIGNER, "the CMS certificates do not include the renewed certificate")
        return
    raise CaError(CRYPT_E_NO_SIGNER, "no CMS signer matches the certificate being renewed")


def _check_message_digest(signed_attrs: der.Node, content: bytes, algorithm) -> None:
    h = hashes.Hash(algorithm)
    h.update(content)
    expected = h.finalize()
    for attr in signed_attrs.children():
        parts = attr.children()
        if der.decode_oid(parts[0]) == OID_MESSAGE_DIGEST:
            if parts[1].children()[0].content != expected:
                raise CaError(NTE_BAD_SIGNATURE, "the CMS messageDigest does not match the content")
            return
    raise CaError(NTE_BAD_SIGNATURE, "the CMS signed attributes have no messageDigest")


def public_key_der(key) -> bytes:
    from cryptography.hazmat.primitives.serialization import PublicFormat
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
