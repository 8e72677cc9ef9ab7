"""What python cryptography cannot do here, done with the `openssl` command line: ML-DSA keys,
certificates and signatures (OpenSSL 3.5+; python3-cryptography 43 in Debian 13 has no ML-DSA),
and checks of RSASSA-PSS and ML-DSA signatures on requests.

Everything goes through temporary files in one private directory per call; nothing is cached.
"""

from __future__ import annotations

import functools
import os
import subprocess
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from . import der

# NIST CSOR OIDs of the three ML-DSA parameter sets (FIPS 204; RFC 9881 for X.509).
ML_DSA_OIDS = {"2.16.840.1.101.3.4.3.17": "ML-DSA-44", "2.16.840.1.101.3.4.3.18": "ML-DSA-65",
               "2.16.840.1.101.3.4.3.19": "ML-DSA-87"}
OID_RSASSA_PSS = "1.2.840.113549.1.1.10"


class OpensslError(RuntimeError):
    pass


def _run(args: list[str], stdin: bytes | None = None) -> bytes:
    done = subprocess.run(["openssl", *args], input=stdin, capture_output=True, timeout=60)
    if done.returncode != 0:
        raise OpensslError(f"openssl {args[0]} failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


@functools.lru_cache(maxsize=1)
def has_ml_dsa() -> bool:
    """True when the openssl command line can make ML-DSA keys (OpenSSL 3.5 or later)."""
    try:
        return b"ML-DSA-65" in _run(["list", "-signature-algorithms"])
    except (OSError, OpensslError, subprocess.TimeoutExpired):
        return False


def spki_algorithm(spki_der: bytes) -> str:
    """The dotted algorithm OID of a SubjectPublicKeyInfo."""
    return der.decode_oid(der.parse(spki_der).children()[0].children()[0])


def csr_spki(csr_der: bytes) -> bytes:
    """The SubjectPublicKeyInfo DER of a PKCS#10 request, whatever its algorithm."""
    return der.parse(csr_der).children()[0].children()[2].raw


def cert_spki(cert: x509.Certificate) -> bytes:
    tbs = der.parse(cert.public_bytes(Encoding.DER)).children()[0].children()
    offset = 1 if tbs[0].context(0) else 0
    return tbs[offset + 5].raw


def spki_pem(spki_der: bytes) -> bytes:
    return _run(["pkey", "-pubin", "-inform", "DER", "-outform", "PEM"], spki_der)


def ml_dsa_name(spki_der: bytes) -> str | None:
    return ML_DSA_OIDS.get(spki_algorithm(spki_der))


class MlDsaKey:
    """An ML-DSA private key held as a PEM file, signing through `openssl pkeyutl`."""

    def __init__(self, path: str):
        self.path = path
        with open(path, "rb") as f:
            self.pem = f.read()
        self.spki = _run(["pkey", "-in", path, "-pubout", "-outform", "DER"])
        self.algorithm = ml_dsa_name(self.spki)
        self.oid = spki_algorithm(self.spki)

    @staticmethod
    def generate(path: str, algorithm: str = "ML-DSA-65") -> "MlDsaKey":
        _run(["genpkey", "-algorithm", algorithm, "-out", path])
        os.chmod(path, 0o600)
        return MlDsaKey(path)

    def sign(self, data: bytes) -> bytes:
        """Pure ML-DSA over `data`, empty context (RFC 9881/9882)."""
        with tempfile.TemporaryDirectory(prefix="sandbox-mldsa-") as tmp:
            message = os.path.join(tmp, "message")
            with open(message, "wb") as f:
                f.write(data)
            return _run(["pkeyutl", "-sign", "-rawin", "-inkey", self.path, "-in", message])


def verify(spki_der: bytes, data: bytes, signature: bytes) -> bool:
    """An ML-DSA signature check with the public key `spki_der`."""
    with tempfile.TemporaryDirectory(prefix="sandbox-verify-") as tmp:
        paths = {name: os.path.join(tmp, name) for name in ("key.pem", "data", "sig")}
        for name, content in (("key.pem", spki_pem(spki_der)), ("data", data), ("sig", signature)):
            with open(paths[name], "wb") as f:
                f.write(content)
        try:
            _run(["pkeyutl", "-verify", "-rawin", "-pubin", "-inkey", paths["key.pem"],
                  "-in", paths["data"], "-sigfile", paths["sig"]])
            return True
        except OpensslError:
            return False


def verify_csr(csr_der: bytes) -> bool:
    """`openssl req -verify`: the request's self-signature, for algorithms python cannot check."""
    try:
        _run(["req", "-inform", "DER", "-verify", "-noout"], csr_der)
        return True
    except OpensslError:
        return False


def issue(ca_cert: x509.Certificate, ca_key_path: str, spki_der: bytes, subject: x509.Name,
          serial: int, days: float, extensions: list[tuple[str, bool, bytes]],
          digest: str | None = "sha256", rsa_pss: bool = False) -> x509.Certificate:
    """A certificate for any public key, signed by any CA key the openssl command line reads
    (ML-DSA included): `openssl x509 -new -force_pubkey`. `extensions` are (OID, critical,
    DER extnValue contents), written as they are. `rsa_pss`: an RSA CA signs with RSASSA-PSS
    (salt as long as the digest), as AD CS does with its AlternateSignatureAlgorithm setting."""
    with tempfile.TemporaryDirectory(prefix="sandbox-issue-") as tmp:
        pub = os.path.join(tmp, "pub.pem")
        ca = os.path.join(tmp, "ca.pem")
        ext = os.path.join(tmp, "ext.cnf")
        with open(pub, "wb") as f:
            f.write(spki_pem(spki_der))
        with open(ca, "wb") as f:
            f.write(ca_cert.public_bytes(Encoding.PEM))
        lines = ["[v3]", "subjectKeyIdentifier = hash", "authorityKeyIdentifier = keyid"]
        for dotted, critical, value in extensions:
            lines.append(f"{dotted} = {'critical,' if critical else ''}DER:{value.hex(':')}")
        with open(ext, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        args = ["x509", "-new", "-force_pubkey", pub, "-subj", _subj(subject),
                "-CA", ca, "-CAkey", ca_key_path, "-set_serial", str(serial),
                "-days", str(max(1, int(days))), "-extfile", ext, "-extensions", "v3",
                "-outform", "DER"]
        if digest:
            args.append("-" + digest)
        if rsa_pss:
            args += ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"]
        return x509.load_der_x509_certificate(_run(args))


def _subj(name: x509.Name) -> str:
    """openssl's -subj form: "/O=x/CN=y", most significant first, "/" and "+" escaped."""
    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace("/", "\\/").replace("+", "\\+")
    parts = []
    for rdn in name.rdns:
        parts.append("+".join(f"{a.oid.dotted_string}={escape(str(a.value))}" for a in rdn))
    return "/" + "/".join(parts) if parts else "/"
