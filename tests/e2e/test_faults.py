"""The fault matrix (issue 9) and the hostile responses of issue 21 (section 11) through the real
binary, with the sandbox's fault controls.

Each test states its written expectation: the exit code (README "Exit status"), the message that
names the cause, and the state of the files afterwards. Common to every case:

- a key generated before the failure stays on disk (mode 0600), and `enroll --key FILE` with it
  succeeds once the fault is gone, so a failed request is retried with the same key;
- a previous certificate, key and chain (renew cases) are byte-identical afterwards;
- no partial or temporary file is left: no `*.tmp.*` anywhere in the state or output directory,
  and no staged `*.new` file other than a renewal's complete new key (`key.pem.new`, 0600, which
  the next renewal replaces).

Covered elsewhere and not repeated here: kill -9 during output writing
(test_renew.RenewTest.test_kill_during_renewal_never_leaves_a_broken_set: a killed renewal never
leaves a mixed set and the next run completes it) and two concurrent runs
(test_renew.RenewTest.test_two_concurrent_runs_are_serialised: runs are serialised by the state
lock, each renewal complete and consistent).
"""

import datetime
import glob
import json
import os
import resource
import select
import signal
import socket
import ssl
import stat
import subprocess
import tempfile
import threading
import time

import cli
from cli import openssl


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def without_outcome(record_text):
    """A state record without its last_outcome, which every attempt updates (for `list`)."""
    record = json.loads(record_text)
    record.pop("last_outcome", None)
    return record


def snapshot(directory):
    """{relative path: content} of every file under directory."""
    found = {}
    for root, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            found[os.path.relpath(path, directory)] = read_bytes(path)
    return found


class Forwarder:
    """A plain TCP relay from `listen_host` to the sandbox on 127.0.0.1: the same server and
    certificate, reached under an address its certificate does not list."""

    def __init__(self, listen_host, target_port):
        self.target_port = target_port
        self.server = socket.socket()
        try:
            self.server.bind((listen_host, 0))
        except OSError:
            self.server.close()
            raise
        self.server.listen(16)
        self.port = self.server.getsockname()[1]
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopping:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
            except OSError:
                client.close()
                continue
            threading.Thread(target=self._relay, args=(client, upstream), daemon=True).start()

    @staticmethod
    def _relay(client, upstream):
        peer = {client: upstream, upstream: client}
        with client, upstream:
            try:
                while True:
                    readable, _, _ = select.select(list(peer), [], [], 30)
                    if not readable:
                        return
                    for source in readable:
                        data = source.recv(65536)
                        if not data:
                            return
                        peer[source].sendall(data)
            except OSError:
                return

    def close(self):
        self.stopping = True
        self.server.close()


class TlsStub:
    """A TLS server on `address` (127.0.0.1, or ::1) presenting `chain_pem`; it never gets
    further than the handshake, which is all a client that verifies the certificate should
    try."""

    def __init__(self, chain_pem, key_pem, address="127.0.0.1", tls12_ciphers=None,
                 dh_params=None):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(chain_pem, key_pem)
        if tls12_ciphers:  # a TLS 1.2 server offering only these suites (OpenSSL names)
            self.context.maximum_version = ssl.TLSVersion.TLSv1_2
            self.context.set_ciphers(tls12_ciphers)
        if dh_params:
            self.context.load_dh_params(dh_params)
        self.ciphers = []  # the suite each completed handshake negotiated
        self.server = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET)
        self.server.bind((address, 0))
        self.server.listen(16)
        self.port = self.server.getsockname()[1]
        self.handshakes = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            client.settimeout(10)
            try:
                with self.context.wrap_socket(client, server_side=True) as tls:
                    self.handshakes += 1
                    self.ciphers.append(tls.cipher()[0])
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass
            finally:
                client.close()

    def close(self):
        self.server.close()


def expired_server_certificate(sandbox_state, directory):
    """A server certificate for 127.0.0.1/localhost from the sandbox's own issuing CA (so the
    chain is trusted with the sandbox's --ca-bundle) that expired yesterday."""
    return server_certificate(sandbox_state, directory, "expired-server", expired=True)


def server_certificate(sandbox_state, directory, name, expired=False,
                       dns_names=("localhost",), addresses=("127.0.0.1",), alt_names=True):
    """A server certificate from the sandbox's own issuing CA (so the chain is trusted with the
    sandbox's --ca-bundle) for `dns_names` and `addresses`, current or expired yesterday;
    without `alt_names`, the first DNS name is only the subject's CN (no subjectAltName);
    returns (chain path, key path)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    import ipaddress

    ca_dir = os.path.join(sandbox_state, "ca")
    ca_cert = x509.load_pem_x509_certificate(read_bytes(os.path.join(ca_dir, "Sandbox-RSA-CA.crt")))
    ca_key = serialization.load_pem_private_key(
        read_bytes(os.path.join(ca_dir, "Sandbox-RSA-CA.key")), None)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0])]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=30))
            .not_valid_after(now + datetime.timedelta(days=-1 if expired else 30)))
    if alt_names:
        cert = cert.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName(n) for n in dns_names] +
            [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]), critical=False)
    cert = (cert
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    chain = os.path.join(directory, name + ".crt")
    key_path = os.path.join(directory, name + ".key")
    with open(chain, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM) +
                ca_cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return chain, key_path


def file_size_limit(limit):
    """preexec_fn: a full disk. Writes past `limit` bytes fail with EFBIG (SIGXFSZ ignored, so
    the process sees the error instead of being killed)."""
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


class FaultMatrixTest(cli.SandboxTest):
    # Helpers.
    def setUp(self):
        super().setUp()
        self.sandbox.clear_faults()
        self.out = os.path.join(self.tmp, "out")

    def tearDown(self):
        self.sandbox.clear_faults()
        super().tearDown()

    def enroll(self, name, *extra, cep=None, **kwargs):
        return self.cli("enroll", *(cep or self.cep()), *self.user(), "--template", "WebServer",
                        "--name", name, "--cn", name + ".example.test", *extra, **kwargs)

    def renew(self, name, *extra, **kwargs):
        return self.cli("renew", name, "--force", "--ca-bundle", self.info["ca_bundle"],
                        "--password-file", self.info["users"]["alice"]["password_file"], *extra,
                        **kwargs)

    def log_mark(self):
        return len(self.sandbox.requests())

    def requests_since(self, mark, endpoint=None, request_type=None):
        return [r for r in self.sandbox.requests()[mark:]
                if (endpoint is None or r.get("endpoint") == endpoint)
                and (request_type is None or r.get("request_type") == request_type)]

    def default_key(self, name):
        return os.path.join(self.state, "live", name, "key.pem")

    def assertError(self, result, code, category, *words):
        """Exit code, --json category, and a message (or hint) naming the cause."""
        self.assertExit(result, code)
        error = result.json["error"]
        self.assertEqual(error["category"], category, repr(result))
        text = error["message"] + " " + error.get("hint", "")
        for word in words:
            self.assertIn(word, text, repr(result))
        self.assertIn(error["message"], result.stderr)  # the human message names it too

    def assertKeyKept(self, path):
        """On disk, 0600, a complete private key."""
        self.assertTrue(os.path.isfile(path), path)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        self.assertIn("BEGIN PUBLIC KEY", openssl("pkey", "-in", path, "-pubout"))

    def assertNoPartialFiles(self, *directories, renewal_key=None):
        """No temporary file and no staged `.new` file, but a renewal's complete new key."""
        for directory in directories or (self.state, self.out):
            for root, _, files in os.walk(directory):
                for name in files:
                    path = os.path.join(root, name)
                    self.assertNotIn(".tmp", name, path)
                    if name.endswith(".new"):
                        self.assertEqual(path, renewal_key, "staged file left behind")
                        self.assertKeyKept(path)

    def assertRetrySucceeds(self, name, key, *extra):
        """The fault is gone: enrolling again with the kept key issues a certificate for it."""
        self.sandbox.clear_faults()
        before = read_bytes(key)
        result = self.enroll(name, "--key", key, *extra)
        self.assertExit(result, 0)
        cert = result.json["files"]["cert"]
        self.assertKeyMatches(cert, key)
        self.assertEqual(read_bytes(key), before)
        return result

    def enroll_fault(self, mode, name, code, category, *words, extra=()):
        """An enrollment whose CES request meets `mode`: checks the error and the kept key;
        returns (result, key path, CES requests it made)."""
        mark = self.log_mark()
        self.sandbox.inject_fault(mode, match="CES")
        result = self.enroll(name, *extra)
        self.assertError(result, code, category, *words)
        key = self.default_key(name)
        self.assertKeyKept(key)
        self.assertFalse(os.path.exists(os.path.join(self.state, "live", name, "cert.pem")))
        self.assertFalse(os.path.exists(os.path.join(self.state, "certificates", name + ".json")))
        self.assertNoPartialFiles()
        return result, key, self.requests_since(mark, "CES")

    def enrolled(self, name):
        result = self.enroll(name)
        self.assertExit(result, 0)
        return result.json["files"]

    def renew_fault(self, mode, name, code, category, *words):
        """A forced renewal whose CES request meets `mode`: the managed files stay exactly as
        they were, and the next renewal works."""
        self.enrolled(name)
        live = os.path.join(self.state, "live", name)
        record = os.path.join(self.state, "certificates", name + ".json")
        before, record_before = snapshot(live), read_bytes(record)
        self.sandbox.inject_fault(mode, match="CES")
        result = self.renew(name)
        self.assertExit(result, code)
        entry = result.json["certificates"][0]
        self.assertEqual(entry["status"], "failed")
        self.assertEqual(entry["error"]["category"], category)
        for word in words:
            self.assertIn(word, entry["error"]["message"] + " " + entry["error"].get("hint", ""))
        after = snapshot(live)
        after.pop("key.pem.new", None)  # the complete new key, waiting for the next renewal
        self.assertEqual(after, before)
        # The record is unchanged but for the failure noted in it (for `list`).
        self.assertEqual(without_outcome(read_bytes(record)), without_outcome(record_before))
        self.assertEqual(json.loads(read_bytes(record))["last_outcome"]["result"], category)
        self.assertNoPartialFiles(renewal_key=os.path.join(live, "key.pem.new"))
        self.sandbox.clear_faults()
        again = self.renew(name)
        self.assertExit(again, 0)
        self.assertEqual(read_bytes(os.path.join(live, "cert.pem.prev")), before["cert.pem"])
        self.assertKeyMatches(os.path.join(live, "cert.pem"), os.path.join(live, "key.pem"))
        self.assertNoPartialFiles()

    # 1. Connection cut mid-response.
    def test_connection_cut_mid_response_on_enroll(self):
        """CES promises the whole answer, sends half and closes the connection (after the CA
        issued: the answer is lost). Expected: exit 7 (network), "the connection to 127.0.0.1
        broke"; the key stays in live/<name>/key.pem (0600) and no certificate file, record or
        temporary file exists; `enroll --key` with that key then succeeds."""
        _, key, ces = self.enroll_fault("cut", "cut", 7, "network", "connection", "broke")
        self.assertEqual([(r["fault_injected"], r["outcome"]) for r in ces], [("cut", "issued")])
        self.assertRetrySucceeds("cut", key)

    def test_connection_cut_during_renewal_keeps_the_previous_certificate(self):
        """The same cut on a renewal. Expected: exit 7, the certificate entry failed with a
        network error; key.pem, cert.pem, chain.pem, fullchain.pem and the managed record are
        byte-identical; the next renewal succeeds."""
        self.renew_fault("cut", "cutrenew", 7, "network", "broke")

    # 2. HTTP 500 without a SOAP body.
    def test_http500_without_a_soap_body(self):
        """IIS's HTML "Runtime Error" page with HTTP 500. Expected: exit 7 (network), "HTTP 500
        without a SOAP body" with the start of the page; key kept, retry succeeds. The same page
        from CEP fails before any key is made: exit 7, nothing written, nothing sent to CES."""
        _, key, _ = self.enroll_fault("http500", "h500", 7, "network",
                                      "HTTP 500 without a SOAP body", "Server Error")
        self.assertRetrySucceeds("h500", key)

        mark = self.log_mark()
        self.sandbox.inject_fault("http500", match="CEP")
        result = self.enroll("h500cep", "--refresh-policy")
        self.assertError(result, 7, "network", "HTTP 500 without a SOAP body")
        self.assertFalse(os.path.exists(os.path.join(self.state, "live", "h500cep")))
        self.assertEqual(self.requests_since(mark, "CES"), [])
        self.assertNoPartialFiles()

    # 3. Truncated XML.
    def test_truncated_xml(self):
        """A complete HTTP 200 whose XML stops in the middle. Expected: exit 8 (protocol),
        "malformed XML"; key kept, retry succeeds. On renewal: exit 8 and the previous files are
        byte-identical."""
        _, key, ces = self.enroll_fault("truncate", "trunc", 8, "protocol", "malformed XML")
        self.assertEqual([r["fault_injected"] for r in ces], ["truncate"])
        self.assertRetrySucceeds("trunc", key)
        self.renew_fault("truncate", "truncrenew", 8, "protocol", "malformed XML")

    # 4. A server that accepts and never answers.
    def test_server_that_never_answers_times_out(self):
        """CES accepts the request and never answers; --timeout 2. Expected: exit 7 (network)
        within a bounded time (well under a minute), "did not answer in time", hint naming
        --timeout; key kept, retry succeeds."""
        started = time.monotonic()
        _, key, ces = self.enroll_fault("hang", "hang", 7, "network", "did not answer in time",
                                        "--timeout", extra=("--timeout", "2"))
        self.assertLess(time.monotonic() - started, 60)
        self.assertEqual([r["fault_injected"] for r in ces], ["hang"])
        self.assertRetrySucceeds("hang", key)

    # 5. Wrong host name.
    def test_wrong_host_name(self):
        """The sandbox reached as 127.0.0.2, an address its certificate (SAN localhost,
        127.0.0.1, ::1) does not list. Expected: exit 6 (tls), "does not match the name
        127.0.0.2", hint to use a name in the certificate; no request reaches the server. At
        CEP nothing is written; at CES (--ces-url) the key is kept and a retry with the right
        URL succeeds."""
        try:
            forwarder = Forwarder("127.0.0.2", self.info["port"])
        except OSError as e:
            self.skipTest(f"no 127.0.0.2 on this host's loopback: {e}")
        self.addCleanup(forwarder.close)
        wrong = f"https://127.0.0.2:{forwarder.port}"
        real = self.info["base_url"]
        mark = self.log_mark()
        result = self.enroll("wronghost", cep=["--url", self.info["cep"]["password"].replace(
            real, wrong), "--ca-bundle", self.info["ca_bundle"]])
        self.assertError(result, 6, "tls", "does not match the name 127.0.0.2",
                         "name in the certificate")
        self.assertFalse(os.path.exists(os.path.join(self.state, "live")))

        ces = self.info["ces"]["Sandbox-RSA-CA"]["password"]
        result = self.enroll("wronghost", "--ces-url", ces.replace(real, wrong))
        self.assertError(result, 6, "tls", "does not match the name 127.0.0.2")
        self.assertEqual(self.requests_since(mark, "CES"), [])
        key = self.default_key("wronghost")
        self.assertKeyKept(key)
        self.assertNoPartialFiles()
        self.assertRetrySucceeds("wronghost", key)

    # 6. Untrusted and expired server certificates.
    def test_untrusted_server_certificate(self):
        """No --ca-bundle: the sandbox's private root is in no system store. Expected: exit 6
        (tls), "is not trusted", hint naming --ca-bundle. With a cached policy the enrollment
        gets as far as CES: the key is kept and a retry with --ca-bundle succeeds; a fresh policy
        fetch fails before any file is written."""
        fetched = self.cli("policy", *self.cep(), *self.user())
        self.assertExit(fetched, 0)
        mark = self.log_mark()
        no_bundle = ["--url", self.info["cep"]["password"]]
        result = self.enroll("untrusted", cep=no_bundle)
        self.assertError(result, 6, "tls", "not trusted", "--ca-bundle")
        self.assertEqual(self.requests_since(mark), [])
        key = self.default_key("untrusted")
        self.assertKeyKept(key)
        self.assertNoPartialFiles()
        self.assertRetrySucceeds("untrusted", key)

        result = self.enroll("untrusted2", "--refresh-policy", cep=no_bundle)
        self.assertError(result, 6, "tls", "not trusted", "--ca-bundle")
        self.assertFalse(os.path.exists(os.path.join(self.state, "live", "untrusted2")))

    def test_expired_server_certificate(self):
        """A CES whose certificate (from the trusted sandbox CA, for 127.0.0.1) expired
        yesterday. The sandbox itself is always started with a current certificate, so a stub
        TLS server plays this CES (--ces-url). Expected: exit 6 (tls), "is not valid now:
        certificate has expired", hint about the server certificate and the clock; key kept,
        retry against the real CES succeeds."""
        chain, key_path = expired_server_certificate(self.sandbox.state_dir, self.tmp)
        stub = TlsStub(chain, key_path)
        self.addCleanup(stub.close)
        url = f"https://127.0.0.1:{stub.port}/Sandbox-RSA-CA_CES_UsernamePassword/service.svc/CES"
        result = self.enroll("expired", "--ces-url", url)
        self.assertError(result, 6, "tls", "not valid now", "expired", "clock")
        key = self.default_key("expired")
        self.assertKeyKept(key)
        self.assertNoPartialFiles()
        self.assertRetrySucceeds("expired", key)

    def test_certificate_for_another_dns_name(self):
        """Real CEP/CES URLs are DNS names. A CES reached as localhost whose certificate (from
        the trusted sandbox CA) names only other.sandbox.test: expected exit 6 (tls), "does not
        match the name localhost" (a client that sent the request would see the stub close
        without answering: exit 7); the same for the CEP (policy --url)."""
        chain, key_path = server_certificate(self.sandbox.state_dir, self.tmp, "other-host",
                                             dns_names=("other.sandbox.test",), addresses=())
        stub = TlsStub(chain, key_path)
        self.addCleanup(stub.close)
        ces = f"https://localhost:{stub.port}/Sandbox-RSA-CA_CES_UsernamePassword/service.svc/CES"
        result = self.enroll("otherdns", "--ces-url", ces)
        self.assertError(result, 6, "tls", "does not match the name localhost")
        self.assertKeyKept(self.default_key("otherdns"))
        self.assertNoPartialFiles()
        cep = f"https://localhost:{stub.port}/ADPolicyProvider_CEP_UsernamePassword/service.svc/CEP"
        result = self.cli("policy", "--url", cep, "--ca-bundle", self.info["ca_bundle"],
                          *self.user())
        self.assertError(result, 6, "tls", "does not match the name localhost")

    def test_ipv6_zone_id_keeps_the_name_check(self):
        """An IPv6 literal with a zone ID ([::1%1], RFC 6874's [::1%251], [::1%25lo]) once
        switched the server-name check off. A server on ::1 whose certificate (trusted CA) names
        another host and no address: expected exit 6 (tls) for every form, never a request."""
        if not socket.has_ipv6:
            self.skipTest("no IPv6 on this host")
        chain, key_path = server_certificate(self.sandbox.state_dir, self.tmp, "zone-id",
                                             dns_names=("other.sandbox.test",), addresses=())
        try:
            stub = TlsStub(chain, key_path, address="::1")
        except OSError as e:
            self.skipTest(f"no ::1 on this host's loopback: {e}")
        self.addCleanup(stub.close)
        index = socket.if_nametoindex("lo")
        for zone in (f"%{index}", f"%25{index}", "%25lo"):
            with self.subTest(zone=zone):
                url = (f"https://[::1{zone}]:{stub.port}/ADPolicyProvider_CEP_UsernamePassword/"
                       "service.svc/CEP")
                result = self.cli("policy", "--url", url, "--ca-bundle", self.info["ca_bundle"],
                                  *self.user())
                self.assertError(result, 6, "tls", "does not match")

    # 7. 401.
    def test_http401(self):
        """CES answers HTTP 401 (IIS's HTML page). Expected: exit 5 (auth), "rejected the
        username/password of alice with HTTP 401", hint about --username and the password;
        key kept, retry succeeds."""
        _, key, _ = self.enroll_fault("http401", "h401", 5, "auth",
                                      "rejected the username/password of alice", "HTTP 401",
                                      "--password-file")
        self.assertRetrySucceeds("h401", key)

    # 8. 503 with Retry-After.
    def test_503_on_get_policies_is_retried_after_retry_after(self):
        """CEP answers 503 with Retry-After: 1 twice. GetPolicies is idempotent: the client waits
        the second the server asks for and sends it again. Expected: exit 0, three GetPolicies
        requests, at least 2 s spent waiting."""
        mark = self.log_mark()
        self.sandbox.inject_fault("http503:1", count=2, match="CEP")
        started = time.monotonic()
        result = self.cli("policy", *self.cep(), *self.user())
        self.assertExit(result, 0)
        self.assertGreaterEqual(time.monotonic() - started, 1.9)
        sent = self.requests_since(mark, "CEP", "GetPolicies")
        self.assertEqual([r["http_status"] for r in sent], [503, 503, 200])

    def test_503_retries_are_bounded(self):
        """CEP keeps answering 503 (Retry-After: 1). Expected: at most 3 attempts, then exit 7
        (network) "HTTP 503 without a SOAP body ... Service Unavailable ... after 3 attempts", in
        bounded time. A Retry-After longer than the client waits (30 s), here an hour, is not
        waited for: one attempt, exit 7 at once. Nothing is written either way."""
        mark = self.log_mark()
        self.sandbox.inject_fault("http503:1", count=10, match="CEP")
        started = time.monotonic()
        result = self.enroll("busy")
        self.assertError(result, 7, "network", "HTTP 503", "Service Unavailable",
                         "after 3 attempts")
        self.assertLess(time.monotonic() - started, 60)
        self.assertEqual(len(self.requests_since(mark, "CEP", "GetPolicies")), 3)

        self.sandbox.clear_faults()
        mark = self.log_mark()
        self.sandbox.inject_fault("http503:3600", count=1, match="CEP")
        started = time.monotonic()
        result = self.enroll("busy")
        self.assertError(result, 7, "network", "HTTP 503")
        self.assertLess(time.monotonic() - started, 30)
        self.assertEqual(len(self.requests_since(mark, "CEP")), 1)
        self.assertFalse(os.path.exists(os.path.join(self.state, "live")))

    def test_503_never_resubmits_an_issue(self):
        """CES answers the Issue with 503 and Retry-After: 1. An Issue is not idempotent (the CA
        may have processed it), so it is never sent again blindly. Expected: exit 7 (network),
        "HTTP 503", exactly one Issue in the sandbox log; the key is kept and an explicit retry
        with --key succeeds (one more Issue). Same for a renewal: exit 7, one Issue, the
        previous files byte-identical."""
        mark = self.log_mark()
        _, key, _ = self.enroll_fault("http503:1", "busyissue", 7, "network", "HTTP 503")
        issues = self.requests_since(mark, "CES", "Issue")
        self.assertEqual([(r["fault_injected"], r["http_status"]) for r in issues],
                         [("http503:1", 503)])
        self.assertRetrySucceeds("busyissue", key)
        self.assertEqual(len(self.requests_since(mark, "CES", "Issue")), 2)

        mark = self.log_mark()
        self.renew_fault("http503:1", "busyrenew", 7, "network", "HTTP 503")
        # One Issue failed with 503 (not repeated), one for the successful renewal afterwards,
        # besides the enrollment renew_fault starts with.
        statuses = [r["http_status"] for r in self.requests_since(mark, "CES", "Issue")]
        self.assertEqual(statuses, [200, 503, 200])

    def test_503_on_query_token_status_is_retried(self):
        """A pending request is collected while CES answers 503 (Retry-After: 1) once.
        QueryTokenStatus is idempotent: it is sent again. Expected: exit 0, the certificate is
        for the key made at enroll, two QueryTokenStatus requests and no Issue."""
        pending = self.cli("enroll", *self.cep(), *self.user(), "--template", "ApprovalRequired",
                           "--name", "slowpoll", "--cn", "slowpoll.example.test")
        self.assertExit(pending, 3)
        self.sandbox.approve(pending.json["ca"], pending.json["request_id"])
        mark = self.log_mark()
        self.sandbox.inject_fault("http503:1", count=1, match="CES")
        done = self.cli("retrieve-pending", pending.json["request_id"], *self.user(),
                        "--ca-bundle", self.info["ca_bundle"])
        self.assertExit(done, 0)
        ces = self.requests_since(mark, "CES")
        self.assertEqual([(r["request_type"], r["http_status"]) for r in ces],
                         [("QueryTokenStatus", 503), ("QueryTokenStatus", 200)])
        self.assertKeyMatches(done.json["files"]["cert"], pending.json["files"]["key"])

    # 9. Unwritable output directory, full disk.
    def test_output_directory_under_a_regular_file(self):
        """--out-dir below a regular file (unwritable even for root). The key is the first file
        written, before the request: so the failure happens before anything is sent. Expected:
        exit 9 (local), "cannot create directory .../sub: Not a directory", no CES request, no
        key, record or temporary file."""
        blocker = os.path.join(self.tmp, "a-file")
        with open(blocker, "w") as f:
            f.write("not a directory\n")
        mark = self.log_mark()
        result = self.enroll("nodir", "--out-dir", os.path.join(blocker, "sub"))
        self.assertError(result, 9, "local", "cannot create directory", "Not a directory")
        self.assertEqual(self.requests_since(mark, "CES"), [])
        self.assertFalse(os.path.exists(os.path.join(self.state, "certificates")))
        self.assertEqual(read_bytes(blocker), b"not a directory\n")
        self.assertNoPartialFiles(self.state, self.tmp)

    def run_limited(self, limit, *args):
        argv = [cli.CLI, "--json", "--state-dir", self.state, *args]
        env = dict(os.environ)
        env.pop("CERTENROLL_PASSWORD", None)
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120,
                              stdin=subprocess.DEVNULL, preexec_fn=file_size_limit(limit))
        return cli.Result(done, True)

    # A 2048-bit RSA key file is ~1.7 kB and the chain ~2 kB: they fit; fullchain (~3.4 kB)
    # does not, so the disk fills up in the middle of writing the certificate files.
    LIMIT = 2600

    def test_disk_full_while_writing_the_certificate(self):
        """The disk fills up after the CA issued (RLIMIT_FSIZE: the key and the chain fit, the
        full chain does not). Expected: exit 9 (local), "cannot write ...: File too large"; the
        key written before the request is intact (0600) in the output directory; no certificate
        file, no staged `.new` file, no temporary file and no managed record; enrolling again
        with --key succeeds."""
        self.assertExit(self.cli("policy", *self.cep(), *self.user()), 0)  # a cached policy
        mark = self.log_mark()
        result = self.run_limited(self.LIMIT, "enroll", *self.cep(), *self.user(), "--template",
                                  "WebServer", "--name", "full", "--cn", "full.example.test",
                                  "--out-dir", self.out)
        self.assertError(result, 9, "local", "cannot write", "File too large")
        self.assertEqual([r["outcome"] for r in self.requests_since(mark, "CES")], ["issued"])
        key = os.path.join(self.out, "full.key.pem")
        self.assertKeyKept(key)
        self.assertEqual(sorted(os.listdir(self.out)), ["full.key.pem"])
        self.assertFalse(os.path.exists(os.path.join(self.state, "certificates", "full.json")))
        self.assertNoPartialFiles()
        self.assertRetrySucceeds("full", key, "--out-dir", self.out)

    def test_disk_full_during_renewal_keeps_the_previous_certificate(self):
        """The same full disk during a renewal. Expected: exit 9 (local), "File too large"; the
        previous key, certificate, chain and record are byte-identical; only the complete new key
        (key.pem.new) is left; the next renewal, with space, succeeds."""
        self.enrolled("fullrenew")
        live = os.path.join(self.state, "live", "fullrenew")
        record = os.path.join(self.state, "certificates", "fullrenew.json")
        before, record_before = snapshot(live), read_bytes(record)
        result = self.run_limited(self.LIMIT, "renew", "fullrenew", "--force", "--ca-bundle",
                                  self.info["ca_bundle"], "--password-file",
                                  self.info["users"]["alice"]["password_file"])
        self.assertExit(result, 9)
        entry = result.json["certificates"][0]
        self.assertEqual(entry["error"]["category"], "local")
        self.assertIn("File too large", entry["error"]["message"])
        after = snapshot(live)
        after.pop("key.pem.new", None)
        self.assertEqual(after, before)
        # The record is unchanged but for the failure noted in it (for `list`).
        self.assertEqual(without_outcome(read_bytes(record)), without_outcome(record_before))
        self.assertEqual(json.loads(read_bytes(record))["last_outcome"]["result"], "local")
        self.assertNoPartialFiles(renewal_key=os.path.join(live, "key.pem.new"))
        again = self.renew("fullrenew")
        self.assertExit(again, 0)
        self.assertEqual(read_bytes(os.path.join(live, "cert.pem.prev")), before["cert.pem"])
        self.assertNoPartialFiles()

    # 10. A pending request after the client host restarted.
    def test_pending_request_retrieved_after_the_client_restarted(self):
        """enroll → pending (exit 3); then the "host restarts": a new process, another working
        directory, no environment but PATH, and everything but the state directory's pending
        record and key gone (the policy cache removed). The CA manager approves. Expected:
        `retrieve-pending --all` with only the password file exits 0, the certificate is for
        the key made before the restart (byte-identical, 0600), the pending record became a
        managed one, and no temporary file exists."""
        result = self.cli("enroll", *self.cep(), *self.user(), "--template", "ApprovalRequired",
                          "--name", "reboot", "--cn", "reboot.example.test")
        self.assertExit(result, 3)
        key = result.json["files"]["key"]
        key_before = read_bytes(key)
        request_id = result.json["request_id"]
        pending_dir = os.path.join(self.state, "pending")
        self.assertTrue(os.listdir(pending_dir))

        # The restart: only the state directory survives, without its cache.
        subprocess.run(["rm", "-rf", os.path.join(self.state, "policy-cache")], check=True)
        self.sandbox.approve(result.json["ca"], request_id)
        cwd = tempfile.mkdtemp(dir=self.tmp)
        argv = [cli.CLI, "--json", "--state-dir", self.state, "retrieve-pending", "--all",
                "--password-file", self.info["users"]["alice"]["password_file"], "--ca-bundle",
                self.info["ca_bundle"]]
        done = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=120,
                              env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                              stdin=subprocess.DEVNULL)
        retrieved = cli.Result(done, True)
        self.assertExit(retrieved, 0)
        entry = retrieved.json["requests"][0] if "requests" in retrieved.json else retrieved.json
        self.assertEqual(entry["status"], "issued", repr(retrieved))
        cert = os.path.join(self.state, "live", "reboot", "cert.pem")
        self.assertKeyMatches(cert, key)
        self.assertEqual(read_bytes(key), key_before)
        self.assertKeyKept(key)
        self.assertEqual(os.listdir(pending_dir), [])
        self.assertTrue(os.path.exists(os.path.join(self.state, "certificates", "reboot.json")))
        self.assertNoPartialFiles()

    # 11. Hostile responses (issue 21).
    def peak_rss_allowed(self):
        """64 MB. Under AddressSanitizer (CI runs this file in such a build too), whose shadow
        memory and quarantine take over 100 MB before the first request: 64 MB more than a
        normal policy fetch."""
        probe = subprocess.run([cli.CLI, "--version"], capture_output=True, text=True,
                               env={**os.environ, "ASAN_OPTIONS": "help=1"}, timeout=60)
        if "AddressSanitizer" not in probe.stderr:
            return 64 * 1024 * 1024
        state = os.path.join(self.tmp, "baseline")
        baseline, usage = cli.run_with_rusage("--state-dir", state, "policy", *self.cep(),
                                              *self.user())
        self.assertExit(baseline, 0)
        return usage.ru_maxrss * 1024 + 64 * 1024 * 1024

    def hostile_response(self, mode, code_words):
        """`policy` against a CEP answering HTTP 200 with well-formed SOAP built to exhaust an
        XML parser (the sandbox's `mode`). Expected: exit 8 (protocol) naming the limit, peak
        RSS of the CLI under 64 MB (the response alone is up to 16 MB), no policy cache written;
        the next fetch works."""
        allowed = self.peak_rss_allowed()
        mark = self.log_mark()
        self.sandbox.inject_fault(mode, match="CEP")
        result, usage = cli.run_with_rusage("--state-dir", self.state, "policy", *self.cep(),
                                            *self.user())
        self.assertError(result, 8, "protocol", *code_words)
        self.assertLess(usage.ru_maxrss * 1024, allowed, repr(result))
        self.assertEqual([r["fault_injected"] for r in self.requests_since(mark, "CEP")], [mode])
        self.assertEqual(glob.glob(os.path.join(self.state, "policy-cache", "*")), [])
        self.assertExit(self.cli("policy", *self.cep(), *self.user()), 0)

    def test_response_with_100000_attributes_on_one_element(self):
        """One element with 100,000 attributes (1 MB): tinyxml2's duplicate check alone takes
        over a minute; refused by the pre-scan at the 65th attribute."""
        self.hostile_response("manyattributes", ["more than 64 attributes", "malformed response"])

    def test_response_with_4_million_empty_elements(self):
        """4,000,000 empty elements (16 MB, under the 16 MiB response cap): seconds and 500 MB
        in tinyxml2; refused by the pre-scan after 120,000 nodes (the cap of a SOAP response)."""
        self.hostile_response("manyelements", ["more than 120000 nodes", "malformed response"])

    def test_response_with_100000_header_fields(self):
        """Issue 23: 100,000 header fields (2 MB of head; 4 million once peaked at 288 MB and
        were accepted): refused while the head arrives, at the 257th field."""
        self.hostile_response("manyheaders", ["more than 256 header fields"])

    def test_response_with_many_header_fields_and_4_million_elements(self):
        """Issue 23: 240 header fields of 200 bytes (within the caps of 256 fields and 64 KiB)
        and then the 4 million elements (together once 812 MB): the head is taken, the body
        refused by the pre-scan; peak RSS under 64 MB."""
        self.hostile_response("manyboth", ["more than 120000 nodes", "malformed response"])

    def test_response_just_under_the_node_cap(self):
        """Issue 23: 119,900 empty elements (480 KB), just under the cap of 120,000 nodes per
        SOAP response, are parsed into a whole tree: the most memory one response can take
        (199,000 under the former cap of 200,000 peaked at 72 MB). Refused by GetPolicies;
        peak RSS under 64 MB."""
        self.hostile_response("nearcap", [])


if __name__ == "__main__":
    import unittest
    unittest.main()
