"""Kerberos (HTTP Negotiate) endpoints against the sandbox's own MIT KDC: python-gssapi (or
curl --negotiate) as the client, tickets from kinit, requests posted with curl."""

import base64
import json
import os
import signal
import socket
import stat
import subprocess
import tempfile
import time
import unittest

import sbtest
from sandboxd import kdc as kdc_mod
from sbtest import WSSE, WST, WSTEP, XCEP

try:
    import gssapi
    import gssapi.raw
except ImportError:
    gssapi = None

KERBEROS = gssapi is not None and kdc_mod.available()
SKIP_REASON = "needs krb5kdc, kdb5_util, kadmin.local (krb5-kdc, krb5-admin-server) and python3-gssapi"
SPNEGO = "1.3.6.1.5.5.2"


def q(local):
    return f"{{{XCEP}}}{local}"


def get_policies_envelope(url: str, sec: str = "") -> bytes:
    return sbtest.envelope(sbtest.GET_POLICIES, url, sbtest.get_policies_body(), sec)


def header(reply: sbtest.Reply, name: str) -> list[str]:
    """All values of one response header."""
    prefix = name.lower() + ":"
    return [line.split(":", 1)[1].strip() for line in reply.headers.splitlines()
            if line.lower().startswith(prefix)]


def running(pid: int) -> bool:
    """Alive and not a zombie (a zombie's cmdline is empty)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return bool(f.read())
    except OSError:
        return False


def kdc_processes(state_dir: str) -> list[int]:
    """Running krb5kdc processes of this state directory (by their pid-file argument)."""
    pid_file = os.fsencode(os.path.join(state_dir, "kdc", "kdc.pid"))
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if os.path.basename(argv[0]) == b"krb5kdc" and pid_file in argv:
            found.append(int(pid))
    return found


@unittest.skipUnless(KERBEROS or os.environ.get("CI") == "true", SKIP_REASON)  # CI: must run
class KerberosTest(sbtest.SandboxCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.krb = cls.info["kerberos"]
        # This process is the initiator: the sandbox realm and a private credential cache.
        cls._saved_env = {k: os.environ.get(k) for k in ("KRB5_CONFIG", "KRB5CCNAME")}
        os.environ["KRB5_CONFIG"] = cls.krb["krb5_conf"]
        os.environ["KRB5CCNAME"] = "FILE:" + os.path.join(cls._tmp.name, "cc")

    @classmethod
    def tearDownClass(cls):
        for key, value in cls._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        super().tearDownClass()

    def kinit(self, user: str = "alice", forwardable: bool = False, keytab: str | None = None):
        principal = f"{user}@{self.krb['realm']}" if "/" not in user else user
        argv = ["kinit"] + (["-f"] if forwardable else [])
        sbtest.run(*argv, "-k", "-t", keytab or self.krb["users"][user]["keytab"], principal)

    def token(self, delegate: bool = False, binding: bytes | None = None):
        """A fresh SPNEGO context for HTTP@localhost and its first token (base64), with the
        channel-binding application data `binding` if given."""
        flags = gssapi.RequirementFlag
        wanted = flags.mutual_authentication | flags.out_of_sequence_detection
        if delegate:
            wanted |= flags.delegate_to_peer
        service = gssapi.Name("HTTP@localhost", gssapi.NameType.hostbased_service)
        bindings = (gssapi.raw.ChannelBindings(application_data=binding)
                    if binding is not None else None)
        ctx = gssapi.SecurityContext(name=service, usage="initiate", flags=wanted,
                                     mech=gssapi.OID.from_int_seq(SPNEGO),
                                     channel_bindings=bindings)
        return ctx, base64.b64encode(ctx.step()).decode()

    def end_point_binding(self, pem_path: str) -> bytes:
        """RFC 5929 tls-server-end-point application data of the first certificate in a file:
        its signature hash, SHA-256 for MD5 and SHA-1."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        with open(pem_path, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        algorithm = cert.signature_hash_algorithm
        if isinstance(algorithm, (hashes.MD5, hashes.SHA1)):
            algorithm = hashes.SHA256()
        return b"tls-server-end-point:" + cert.fingerprint(algorithm)

    def epa_post(self, mode: str, binding: bytes | None) -> tuple[object, sbtest.Reply]:
        """GetPolicies on the Kerberos CEP under EPA `mode` ("off": no prefix)."""
        url = self.info["cep"]["kerberos"]
        if mode != "off":
            url = url.replace("/ADPolicyProvider", f"/epa-{mode}/ADPolicyProvider")
        ctx, token = self.token(binding=binding)
        return ctx, self.negotiate(url, get_policies_envelope(url), token)

    def negotiate(self, url: str, body: bytes, token: str | None) -> sbtest.Reply:
        extra = ["-H", f"Authorization: Negotiate {token}"] if token is not None else []
        return self.post(url, body, extra=extra)

    def get_policies(self, user: str = "alice", delegate: bool = False, kinit: bool = True):
        if kinit:
            self.kinit(user, forwardable=delegate)
        url = self.info["cep"]["kerberos"]
        ctx, token = self.token(delegate)
        return ctx, self.negotiate(url, get_policies_envelope(url), token)

    def assertNegotiate401(self, reply: sbtest.Reply):
        self.assertEqual(reply.status, 401, reply.body[:500])
        self.assertEqual(header(reply, "WWW-Authenticate"), ["Negotiate"])
        self.assertIn(b"401 - Unauthorized", reply.body)
        self.assertNotIn(b"Envelope", reply.body)  # no SOAP processing
        entry = self.log()[-1]
        self.assertEqual((entry["auth"], entry["outcome"], entry["http_status"]),
                         ("kerberos", "unauthorized", 401))
        return entry

    def test_info_realm_files_and_urls(self):
        krb = self.krb
        self.assertEqual(krb["realm"], "CERTENROLL.TEST")
        self.assertEqual(krb["service_principal"], "HTTP/localhost@CERTENROLL.TEST")
        self.assertEqual(set(krb["users"]), {"alice", "bob", "nobody"})
        for user, entry in krb["users"].items():
            self.assertEqual(entry["principal"], f"{user}@CERTENROLL.TEST")
            self.assertEqual(stat.S_IMODE(os.stat(entry["keytab"]).st_mode), 0o600)
        with open(krb["krb5_conf"]) as f:
            conf = f.read()
        self.assertIn(f"kdc = 127.0.0.1:{krb['kdc_port']}\n", conf)
        self.assertIn("dns_lookup_kdc = false", conf)
        socket.create_connection(("127.0.0.1", krb["kdc_port"]), timeout=5).close()
        port = self.info["port"]
        self.assertEqual(self.info["cep"]["kerberos"],
                         f"https://localhost:{port}/ADPolicyProvider_CEP_Kerberos/service.svc/CEP")
        for ca, urls in self.info["ces"].items():
            self.assertEqual(urls["kerberos"],
                             f"https://localhost:{port}/{ca}_CES_Kerberos/service.svc/CES")

    def test_get_policies_with_mutual_authentication(self):
        ctx, reply = self.get_policies()
        self.assertEqual(reply.status, 200, reply.body[:2000])
        # The answer carries the server's token; accepting it completes mutual authentication.
        values = header(reply, "WWW-Authenticate")
        self.assertEqual(len(values), 1)
        scheme, _, server_token = values[0].partition(" ")
        self.assertEqual(scheme, "Negotiate")
        ctx.step(base64.b64decode(server_token))
        self.assertTrue(ctx.complete)
        resp = reply.xml().find(f".//{q('GetPoliciesResponse')}")
        self.assertIn("ECWebServer", {p.find(q("attributes")).find(q("commonName")).text
                                      for p in resp.find(q("response")).find(q("policies"))})
        kerberos_uris = {u.find(q("uri")).text: (u.find(q("priority")).text,
                                                 u.find(q("renewalOnly")).text)
                         for ca in resp.find(q("cAs")) for u in ca.find(q("uris"))
                         if u.find(q("clientAuthentication")).text == "2"}
        self.assertEqual(kerberos_uris, {urls["kerberos"]: ("1", "false")
                                         for urls in self.info["ces"].values()})
        entry = self.log()[-1]
        self.assertEqual((entry["endpoint"], entry["auth"], entry["identity"], entry["outcome"],
                          entry["delegated"]), ("CEP", "kerberos", "alice", "policy", False))

    def test_no_authorization_header_is_401_negotiate(self):
        url = self.info["cep"]["kerberos"]
        self.assertNegotiate401(self.negotiate(url, get_policies_envelope(url), None))
        # Not even a SOAP envelope is looked at before authentication.
        self.assertNegotiate401(self.negotiate(url, b"not xml", None))

    def test_garbage_tokens_are_401(self):
        url = self.info["ces"]["Sandbox-RSA-CA"]["kerberos"]
        body = sbtest.envelope(sbtest.RST, url, sbtest.rst_body(b"\x30\x00"))
        garbage = base64.b64encode(b"\x60\x10" + os.urandom(16)).decode()
        entry = self.assertNegotiate401(self.negotiate(url, body, garbage))
        self.assertIn("GSS", entry["error"])
        self.assertIsNone(entry["identity"])
        self.assertIn("base64", self.assertNegotiate401(self.negotiate(url, body, "%%%"))["error"])

    def test_replayed_token_is_401(self):
        self.kinit()
        url = self.info["cep"]["kerberos"]
        body = get_policies_envelope(url)
        _, token = self.token()
        self.assertEqual(self.negotiate(url, body, token).status, 200)
        self.assertIn("GSS", self.assertNegotiate401(self.negotiate(url, body, token))["error"])

    def test_password_kinit_and_template_permissions(self):
        # The principals' passwords are the sandbox passwords.
        sbtest.run("kinit", "bob@CERTENROLL.TEST", input=(self.password("bob") + "\n").encode())
        _, reply = self.get_policies("bob", kinit=False)
        self.assertEqual(reply.status, 200, reply.body[:2000])
        names = {p.find(q("attributes")).find(q("commonName")).text
                 for p in reply.xml().find(f".//{q('policies')}")}
        self.assertIn("WebServer", names)
        self.assertNotIn("ECWebServer", names)
        self.assertEqual(self.log()[-1]["identity"], "bob")
        _, reply = self.get_policies("nobody")
        self.assertEqual(reply.status, 200)
        self.assertEqual(reply.xml().find(f".//{q('policies')}").get(f"{{{sbtest.XSI}}}nil"), "true")

    def test_principal_that_is_no_sandbox_user_is_401(self):
        self.kinit(self.krb["service_principal"], keytab=self.krb["service_keytab"])
        _, reply = self.get_policies(kinit=False)
        self.assertIn("not a sandbox user", self.assertNegotiate401(reply)["error"])

    def test_delegation_is_logged(self):
        _, reply = self.get_policies(delegate=True)
        self.assertEqual(reply.status, 200, reply.body[:2000])
        self.assertTrue(self.log()[-1]["delegated"])

    def test_enrollment_through_kerberos_ces(self):
        self.kinit()
        url = self.info["ces"]["Sandbox-RSA-CA"]["kerberos"]
        csr, _ = sbtest.openssl_csr(self.tmp, "rsa:2048", "/CN=krb.example.test",
                                    [sbtest.v1_template_ext("WebServer")])
        _, token = self.token()
        reply = self.negotiate(url, sbtest.envelope(sbtest.RST, url, sbtest.rst_body(csr)), token)
        from cryptography import x509
        leaf = x509.load_der_x509_certificate(self.issued_cert_der(reply))
        self.assertIn("CN=krb.example.test", leaf.subject.rfc4514_string())
        self.assertTrue(header(reply, "WWW-Authenticate")[0].startswith("Negotiate "))
        entry = self.log()[-1]
        self.assertEqual((entry["endpoint"], entry["auth"], entry["identity"], entry["outcome"],
                          entry["template"]), ("CES", "kerberos", "alice", "issued", "WebServer"))
        # A pending request points back at the Kerberos URL.
        csr, _ = sbtest.openssl_csr(self.tmp, "rsa:2048", "/CN=pending.example.test",
                                    [sbtest.v1_template_ext("ApprovalRequired")], name="pending")
        _, token = self.token()
        reply = self.negotiate(url, sbtest.envelope(sbtest.RST, url, sbtest.rst_body(csr)), token)
        self.assertEqual(reply.status, 200, reply.body[:2000])
        self.assertEqual(reply.find(WSSE, "Reference").get("URI"), url)
        issued = reply.find(WST, "RequestedSecurityToken").find(f"{{{WSSE}}}BinarySecurityToken")
        self.assertIsNone(issued)
        self.assertTrue(reply.find(WSTEP, "RequestID").text.isdigit())

    def test_curl_negotiate(self):
        """A stock HTTP client: curl's SPNEGO with the ticket from kinit."""
        features = subprocess.run(["curl", "-V"], capture_output=True, text=True).stdout
        if "SPNEGO" not in features:
            self.skipTest("curl without SPNEGO")
        self.kinit()
        url = self.info["cep"]["kerberos"]
        reply = self.post(url, get_policies_envelope(url), extra=["--negotiate", "-u", ":"])
        self.assertEqual(reply.status, 200, reply.stderr + reply.body[:500].decode(errors="replace"))
        entry = self.log()[-1]
        self.assertEqual((entry["auth"], entry["identity"], entry["http_status"]),
                         ("kerberos", "alice", 200))

    # Extended Protection for Authentication (tests/server/README.md): the sandbox's HTTPS
    # certificate is static, so the binding of the connection can be made before it exists.
    def test_epa_always_wants_the_binding_of_the_https_certificate(self):
        self.kinit()
        right = self.end_point_binding(os.path.join(self.info["state_dir"], "server.crt"))
        _, reply = self.epa_post("always", right)
        self.assertEqual(reply.status, 200, reply.body[:2000])
        entry = self.log()[-1]
        self.assertEqual((entry["epa"], entry["channel_bound"], entry["identity"]),
                         ("always", True, "alice"))
        # The CES URLs it lists stay under the prefix.
        resp = reply.xml().find(f".//{q('GetPoliciesResponse')}")
        kerberos_uris = {u.find(q("uri")).text for ca in resp.find(q("cAs"))
                         for u in ca.find(q("uris")) if u.find(q("clientAuthentication")).text == "2"}
        self.assertEqual(kerberos_uris, {urls["kerberos"].replace("/Sandbox", "/epa-always/Sandbox")
                                         for urls in self.info["ces"].values()})
        # Without a binding, and with another certificate's: 401.
        _, reply = self.epa_post("always", None)
        self.assertIn("no channel binding", self.assertNegotiate401(reply)["error"])
        _, reply = self.epa_post("always", self.end_point_binding(self.info["ca_bundle"]))
        self.assertIn("channel bindings", self.assertNegotiate401(reply)["error"])

    def test_epa_wrong_refuses_the_binding_of_the_https_certificate_only(self):
        self.kinit()
        right = self.end_point_binding(os.path.join(self.info["state_dir"], "server.crt"))
        _, reply = self.epa_post("wrong", right)
        self.assertIn("channel bindings", self.assertNegotiate401(reply)["error"])
        # An MIT acceptor takes an authenticator without bindings: why "wrong" is the proof.
        _, reply = self.epa_post("wrong", None)
        self.assertEqual(reply.status, 200, reply.body[:2000])
        self.assertEqual((self.log()[-1]["epa"], self.log()[-1]["channel_bound"]), ("wrong", False))

    def test_epa_off_takes_any_binding(self):
        self.kinit()
        for binding in (None, b"tls-server-end-point:" + bytes(32)):
            _, reply = self.epa_post("off", binding)
            self.assertEqual(reply.status, 200, reply.body[:2000])
            self.assertEqual(self.log()[-1]["epa"], "off")
            self.assertNotIn("channel_bound", self.log()[-1])

    def test_badmutual_fault_alters_the_mutual_authentication_token(self):
        self.kinit()
        self.assertEqual(self.admin("POST", "/faults", {"mode": "badmutual", "count": 1,
                                                        "match": "CEP"})[0], 200)
        ctx, reply = self.get_policies(kinit=False)
        self.assertEqual(reply.status, 200, reply.body[:2000])
        server_token = header(reply, "WWW-Authenticate")[0].partition(" ")[2]
        with self.assertRaises(gssapi.exceptions.GSSError):
            ctx.step(base64.b64decode(server_token))
            ctx.complete  # python-gssapi may raise a failed step's error here


@unittest.skipUnless(KERBEROS or os.environ.get("CI") == "true", SKIP_REASON)  # CI: must run
class KerberosLifecycleTest(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="sandbox-krb-")
        self.dir = os.path.join(self._tmp.name, "state")

    def tearDown(self):
        sbtest.run(sbtest.SANDBOX, "stop", "--state-dir", self.dir, check=False)
        self._tmp.cleanup()

    def start(self, *args) -> dict:
        return json.loads(sbtest.run(sbtest.SANDBOX, "start", "--state-dir", self.dir, *args).stdout)

    def kinit_works(self, info: dict) -> bool:
        user = info["kerberos"]["users"]["alice"]
        env = dict(os.environ, KRB5_CONFIG=info["kerberos"]["krb5_conf"],
                   KRB5CCNAME="FILE:" + os.path.join(self._tmp.name, "cc"))
        return subprocess.run(["kinit", "-k", "-t", user["keytab"], user["principal"]], env=env,
                              capture_output=True).returncode == 0

    def test_no_kerberos(self):
        info = self.start("--no-kerberos")
        self.assertIsNone(info["kerberos"])
        self.assertNotIn("kerberos", info["cep"])
        self.assertNotIn("kerberos", info["ces"]["Sandbox-RSA-CA"])
        self.assertEqual(kdc_processes(self.dir), [])
        url = info["base_url"] + "/ADPolicyProvider_CEP_Kerberos/service.svc/CEP"
        reply = sbtest.curl_post(url, get_policies_envelope(url), info["ca_bundle"])
        self.assertEqual(reply.status, 404)
        url = info["cep"]["password"]
        with open(info["users"]["alice"]["password_file"]) as f:
            password = f.read().strip()
        reply = sbtest.curl_post(url, get_policies_envelope(url, sbtest.security("alice", password)),
                                 info["ca_bundle"])
        self.assertEqual(reply.status, 200)
        auths = {a.text for a in reply.xml().iter(q("clientAuthentication"))}
        self.assertEqual(auths, {"4", "8"})  # key-based renewal is a certificate (8) CES

    def test_restart_reuses_the_realm_and_stop_leaves_no_kdc(self):
        info = self.start()
        self.assertEqual(len(kdc_processes(self.dir)), 1)
        self.assertTrue(self.kinit_works(info))
        with open(info["kerberos"]["users"]["alice"]["keytab"], "rb") as f:
            keytab = f.read()
        sbtest.run(sbtest.SANDBOX, "stop", "--state-dir", self.dir)
        self.assertEqual(kdc_processes(self.dir), [])
        # The old KDC port is taken now (UDP: TCP may linger in TIME_WAIT): the restart picks
        # another and rewrites krb5.conf.
        old_port = info["kerberos"]["kdc_port"]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
            squatter.bind(("127.0.0.1", old_port))
            again = self.start()
        self.assertNotEqual(again["kerberos"]["kdc_port"], old_port)
        with open(again["kerberos"]["users"]["alice"]["keytab"], "rb") as f:
            self.assertEqual(f.read(), keytab)  # the same database and keys
        self.assertTrue(self.kinit_works(again))
        # A SIGKILLed server leaves its KDC behind; `sandbox stop` still ends it.
        os.kill(again["pid"], signal.SIGKILL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and running(again["pid"]):
            time.sleep(0.05)
        self.assertEqual(len(kdc_processes(self.dir)), 1)
        sbtest.run(sbtest.SANDBOX, "stop", "--state-dir", self.dir)
        self.assertEqual(kdc_processes(self.dir), [])


if __name__ == "__main__":
    unittest.main()
