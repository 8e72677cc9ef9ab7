"""`diagnose` through the real binary, against the sandbox on loopback: a healthy setup passes
every step; each broken one fails (or warns) at the step that names its cause, with the fix, and
exits with that cause's code. Nothing here enrolls anything: diagnose only looks."""

import glob
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import xml.etree.ElementTree as ET

import cli

OK, USAGE, DENIED, AUTH, TLS, NETWORK, LOCAL = 0, 2, 4, 5, 6, 7, 9
XCEP = "{http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy}"

# Every step, in the order diagnose runs them (with --template).
STEPS = ["configuration", "dns", "tcp", "tls", "http-auth", "clock", "kerberos-ticket",
         "kerberos-kdc", "kerberos-service-ticket", "kerberos-clock", "kerberos-channel-binding",
         "policy", "policy-cache", "template", "template-permission", "template-auth", "ces",
         "ces-ca", "key-backend", "state-dir"]


def closed_port():
    """A loopback port that refuses connections for as long as the returned socket stays open:
    bound (so nobody else takes it) but not listening."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    return s, s.getsockname()[1]


class Diagnose:
    """Helpers shared by the test classes: run diagnose, find its checks, assert the outcome."""

    def diagnose(self, *args, env=None, text=False):
        return cli.run("--state-dir", self.state, "diagnose", *args, json_mode=not text, env=env)

    def user(self, name="alice"):
        u = self.info["users"][name]
        return ["--username", u["username"], "--password-file", u["password_file"]]

    def cep(self, mode="password"):
        return ["--url", self.info["cep"][mode], "--ca-bundle", self.info["ca_bundle"]]

    def check(self, result, check_id):
        found = [c for c in result.json["checks"] if c["id"] == check_id]
        self.assertTrue(found, f"no check {check_id!r}\n{result!r}")
        return found[0]

    def assertStatus(self, result, check_id, status):
        check = self.check(result, check_id)
        self.assertEqual(check["status"], status, f"{check_id}: {check}\n{result!r}")
        return check

    def assertDiagnosis(self, result, code, first_failure=None):
        """The process exit code, the one in the JSON, and the step the failure is blamed on."""
        self.assertEqual(result.code, code, repr(result))
        self.assertIsNotNone(result.json, repr(result))
        self.assertEqual(result.json["exit_code"], code, repr(result))
        self.assertEqual(result.json.get("first_failure"), first_failure, repr(result))
        if code == OK:
            self.assertEqual(result.json["summary"]["fail"], 0, repr(result))
        else:
            self.assertEqual(result.json["status"], "fail")
            self.assertEqual(self.check(result, first_failure)["status"], "fail")

    def assertSkippedBecauseOf(self, result, check_id, cause):
        check = self.assertStatus(result, check_id, "skip")
        self.assertIn(f"(see {cause})", check["evidence"])


class DiagnoseTest(Diagnose, cli.SandboxTest):
    """Password authentication against the standard sandbox."""

    def diagnose_web_server(self, *extra, url=None):
        url = url or self.info["cep"]["password"]
        return self.diagnose("--url", url, "--ca-bundle", self.info["ca_bundle"], *self.user(),
                             "--template", "WebServer", *extra)

    def test_healthy_setup_passes_every_step(self):
        log_before = len(self.sandbox.requests())
        ca_before = len(self.sandbox.ca_requests())
        result = self.diagnose_web_server()
        self.assertDiagnosis(result, OK)
        self.assertEqual(result.json["status"], "pass", repr(result))
        self.assertEqual([c["id"] for c in result.json["checks"]], STEPS)
        for check in result.json["checks"]:
            if check["id"].startswith("kerberos-"):
                self.assertEqual(check["status"], "skip", check)
                self.assertIn("not used: --auth password", check["evidence"])
            else:
                self.assertEqual(check["status"], "pass", check)
                self.assertNotIn("fix", check)
        self.assertIn("user alice", self.check(result, "configuration")["evidence"])
        self.assertIn("username/password in the message",
                      self.check(result, "http-auth")["evidence"])
        self.assertIn("grants alice Enroll on WebServer",
                      self.check(result, "template-permission")["evidence"])
        ces_url = self.info["ces"]["Sandbox-RSA-CA"]["password"]
        self.assertIn(ces_url, self.check(result, "template-auth")["evidence"])
        self.assertIn(ces_url + " (CA Sandbox-RSA-CA", self.check(result, "ces")["evidence"])
        self.assertIn("authenticated", self.check(result, "ces")["evidence"])
        self.assertIn("RSA 2048 key (what WebServer requires)",
                      self.check(result, "key-backend")["evidence"])
        self.assertIn("does not exist yet", self.check(result, "state-dir")["evidence"])
        # It only looked: no request at the CA, no state written, the CES probe asked about an
        # unused request ID as alice.
        self.assertEqual(len(self.sandbox.ca_requests()), ca_before)
        self.assertFalse(os.path.exists(self.state))
        ces = [r for r in self.sandbox.requests()[log_before:] if r["endpoint"] == "CES"]
        self.assertEqual([(r["request_type"], r["identity"]) for r in ces],
                         [("QueryTokenStatus", "alice")])
        self.assertNotIn(self.sandbox.password(), result.stdout + result.stderr)

    def test_negotiate_challenge_to_an_empty_request_does_not_hide_a_working_password(self):
        # A front end that challenges every request without credentials for Negotiate, while
        # the service takes the password inside the message (an independent server did this).
        url = self.info["cep"]["password"].replace("/ADPolicyProvider", "/challenging/ADPolicyProvider")
        policy = self.cli("policy", "--url", url, "--ca-bundle", self.info["ca_bundle"],
                          *self.user())
        self.assertExit(policy, OK)
        result = self.diagnose_web_server(url=url)
        self.assertDiagnosis(result, OK)
        offered = self.assertStatus(result, "http-auth", "pass")
        self.assertIn("WWW-Authenticate: Negotiate", offered["evidence"])
        self.assertIn("GetPolicies with --auth password (user alice) succeeded", offered["evidence"])
        self.assertNotIn("Kerberos-only", json.dumps(result.json))
        self.assertStatus(result, "policy", "pass")

        # The same front end with a password the server refuses: now it is an auth failure.
        wrong = os.path.join(self.tmp, "wrong.password")
        with open(wrong, "w") as f:
            f.write("not-the-password\n")
        result = self.diagnose("--url", url, "--ca-bundle", self.info["ca_bundle"],
                               "--username", "alice", "--password-file", wrong,
                               "--template", "WebServer")
        self.assertDiagnosis(result, AUTH, "http-auth")
        offered = self.check(result, "http-auth")
        self.assertIn("GetPolicies with --auth password (user alice)", offered["evidence"])
        self.assertNotIn("not-the-password", result.stdout + result.stderr)

    def test_untrusted_server_certificate(self):
        before = len(self.sandbox.requests())
        result = self.diagnose("--url", self.info["cep"]["password"], *self.user(),
                               "--template", "WebServer")
        self.assertDiagnosis(result, TLS, "tls")
        self.assertEqual(result.json["category"], "tls")
        self.assertStatus(result, "tcp", "pass")
        tls = self.assertStatus(result, "tls", "fail")
        self.assertIn("CN=Sandbox Root CA", tls["evidence"])
        self.assertIn("not trusted", tls["evidence"])
        self.assertIn("--ca-bundle", tls["fix"])
        self.assertIn("Sandbox Root CA", tls["fix"])
        for step in ("http-auth", "policy", "template", "ces"):
            self.assertSkippedBecauseOf(result, step, "tls")
        # Nothing, let alone the password, went to a server it could not verify.
        self.assertEqual(self.sandbox.requests()[before:], [])

    def wrong_host(self):
        """A name for this machine that reaches the sandbox but that its certificate (localhost,
        127.0.0.1, ::1) does not hold: a hosts-file name of loopback, else the IPv4-mapped IPv6
        address of 127.0.0.1."""
        port = self.info["port"]
        candidates = [socket.gethostname(), socket.getfqdn(), "localhost.localdomain"]
        try:
            with open("/etc/hosts") as f:
                for line in f:
                    fields = line.split("#", 1)[0].split()
                    if fields and fields[0] in ("127.0.0.1", "::1"):
                        candidates += fields[1:]
        except OSError:
            pass
        for name in candidates:
            if not name or name.lower() in ("localhost", "127.0.0.1", "::1"):
                continue
            try:
                addresses = {a[4][0] for a in socket.getaddrinfo(name, port,
                                                                 type=socket.SOCK_STREAM)}
                if not addresses <= {"127.0.0.1", "::1"}:
                    continue
                socket.create_connection((name, port), timeout=2).close()
                return name
            except OSError:
                continue
        try:
            socket.create_connection(("::ffff:127.0.0.1", port), timeout=2).close()
            return "[::ffff:127.0.0.1]"
        except OSError:
            self.skipTest("no name or address reaches the sandbox that its certificate lacks")

    def test_host_name_the_certificate_does_not_hold(self):
        host = self.wrong_host()
        url = self.info["cep"]["password"].replace("127.0.0.1", host, 1)
        self.assertIn(host, url)
        result = self.diagnose_web_server(url=url)
        self.assertDiagnosis(result, TLS, "tls")
        # The name resolves and the server answers: the problem is the certificate's names.
        self.assertStatus(result, "dns", "pass")
        self.assertStatus(result, "tcp", "pass")
        tls = self.assertStatus(result, "tls", "fail")
        self.assertRegex(tls["evidence"], r"verify: (hostname|IP address) mismatch")
        self.assertNotIn("unable to get local issuer", tls["evidence"])  # the chain is trusted
        self.assertIn("use a host name the certificate holds in the URL", tls["fix"])
        self.assertIn("localhost, 127.0.0.1, ::1", tls["fix"])

    def test_no_enroll_permission_on_the_template(self):
        result = self.diagnose("--url", self.info["cep"]["password"], "--ca-bundle",
                               self.info["ca_bundle"], *self.user(), "--template", "Restricted")
        self.assertDiagnosis(result, DENIED, "template-permission")
        self.assertEqual(result.json["category"], "denied")
        self.assertStatus(result, "policy", "pass")
        self.assertStatus(result, "template", "pass")  # visible, but not enrollable
        denied = self.assertStatus(result, "template-permission", "fail")
        self.assertEqual(denied["category"], "denied")
        self.assertIn("alice may not enroll in Restricted", denied["evidence"])
        self.assertIn("CERTSRV_E_TEMPLATE_DENIED", denied["evidence"])
        self.assertIn("Enroll permission on Restricted for alice", denied["fix"])
        self.assertEqual(result.json["summary"]["fail"], 1, repr(result))

    def test_unknown_template_is_a_usage_error(self):
        result = self.diagnose_web_server()  # WebServer is there; "WebSrever" is not
        self.assertDiagnosis(result, OK)
        result = self.diagnose("--url", self.info["cep"]["password"], "--ca-bundle",
                               self.info["ca_bundle"], *self.user(), "--template", "WebSrever")
        self.assertDiagnosis(result, USAGE, "template")
        template = self.check(result, "template")
        self.assertIn("no template 'WebSrever'", template["evidence"])
        self.assertIn("WebServer", template["evidence"])  # what it offers instead
        self.assertSkippedBecauseOf(result, "ces", "template")
        self.assertIn("could not be checked", self.check(result, "key-backend")["evidence"])

    def test_ces_url_that_does_not_answer(self):
        sock, port = closed_port()
        self.addCleanup(sock.close)
        dead = f"https://127.0.0.1:{port}/Sandbox-RSA-CA_CES_UsernamePassword/service.svc/CES"
        result = self.diagnose_web_server("--ces-url", dead)
        self.assertDiagnosis(result, NETWORK, "ces")
        self.assertEqual(result.json["category"], "network")
        self.assertStatus(result, "policy", "pass")  # the CEP side is fine
        ces = self.assertStatus(result, "ces", "fail")
        self.assertEqual(ces["category"], "network")
        self.assertIn(dead, ces["evidence"])
        self.assertIn(f"port {port}", ces["evidence"])
        self.assertIn("connect", ces["evidence"].lower())

    def test_state_directory_that_cannot_be_created(self):
        # Under a regular file: no directory can be made there, not even by root.
        blocker = os.path.join(self.tmp, "a-file")
        with open(blocker, "w") as f:
            f.write("not a directory\n")
        self.state = os.path.join(blocker, "state")
        result = self.diagnose_web_server()
        self.assertDiagnosis(result, LOCAL, "state-dir")
        self.assertEqual(result.json["category"], "local")
        state = self.assertStatus(result, "state-dir", "fail")
        self.assertIn(f"{self.state} does not exist and cannot be created: {blocker} is not a "
                      "directory", state["evidence"])
        self.assertIn("--state-dir", state["fix"])
        self.assertStatus(result, "ces", "pass")  # everything else is fine

        # The state directory itself is a file.
        self.state = blocker
        result = self.diagnose_web_server()
        self.assertDiagnosis(result, LOCAL, "state-dir")
        state = self.check(result, "state-dir")
        self.assertIn(f"{blocker} exists but is not a directory", state["evidence"])
        self.assertIn("--state-dir", state["fix"])

    # ---- the cached policy ---------------------------------------------------------------------

    def cache_policy(self):
        fetched = self.cli("policy", *self.cep(), *self.user())
        self.assertExit(fetched, OK)
        files = glob.glob(os.path.join(self.state, "policy-cache", "*"))
        self.assertEqual(len(files), 1, files)
        self.assertTrue(files[0].endswith(".policy"), files)
        return files[0]

    def edit_cache(self, path, change):
        # An entry is one JSON header line, then the GetPoliciesResponse as it is.
        with open(path, "rb") as f:
            header, response = f.read().split(b"\n", 1)
        entry = json.loads(header)
        self.assertEqual(entry["response_bytes"], len(response))
        self.assertTrue(response.startswith(b"<"), response[:80])
        entry["response_xml"] = response.decode()
        change(entry)
        response = entry.pop("response_xml").encode()
        entry["response_bytes"] = len(response)
        with open(path, "wb") as f:
            f.write(json.dumps(entry).encode() + b"\n" + response)

    def test_stale_cached_policy_warns_with_its_age(self):
        path = self.cache_policy()
        result = self.diagnose_web_server()
        cache = self.assertStatus(result, "policy-cache", "pass")
        self.assertIn("nextUpdateHours 8; fresh for another 7 h", cache["evidence"])
        self.assertIn("it lists the same templates as the server", cache["evidence"])

        # Fetched 10 h 30 min ago (plus a margin that still rounds down to it).
        def age(entry):
            entry["fetched_at"] = int(time.time()) - (10 * 3600 + 30 * 60 + 5)
        self.edit_cache(path, age)
        result = self.diagnose_web_server()
        self.assertDiagnosis(result, OK)  # a warning, not a failure
        self.assertEqual(result.json["status"], "warn")
        self.assertEqual(result.json["summary"]["warn"], 1, repr(result))
        cache = self.assertStatus(result, "policy-cache", "warn")
        self.assertIn(os.path.basename(path), cache["evidence"])
        self.assertIn("(10 h 30 min ago), nextUpdateHours 8; stale for 2 h 30 min",
                      cache["evidence"])
        self.assertIn("policy --refresh", cache["fix"])

    def test_new_template_not_visible_yet_through_a_fresh_cache(self):
        path = self.cache_policy()

        # The cache was fetched before WebServer3072 was published: take it out of the cache,
        # and date the cache's full fetch before the server's policy last changed.
        def drop_template(entry):
            entry["last_full_update"] = int(os.stat(self.info["config"]).st_mtime) - 3600
            root = ET.fromstring(entry["response_xml"])
            dropped = 0
            for policies in root.iter(XCEP + "policies"):
                for policy in list(policies):
                    if policy.findtext(f"{XCEP}attributes/{XCEP}commonName") == "WebServer3072":
                        policies.remove(policy)
                        dropped += 1
            self.assertEqual(dropped, 1)
            entry["response_xml"] = ET.tostring(root, encoding="unicode")
        self.edit_cache(path, drop_template)
        # What the user meets: the cache hides the template from commands.
        hidden = self.cli("policy", *self.cep(), *self.user(), "--template", "WebServer3072")
        self.assertExit(hidden, USAGE)
        self.assertIn("no template 'WebServer3072'", hidden.json["error"]["message"])

        result = self.diagnose("--url", self.info["cep"]["password"], "--ca-bundle",
                               self.info["ca_bundle"], *self.user(), "--template",
                               "WebServer3072")
        self.assertDiagnosis(result, OK)
        self.assertStatus(result, "template", "pass")  # the server has it
        cache = self.assertStatus(result, "policy-cache", "warn")
        self.assertIn("do not see what changed, including template WebServer3072",
                      cache["evidence"])
        self.assertIn("new on the server: WebServer3072", cache["evidence"])
        self.assertIn("policy --refresh", cache["fix"])

        self.assertExit(self.cli("policy", *self.cep(), *self.user(), "--refresh"), OK)
        result = self.diagnose_web_server()
        self.assertIn("same templates as the server",
                      self.assertStatus(result, "policy-cache", "pass")["evidence"])

    # ---- output ----------------------------------------------------------------------------

    def test_text_and_json_report_the_same_checks_and_exit_code(self):
        args = ["--url", self.info["cep"]["password"], "--ca-bundle", self.info["ca_bundle"],
                *self.user(), "--template", "Restricted"]
        as_json = self.diagnose(*args)
        as_text = self.diagnose(*args, text=True)
        self.assertEqual(as_text.code, DENIED, repr(as_text))
        self.assertEqual(as_json.code, as_text.code)
        self.assertEqual(as_json.json["exit_code"], as_json.code)

        body, _, summary = as_text.stdout.rpartition("\nResult: ")
        lines = [line for line in body.splitlines() if line]
        checks = as_json.json["checks"]
        step_lines = [line for line in lines if not line.startswith("      fix: ")]
        self.assertEqual(len(step_lines), len(checks), as_text.stdout)
        for line, check in zip(step_lines, checks):
            self.assertTrue(line.startswith(f"{check['status'].upper()}  {check['title']}"),
                            (line, check))
        self.assertEqual([line[len("      fix: "):] for line in lines
                          if line.startswith("      fix: ")],
                         [c["fix"] for c in checks if "fix" in c and c["status"] != "pass"])
        counts = as_json.json["summary"]
        self.assertTrue(summary.startswith(
            f"FAIL ({counts['fail']} failure, {counts['warn']} warnings, {counts['pass']} passed, "
            f"{counts['skip']} skipped); exit {as_json.code} (denied, from template-permission)"),
            summary)
        self.assertIn("alice may not enroll in Restricted", as_text.stdout)


class KerberosDiagnoseTest(Diagnose, cli.SandboxTest):
    """Kerberos against the sandbox's KDC, and passwords meeting Kerberos-only endpoints."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not cls.info.get("kerberos"):
            raise unittest.SkipTest("the sandbox runs without Kerberos (krb5-kdc not installed)")
        cls.krb = cls.info["kerberos"]

    def setUp(self):
        super().setUp()
        self.ccache = os.path.join(self.tmp, "cc")  # empty: no ticket until kinit
        self.env = {"KRB5_CONFIG": self.krb["krb5_conf"], "KRB5CCNAME": "FILE:" + self.ccache}

    def kinit(self, user="alice"):
        subprocess.run(["kinit", "-k", "-t", self.krb["users"][user]["keytab"],
                        self.krb["users"][user]["principal"]], env=dict(os.environ, **self.env),
                       check=True, capture_output=True)

    def diagnose_k(self, *args, url=None):
        return self.diagnose("--url", url or self.info["cep"]["kerberos"], "--ca-bundle",
                             self.info["ca_bundle"], *args, env=self.env)

    def test_no_ticket(self):
        result = self.diagnose_k("--template", "WebServer")
        self.assertDiagnosis(result, AUTH, "kerberos-ticket")
        self.assertStatus(result, "http-auth", "pass")  # the endpoint does want Kerberos
        ticket = self.assertStatus(result, "kerberos-ticket", "fail")
        self.assertEqual(ticket["category"], "auth")
        self.assertIn("no Kerberos ticket", ticket["evidence"])
        self.assertIn("kinit", ticket["fix"])
        self.assertIn("--keytab", ticket["fix"])
        # The realm's KDC is fine: only the ticket is missing.
        self.assertIn("a KDC of CERTENROLL.TEST answered",
                      self.assertStatus(result, "kerberos-kdc", "pass")["evidence"])
        for step in ("kerberos-service-ticket", "policy", "template", "ces"):
            self.assertSkippedBecauseOf(result, step, "kerberos-ticket")

    def test_ticket_from_kinit_gets_a_service_ticket_and_passes(self):
        self.kinit()
        result = self.diagnose_k("--template", "WebServer")
        self.assertDiagnosis(result, OK)
        self.assertEqual(result.json["summary"]["skip"], 0, repr(result))
        self.assertEqual(result.json["summary"]["warn"], 0, repr(result))
        self.assertIn("alice@CERTENROLL.TEST",
                      self.assertStatus(result, "kerberos-ticket", "pass")["evidence"])
        service = self.assertStatus(result, "kerberos-service-ticket", "pass")
        self.assertIn("HTTP@localhost: the KDC issued a ticket for "
                      + self.krb["service_principal"], service["evidence"])
        self.assertStatus(result, "kerberos-clock", "pass")
        self.assertIn("grants alice@CERTENROLL.TEST Enroll on WebServer",
                      self.check(result, "template-permission")["evidence"])
        ces = self.assertStatus(result, "ces", "pass")
        self.assertIn(self.info["ces"]["Sandbox-RSA-CA"]["kerberos"], ces["evidence"])
        last = [r for r in self.sandbox.requests() if r["endpoint"] == "CES"][-1]
        self.assertEqual((last["auth"], last["identity"], last["request_type"]),
                         ("kerberos", "alice", "QueryTokenStatus"))

    def test_keytab_passes_without_touching_the_users_cache(self):
        k = self.krb["users"]["alice"]
        result = self.diagnose_k("--keytab", k["keytab"], "--principal", k["principal"],
                                 "--template", "WebServer")
        self.assertDiagnosis(result, OK)
        self.assertIn("keytab", self.check(result, "kerberos-ticket")["evidence"])
        self.assertStatus(result, "kerberos-service-ticket", "pass")
        self.assertFalse(os.path.exists(self.ccache))

    def test_server_reached_by_a_name_without_an_spn(self):
        self.kinit()
        by_ip = self.info["cep"]["kerberos"].replace("localhost", "127.0.0.1")
        result = self.diagnose_k(url=by_ip)
        self.assertDiagnosis(result, AUTH, "kerberos-service-ticket")
        self.assertStatus(result, "tls", "pass")  # 127.0.0.1 is in the certificate
        service = self.check(result, "kerberos-service-ticket")
        self.assertIn("does not know the service principal HTTP@127.0.0.1", service["evidence"])
        self.assertIn("--spn", service["fix"])
        self.assertSkippedBecauseOf(result, "policy", "kerberos-service-ticket")
        fixed = self.diagnose_k("--spn", self.krb["service_principal"], url=by_ip)
        self.assertDiagnosis(fixed, OK)

    def test_password_for_a_kerberos_only_endpoint(self):
        # The URL's path names Kerberos: like every command, diagnose uses Kerberos (there is no
        # ticket, exit 5), and says that --username and its password are not used.
        policy = self.cli("policy", *self.cep("kerberos"), *self.user(), env=self.env)
        self.assertExit(policy, AUTH)
        result = self.diagnose_k(*self.user(), "--template", "WebServer")
        self.assertDiagnosis(result, AUTH, "kerberos-ticket")
        config = self.assertStatus(result, "configuration", "warn")
        self.assertIn("--username alice and its password are not used by --auth kerberos",
                      config["evidence"])
        self.assertIn("Kerberos-only", config["fix"])
        self.assertIn("kinit", config["fix"])
        self.assertIn("_UsernamePassword URL", config["fix"])
        self.assertIn("kinit", self.check(result, "kerberos-ticket")["fix"])

        # Behind a path that does not name the mode, the password is what would be sent: the
        # server's challenge shows the endpoint is Kerberos-only (exit 5, as policy/enroll).
        proxied = self.info["cep"]["kerberos"].replace("/ADPolicyProvider",
                                                       "/proxied/ADPolicyProvider")
        policy = self.cli("policy", "--url", proxied, "--ca-bundle", self.info["ca_bundle"],
                          *self.user(), env=self.env)
        self.assertExit(policy, AUTH)
        result = self.diagnose_k(*self.user(), "--template", "WebServer", url=proxied)
        self.assertDiagnosis(result, AUTH, "http-auth")
        offered = self.check(result, "http-auth")
        self.assertEqual(offered["category"], "auth")
        self.assertIn("WWW-Authenticate: Negotiate", offered["evidence"])
        self.assertIn("localhost is Kerberos-only, but --auth password is configured",
                      offered["evidence"])
        self.assertIn("--auth kerberos", offered["fix"])
        self.assertSkippedBecauseOf(result, "policy", "http-auth")
        self.assertNotIn(self.sandbox.password(), result.stdout + result.stderr)

        # Asking for password authentication on the _Kerberos URL is a usage error (exit 2), as
        # it is for policy and enroll: nothing that needs credentials runs.
        policy = self.cli("policy", *self.cep("kerberos"), *self.user(), "--auth", "password",
                          env=self.env)
        self.assertExit(policy, USAGE)
        result = self.diagnose_k(*self.user(), "--auth", "password")
        self.assertDiagnosis(result, USAGE, "configuration")
        config = self.check(result, "configuration")
        self.assertIn("accepts kerberos only", config["evidence"])
        self.assertIn("--auth kerberos", config["fix"])
        self.assertStatus(result, "tls", "pass")  # the network steps still ran
        self.assertSkippedBecauseOf(result, "policy", "configuration")

    def epa_url(self, mode):
        """The Kerberos CEP under the sandbox's Extended Protection prefix (its README)."""
        return self.info["cep"]["kerberos"].replace("/ADPolicyProvider",
                                                    f"/epa-{mode}/ADPolicyProvider")

    def test_whether_the_server_demands_channel_binding(self):
        self.kinit()
        off = self.diagnose_k("--template", "WebServer")
        self.assertDiagnosis(off, OK)
        self.assertIn("localhost does not demand channel binding",
                      self.assertStatus(off, "kerberos-channel-binding", "pass")["evidence"])
        always = self.diagnose_k("--template", "WebServer", url=self.epa_url("always"))
        self.assertDiagnosis(always, OK)
        evidence = self.assertStatus(always, "kerberos-channel-binding", "pass")["evidence"]
        self.assertIn("localhost demands channel binding", evidence)
        self.assertIn("refused a ticket for HTTP@localhost without one (HTTP 401)", evidence)

    def test_a_server_expecting_another_binding(self):
        # What a TLS-inspecting proxy or TLS-terminating load balancer in between looks like.
        self.kinit()
        result = self.diagnose_k("--template", "WebServer", url=self.epa_url("wrong"))
        self.assertDiagnosis(result, AUTH, "kerberos-channel-binding")
        check = self.check(result, "kerberos-channel-binding")
        self.assertEqual(check["category"], "auth")
        self.assertIn("refused the one bound to this TLS connection (HTTP 401)", check["evidence"])
        self.assertIn("TLS-inspecting proxy", check["evidence"])
        self.assertIn("pass through", check["fix"])


class CesFailoverTest(Diagnose, cli.CustomSandboxTest):
    """Sandbox-RSA-CA advertises a dead password CES URL (a closed loopback port) ahead of its
    working one, as a policy does when one CES server of a pair is down."""

    @classmethod
    def configure(cls, config):
        cls.closed, port = closed_port()
        cls.dead = f"https://127.0.0.1:{port}/Sandbox-RSA-CA_CES_UsernamePassword/service.svc/CES"
        config["cas"]["Sandbox-RSA-CA"]["extra_uris"] = [
            {"auth": 4, "uri": cls.dead, "priority": 0, "renewal_only": False}]

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.closed.close()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="certenroll-e2e-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.state = os.path.join(self.tmp, "state")
        self.addCleanup(self.sandbox.clear_faults)

    def ces_checks(self, result):
        checks = {}
        for check in result.json["checks"]:
            if check["id"] == "ces":
                url = check["evidence"].split(" ", 1)[0]
                checks[url.rstrip(":")] = check
        return checks

    def diagnose_web_server(self):
        return self.diagnose(*self.cep(), *self.user(), "--template", "WebServer")

    def test_a_dead_ces_url_beside_a_working_one_warns(self):
        result = self.diagnose_web_server()
        self.assertDiagnosis(result, OK)
        self.assertIn(self.dead, self.check(result, "template-auth")["evidence"])
        ces = self.ces_checks(result)
        live = self.info["ces"]["Sandbox-RSA-CA"]["password"]
        self.assertEqual(set(ces), {self.dead, live}, result.json["checks"])
        self.assertEqual(ces[self.dead]["status"], "warn", ces)
        self.assertIn("connect", ces[self.dead]["evidence"].lower())
        self.assertIn("enroll fails over to the working URL", ces[self.dead]["evidence"])
        self.assertEqual(ces[live]["status"], "pass", ces)

    def test_every_ces_url_down(self):
        # The working URL breaks too (the connection is cut): nothing is left to fail over to.
        self.sandbox.inject_fault("cut", count=1, match="CES")
        result = self.diagnose_web_server()
        self.assertDiagnosis(result, NETWORK, "ces")
        self.assertEqual(result.json["category"], "network")
        self.assertStatus(result, "policy", "pass")
        ces = self.ces_checks(result)
        self.assertEqual({c["status"] for c in ces.values()}, {"fail"}, ces)
        self.assertEqual({c["category"] for c in ces.values()}, {"network"}, ces)
        self.assertIn("connect", ces[self.dead]["evidence"].lower())
        self.assertEqual(result.json["summary"]["fail"], 2, repr(result))


if __name__ == "__main__":
    unittest.main()
