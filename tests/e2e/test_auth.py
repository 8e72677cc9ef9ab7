"""Authentication through the real binary: Kerberos against the sandbox's real MIT KDC,
username/password, TLS client certificates, the mode taken from the URL, and every failure that
can be produced on loopback, each with the auth exit code and a message naming the cause."""

import json
import os
import shutil
import subprocess
import tempfile
import unittest
import urllib.parse
from unittest import mock

from cryptography import x509

import cli
from cli import openssl
from connect_proxy import ConnectProxy

AUTH = 5
USAGE = 2


class KerberosTest(cli.SandboxTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not cls.info.get("kerberos"):
            message = "the sandbox runs without Kerberos (krb5-kdc not installed)"
            if cli.ON_CI:
                raise AssertionError("CI=true, yet " + message)
            raise unittest.SkipTest(message)
        cls.krb = cls.info["kerberos"]

    def setUp(self):
        super().setUp()
        self.ccache = os.path.join(self.tmp, "cc")
        self.env = {"KRB5_CONFIG": self.krb["krb5_conf"], "KRB5CCNAME": "FILE:" + self.ccache}

    def kinit(self, user="alice", *flags):
        subprocess.run(["kinit", *flags, "-k", "-t", self.krb["users"][user]["keytab"],
                        self.krb["users"][user]["principal"]], env=dict(os.environ, **self.env),
                       check=True, capture_output=True)

    def keytab(self, user="alice"):
        return ["--keytab", self.krb["users"][user]["keytab"],
                "--principal", self.krb["users"][user]["principal"]]

    def kcep(self):
        return ["--url", self.info["cep"]["kerberos"], "--ca-bundle", self.info["ca_bundle"]]

    def run_k(self, *args, env=None):
        return self.cli(*args, env=dict(self.env, **(env or {})))

    def new_requests(self, before):
        return self.sandbox.requests()[before:]

    def test_policy_and_enroll_with_the_users_ticket_and_the_mode_from_the_url(self):
        self.kinit()
        policy = self.run_k("policy", *self.kcep())  # no --auth: _CEP_Kerberos says it
        self.assertExit(policy, 0)
        web = next(t for t in policy.json["templates"] if t["name"] == "WebServer")
        self.assertTrue(web["usable"], web)
        result = self.run_k("enroll", *self.kcep(), "--template", "WebServer", "--cn",
                            "krb.example.test")
        self.assertExit(result, 0)
        self.assertIn("_CES_Kerberos", result.json["ces_url"])
        ces = [r for r in self.sandbox.requests() if r.get("endpoint") == "CES"][-1]
        self.assertEqual((ces["auth"], ces["identity"], ces["outcome"]),
                         ("kerberos", "alice", "issued"))

    def test_keytab_uses_a_private_cache_and_renew_needs_no_flags(self):
        result = self.run_k("enroll", *self.kcep(), *self.keytab(), "--template", "WebServer",
                            "--cn", "keytab.example.test", "--name", "kt")
        self.assertExit(result, 0)
        self.assertFalse(os.path.exists(self.ccache), "the user's credential cache was written")
        # cron: the record remembers the keytab and principal.
        renewed = self.run_k("renew", "kt", "--force", "--ca-bundle", self.info["ca_bundle"])
        self.assertExit(renewed, 0)
        self.assertEqual(renewed.json["certificates"][0]["status"], "renewed")
        self.assertFalse(os.path.exists(self.ccache))
        last = self.sandbox.requests()[-1]
        self.assertEqual((last["auth"], last["identity"]), ("kerberos", "alice"))

    def test_pending_request_is_retrieved_with_kerberos_from_the_record(self):
        self.kinit()
        result = self.run_k("enroll", *self.kcep(), "--template", "ApprovalRequired", "--cn",
                            "pk.example.test")
        self.assertExit(result, 3)
        self.sandbox.approve(result.json["ca"], result.json["request_id"])
        done = self.run_k("retrieve-pending", result.json["request_id"], "--ca-bundle",
                          self.info["ca_bundle"])
        self.assertExit(done, 0)
        self.assertEqual(self.sandbox.requests()[-1]["auth"], "kerberos")

    def test_delegation_only_when_asked(self):
        self.kinit("alice", "-f")  # a forwardable ticket
        self.assertExit(self.run_k("policy", *self.kcep(), "--refresh"), 0)
        self.assertFalse(self.sandbox.requests()[-1]["delegated"])
        self.assertExit(self.run_k("policy", *self.kcep(), "--delegate", "--refresh"), 0)
        self.assertTrue(self.sandbox.requests()[-1]["delegated"])

    def test_no_ticket(self):
        before = len(self.sandbox.requests())
        result = self.run_k("policy", *self.kcep())
        self.assertExit(result, AUTH)
        self.assertEqual(result.json["error"]["category"], "auth")
        self.assertIn("no Kerberos ticket", result.json["error"]["message"])
        self.assertIn("kinit", result.json["error"]["hint"])
        self.assertEqual(self.new_requests(before), [])  # nothing was sent without a token

    def test_unreadable_keytab(self):
        result = self.run_k("policy", *self.kcep(), "--keytab", os.path.join(self.tmp, "none"),
                            "--principal", "alice@CERTENROLL.TEST")
        self.assertExit(result, AUTH)
        self.assertIn("cannot read the keytab", result.json["error"]["message"])

    def test_kdc_unreachable(self):
        dead = os.path.join(self.tmp, "krb5.conf")
        with open(self.krb["krb5_conf"]) as f:
            text = f.read()
        with open(dead, "w") as f:
            f.write(text.replace(f"127.0.0.1:{self.krb['kdc_port']}", "127.0.0.1:9"))
        result = self.run_k("policy", *self.kcep(), *self.keytab(), env={"KRB5_CONFIG": dead})
        self.assertExit(result, AUTH)
        self.assertIn("cannot reach a Kerberos KDC", result.json["error"]["message"])
        self.assertIn("krb5.conf", result.json["error"]["hint"])

    @cli.needs(shutil.which("faketime"), "faketime")
    def test_clock_skew(self):
        # MIT corrects for skew by default (kdc_timesync); a client without it meets the KDC's
        # "clock skew too great".
        conf = os.path.join(self.tmp, "krb5.conf")
        with open(self.krb["krb5_conf"]) as f:
            text = f.read()
        with open(conf, "w") as f:
            f.write(text.replace("[libdefaults]", "[libdefaults]\n kdc_timesync = 0", 1))
        argv = ["faketime", "-f", "+2h", cli.CLI, "--json", "--state-dir", self.state, "policy",
                *self.kcep(), *self.keytab()]
        env = dict(os.environ, **dict(self.env, KRB5_CONFIG=conf))
        # faketime is preloaded before a sanitizer runtime: let ASan accept that.
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
        self.assertEqual(done.returncode, AUTH, done.stdout + done.stderr)
        self.assertIn("clock", done.stdout)
        self.assertIn("NTP", done.stdout)

    def test_server_principal_unknown_and_spn_override(self):
        self.kinit()
        by_ip = self.info["cep"]["kerberos"].replace("localhost", "127.0.0.1")
        result = self.run_k("policy", "--url", by_ip, "--ca-bundle", self.info["ca_bundle"])
        self.assertExit(result, AUTH)
        self.assertIn("does not know the service principal HTTP@127.0.0.1",
                      result.json["error"]["message"])
        self.assertIn("setspn", result.json["error"]["hint"])
        fixed = self.run_k("policy", "--url", by_ip, "--ca-bundle", self.info["ca_bundle"],
                           "--spn", self.krb["service_principal"])
        self.assertExit(fixed, 0)

    def test_password_sent_to_a_kerberos_only_endpoint(self):
        # Behind a proxy path the URL does not say Kerberos; the server's 401 does.
        proxied = self.info["cep"]["kerberos"].replace("/ADPolicyProvider", "/proxied/ADPolicyProvider")
        result = self.run_k("policy", "--url", proxied, "--ca-bundle", self.info["ca_bundle"],
                            *self.user())
        self.assertExit(result, AUTH)
        self.assertIn("is Kerberos-only", result.json["error"]["message"])
        self.assertIn("--auth kerberos", result.json["error"]["hint"])
        self.assertNotIn(self.sandbox.password(), result.stdout + result.stderr)

    def test_asking_for_a_mode_the_url_does_not_offer_is_a_usage_error(self):
        result = self.run_k("policy", *self.kcep(), "--auth", "password", *self.user())
        self.assertExit(result, USAGE)
        self.assertIn("accepts kerberos only", result.json["error"]["message"])

    # Extended Protection for Authentication (KB5005413; on by default for AD CS in Windows
    # Server 2025): the ticket must carry the RFC 5929 tls-server-end-point binding of the TLS
    # connection it travels on. The sandbox models it with path prefixes (tests/server/README.md):
    # /epa-always/ refuses a ticket without the binding of its HTTPS certificate, /epa-wrong/
    # expects the binding of another certificate (so only a client that sends its binding is
    # refused).
    def epa_cep(self, mode="always"):
        url = self.info["cep"]["kerberos"].replace("/ADPolicyProvider",
                                                   f"/epa-{mode}/ADPolicyProvider")
        return ["--url", url, "--ca-bundle", self.info["ca_bundle"]]

    def assertBound(self, requests, count):
        """`count` Kerberos requests reached the EPA-"Always" endpoints, each with the binding."""
        kerberos = [r for r in requests if r.get("auth") == "kerberos"]
        self.assertEqual(len(kerberos), count, kerberos)
        for r in kerberos:
            self.assertEqual((r["epa"], r.get("channel_bound"), r["outcome"] != "unauthorized"),
                             ("always", True, True), r)

    def test_epa_always_policy_and_enroll_with_the_users_ticket(self):
        self.kinit()
        before = len(self.sandbox.requests())
        log = os.path.join(self.tmp, "audit.jsonl")
        result = self.run_k("--audit-log", log, "enroll", *self.epa_cep(), "--template",
                            "WebServer", "--cn", "epa.example.test")
        self.assertExit(result, 0)
        self.assertIn("/epa-always/Sandbox-RSA-CA_CES_Kerberos", result.json["ces_url"])
        requests = self.new_requests(before)
        self.assertBound(requests, 2)  # GetPolicies, Issue
        self.assertEqual(requests[-1]["outcome"], "issued")
        with open(log) as f:
            events = [json.loads(line) for line in f]
        self.assertTrue(events)
        self.assertEqual({(e["auth"], e.get("channel_binding")) for e in events},
                         {("kerberos", "tls-server-end-point")})

    def test_epa_always_with_a_keytab(self):
        before = len(self.sandbox.requests())
        result = self.run_k("enroll", *self.epa_cep(), *self.keytab(), "--template", "WebServer",
                            "--cn", "epa-keytab.example.test")
        self.assertExit(result, 0)
        self.assertBound(self.new_requests(before), 2)
        self.assertFalse(os.path.exists(self.ccache))

    def test_epa_always_through_the_connect_proxy(self):
        # The binding is that of the server's certificate, seen through the tunnel.
        self.kinit()
        environment = mock.patch.dict(os.environ)
        environment.start()
        self.addCleanup(environment.stop)
        for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                     "ALL_PROXY", "no_proxy", "NO_PROXY"):
            os.environ.pop(name, None)
        proxy = ConnectProxy().start()
        self.addCleanup(proxy.stop)
        before = len(self.sandbox.requests())
        result = self.run_k("enroll", *self.epa_cep(), "--proxy", proxy.url(), "--template",
                            "WebServer", "--cn", "epa-proxy.example.test")
        self.assertExit(result, 0)
        self.assertBound(self.new_requests(before), 2)
        target = urllib.parse.urlsplit(self.info["cep"]["kerberos"]).netloc  # localhost:PORT
        tunnels = [r for r in proxy.records() if r.status == 200]
        self.assertTrue(tunnels, proxy.records())
        self.assertEqual({r.target for r in proxy.records()}, {target})

    def test_epa_verbose_names_the_binding_and_the_verified_answer(self):
        self.kinit()
        result = self.run_k("-v", "policy", *self.epa_cep(), "--refresh")
        self.assertExit(result, 0)
        # RFC 5929: the hash of the sandbox's HTTPS certificate's signature (never MD5/SHA-1).
        with open(os.path.join(self.info["state_dir"], "server.crt"), "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        algorithm = cert.signature_hash_algorithm.name  # "sha256", "sha384", ...
        if algorithm in ("md5", "sha1"):
            algorithm = "sha256"
        self.assertIn("bound to this TLS connection (tls-server-end-point, " + algorithm.upper(),
                      result.stderr)
        self.assertIn("mutual-authentication token verified", result.stderr)

    def test_epa_expecting_another_binding_refuses_the_client(self):
        # An MIT acceptor takes a ticket without binding: this refusal shows one is sent.
        self.kinit()
        before = len(self.sandbox.requests())
        result = self.run_k("policy", *self.epa_cep("wrong"))
        self.assertExit(result, AUTH)
        error = result.json["error"]
        self.assertEqual(error["category"], "auth")
        self.assertIn("rejected the Kerberos ticket for HTTP@localhost with HTTP 401",
                      error["message"])
        self.assertIn("bound to this TLS connection (channel binding tls-server-end-point",
                      error["message"])
        self.assertIn("TLS-inspecting proxy", error["hint"])
        refused = self.new_requests(before)
        self.assertEqual(len(refused), 1, refused)
        self.assertEqual((refused[0]["epa"], refused[0]["http_status"]), ("wrong", 401))
        self.assertIn("channel bindings", refused[0]["error"])

    def test_epa_a_mutual_authentication_token_that_does_not_verify(self):
        self.kinit()
        self.sandbox.inject_fault("badmutual", 1, "CEP")
        result = self.run_k("policy", *self.epa_cep(), "--refresh")
        self.assertExit(result, AUTH)
        self.assertIn("mutual-authentication token for HTTP@localhost does not verify",
                      result.json["error"]["message"])
        self.assertIn("--spn", result.json["error"]["hint"])
        self.assertEqual(self.sandbox.requests()[-1]["fault_injected"], "badmutual")


class PasswordAndCertificateTest(cli.SandboxTest):
    def test_wrong_password(self):
        bad = os.path.join(self.tmp, "bad.password")
        with open(bad, "w") as f:
            f.write("not-the-password\n")
        result = self.cli("policy", *self.cep(), "--username", "alice", "--password-file", bad)
        self.assertExit(result, AUTH)
        self.assertIn("rejected the username/password of alice", result.json["error"]["message"])
        self.assertNotIn("not-the-password", result.stdout + result.stderr)

    def certificate_flags(self, user="alice"):
        u = self.info["users"][user]
        return ["--client-cert", u["client_cert"], "--client-key", u["client_key"]]

    def test_policy_and_enroll_with_a_client_certificate(self):
        policy = self.cli("policy", *self.cep("certificate"), *self.certificate_flags())
        self.assertExit(policy, 0)
        result = self.cli("enroll", *self.cep("certificate"), *self.certificate_flags(),
                          "--template", "WebServer", "--cn", "tlsauth.example.test")
        self.assertExit(result, 0)
        self.assertIn("_CES_Certificate", result.json["ces_url"])
        last = self.sandbox.requests()[-1]
        self.assertEqual((last["auth"], last["identity"]), ("certificate", "alice"))

    def test_client_certificate_from_a_pfx(self):
        u = self.info["users"]["alice"]
        pfx = os.path.join(self.tmp, "alice.pfx")
        password = os.path.join(self.tmp, "pfx.password")
        with open(password, "w") as f:
            f.write("pfx-secret-7\n")
        openssl("pkcs12", "-export", "-in", u["client_cert"], "-inkey", u["client_key"],
                "-out", pfx, "-passout", "file:" + password)
        result = self.cli("enroll", *self.cep("certificate"), "--client-cert", pfx,
                          "--client-key-passphrase-file", password, "--template", "WebServer",
                          "--cn", "pfxauth.example.test")
        self.assertExit(result, 0)
        self.assertEqual(self.sandbox.requests()[-1]["identity"], "alice")
        wrong = os.path.join(self.tmp, "wrong.password")
        with open(wrong, "w") as f:
            f.write("nope\n")
        refused = self.cli("policy", *self.cep("certificate"), "--client-cert", pfx,
                           "--client-key-passphrase-file", wrong, "--refresh")
        self.assertExit(refused, USAGE)
        self.assertNotIn("pfx-secret-7", refused.stdout + refused.stderr)

    def test_client_certificate_from_an_untrusted_issuer_is_refused(self):
        key = os.path.join(self.tmp, "rogue.key")
        cert = os.path.join(self.tmp, "rogue.crt")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", key, "-out", cert, "-subj", "/CN=alice", "-days", "1",
                "-addext", "extendedKeyUsage=clientAuth")
        result = self.cli("policy", *self.cep("certificate"), "--client-cert", cert,
                          "--client-key", key)
        self.assertExit(result, AUTH)
        self.assertEqual(result.json["error"]["category"], "auth")
        self.assertIn("client certificate", result.json["error"]["message"])

    def test_certificate_endpoint_without_a_client_certificate(self):
        result = self.cli("policy", *self.cep("certificate"), "--auth", "certificate")
        self.assertExit(result, USAGE)
        self.assertIn("--client-cert", result.json["error"]["message"])


if __name__ == "__main__":
    unittest.main()
