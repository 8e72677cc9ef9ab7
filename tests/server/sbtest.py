"""Helpers for the sandbox's own tests: start it, build SOAP requests, post them with curl,
make CSRs with the openssl CLI (or by hand where the CLI cannot), decode responses."""

from __future__ import annotations

import base64
import datetime
import json
import os
import subprocess
import tempfile
import unittest
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
SANDBOX = os.path.join(HERE, "sandbox")

import sys  # noqa: E402

sys.path.insert(0, HERE)
from sandboxd import der  # noqa: E402
from sandboxd.soap import A, AUTH, S, WSSE, WST, WSTEP, XCEP, XSI  # noqa: E402

GET_POLICIES = XCEP + "/IPolicy/GetPolicies"
RST = WSTEP + "/RST/wstep"
X509V3 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
ISSUE = WST + "/Issue"
QUERY = WSTEP + "/QueryTokenStatus"
PKCS10_VT = WSTEP + "#PKCS10"
PKCS7_VT = WSSE + "#PKCS7"
BASE64_ET = WSSE + "#base64binary"
PASSWORD_TEXT = ("http://docs.oasis-open.org/wss/2004/01/"
                 "oasis-200401-wss-username-token-profile-1.0#PasswordText")
SOAP_CT = "application/soap+xml; charset=utf-8"


def run(*argv, input=None, check=True) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], input=input, capture_output=True, check=check)


def iso(dt: datetime.datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def security(username: str | None, password: str | None, expired: bool = False,
             timestamp: bool = True, password_type: str = PASSWORD_TEXT) -> str:
    now = datetime.datetime.now(datetime.timezone.utc)
    if expired:
        now -= datetime.timedelta(hours=1)
    ts = (f'<u:Timestamp u:Id="_0"><u:Created>{iso(now)}</u:Created>'
          f"<u:Expires>{iso(now + datetime.timedelta(minutes=5))}</u:Expires></u:Timestamp>"
          if timestamp else "")
    token = ""
    if username is not None:
        token = (f'<o:UsernameToken u:Id="uuid-{uuid.uuid4()}-1"><o:Username>{username}</o:Username>'
                 f'<o:Password Type="{password_type}">{password}</o:Password></o:UsernameToken>')
    return f'<o:Security s:mustUnderstand="1" xmlns:o="{WSSE}">{ts}{token}</o:Security>'


def envelope(action: str, to: str, body: str, sec: str = "", message_id: str | None = None,
             extra_headers: str = "") -> bytes:
    message_id = message_id or f"urn:uuid:{uuid.uuid4()}"
    return (f'<s:Envelope xmlns:s="{S}" xmlns:a="{A}" xmlns:u="http://docs.oasis-open.org/wss/2004/01/'
            f'oasis-200401-wss-wssecurity-utility-1.0.xsd"><s:Header>'
            f'<a:Action s:mustUnderstand="1">{action}</a:Action><a:MessageID>{message_id}</a:MessageID>'
            f"<a:ReplyTo><a:Address>http://www.w3.org/2005/08/addressing/anonymous</a:Address></a:ReplyTo>"
            f'<a:To s:mustUnderstand="1">{to}</a:To>{sec}{extra_headers}</s:Header>'
            f'<s:Body xmlns:xsi="{XSI}">{body}</s:Body></s:Envelope>').encode()


def get_policies_body(last_update: str | None = None, client_version="0", server_version="0",
                      request_filter: bool = True) -> str:
    lu = f"<lastUpdate>{last_update}</lastUpdate>" if last_update else '<lastUpdate xsi:nil="true"/>'
    if not request_filter:
        filt = '<requestFilter xsi:nil="true"/>'
    else:
        cv = (f"<clientVersion>{client_version}</clientVersion>" if client_version is not None
              else '<clientVersion xsi:nil="true"/>')
        sv = (f"<serverVersion>{server_version}</serverVersion>" if server_version is not None
              else '<serverVersion xsi:nil="true"/>')
        filt = f'<requestFilter><policyOIDs xsi:nil="true"/>{cv}{sv}</requestFilter>'
    return (f'<GetPolicies xmlns="{XCEP}"><client>{lu}<preferredLanguage xsi:nil="true"/></client>'
            f"{filt}</GetPolicies>")


def rst_body(token: bytes | None, value_type: str = PKCS10_VT, request_type: str = ISSUE,
             request_id: str | None = None, context: dict | None = None,
             bst_attrs: str | None = None) -> str:
    attrs = bst_attrs if bst_attrs is not None else (
        f'ValueType="{value_type}" EncodingType="{BASE64_ET}"')
    bst = (f'<BinarySecurityToken {attrs} xmlns="{WSSE}">'
           f"{base64.b64encode(token).decode() if token else ''}</BinarySecurityToken>")
    ac = ""
    if context:
        items = "".join(f'<ac:ContextItem Name="{k}"><ac:Value>{v}</ac:Value></ac:ContextItem>'
                        for k, v in context.items())
        ac = f'<ac:AdditionalContext xmlns:ac="{AUTH}">{items}</ac:AdditionalContext>'
    rid = (f'<RequestID xmlns="{WSTEP}">{request_id}</RequestID>' if request_id
           else f'<RequestID xsi:nil="true" xmlns="{WSTEP}"/>')
    return (f'<RequestSecurityToken xmlns="{WST}"><TokenType>{X509V3}</TokenType>'
            f"<RequestType>{request_type}</RequestType>{bst}{ac}{rid}</RequestSecurityToken>")


@dataclass
class Reply:
    status: int
    body: bytes
    headers: str
    curl_exit: int = 0
    stderr: str = ""

    def xml(self) -> ET.Element:
        return ET.fromstring(self.body)

    def fault_hresult(self) -> int | None:
        code = self.xml().find(f".//{{{WSTEP}}}ErrorCode")
        return None if code is None else int(code.text) & 0xFFFFFFFF

    def fault_reason(self) -> str:
        text = self.xml().find(f".//{{{S}}}Reason/{{{S}}}Text")
        return "" if text is None else text.text

    def subcode(self) -> str | None:
        value = self.xml().find(f".//{{{S}}}Subcode/{{{S}}}Value")
        return None if value is None else value.text

    def find(self, ns: str, local: str):
        return self.xml().find(f".//{{{ns}}}{local}")


def curl_post(url: str, body: bytes, ca_bundle: str, content_type: str | None = SOAP_CT,
              cert: tuple[str, str] | None = None, timeout: float = 30, extra=()) -> Reply:
    """POSTs with the curl CLI (no Python HTTP client involved) and returns status and body."""
    with tempfile.TemporaryDirectory() as tmp:
        req = os.path.join(tmp, "req.xml")
        out = os.path.join(tmp, "out")
        hdr = os.path.join(tmp, "hdr")
        with open(req, "wb") as f:
            f.write(body)
        argv = ["curl", "-sS", "--max-time", str(timeout), "--cacert", ca_bundle, "-o", out,
                "-D", hdr, "-w", "%{http_code}", "--data-binary", "@" + req]
        argv += ["-H", f"Content-Type: {content_type}"] if content_type else ["-H", "Content-Type:"]
        if cert:
            argv += ["--cert", cert[0], "--key", cert[1]]
        argv += list(extra) + [url]
        done = subprocess.run(argv, capture_output=True, text=True)
        data = _read(out, "rb") if os.path.exists(out) else b""
        headers = _read(hdr, "r") if os.path.exists(hdr) else ""
        status = int(done.stdout.strip() or 0) if done.stdout.strip().isdigit() else 0
        return Reply(status, data, headers, done.returncode, done.stderr)


def _read(path: str, mode: str):
    with open(path, mode) as f:
        return f.read()


def openssl_csr(tmp: str, key_spec: str = "rsa:2048", subject: str = "/CN=web1.example.test",
                addext=(), name: str = "req", digest: str = "-sha256") -> tuple[bytes, str]:
    """A CSR from the openssl CLI; returns (DER, key path)."""
    key = os.path.join(tmp, name + ".key")
    csr = os.path.join(tmp, name + ".csr")
    if key_spec.startswith("ec:"):
        run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:" + key_spec[3:],
            "-out", key)
    else:
        run("openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:" + key_spec[4:],
            "-out", key)
    argv = ["openssl", "req", "-new", "-key", key, "-subj", subject, digest, "-outform", "DER",
            "-out", csr]
    for ext in addext:
        argv += ["-addext", ext]
    run(*argv)
    with open(csr, "rb") as f:
        return f.read(), key


def v1_template_ext(name: str) -> str:
    """openssl -addext for the v1 template-name extension (BMPString, as Windows sends it)."""
    return "1.3.6.1.4.1.311.20.2=DER:" + der.bmp(name).hex(":")


def v2_template_ext(oid: str, major: int, minor: int) -> str:
    value = der.seq(der.oid(oid), der.integer(major), der.integer(minor))
    return "1.3.6.1.4.1.311.21.7=DER:" + value.hex(":")


def der_to_pem(data: bytes, label: str) -> str:
    b64 = base64.b64encode(data).decode()
    return (f"-----BEGIN {label}-----\n" + "\n".join(b64[i:i + 64] for i in range(0, len(b64), 64))
            + f"\n-----END {label}-----\n")


class SandboxCase(unittest.TestCase):
    """Starts one sandbox per test class in a temporary state directory."""

    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory(prefix="sandbox-selftest-")
        cls.state_dir = os.path.join(cls._tmp.name, "state")
        done = run(SANDBOX, "start", "--state-dir", cls.state_dir)
        cls.info = json.loads(done.stdout)

    @classmethod
    def tearDownClass(cls):
        run(SANDBOX, "stop", "--state-dir", cls.state_dir, check=False)
        cls._tmp.cleanup()

    def setUp(self):
        self._work = tempfile.TemporaryDirectory(prefix="sandbox-case-")
        self.tmp = self._work.name

    def tearDown(self):
        self._work.cleanup()

    def password(self, user: str = "alice") -> str:
        with open(self.info["users"][user]["password_file"]) as f:
            return f.read().strip()

    def sec(self, user: str = "alice", **kwargs) -> str:
        return security(user, self.password(user), **kwargs)

    def cep(self, body: str | None = None, user: str = "alice", auth: str = "password",
            **kwargs) -> Reply:
        url = self.info["cep"][auth]
        sec = self.sec(user) if auth in ("password", "keybasedrenewal_password") else ""
        return self.post(url, envelope(GET_POLICIES, url, body or get_policies_body(), sec), **kwargs)

    def ces(self, body: str, ca: str = "Sandbox-RSA-CA", user: str = "alice",
            auth: str = "password", action: str = RST, **kwargs) -> Reply:
        url = self.info["ces"][ca][auth]
        sec = self.sec(user) if auth == "password" else ""
        return self.post(url, envelope(action, url, body, sec), **kwargs)

    def post(self, url: str, body: bytes, **kwargs) -> Reply:
        return curl_post(url, body, self.info["ca_bundle"], **kwargs)

    def client_cert(self, user: str = "alice") -> tuple[str, str]:
        u = self.info["users"][user]
        return u["client_cert"], u["client_key"]

    def log(self) -> list[dict]:
        if not os.path.exists(self.info["log"]):
            return []
        with open(self.info["log"]) as f:
            return [json.loads(line) for line in f if line.strip()]

    def admin(self, method: str, path: str, doc: dict | None = None) -> tuple[int, dict]:
        argv = ["curl", "-sS", "--cacert", self.info["ca_bundle"], "-X", method, "-w", "\n%{http_code}"]
        if doc is not None:
            argv += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(doc)]
        done = subprocess.run(argv + [self.info["admin_url"] + path], capture_output=True, text=True)
        body, _, code = done.stdout.rpartition("\n")
        return int(code), json.loads(body) if body.strip() else {}

    def assertFault(self, reply: Reply, hresult: int, status: int = 500):
        self.assertEqual(reply.status, status, reply.body[:2000])
        self.assertEqual(reply.fault_hresult(), hresult,
                         f"expected 0x{hresult:08x}: {reply.fault_reason()}")

    def issued_cert_der(self, reply: Reply) -> bytes:
        self.assertEqual(reply.status, 200, reply.body[:3000])
        rst = reply.find(WST, "RequestedSecurityToken")
        bst = rst.find(f"{{{WSSE}}}BinarySecurityToken")
        self.assertIsNotNone(bst, "no issued certificate in RequestedSecurityToken")
        return base64.b64decode("".join(bst.text.split()))

    def pkcs7_der(self, reply: Reply) -> bytes:
        resp = reply.find(WST, "RequestSecurityTokenResponse")
        bst = resp.find(f"{{{WSSE}}}BinarySecurityToken")
        return base64.b64decode("".join(bst.text.split()))


def build_csr(key, cn: str | None, attributes=(), extensions=(), corrupt: bool = False,
              sort: bool = True) -> bytes:
    """A PKCS#10 built by hand, for attributes the openssl CLI cannot add (renewal certificate,
    name-value pairs). attributes: (oid, [DER values]); extensions: (oid, critical, DER value)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    subject = der.seq(der.set_of(der.seq(der.oid("2.5.4.3"), der.utf8(cn)))) if cn else der.seq()
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    make_set = der.set_of_sorted if sort else der.set_of
    attrs = [der.seq(der.oid(o), make_set(*values)) for o, values in attributes]
    if extensions:
        exts = der.seq(*[der.seq(der.oid(o), *([der.tlv(0x01, b"\xff")] if crit else []),
                                 der.octet_string(v)) for o, crit, v in extensions])
        attrs.append(der.seq(der.oid("1.2.840.113549.1.9.14"), der.set_of(exts)))
    attrs = sorted(attrs) if sort else attrs
    info = der.seq(der.integer(0), subject, spki, der.implicit_constructed(0, b"".join(attrs)))
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(info, padding.PKCS1v15(), hashes.SHA256())
        alg = der.seq(der.oid("1.2.840.113549.1.1.11"), der.null())
    else:
        signature = key.sign(info, ec.ECDSA(hashes.SHA256()))
        alg = der.seq(der.oid("1.2.840.10045.4.3.2"))
    if corrupt:
        signature = bytes([signature[0] ^ 0xFF]) + signature[1:]
    return der.seq(info, alg, der.tlv(der.BIT_STRING, b"\x00" + signature))


def name_value_pairs(pairs: dict) -> tuple[str, list[bytes]]:
    return ("1.3.6.1.4.1.311.13.2.1", [der.seq(der.bmp(k), der.bmp(v)) for k, v in pairs.items()])


def renewal_attribute(old_cert_der: bytes) -> tuple[str, list[bytes]]:
    return ("1.3.6.1.4.1.311.13.1", [old_cert_der])


def cms_sign(tmp: str, content: bytes, signer_cert: str, signer_key: str, attrs: bool = True) -> bytes:
    """Wraps content in CMS SignedData with the openssl CLI (id-data, content attached)."""
    src = os.path.join(tmp, "inner.der")
    out = os.path.join(tmp, "cms.der")
    with open(src, "wb") as f:
        f.write(content)
    argv = ["openssl", "cms", "-sign", "-binary", "-nodetach", "-in", src, "-signer", signer_cert,
            "-inkey", signer_key, "-outform", "DER", "-out", out, "-md", "sha256"]
    argv += [] if attrs else ["-noattr"]
    run(*argv)
    with open(out, "rb") as f:
        return f.read()


def load_key(path: str):
    from cryptography.hazmat.primitives import serialization
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), None)


def new_rsa(bits: int = 2048):
    from cryptography.hazmat.primitives.asymmetric import rsa
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def write_pem_key(path: str, key) -> str:
    from cryptography.hazmat.primitives import serialization
    with open(path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return path
