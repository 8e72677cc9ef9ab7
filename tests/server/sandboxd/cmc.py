"""The CMC Full PKI Response that CES returns as the #PKCS7 BinarySecurityToken.

Shape of the MS-WSTEP 4.1.1.2 example (verified in protocol.md): SignedData v3, eContentType
id-cct-PKIResponse, controls id-cmc-statusInfo and the Microsoft add-attributes control carrying
the SHA-1 hash of the issued certificate, certificates root, issuing CA, leaf in that order,
one SignerInfo by the issuing CA.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from . import der
from .ca import Authority, signing_hash

OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
OID_PKI_RESPONSE = "1.3.6.1.5.5.7.12.3"
OID_CMC_STATUS_INFO = "1.3.6.1.5.5.7.7.1"
OID_CMC_ADD_ATTRIBUTES = "1.3.6.1.4.1.311.10.10.1"
OID_ISSUED_CERT_HASH = "1.3.6.1.4.1.311.21.17"
OID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
HASH_OIDS = {"sha256": "2.16.840.1.101.3.4.2.1", "sha384": "2.16.840.1.101.3.4.2.2",
             "sha512": "2.16.840.1.101.3.4.2.3"}
SIG_OIDS = {("rsa", "sha256"): "1.2.840.113549.1.1.11", ("rsa", "sha384"): "1.2.840.113549.1.1.12",
            ("ec", "sha256"): "1.2.840.10045.4.3.2", ("ec", "sha384"): "1.2.840.10045.4.3.3"}
STATUS_SUCCESS = 0
STATUS_PENDING = 3


def _status_info(status: int, text: str) -> bytes:
    return der.seq(der.integer(1), der.oid(OID_CMC_STATUS_INFO),
                   der.set_of(der.seq(der.integer(status), der.seq(der.integer(1)), der.utf8(text))))


def _add_attributes(cert: x509.Certificate) -> bytes:
    digest = cert.fingerprint(hashes.SHA1())
    attribute = der.seq(der.oid(OID_ISSUED_CERT_HASH), der.set_of(der.octet_string(digest)))
    value = der.seq(der.integer(0), der.seq(der.integer(1)), der.set_of(attribute))
    return der.seq(der.integer(2), der.oid(OID_CMC_ADD_ATTRIBUTES), der.set_of(value))


def pki_response(status: int, text: str, leaf: x509.Certificate | None) -> bytes:
    controls = [_status_info(status, text)]
    if leaf is not None:
        controls.append(_add_attributes(leaf))
    return der.seq(der.seq(*controls), der.seq(), der.seq())


def signed_response(authority: Authority, chain: list[x509.Certificate],
                    leaf: x509.Certificate | None, status: int = STATUS_SUCCESS,
                    text: str = "Issued") -> bytes:
    """ContentInfo(SignedData) around the PKIResponse, signed by the issuing CA."""
    content = pki_response(status, text, leaf)
    ml_dsa = getattr(authority.key, "algorithm", None) is not None  # openssl_cli.MlDsaKey
    # RFC 9882: an ML-DSA signer's digestAlgorithm is SHA-512.
    algorithm = hashes.SHA512() if ml_dsa else signing_hash(authority.key)
    h = hashes.Hash(algorithm)
    h.update(content)
    kind = "ec" if isinstance(authority.key, ec.EllipticCurvePrivateKey) else "rsa"
    hash_oid = HASH_OIDS[algorithm.name]
    signed_attrs = (der.seq(der.oid(OID_CONTENT_TYPE), der.set_of(der.oid(OID_PKI_RESPONSE)))
                    + der.seq(der.oid(OID_MESSAGE_DIGEST), der.set_of(der.octet_string(h.finalize()))))
    to_sign = der.tlv(der.SET, signed_attrs)
    if ml_dsa:
        signature = authority.key.sign(to_sign)
    elif isinstance(authority.key, rsa.RSAPrivateKey):
        signature = authority.key.sign(to_sign, padding.PKCS1v15(), algorithm)
    else:
        signature = authority.key.sign(to_sign, ec.ECDSA(algorithm))
    ca_cert = authority.cert
    sid = der.seq(ca_cert.issuer.public_bytes(), der.integer(ca_cert.serial_number))
    sig_alg = der.seq(der.oid(authority.key.oid if ml_dsa else SIG_OIDS[(kind, algorithm.name)]))
    signer_info = der.seq(der.integer(1), sid, der.seq(der.oid(hash_oid), der.null()),
                          der.implicit_constructed(0, signed_attrs), sig_alg,
                          der.octet_string(signature))
    certs = chain + ([leaf] if leaf is not None else [])
    signed_data = der.seq(
        der.integer(3), der.set_of(der.seq(der.oid(hash_oid), der.null())),
        der.seq(der.oid(OID_PKI_RESPONSE), der.explicit(0, der.octet_string(content))),
        der.implicit_constructed(0, b"".join(c.public_bytes(Encoding.DER) for c in certs)),
        der.set_of(signer_info))
    return der.seq(der.oid(OID_SIGNED_DATA), der.explicit(0, signed_data))
