"""CEP and CES reached through an HTTP proxy (the CONNECT method), as on networks where nothing
leaves but through one: the proxy from --proxy or from https_proxy / HTTPS_PROXY, bypassed for
the hosts no_proxy / NO_PROXY names, with Basic credentials from the proxy URL's user:password.

The expectations are those of any correct client, whatever its HTTP stack: exit codes and the
--json error category (README "Exit status": a proxy failure is a network error, exit 7), what
the proxy saw (a CONNECT to the server's host:port, the credentials it was sent), and that the
proxy password never shows in the output. No test depends on the wording of a message beyond
naming the 407 or the proxy.

The proxy is tests/e2e/connect_proxy.py. Proxy variables of the machine running the tests are
removed for each test, so only the ones a test sets count.
"""

import base64
import os
import unittest
import urllib.parse
from unittest import mock

import cli
from connect_proxy import ConnectProxy, unused_port

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

    def start_proxy(self, **credentials):
        proxy = ConnectProxy(**credentials).start()
        self.proxies.append(proxy)
        return proxy

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
        return [r for r in self.sandbox.requests()[before:] if r.get("endpoint") == "CES"]

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
        in a list, the server is reached directly: the proxy sees nothing, enrollment works."""
        proxy = self.start_proxy()
        for variable, value in (("no_proxy", "127.0.0.1"),
                                ("NO_PROXY", "example.invalid, 127.0.0.1")):
            with self.subTest(variable=variable, value=value):
                proxy.clear()
                result = self.enroll(f"bypass-{variable}",
                                     env={"https_proxy": proxy.url(), variable: value})
                self.assertIssued(result)
                self.assertEqual(proxy.records(), [])

    def test_proxy_credentials_from_the_proxy_url(self):
        """Expected: a proxy that demands credentials is passed with --proxy
        http://user:password@host:port (percent-encoded in the URL, decoded in the Basic header);
        the proxy received exactly those credentials and never tunnelled without them."""
        proxy = self.start_proxy(username=PROXY_USER, password=PROXY_PASSWORD)
        result = self.enroll("withcreds", "--proxy", proxy.url(PROXY_USER, PROXY_PASSWORD))
        self.assertIssued(result)
        self.assertTunnelled(proxy)
        tunnels = [r for r in proxy.records() if r.status == 200]
        self.assertTrue(all(r.credentials == f"{PROXY_USER}:{PROXY_PASSWORD}" for r in tunnels),
                        tunnels)

    def test_proxy_demanding_credentials_without_them_is_a_network_error(self):
        """Expected: without credentials (or with a wrong password) the proxy answers 407 and
        the command fails with exit 7, category network, a message naming the 407 or the proxy;
        nothing reached CES."""
        proxy = self.start_proxy(username=PROXY_USER, password=PROXY_PASSWORD)
        for name, url in (("nocreds", proxy.url()),
                          ("wrongpw", proxy.url(PROXY_USER, "not-the-password"))):
            with self.subTest(name):
                proxy.clear()
                before = len(self.sandbox.requests())
                result = self.enroll(name, "--proxy", url)
                self.assertNetworkError(result)
                message = result.json["error"]["message"]
                self.assertTrue("407" in message or "proxy" in message.lower(), message)
                records = proxy.records()
                self.assertTrue(records, "the proxy saw no CONNECT")
                self.assertEqual({r.status for r in records}, {407}, records)
                self.assertEqual({r.target for r in records}, {self.target}, records)
                self.assertEqual(self.sandbox.requests()[before:], [])

    def test_verbose_output_never_shows_the_proxy_password(self):
        """Expected: with -v and -vv, the proxy credentials from --proxy or from https_proxy
        are used (the proxy got them) yet the password appears in no output: neither as typed,
        nor percent-encoded as in the URL, nor inside the Basic header's base64."""
        proxy = self.start_proxy(username=PROXY_USER, password=PROXY_PASSWORD)
        url = proxy.url(PROXY_USER, PROXY_PASSWORD)
        basic = base64.b64encode(f"{PROXY_USER}:{PROXY_PASSWORD}".encode()).decode()
        secrets = {"the password": PROXY_PASSWORD,
                   "the percent-encoded password": urllib.parse.quote(PROXY_PASSWORD, safe=""),
                   "the Basic credentials": basic}
        for verbosity in ("-v", "-vv"):
            for source, extra, env in (("--proxy", ["--proxy", url], None),
                                       ("https_proxy", [], {"https_proxy": url})):
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
                    output = result.stdout + result.stderr
                    for what, secret in secrets.items():
                        self.assertNotIn(secret, output, f"{what} in the output")

    def test_proxy_port_where_nothing_listens(self):
        """Expected: exit 7, category network (not a crash, not another category), and nothing
        reached the server."""
        before = len(self.sandbox.requests())
        result = self.enroll("deadproxy", "--proxy", f"http://127.0.0.1:{unused_port()}",
                             "--connect-timeout", "5")
        self.assertNetworkError(result)
        self.assertEqual(self.sandbox.requests()[before:], [])

    def test_proxy_that_cannot_reach_the_server(self):
        """Expected: when the proxy answers the CONNECT with 502 (nothing listens at the target),
        the command fails with exit 7, category network; the 502 is the proxy's, not a server
        response to parse."""
        proxy = self.start_proxy()
        dead = f"127.0.0.1:{unused_port()}"
        url = urllib.parse.urlsplit(self.info["cep"]["password"])._replace(netloc=dead).geturl()
        result = self.cli("enroll", "--url", url, "--ca-bundle", self.info["ca_bundle"],
                          *self.user(), "--template", "WebServer", "--cn", "gw.example.test",
                          "--proxy", proxy.url())
        self.assertNetworkError(result)
        records = proxy.records()
        self.assertTrue(records, "the proxy saw no CONNECT")
        self.assertEqual({(r.target, r.status) for r in records}, {(dead, 502)}, records)


if __name__ == "__main__":
    unittest.main()
