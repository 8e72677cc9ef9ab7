"""certmonger-helper: the real certmonger daemon (private socket, temporary state) using
certenroll-cli as its CA helper against the sandbox, and the helper interface run directly as
certmonger runs it (a scrubbed environment, CERTMONGER_* variables, certmonger's exit codes)."""

import json
import os
import shutil
import subprocess
import tempfile

import cli
from certmonger import AVAILABLE, Certmonger

# certmonger's helper exit codes (certmonger-dogtag-submit(8)).
ISSUED, REJECTED, UNREACHABLE, UNDERCONFIGURED, WAIT_WITH_DELAY, UNSUPPORTED = 0, 2, 3, 4, 5, 6


class HelperTest(cli.SandboxTest):
    """The helper's interface, run directly with the environment certmonger gives helpers."""

    def helper_args(self, *extra, cep=None):
        return ["--state-dir", self.state, "--audit-log", os.path.join(self.tmp, "audit.jsonl"),
                "certmonger-helper", "--url", cep or self.info["cep"]["password"],
                "--ca-bundle", self.info["ca_bundle"], *self.user(), *extra]

    def helper(self, operation, *extra, env=None, args=None):
        # certmonger's scrubbed environment: a fixed PATH, its HOME, the CERTMONGER_* variables.
        environment = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "HOME": self.tmp,
                       "CERTMONGER_OPERATION": operation}
        environment.update(env or {})
        return subprocess.run([cli.CLI, *(args or self.helper_args(*extra))], env=environment,
                              capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL)

    def csr(self, name, template=None):
        key = os.path.join(self.tmp, name + ".key")
        argv = ["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                "-subj", f"/CN={name}.example.test"]
        if template:  # as certmonger writes it: the v1 template name extension
            argv += ["-addext", f"1.3.6.1.4.1.311.20.2=ASN1:BMPSTRING:{template}"]
        return cli.openssl(*argv)

    def audit_events(self):
        with open(os.path.join(self.tmp, "audit.jsonl")) as f:
            return [json.loads(line)["event"] for line in f if line.strip()]

    def test_submit_issues_the_certificate_for_the_csr(self):
        csr = self.csr("direct", "WebServer")
        done = self.helper("SUBMIT", env={"CERTMONGER_CSR": csr, "CERTMONGER_CA_PROFILE": "WebServer"})
        self.assertEqual(done.returncode, ISSUED, done)
        self.assertTrue(done.stdout.startswith("-----BEGIN CERTIFICATE-----"), done.stdout)
        issued = os.path.join(self.tmp, "direct.crt")
        with open(issued, "w") as f:
            f.write(done.stdout)
        self.assertKeyMatches(issued, os.path.join(self.tmp, "direct.key"))
        self.assertEqual(self.audit_events()[-2:], ["request_submitted", "issued"])

    def test_pending_then_poll_is_idempotent_until_issued(self):
        csr = self.csr("waiting")
        env = {"CERTMONGER_CSR": csr, "CERTMONGER_CA_PROFILE": "ApprovalRequired"}
        pending = self.helper("SUBMIT", "--poll-delay", "42", env=env)
        self.assertEqual(pending.returncode, WAIT_WITH_DELAY, pending)
        delay, cookie = pending.stdout.splitlines()
        self.assertEqual(delay, "42")
        request_id, ces_url = cookie.split(" ")
        self.assertEqual(ces_url, self.info["ces"]["Sandbox-RSA-CA"]["password"])
        env["CERTMONGER_CA_COOKIE"] = cookie
        for _ in range(2):  # asking twice changes nothing
            again = self.helper("POLL", env=env)
            self.assertEqual((again.returncode, again.stdout), (WAIT_WITH_DELAY, "300\n" + cookie + "\n"))
        self.sandbox.approve("Sandbox-RSA-CA", request_id)
        first, second = self.helper("POLL", env=env), self.helper("POLL", env=env)
        self.assertEqual(first.returncode, ISSUED, first)
        self.assertEqual(first.stdout, second.stdout)
        queries = [r for r in self.sandbox.requests() if r.get("request_type") == "QueryTokenStatus"]
        self.assertEqual([q["request_id"] for q in queries[-4:]], [request_id] * 4)
        self.assertEqual(self.audit_events()[-1], "retrieved")

    def test_poll_without_the_csr_checks_the_key_in_certmongers_request_file(self):
        # certmonger keeps the CSR it sent and the cookie in its request file (csr=, ca_cookie=,
        # continuation lines start with a space; seen with certmonger 0.79.17).
        csr = self.csr("polled")
        pending = self.helper("SUBMIT", env={"CERTMONGER_CSR": csr,
                                             "CERTMONGER_CA_PROFILE": "ApprovalRequired"})
        self.assertEqual(pending.returncode, WAIT_WITH_DELAY, pending)
        cookie = pending.stdout.splitlines()[1]
        self.sandbox.approve("Sandbox-RSA-CA", cookie.split(" ")[0])
        requests = os.path.join(self.tmp, "requests")
        os.makedirs(requests)

        def poll_with_request_file(csr_text):
            with open(os.path.join(requests, "20261207120000"), "w") as f:
                f.write("id=polled\nca_cookie=" + cookie + "\ncsr=" +
                        "\n ".join(csr_text.strip().splitlines()) + "\nstate=CA_WORKING\n")
            return self.helper("POLL", "--certmonger-requests-dir", requests,
                               env={"CERTMONGER_CA_COOKIE": cookie})

        other = poll_with_request_file(self.csr("someone-else"))
        self.assertEqual(other.returncode, UNREACHABLE, other)
        self.assertIn("is not for our key", other.stdout)
        self.assertEqual(self.audit_events()[-1], "failed")
        ours = poll_with_request_file(csr)
        self.assertEqual(ours.returncode, ISSUED, ours)
        issued = os.path.join(self.tmp, "polled.crt")
        with open(issued, "w") as f:
            f.write(ours.stdout)
        self.assertKeyMatches(issued, os.path.join(self.tmp, "polled.key"))
        # No request file holds the cookie: accepted as before, saying the key went unchecked.
        unchecked = self.helper("POLL", env={"CERTMONGER_CA_COOKIE": cookie})
        self.assertEqual(unchecked.returncode, ISSUED, unchecked)
        self.assertIn("not checked", unchecked.stderr)

    def test_denied_exits_2_with_the_reason_and_hresult(self):
        done = self.helper("SUBMIT", env={"CERTMONGER_CSR": self.csr("no"),
                                          "CERTMONGER_CA_PROFILE": "Restricted"})
        self.assertEqual(done.returncode, REJECTED, done)
        self.assertIn("0x80094012", done.stdout)
        self.assertIn("Restricted", done.stdout)

    def test_unreachable_underconfigured_unsupported(self):
        env = {"CERTMONGER_CSR": self.csr("x"), "CERTMONGER_CA_PROFILE": "WebServer"}
        gone = self.helper("SUBMIT", env=env,
                           args=self.helper_args(cep="https://127.0.0.1:1/ADPolicyProvider_CEP_UsernamePassword/service.svc/CEP"))
        self.assertEqual(gone.returncode, UNREACHABLE, gone)
        self.assertTrue(gone.stdout.strip(), gone)
        no_password = self.helper("SUBMIT", env=env, args=[
            "--state-dir", self.state, "certmonger-helper", "--url", self.info["cep"]["password"],
            "--ca-bundle", self.info["ca_bundle"], "--username", "alice"])
        self.assertEqual(no_password.returncode, UNDERCONFIGURED, no_password)
        self.assertIn("CERTENROLL_PASSWORD", no_password.stdout)
        no_template = self.helper("SUBMIT", "--template", "NoSuchTemplate",
                                  env={"CERTMONGER_CSR": env["CERTMONGER_CSR"]})
        self.assertEqual(no_template.returncode, UNDERCONFIGURED, no_template)
        bad_cookie = self.helper("POLL", env={"CERTMONGER_CA_COOKIE": "nonsense"})
        self.assertEqual(bad_cookie.returncode, UNDERCONFIGURED, bad_cookie)
        typo = self.helper("SUBMIT", env=env, args=self.helper_args("--no-such-option"))
        self.assertEqual(typo.returncode, UNDERCONFIGURED, typo)  # never "rejected" (2)
        self.assertIn("--no-such-option", typo.stdout)
        scep = self.helper("FETCH-SCEP-CA-CAPS")
        self.assertEqual((scep.returncode, scep.stdout), (UNSUPPORTED, ""))

    def test_the_packaged_wrapper_reads_a_profile(self):
        # packaging/certmonger/certenroll-submit as installed: PREFIX/lib/certmonger beside
        # PREFIX/bin/certenroll-cli; the profile gives everything but what certmonger passes.
        prefix = os.path.join(self.tmp, "usr")
        os.makedirs(os.path.join(prefix, "lib", "certmonger"))
        os.makedirs(os.path.join(prefix, "bin"))
        wrapper = os.path.join(prefix, "lib", "certmonger", "certenroll-submit")
        here = os.path.dirname(os.path.abspath(__file__))
        shutil.copy(os.path.join(here, "..", "..", "packaging", "certmonger", "certenroll-submit"),
                    wrapper)
        os.symlink(os.path.abspath(cli.CLI), os.path.join(prefix, "bin", "certenroll-cli"))
        alice = self.info["users"]["alice"]
        config = os.path.join(self.tmp, "config.json")
        with open(config, "w") as f:
            json.dump({"profiles": {"adcs": {
                "url": self.info["cep"]["password"], "ca-bundle": self.info["ca_bundle"],
                "username": alice["username"], "password-file": alice["password_file"],
                "template": "WebServer", "state-dir": self.state}}}, f)
        done = subprocess.run(
            [wrapper, "--config", config, "--profile=adcs"],
            env={"PATH": "/usr/bin:/bin", "CERTMONGER_OPERATION": "SUBMIT",
                 "CERTMONGER_CSR": self.csr("profiled")},
            capture_output=True, text=True, timeout=120)
        self.assertEqual(done.returncode, ISSUED, done)
        self.assertIn("-----BEGIN CERTIFICATE-----", done.stdout)
        self.assertEqual(cli.ces_requests(self.sandbox)[-1]["template"], "WebServer")

    def test_lookups_come_from_the_policy(self):
        policy = cli.run("--state-dir", self.state, "policy", *self.cep(), *self.user()).json
        offered = {t["name"] for t in policy["templates"]}
        supported = self.helper("GET-SUPPORTED-TEMPLATES")
        self.assertEqual(supported.returncode, 0, supported)
        names = supported.stdout.split()
        self.assertTrue({"WebServer", "ApprovalRequired", "Machine"} <= set(names), names)
        self.assertTrue(set(names) <= offered)
        self.assertNotIn("Restricted", names)  # offered, but alice may not enroll
        default = self.helper("GET-DEFAULT-TEMPLATE")
        self.assertEqual(default.stdout, "Machine\n")  # the computer template
        configured = self.helper("GET-DEFAULT-TEMPLATE", "--template", "WebServer")
        self.assertEqual(configured.stdout, "WebServer\n")
        refused = self.helper("GET-DEFAULT-TEMPLATE", "--template", "Restricted")
        self.assertEqual((refused.returncode, refused.stdout), (0, ""))
        needs = self.helper("GET-NEW-REQUEST-REQUIREMENTS",
                            env={"CERTMONGER_CA_PROFILE": "WebServer"})
        self.assertEqual(needs.stdout.split(), ["CERTMONGER_REQ_SUBJECT"])
        machine = self.helper("GET-NEW-REQUEST-REQUIREMENTS",
                              env={"CERTMONGER_CA_PROFILE": "Machine"})
        self.assertEqual(machine.stdout, "")
        roots = self.helper("FETCH-ROOTS")
        self.assertEqual(roots.returncode, 0, roots)
        nicknames = [line for line in roots.stdout.splitlines()
                     if line and not line.startswith("-----") and " " not in line and len(line) < 40
                     and not line.endswith("=")]
        self.assertIn("Sandbox-RSA-CA", nicknames)
        self.assertEqual(self.helper("IDENTIFY").returncode, 0)


class CertmongerDaemonTest(cli.SandboxTest):
    """`getcert` against a real certmonger daemon that runs the helper: one daemon (and one
    sandbox) per class, as adding a CA runs the helper for each of its lookups."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.cm = None
        if AVAILABLE:
            cls.cm_dir = tempfile.mkdtemp(prefix="certenroll-certmonger-")
            cls.cm = Certmonger(cls.cm_dir).__enter__()
            # The CA entry most tests share: password authentication as alice.
            alice = cls.info["users"]["alice"]
            cls.cm.getcert("add-ca", "-c", "certenroll", "-e", " ".join(cls.helper_command(
                os.path.join(cls.cm_dir, "helper-state"), cls.info["cep"]["password"],
                "--username", alice["username"], "--password-file", alice["password_file"])))

    @classmethod
    def tearDownClass(cls):
        if cls.cm is not None:
            cls.cm.__exit__(None, None, None)
            shutil.rmtree(cls.cm_dir, ignore_errors=True)
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        cli.require(self, AVAILABLE, "certmonger (packaging/install-deps.sh --test)")
        self.out = os.path.join(self.tmp, "out")
        os.makedirs(self.out)

    @classmethod
    def helper_command(cls, state, cep, *auth, env_prefix=()):
        return [*env_prefix, cli.CLI, "--state-dir", state, "certmonger-helper", "--url", cep,
                "--ca-bundle", cls.info["ca_bundle"], *auth,
                "--certmonger-requests-dir", cls.cm.requests_dir, "--poll-delay", "1"]

    def add_ca(self, *auth, env_prefix=(), cep=None):
        """Adds a CA entry named after the test; returns its name."""
        name = self.id().rsplit(".", 1)[-1][5:30]
        command = self.helper_command(self.state, cep or self.info["cep"]["password"], *auth,
                                      env_prefix=env_prefix)
        self.cm.getcert("add-ca", "-c", name, "-e", " ".join(command))
        return name

    def request(self, ca, name, template, *extra):
        cert, key = os.path.join(self.out, name + ".crt"), os.path.join(self.out, name + ".key")
        self.cm.getcert("request", "-c", ca, "-I", name, "-f", cert, "-k", key,
                        "-T", template, "-N", f"CN={name}.example.test",
                        "-D", f"{name}.example.test", "-w", *extra, check=False)
        return cert, key

    def issuing_ca(self):
        # The CA certificates the policy names, as FETCH-ROOTS gives them to certmonger.
        done = subprocess.run([cli.CLI, "--state-dir", self.state, "certmonger-helper",
                               *self.cep(), *self.user()], capture_output=True, text=True,
                              env={"CERTMONGER_OPERATION": "FETCH-ROOTS", "PATH": "/usr/bin:/bin"})
        path = os.path.join(self.tmp, "issuing.pem")
        with open(path, "w") as f:
            f.write("".join(line + "\n" for line in done.stdout.splitlines()
                            if line.startswith("-----") or not line.startswith("Sandbox")))
        return path

    def verify(self, cert):
        return subprocess.run(["openssl", "verify", "-CAfile", self.info["ca_bundle"],
                               "-untrusted", self.issuing_ca(), cert],
                              capture_output=True, text=True)

    def serial(self, cert):
        return cli.openssl("x509", "-in", cert, "-noout", "-serial").strip()

    def test_request_is_tracked_and_resubmit_renews_with_the_same_key(self):
        cert, key = self.request("certenroll", "web", "WebServer")
        fields = self.cm.wait_for_status("web", ("MONITORING", "CA_REJECTED", "CA_UNREACHABLE",
                                                 "CA_UNCONFIGURED"))
        self.assertEqual(fields["status"], "MONITORING", fields)
        verified = self.verify(cert)
        self.assertEqual(verified.returncode, 0, verified.stdout + verified.stderr)
        self.assertKeyMatches(cert, key)
        first = self.serial(cert)

        self.cm.getcert("resubmit", "-i", "web", "-w", check=False)
        fields = self.cm.wait_for_status("web", ("MONITORING", "CA_REJECTED", "CA_UNREACHABLE"))
        self.assertEqual(fields["status"], "MONITORING", fields)
        self.assertNotEqual(self.serial(cert), first)
        self.assertKeyMatches(cert, key)
        # A signed renewal (CMS, renewal-certificate attribute), not a second new request.
        last = self.sandbox.ca_requests()[-1]
        self.assertEqual((last["template"], last["renewal"], last["status"]),
                         ("WebServer", True, "issued"))

    def test_rekey_sends_a_signed_renewal_with_the_new_key(self):
        # getcert rekey: certmonger makes a new key (key.pem.<key_next_marker>.key until issued)
        # and a CSR for it; the helper signs the CSR again with it, the CMS with the old key.
        cert, key = self.request("certenroll", "rekeyed", "WebServer")
        fields = self.cm.wait_for_status("rekeyed", ("MONITORING", "CA_REJECTED", "CA_UNREACHABLE",
                                                     "CA_UNCONFIGURED"))
        self.assertEqual(fields["status"], "MONITORING", fields)
        first, old_key = self.serial(cert), cli.openssl("pkey", "-in", key, "-pubout")
        self.cm.getcert("rekey", "-i", "rekeyed", "-w", check=False)
        fields = self.cm.wait_for_status("rekeyed", ("MONITORING", "CA_REJECTED", "CA_UNREACHABLE"))
        self.assertEqual(fields["status"], "MONITORING", fields)
        self.assertNotEqual(self.serial(cert), first)
        self.assertNotEqual(cli.openssl("pkey", "-in", key, "-pubout"), old_key)
        self.assertKeyMatches(cert, key)
        self.assertEqual(self.verify(cert).returncode, 0)
        last = self.sandbox.ca_requests()[-1]
        self.assertEqual((last["template"], last["renewal"], last["status"]),
                         ("WebServer", True, "issued"))

    def test_key_based_renewal_at_the_key_based_ces(self):
        # KeyBasedRenewal: the first issuance waits for approval; the renewal goes to the
        # key-based renewal CES with the certificate being renewed as the TLS client certificate.
        ca = self.add_ca("--key-based-renewal", *self.user())
        cert, key = self.request(ca, "kbr", "KeyBasedRenewal")
        waiting = [r for r in self.sandbox.ca_requests() if r["status"] == "pending"]
        self.sandbox.approve("Sandbox-RSA-CA", str(waiting[-1]["id"]))
        self.assertEqual(self.cm.wait_for_status("kbr", ("MONITORING", "CA_REJECTED"))["status"],
                         "MONITORING")
        first = self.serial(cert)
        self.cm.getcert("resubmit", "-i", "kbr", "-w", check=False)
        fields = self.cm.wait_for_status("kbr", ("MONITORING", "CA_REJECTED", "CA_UNREACHABLE"))
        self.assertEqual(fields["status"], "MONITORING", fields)
        self.assertNotEqual(self.serial(cert), first)
        self.assertKeyMatches(cert, key)
        issue = [r for r in self.sandbox.requests() if r.get("request_type") == "Issue"][-1]
        self.assertEqual((issue["auth"], issue["outcome"]), ("keybasedrenewal", "issued"), issue)

    def test_approval_template_waits_then_polls_to_issued(self):
        cert, _ = self.request("certenroll", "approve", "ApprovalRequired")
        waiting = [r for r in self.sandbox.ca_requests()
                   if r["template"] == "ApprovalRequired" and r["status"] == "pending"]
        self.assertEqual(len(waiting), 1, self.sandbox.ca_requests())
        self.assertEqual(self.cm.status("approve").get("status"), "CA_WORKING")
        self.sandbox.approve("Sandbox-RSA-CA", str(waiting[0]["id"]))
        fields = self.cm.wait_for_status("approve", ("MONITORING", "CA_REJECTED"))
        self.assertEqual(fields["status"], "MONITORING", fields)
        self.assertEqual(self.verify(cert).returncode, 0)
        self.assertTrue(any(r.get("request_type") == "QueryTokenStatus"
                            for r in self.sandbox.requests()))

    def test_denied_template_is_rejected_with_the_reason(self):
        self.request("certenroll", "refused", "Restricted")
        fields = self.cm.wait_for_status("refused", ("CA_REJECTED", "MONITORING"))
        self.assertEqual(fields["status"], "CA_REJECTED", fields)
        self.assertIn("0x80094012", fields.get("ca-error", ""))

    def test_a_ca_entry_moves_to_this_helper_with_modify_ca(self):
        # A CA entry whose old helper (a stand-in for cepces-submit) cannot reach the CA: its
        # request stays tracked, and `getcert modify-ca -e` hands the entry to certenroll-cli.
        old_helper = os.path.join(self.tmp, "old-submit")
        with open(old_helper, "w") as f:
            f.write("#!/bin/sh\necho 'old helper: server unreachable'\nexit 3\n")
        os.chmod(old_helper, 0o755)
        self.cm.getcert("add-ca", "-c", "adcs", "-e", old_helper)
        cert = os.path.join(self.out, "moved.crt")
        self.cm.getcert("request", "-c", "adcs", "-I", "moved", "-f", cert,
                        "-k", os.path.join(self.out, "moved.key"), "-T", "WebServer",
                        "-N", "CN=moved.example.test", "-w", check=False)
        self.assertEqual(self.cm.status("moved")["status"], "CA_UNREACHABLE")
        command = [cli.CLI, "--state-dir", self.state, "certmonger-helper", *self.cep(),
                   *self.user(), "--certmonger-requests-dir", self.cm.requests_dir]
        self.cm.getcert("modify-ca", "-c", "adcs", "-e", " ".join(command))
        self.cm.getcert("resubmit", "-i", "moved", "-w", check=False)
        fields = self.cm.wait_for_status("moved", ("MONITORING", "CA_REJECTED", "CA_UNREACHABLE"))
        self.assertEqual((fields["status"], fields["CA"]), ("MONITORING", "adcs"), fields)
        self.assertEqual(self.verify(cert).returncode, 0)

    def test_kerberos_with_a_keytab_through_the_helper(self):
        krb = self.info.get("kerberos")
        cli.require(self, krb, "the sandbox's Kerberos realm (krb5-kdc)")
        user = krb["users"]["alice"]
        # certmonger scrubs the environment: the test realm's krb5.conf is set on the command
        # (a machine's /etc/krb5.conf needs nothing).
        ca = self.add_ca("--keytab", user["keytab"], "--principal", user["principal"],
                         env_prefix=["/usr/bin/env", "KRB5_CONFIG=" + krb["krb5_conf"]],
                         cep=self.info["cep"]["kerberos"])
        cert, key = self.request(ca, "kerb", "WebServer")
        fields = self.cm.wait_for_status("kerb", ("MONITORING", "CA_REJECTED", "CA_UNREACHABLE",
                                                  "CA_UNCONFIGURED"))
        self.assertEqual(fields["status"], "MONITORING", fields)
        last = [r for r in self.sandbox.requests() if r.get("request_type") == "Issue"][-1]
        self.assertEqual((last["auth"], last["identity"]), ("kerberos", "alice"))
