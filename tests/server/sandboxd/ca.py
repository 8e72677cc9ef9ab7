"""The sandbox PKI: root CA, two issuing CAs, the HTTPS server certificate and user certificates.

Everything is created once in the state directory and reused on later starts (RSA key generation
is the slow part of starting). Certificates are signed with python cryptography.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from . import der
from . import openssl_cli

ROOT_NAME = "Sandbox Root CA"
ISSUING_CAS = {"Sandbox-RSA-CA": ("rsa", 2048), "Sandbox-EC-CA": ("ec", 384)}
# An ML-DSA-65 issuing CA under the same root, where the openssl command line can make one
# (OpenSSL 3.5+: the Debian 13 stage, tests/pqc). It signs with `openssl`, not python.
ML_DSA_CA = "Sandbox-MLDSA-CA"
ORG = "certenroll sandbox"
DOMAIN = "sandbox.test"
OID_UPN = x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")
ONE_DAY = datetime.timedelta(days=1)


def _write_private(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _write(path: str, data: bytes) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def new_key(kind: str, size: int):
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=size)
    curve = {256: ec.SECP256R1(), 384: ec.SECP384R1()}[size]
    return ec.generate_private_key(curve)


def signing_hash(key) -> hashes.HashAlgorithm:
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def upn_general_name(upn: str) -> x509.OtherName:
    return x509.OtherName(OID_UPN, der.utf8(upn))


@dataclass
class Authority:
    """A CA that signs: its name, certificate and private key."""

    name: str
    cert: x509.Certificate
    key: object
    key_file: str = ""  # the PEM private key, for signing with the openssl command line

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    def sign(self, builder: x509.CertificateBuilder) -> x509.Certificate:
        builder = builder.issuer_name(self.cert.subject).add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(self.cert.public_key()),
            critical=False)
        return builder.sign(self.key, signing_hash(self.key))


def _ca_cert(subject: x509.Name, public_key, signer: Authority | None, signer_key, years: int):
    now = datetime.datetime.now(datetime.timezone.utc) - ONE_DAY
    builder = (x509.CertificateBuilder().subject_name(subject).public_key(public_key)
               .serial_number(x509.random_serial_number()).not_valid_before(now)
               .not_valid_after(now + datetime.timedelta(days=365 * years))
               .add_extension(x509.BasicConstraints(ca=True, path_length=None if signer is None else 0),
                              critical=True)
               .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False),
                              critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))
    if signer is None:
        return builder.issuer_name(subject).sign(signer_key, signing_hash(signer_key))
    return signer.sign(builder)


class Pki:
    """Loads or creates the CA hierarchy and the certificates the sandbox needs at start."""

    def __init__(self, state_dir: str):
        self.dir = os.path.join(state_dir, "ca")
        self.state_dir = state_dir
        os.makedirs(self.dir, exist_ok=True)
        self.root = self._load_or_create_root()
        self.issuing = {name: self._load_or_create_issuing(name, kind, size)
                        for name, (kind, size) in ISSUING_CAS.items()}
        if openssl_cli.has_ml_dsa():
            self.issuing[ML_DSA_CA] = self._load_or_create_ml_dsa(ML_DSA_CA)
        _write(os.path.join(state_dir, "ca-bundle.pem"), cert_pem(self.root.cert))

    def _paths(self, name: str) -> tuple[str, str]:
        return os.path.join(self.dir, name + ".crt"), os.path.join(self.dir, name + ".key")

    def _load(self, name: str) -> Authority | None:
        crt, key = self._paths(name)
        if not (os.path.exists(crt) and os.path.exists(key)):
            return None
        with open(crt, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        with open(key, "rb") as f:
            private = serialization.load_pem_private_key(f.read(), None)
        return Authority(name, cert, private, key)

    def _store(self, authority: Authority) -> Authority:
        crt, key = self._paths(authority.name)
        _write_private(key, key_pem(authority.key))
        _write(crt, cert_pem(authority.cert))
        authority.key_file = key
        return authority

    def _load_or_create_root(self) -> Authority:
        found = self._load("root")
        if found:
            return found
        # ECDSA P-384 root, RSA-2048 issuing CA: RSA key generation dominates the first start,
        # which must stay under 3 s (measured by tests/bench/run, never asserted).
        key = new_key("ec", 384)
        cert = _ca_cert(_name(ROOT_NAME), key.public_key(), None, key, 20)
        return self._store(Authority("root", cert, key))

    def _load_or_create_issuing(self, name: str, kind: str, size: int) -> Authority:
        found = self._load(name)
        if found and found.cert.issuer == self.root.cert.subject:
            return found
        key = new_key(kind, size)
        cert = _ca_cert(_name(name), key.public_key(), self.root, None, 10)
        return self._store(Authority(name, cert, key))

    def _load_or_create_ml_dsa(self, name: str) -> Authority:
        crt, key = self._paths(name)
        if os.path.exists(crt) and os.path.exists(key):
            with open(crt, "rb") as f:
                cert = x509.load_pem_x509_certificate(f.read())
            if cert.issuer == self.root.cert.subject:
                return Authority(name, cert, openssl_cli.MlDsaKey(key), key)
        private = openssl_cli.MlDsaKey.generate(key, "ML-DSA-65")
        usage = x509.KeyUsage(True, False, False, False, False, True, True, False, False)
        cert = openssl_cli.issue(
            self.root.cert, self._paths("root")[1], private.spki, _name(name),
            x509.random_serial_number(), 3650,
            [("2.5.29.19", True, x509.BasicConstraints(ca=True, path_length=0).public_bytes()),
             ("2.5.29.15", True, usage.public_bytes())], digest="sha384")
        _write(crt, cert_pem(cert))
        return Authority(name, cert, private, key)

    def chain_for(self, ca_name: str) -> list[x509.Certificate]:
        """Root first, then the issuing CA: the order Windows uses in its PKCS#7."""
        return [self.root.cert, self.issuing[ca_name].cert]

    def trust_pem_path(self) -> str:
        """Root and issuing CAs: what the TLS layer trusts for client certificates."""
        path = os.path.join(self.dir, "client-trust.pem")
        _write(path, b"".join(cert_pem(c) for c in
                              [self.root.cert] + [a.cert for a in self.issuing.values()]))
        return path

    def ensure_server_cert(self) -> tuple[str, str]:
        """HTTPS certificate for 127.0.0.1, ::1 and localhost; returns (chain path, key path)."""
        crt = os.path.join(self.state_dir, "server.crt")
        key_path = os.path.join(self.state_dir, "server.key")
        ca = self.issuing["Sandbox-RSA-CA"]
        if os.path.exists(crt) and os.path.exists(key_path):
            with open(crt, "rb") as f:
                current = x509.load_pem_x509_certificate(f.read())  # the first PEM block: the leaf
            if current.issuer == ca.cert.subject:
                return crt, key_path
        key = new_key("rsa", 2048)
        sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                x509.IPAddress(ipaddress.ip_address("::1"))]
        cert = ca.sign(self._leaf_builder(_name("localhost"), key.public_key(), 365)
                       .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                       .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                                      critical=False))
        _write_private(key_path, key_pem(key))
        _write(crt, cert_pem(cert) + cert_pem(ca.cert))
        return crt, key_path

    def ensure_user_cert(self, user: str, users_dir: str) -> tuple[str, str]:
        """TLS client certificate for a test user: clientAuth, UPN user@sandbox.test."""
        crt = os.path.join(users_dir, user + ".crt")
        key_path = os.path.join(users_dir, user + ".key")
        ca = self.issuing["Sandbox-RSA-CA"]
        if os.path.exists(crt) and os.path.exists(key_path):
            with open(crt, "rb") as f:
                if x509.load_pem_x509_certificate(f.read()).issuer == ca.cert.subject:
                    return crt, key_path
        key = new_key("rsa", 2048)
        cert = ca.sign(self._leaf_builder(_name(user), key.public_key(), 365)
                       .add_extension(x509.SubjectAlternativeName(
                           [upn_general_name(f"{user}@{DOMAIN}")]), critical=False)
                       .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                                      critical=False))
        _write_private(key_path, key_pem(key))
        _write(crt, cert_pem(cert))
        return crt, key_path

    @staticmethod
    def _leaf_builder(subject: x509.Name, public_key, days: int) -> x509.CertificateBuilder:
        now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=10)
        return (x509.CertificateBuilder().subject_name(subject).public_key(public_key)
                .serial_number(x509.random_serial_number()).not_valid_before(now)
                .not_valid_after(now + datetime.timedelta(days=days))
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key),
                               critical=False))

    def find_issuer(self, cert: x509.Certificate) -> Authority | None:
        """The issuing CA that signed cert (name match and signature check), or None."""
        for authority in self.issuing.values():
            if cert.issuer != authority.cert.subject:
                continue
            try:
                verify_signed_by(cert, authority.cert)
            except Exception:  # any verification failure means "not ours"
                continue
            return authority
        return None


def verify_signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> None:
    """Raises if cert's signature does not verify with issuer's public key."""
    from cryptography.hazmat.primitives.asymmetric import padding
    issuer_spki = openssl_cli.cert_spki(issuer)
    if openssl_cli.ml_dsa_name(issuer_spki):
        if not openssl_cli.verify(issuer_spki, cert.tbs_certificate_bytes, cert.signature):
            raise ValueError("the ML-DSA signature does not verify")
        return
    key = issuer.public_key()
    if isinstance(key, rsa.RSAPublicKey) and cert.signature_algorithm_oid.dotted_string == \
            openssl_cli.OID_RSASSA_PSS:
        # The sandbox's own PSS certificates: SHA-256, MGF1-SHA-256, 32-byte salt.
        key.verify(cert.signature, cert.tbs_certificate_bytes,
                   padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
    elif isinstance(key, rsa.RSAPublicKey):
        key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                   cert.signature_hash_algorithm)
    else:
        key.verify(cert.signature, cert.tbs_certificate_bytes,
                   ec.ECDSA(cert.signature_hash_algorithm))


def identity_of(cert: x509.Certificate) -> str | None:
    """The identity a certificate stands for: its UPN's user part, else its CN."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        for other in san.get_values_for_type(x509.OtherName):
            if other.type_id == OID_UPN:
                upn = der.decode_string(der.parse(other.value))
                return upn.split("@", 1)[0]
    except (x509.ExtensionNotFound, der.DerError, UnicodeDecodeError):
        pass
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(cns[0].value) if cns else None
