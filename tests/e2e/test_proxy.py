"""CEP and CES reached through proxies, as on networks where nothing leaves but through one: an
HTTP proxy (the CONNECT method) from --proxy or from https_proxy / HTTPS_PROXY, bypassed for the
hosts no_proxy / NO_PROXY names (CIDR ranges too); a SOCKS5 proxy (socks5h://, socks5://);
Basic credentials from --proxy-user with the password in a file or in CERTENROLL_PROXY_PASSWORD
(never argv: a --proxy URL holding one is refused), or in the environment's proxy URL as for
curl; Negotiate (Kerberos) proxy authentication against the sandbox's KDC.

The expectations are those of any correct client, whatever its HTTP stack: exit codes and the
--json error category (README "Exit status": a proxy failure is a network error, exit 7), what
the proxy saw (a CONNECT to the server's host:port, the credentials it was sent), and that the
proxy password never shows in the output. No test depends on the wording of a message beyond
naming the 407 or the proxy, the options to use instead, and the schemes a proxy asked for.

The proxies are tests/e2e/connect_proxy.py and tests/e2e/socks_proxy.py. Proxy variables of the
machine running the tests are removed for each test, so only the ones a test sets count.
"""

import base64
import os
import subprocess
import unittest
import urllib.parse
from unittest import mock

import cli
from connect_proxy import ConnectProxy, refusing_port
from socks_proxy import Socks5Proxy

PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                   "ALL_PROXY", "no_proxy", "NO_PROXY")
PROXY_USER = "proxy-user"
# '@' and ':' must be percent-encoded in the URL and decoded before the Basic header is built.
PROXY_PASSWORD = "Pr0xy@Secret:5519"


class ProxyTest(cli.SandboxTest):
    def setUp(self):
        super().setUp()
        environment = mock.patch.dict(os.environ)
        environment.start()
        self.addCleanup(environment.stop)
        for name in PROXY_VARIABLES:
            os.environ.pop(name, None)
        self.target = urllib.parse.urlsplit(self.info["cep"]["password"]).netloc  # 127.0.0.1:PORT
        self.proxies = []

    def tearDown(self):
        try:
            for proxy in self.proxies:
                proxy.stop()  # raises if a relay thread outlives it
        finally:
            super().tearDown()

    def start_proxy(self, kind=ConnectProxy, **options):
        proxy = kind(**options).start()
        self.proxies.append(proxy)
        return proxy

    def password_file(self, password=PROXY_PASSWORD):
        path = os.path.join(self.tmp, "proxy-password")
        with open(path, "w") as f:
            f.write(password + "\n")
        return path

    def proxy_login(self, password=PROXY_PASSWORD):
        """--proxy-user and --proxy-password-file: the password never in argv."""
        return ["--proxy-user", PROXY_USER, "--proxy-password-file", self.password_file(password)]

    def assertNoSecret(self, result, password=PROXY_PASSWORD):
        basic = base64.b64encode(f"{PROXY_USER}:{password}".encode()).decode()
        output = result.stdout + result.stderr
        for what, secret in {"the password": password,
                             "the percent-encoded password": urllib.parse.quote(password, safe=""),
                             "the Basic credentials": basic}.items():
            self.assertNotIn(secret, output, f"{what} in the output")

    def enroll(self, name, *extra, **kwargs):
        return self.cli("enroll", *self.cep(), *self.user(), "--template", "WebServer",
                        "--name", name, "--cn", f"{name}.example.test", *extra, **kwargs)

    def assertIssued(self, result):
        self.assertExit(result, 0)
        self.assertEqual(result.json["status"], "issued")
        with open(result.json["files"]["cert"]) as f:
            self.assertIn("BEGIN CERTIFICATE", f.read())

    def assertTunnelled(self, proxy):
        """The proxy was asked for the sandbox and nothing else, and carried traffic both ways."""
        records = proxy.records()
        self.assertTrue(records, "the proxy saw no CONNECT")
        self.assertEqual({r.target for r in records}, {self.target}, records)
        tunnels = [r for r in records if r.status == 200]
        self.assertTrue(tunnels, records)
        self.assertTrue(all(r.bytes_up > 0 and r.bytes_down > 0 for r in tunnels), records)

    def assertNetworkError(self, result):
        self.assertExit(result, 7)
        self.assertEqual(result.json["status"], "error")
        self.assertEqual(result.json["error"]["category"], "network")

    def ces_requests_since(self, before):
        return cli.ces_requests(self.sandbox, before)

    def test_proxy_option_tunnels_to_the_server(self):
        """Expected: enroll with --proxy http://127.0.0.1:PORT issues the certificate, and the
        proxy saw CONNECT 127.0.0.1:<sandbox port> and relayed the exchange."""
        proxy = self.start_proxy()
        result = self.enroll("viaoption", "--proxy", proxy.url())
        self.assertIssued(result)
        self.assertTunnelled(proxy)
        self.assertTrue(all(r.authorization is None for r in proxy.records()))

    def test_ces_is_reached_through_the_proxy_too(self):
        """Expected: with --ces-url only CES is contacted (no CEP request reaches the sandbox),
        and it goes through the proxy: the Issue request is not sent around it."""
        proxy = self.start_proxy()
        before = len(self.sandbox.requests())
        ces = self.info["ces"]["Sandbox-RSA-CA"]["password"]
        result = self.cli("enroll", "--ces-url", ces, "--ca-bundle", self.info["ca_bundle"],
                          *self.user(), "--template", "WebServer", "--name", "directces",
                          "--cn", "directces.example.test", "--proxy", proxy.url())
        self.assertIssued(result)
        endpoints = {r.get("endpoint") for r in self.sandbox.requests()[before:]}
        self.assertEqual(endpoints, {"CES"})
        self.assertTunnelled(proxy)

    def test_certificate_for_another_dns_name_through_the_proxy(self):
        """Through a CONNECT proxy the name checked is still the URL's host: a CES reached as
        localhost whose certificate (from the trusted sandbox CA) names only other.sandbox.test.
        Expected: exit 6 (tls), "does not match the name localhost", after the proxy carried
        CONNECT localhost:PORT."""
        from test_faults import TlsStub, server_certificate
        chain, key_path = server_certificate(self.sandbox.state_dir, self.tmp, "other-host",
                                             dns_names=("other.sandbox.test",), addresses=())
        stub = TlsStub(chain, key_path)
        self.addCleanup(stub.close)
        proxy = self.start_proxy()
        ces = f"https://localhost:{stub.port}/Sandbox-RSA-CA_CES_UsernamePassword/service.svc/CES"
        result = self.enroll("proxyotherdns", "--ces-url", ces, "--proxy", proxy.url())
        self.assertExit(result, 6)
        self.assertEqual(result.json["error"]["category"], "tls")
        self.assertIn("does not match the name localhost", result.json["error"]["message"])
        tunnels = [r for r in proxy.records() if r.target == f"localhost:{stub.port}"]
        self.assertTrue(tunnels and all(r.status == 200 and r.bytes_up > 0 for r in tunnels),
                        proxy.records())

    def test_https_proxy_environment_variable(self):
        """Expected: without --proxy, the proxy named by https_proxy (or HTTPS_PROXY) is used
        just as --proxy would be."""
        proxy = self.start_proxy()
        for variable in ("https_proxy", "HTTPS_PROXY"):
            with self.subTest(variable=variable):
                proxy.clear()
                result = self.enroll(f"env-{variable}", env={variable: proxy.url()})
                self.assertIssued(result)
                self.assertTunnelled(proxy)

    def test_no_proxy_covering_the_host_bypasses_the_proxy(self):
        """Expected: with https_proxy set but no_proxy (or NO_PROXY) naming 127.0.0.1, alone or
        in a list, or a CIDR range holding it, the server is reached directly: the proxy sees
        nothing, enrollment works."""
        proxy = self.start_proxy()
        for variable, value in (("no_proxy", "127.0.0.1"),
                                ("NO_PROXY", "example.invalid, 127.0.0.1"),
                                ("no_proxy", "10.0.0.0/8,127.0.0.0/8")):
            with self.subTest(variable=variable, value=value):
                proxy.clear()
                result = self.enroll(f"bypass-{variable}-{len(value)}",
                                     env={"https_proxy": proxy.url(), variable: value})
                self.assertIssued(result)
                self.assertEqual(proxy.records(), [])

    def test_proxy_credentials_from_a_file_or_the_environment(self):
        """Expected: a proxy that demands credentials is passed with --proxy-user and the
        password from --proxy-password-file, from CERTENROLL_PROXY_PASSWORD, or (as for curl)
        from the user:password of an https_proxy URL (percent-encoded there, decoded in the Basic
        header); the proxy received exactly those credentials and never tunnelled without
        them."""
        proxy = self.start_proxy(username=PROXY_USER, password=PROXY_PASSWORD)
        for source, extra, env in (
                ("file", ["--proxy", proxy.url(), *self.proxy_login()], None),
                ("variable", ["--proxy", proxy.url(), "--proxy-user", PROXY_USER],
                 {"CERTENROLL_PROXY_PASSWORD": PROXY_PASSWORD}),
                ("https_proxy", [], {"https_proxy": proxy.url(PROXY_USER, PROXY_PASSWORD)})):
            with self.subTest(source=source):
                proxy.clear()
                result = self.enroll(f"withcreds-{source}", *extra, env=env)
                self.assertIssued(result)
                self.assertTunnelled(proxy)
                tunnels = [r for r in proxy.records() if r.status == 200]
                self.assertTrue(all(r.credentials == f"{PROXY_USER}:{PROXY_PASSWORD}"
                                    for r in tunnels), tunnels)
                self.assertNoSecret(result)

    def test_password_in_the_proxy_option_is_refused(self):
        """Expected: --proxy http://user:password@host:port is refused before anything is sent
        (exit 2, category usage): argv is visible to every local user. The message names the
        options to use instead; the password shows nowhere; the proxy saw nothing."""
        proxy = self.start_proxy(username=PROXY_USER, password=PROXY_PASSWORD)
        before = len(self.sandbox.requests())
        result = self.enroll("pwinargv", "--proxy", proxy.url(PROXY_USER, PROXY_PASSWORD))
        self.assertExit(result, 2)
        self.assertEqual(result.json["error"]["category"], "usage")
        text = result.json["error"]["message"] + " " + result.json["error"].get("hint", "")
        for option in ("--proxy-user", "--proxy-password-file", "CERTENROLL_PROXY_PASSWORD"):
            self.assertIn(option, text)
        self.assertNoSecret(result)
        self.assertEqual(proxy.records(), [])
        self.assertEqual(self.sandbox.requests()[before:], [])

    def test_proxy_demanding_credentials_without_them_is_a_network_error(self):
        """Expected: without credentials (or with a wrong password) the proxy answers 407 and
        the command fails with exit 7, category network, a message naming the 407 and the
        scheme the proxy asked for (Basic), and a hint naming --proxy-user; nothing reached
        CES."""
        proxy = self.start_proxy(username=PROXY_USER, password=PROXY_PASSWORD)
        for name, extra in (("nocreds", []),
                            ("wrongpw", self.proxy_login("not-the-password"))):
            with self.subTest(name):
                proxy.clear()
                before = len(self.sandbox.requests())
                result = self.enroll(name, "--proxy", proxy.url(), *extra)
                self.assertNetworkError(result)
                message = result.json["error"]["message"]
                self.assertIn("407", message)
                self.assertIn("Basic", message)
                self.assertIn("--proxy-user", result.json["error"]["hint"])
                records = proxy.records()
                self.assertTrue(records, "the proxy saw no CONNECT")
                self.assertEqual({r.status for r in records}, {407}, records)
                self.assertEqual({r.target for r in records}, {self.target}, records)
                self.assertEqual(self.sandbox.requests()[before:], [])

    def test_407_names_the_scheme_the_proxy_wants(self):
        """Expected: a proxy asking for Negotiate or NTLM only: exit 7, the message names that
        scheme, and the hint what to pass (--proxy-auth negotiate; --proxy-user for NTLM)."""
        for offer, hint in (("Negotiate", "--proxy-auth negotiate"), ("NTLM", "--proxy-user")):
            with self.subTest(offer=offer):
                proxy = self.start_proxy(username=PROXY_USER, password=PROXY_PASSWORD,
                                         offer=[offer])
                result = self.enroll(f"wants-{offer}", "--proxy", proxy.url())
                self.assertNetworkError(result)
                self.assertIn(offer, result.json["error"]["message"])
                self.assertIn(hint, result.json["error"]["hint"])

    def test_verbose_output_never_shows_the_proxy_password(self):
        """Expected: with -v and -vv, the proxy credentials from --proxy-user with
        --proxy-password-file or from https_proxy's URL are used (the proxy got them) yet the
        password appears in no output: neither as typed, nor percent-encoded as in the URL, nor
        inside the Basic header's base64."""
        proxy = self.start_proxy(username=PROXY_USER, password=PROXY_PASSWORD)
        for verbosity in ("-v", "-vv"):
            for source, extra, env in (
                    ("--proxy", ["--proxy", proxy.url(), *self.proxy_login()], None),
                    ("https_proxy", [], {"https_proxy": proxy.url(PROXY_USER, PROXY_PASSWORD)})):
                with self.subTest(verbosity=verbosity, source=source):
                    proxy.clear()
                    name = f"verbose{len(verbosity)}-{source.strip('-')}"
                    result = self.cli(verbosity, "enroll", *self.cep(), *self.user(),
                                      "--template", "WebServer", "--name", name,
                                      "--cn", f"{name}.example.test", *extra, json_mode=False,
                                      env=env)
                    self.assertExit(result, 0)
                    self.assertTrue(result.stderr.strip(), "no verbose output at all")
                    self.assertTrue(any(r.credentials == f"{PROXY_USER}:{PROXY_PASSWORD}"
                                        for r in proxy.records()), proxy.records())
                    self.assertIn("127.0.0.1", result.stderr)  # the trace names the proxy
                    self.assertNoSecret(result)

    def test_proxy_port_where_nothing_listens(self):
        """Expected: exit 7, category network (not a crash, not another category), and nothing
        reached the server."""
        before = len(self.sandbox.requests())
        dead = f"http://127.0.0.1:{refusing_port(self)}"
        result = self.enroll("deadproxy", "--proxy", dead, "--connect-timeout", "5")
        self.assertNetworkError(result)
        self.assertEqual(self.sandbox.requests()[before:], [])

    def test_proxy_that_cannot_reach_the_server(self):
        """Expected: when the proxy answers the CONNECT with 502 (nothing listens at the target),
        the command fails with exit 7, category network; the 502 is the proxy's, not a server
        response to parse."""
        proxy = self.start_proxy()
        dead = f"127.0.0.1:{refusing_port(self)}"
        url = urllib.parse.urlsplit(self.info["cep"]["password"])._replace(netloc=dead).geturl()
        result = self.cli("enroll", "--url", url, "--ca-bundle", self.info["ca_bundle"],
                          *self.user(), "--template", "WebServer", "--cn", "gw.example.test",
                          "--proxy", proxy.url())
        self.assertNetworkError(result)
        records = proxy.records()
        self.assertTrue(records, "the proxy saw no CONNECT")
        self.assertEqual({(r.target, r.status) for r in records}, {(dead, 502)}, records)

    def localhost_ces(self):
        """Only CES, by the name "localhost" (in the sandbox certificate), for a proxy that
        resolves names."""
        url = self.info["ces"]["Sandbox-RSA-CA"]["password"].replace("127.0.0.1", "localhost")
        return ["--ces-url", url, "--ca-bundle", self.info["ca_bundle"]]

    def socks_enroll(self, name, *extra, **kwargs):
        return self.cli("enroll", *self.localhost_ces(), *self.user(), "--template",
                        "WebServer", "--name", name, "--cn", f"{name}.example.test", *extra,
                        **kwargs)

    def test_socks5_proxy(self):
        """Expected: with --proxy socks5h://127.0.0.1:PORT the enrollment is issued and the
        SOCKS proxy was asked for "localhost" by name (it resolves); with socks5:// the client
        resolved it and asked for an address; with socks5h:// from https_proxy the same as from
        --proxy. Nothing goes around the proxy."""
        proxy = self.start_proxy(Socks5Proxy)
        port = self.target.rsplit(":", 1)[1]
        for name, scheme, by_name, env in (("socks5h", "socks5h", True, None),
                                           ("socks5", "socks5", False, None),
                                           ("socksenv", "socks5h", True, "https_proxy")):
            with self.subTest(name):
                proxy.clear()
                before = len(self.sandbox.requests())
                url = proxy.url().replace("socks5h://", scheme + "://")
                extra = [] if env else ["--proxy", url]
                result = self.socks_enroll(name, *extra, env={env: url} if env else None)
                self.assertIssued(result)
                self.assertTrue(self.ces_requests_since(before))
                records = proxy.records()
                self.assertTrue(records, "the SOCKS proxy saw nothing")
                self.assertTrue(all(r.by_name == by_name and r.status == 0 for r in records),
                                records)
                # socks5: the client resolved localhost, to 127.0.0.1 or ::1.
                wanted = ({f"localhost:{port}"} if by_name
                          else {f"127.0.0.1:{port}", f"[::1]:{port}"})
                self.assertLessEqual({r.target for r in records}, wanted, records)
                self.assertTrue(all(r.bytes_up > 0 and r.bytes_down > 0 for r in records))

    def test_socks5_proxy_with_credentials(self):
        """Expected: a SOCKS5 proxy that demands a user name and password (RFC 1929) gets them
        from --proxy-user and --proxy-password-file: issued, the proxy saw exactly those; with a
        wrong password exit 7 (network), nothing reached the server, and the password shows
        nowhere."""
        proxy = self.start_proxy(Socks5Proxy, username=PROXY_USER, password=PROXY_PASSWORD)
        result = self.socks_enroll("sockscreds", "--proxy", proxy.url(), *self.proxy_login())
        self.assertIssued(result)
        self.assertEqual({r.credentials for r in proxy.records()},
                         {f"{PROXY_USER}:{PROXY_PASSWORD}"})
        self.assertNoSecret(result)

        proxy.clear()
        before = len(self.sandbox.requests())
        result = self.socks_enroll("sockswrong", "--proxy", proxy.url(),
                                   *self.proxy_login("not-the-password"))
        self.assertNetworkError(result)
        self.assertIn("proxy", result.json["error"]["message"])
        self.assertEqual({r.status for r in proxy.records()}, {2})
        self.assertEqual(self.sandbox.requests()[before:], [])
        self.assertNoSecret(result, "not-the-password")

    def test_socks5_proxy_that_cannot_reach_the_server(self):
        """Expected: the SOCKS proxy answers "connection refused" for a target where nothing
        listens: exit 7, category network, a message naming the proxy."""
        proxy = self.start_proxy(Socks5Proxy)
        dead = f"localhost:{refusing_port(self)}"
        url = urllib.parse.urlsplit(self.info["cep"]["password"])._replace(netloc=dead).geturl()
        result = self.cli("enroll", "--url", url, "--ca-bundle", self.info["ca_bundle"],
                          *self.user(), "--template", "WebServer", "--cn", "sgw.example.test",
                          "--proxy", proxy.url())
        self.assertNetworkError(result)
        self.assertIn("proxy", result.json["error"]["message"])
        self.assertEqual({(r.target, r.status) for r in proxy.records()}, {(dead, 5)})

    def test_negotiate_proxy_authentication(self):
        """Expected: a proxy that wants Negotiate (Kerberos, as Windows proxies do) accepts
        --proxy-auth negotiate with the ticket of the credential cache (kinit from the sandbox
        KDC, no user name, no password): issued, and the proxy saw alice's principal. Without a
        ticket: exit 7, the 407 named."""
        kerberos = self.info.get("kerberos")
        cli.require(self, kerberos, "the sandbox's Kerberos KDC (krb5-kdc, krb5-admin-server)")
        # The proxy accepts as HTTP/localhost, the principal the sandbox's KDC has a keytab for.
        os.environ["KRB5_CONFIG"] = kerberos["krb5_conf"]
        os.environ["KRB5RCACHEDIR"] = self.tmp
        proxy = self.start_proxy(negotiate_keytab=kerberos["service_keytab"])
        ccache = os.path.join(self.tmp, "cc")
        env = {"KRB5_CONFIG": kerberos["krb5_conf"], "KRB5CCNAME": "FILE:" + ccache}
        alice = kerberos["users"]["alice"]
        subprocess.run(["kinit", "-k", "-t", alice["keytab"], alice["principal"]],
                       env=dict(os.environ, **env), check=True, capture_output=True)
        result = self.enroll("negotiate", "--proxy", proxy.url(host="localhost"),
                             "--proxy-auth", "negotiate", env=env)
        self.assertIssued(result)
        tunnels = [r for r in proxy.records() if r.status == 200]
        self.assertTrue(tunnels, proxy.records())
        self.assertEqual({r.principal for r in tunnels}, {alice["principal"]})

        proxy.clear()
        env["KRB5CCNAME"] = "FILE:" + os.path.join(self.tmp, "no-such-cache")
        result = self.enroll("noticket", "--proxy", proxy.url(host="localhost"),
                             "--proxy-auth", "negotiate", env=env)
        self.assertNetworkError(result)
        self.assertIn("proxy", result.json["error"]["message"].lower())

    def test_diagnose_sees_the_network_through_the_proxy(self):
        """Expected: `diagnose` takes the proxy an enrollment takes. Through a proxy that lets
        it pass, DNS and TCP are checked up to the proxy (its address named) and the TLS
        handshake with the server passes, through the tunnel; through one that wants
        credentials, the TLS step fails as a network error naming the 407, with a fix naming
        --proxy-user, never a password in a URL."""
        def checks(result):
            return {c["id"]: c for c in result.json["checks"]}
        proxy = self.start_proxy()
        result = self.cli("diagnose", *self.cep(), *self.user(), "--template", "WebServer",
                          "--proxy", proxy.url())
        found = checks(result)
        self.assertEqual(found["tcp"]["status"], "pass", found["tcp"])
        self.assertIn(f"127.0.0.1:{proxy.port}", found["tcp"]["evidence"])
        self.assertEqual(found["tls"]["status"], "pass", found["tls"])
        self.assertTunnelled(proxy)

        guarded = self.start_proxy(username=PROXY_USER, password=PROXY_PASSWORD)
        result = self.cli("diagnose", *self.cep(), *self.user(), "--template", "WebServer",
                          "--proxy", guarded.url())
        tls = checks(result)["tls"]
        self.assertEqual(tls["status"], "fail", tls)
        self.assertIn("407", tls["evidence"])
        self.assertIn("--proxy-user", tls["fix"])
        self.assertNotIn("user:password@", tls["fix"])


if __name__ == "__main__":
    unittest.main()
