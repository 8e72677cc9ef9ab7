"""Issue 23, security hardening, through the real binary: trusted state only (the attack of a
record rewritten by another user, replayed), scrubbed deploy hooks, a process that cannot dump
core, strict SOAP envelopes, bounded terminal-safe traces, and the TLS policy."""

import json
import os
import re
import resource
import select
import socket
import stat
import subprocess
import tempfile
import time

import cli
from test_faults import TlsStub, server_certificate

NOBODY = 65534
SECRETS = {
    "CERTENROLL_PASSWORD": None,  # the user's real password: the renewal needs it
    "CERTENROLL_PFX_PASSWORD": "canary-pfx-Zq81",
    "CERTENROLL_PKCS11_PIN": "canary-pin-Zq82",
    "CERTENROLL_PROXY_PASSWORD": "canary-proxy-Zq83",
}


def read(path):
    with open(path) as f:
        return f.read()


class HardeningTest(cli.SandboxTest):
    def setUp(self):
        super().setUp()
        self.sandbox.clear_faults()

    def tearDown(self):
        self.sandbox.clear_faults()
        super().tearDown()

    def password(self):
        return read(self.info["users"]["alice"]["password_file"]).strip()

    def enroll(self, name):
        result = self.cli("enroll", *self.cep(), *self.user(), "--template", "WebServer",
                          "--name", name, "--cn", name + ".example.test")
        self.assertExit(result, 0)
        return result.json["files"]

    def renew(self, *args, env=None):
        return self.cli("renew", "--ca-bundle", self.info["ca_bundle"], *args,
                        env={"CERTENROLL_PASSWORD": self.password(), **(env or {})})

    def assertRefused(self, result, path, *words):
        """Exit 9 (local), one line naming the path, its owner and mode, and a hint to fix."""
        self.assertExit(result, 9)
        error = result.json["error"] if "error" in result.json else \
            result.json["certificates"][0]["error"]
        self.assertEqual(error["category"], "local", repr(result))
        self.assertIn(path, error["message"])
        for word in ("refusing", "owner", *words):
            self.assertIn(word, error["message"], repr(result))
        self.assertNotIn("\n", error["message"])
        self.assertIn("chmod", error.get("hint", "") + error["message"], repr(result))

    # 1. State trust.
    def attacked_record(self, name):
        """Enrolls `name`, then another user rewrites its record's deploy_hook to leave a
        marker: returns (record path, marker path)."""
        self.enroll(name)
        record = os.path.join(self.state, "certificates", name + ".json")
        marker = os.path.join(self.tmp, "pwned-" + name)
        with open(record) as f:
            content = json.load(f)
        content["deploy_hook"] = "touch " + marker
        with open(record, "w") as f:
            json.dump(content, f)
        return record, marker

    def test_record_rewritten_by_another_user_is_refused(self):
        """The reported attack: an unprivileged user rewrote a record's deploy_hook and root's
        `renew --all` ran it. Replayed with the two ways another user could have written the
        record: it is world-writable (any run), or it belongs to someone else (as root, CI's
        case: chowned to nobody). Expected: exit 9 naming the record, its owner and mode; the
        hook never runs; the record is left as it was."""
        cases = [("worldwritable", lambda p: os.chmod(p, 0o666), "0666")]
        if os.geteuid() == 0:
            cases.append(("foreign", lambda p: os.chown(p, NOBODY, NOBODY), "uid 65534"))
        for name, attack, shown in cases:
            with self.subTest(name):
                record, marker = self.attacked_record(name)
                attack(record)
                before = read(record)
                result = self.renew("--all", "--force")
                self.assertRefused(result, record, shown)
                self.assertFalse(os.path.exists(marker), "the planted hook ran")
                self.assertEqual(read(record), before)
                # A command naming the record refuses it the same way.
                self.assertRefused(self.renew(name, "--force"), record, shown)
                self.assertFalse(os.path.exists(marker))
                os.remove(record)

    def test_symbolic_link_as_record_is_refused(self):
        """A record replaced by a symbolic link (to a file another user controls) is not
        followed."""
        record, marker = self.attacked_record("linked")
        elsewhere = os.path.join(self.tmp, "elsewhere.json")
        os.rename(record, elsewhere)
        os.symlink(elsewhere, record)
        result = self.renew("--all", "--force")
        self.assertRefused(result, record, "symbolic link")
        self.assertFalse(os.path.exists(marker))

    def test_world_writable_state_directory_is_refused(self):
        """A state directory others may write (group or world) is refused before anything in
        it is read or written; so is a foreign-owned one (as root)."""
        self.enroll("dir")
        os.chmod(self.state, 0o777)
        result = self.renew("--all", "--force")
        self.assertRefused(result, self.state, "0777")
        result = self.cli("enroll", *self.cep(), *self.user(), "--template", "WebServer",
                          "--name", "dir2", "--cn", "dir2.example.test")
        self.assertRefused(result, self.state, "0777")
        os.chmod(self.state, 0o700)
        certificates = os.path.join(self.state, "certificates")
        os.chmod(certificates, 0o770)
        self.assertRefused(self.renew("--all", "--force"), certificates, "0770")
        os.chmod(certificates, 0o700)
        if os.geteuid() == 0:
            os.chown(self.state, NOBODY, NOBODY)
            self.assertRefused(self.renew("--all", "--force"), self.state, "uid 65534")
            os.chown(self.state, 0, 0)
        self.assertExit(self.renew("--all", "--force"), 0)

    def test_readable_directories_of_ours_are_tightened(self):
        """Directories of ours that others may only read or enter (made by hand or by an
        earlier version with the umask) are made 0700, and the run goes on."""
        self.enroll("tight")
        os.chmod(self.state, 0o755)
        os.chmod(os.path.join(self.state, "certificates"), 0o755)
        self.assertExit(self.renew("--all", "--force"), 0)
        self.assertEqual(stat.S_IMODE(os.stat(self.state).st_mode), 0o700)
        self.assertEqual(
            stat.S_IMODE(os.stat(os.path.join(self.state, "certificates")).st_mode), 0o700)

    # 1. The configuration file: it names URLs, CA bundles and hooks.
    def write_config(self, mode=0o644):
        """A profile with everything `policy` needs, mode `mode`."""
        config = os.path.join(self.tmp, "config.json")
        alice = self.info["users"]["alice"]
        profile = {"url": self.info["cep"]["password"], "username": "alice",
                   "password-file": alice["password_file"], "ca-bundle": self.info["ca_bundle"]}
        with open(config, "w") as f:
            json.dump({"default_profile": "lab", "profiles": {"lab": profile}}, f)
        os.chmod(config, mode)
        return config

    def test_configuration_file_others_may_write_is_refused(self):
        """A configuration file its group or others may write is refused before anything is
        sent, named by --config or found through $CERTENROLL_CONFIG: exit 9 naming the file,
        owner and mode, with the fix. A link the user named is followed, and the file it leads
        to is what is checked."""
        config = self.write_config()
        self.assertExit(self.cli("--config", config, "policy"), 0)
        mark = len(self.sandbox.requests())
        for mode in (0o666, 0o664):
            with self.subTest(oct(mode)):
                os.chmod(config, mode)
                shown = "0" + oct(mode)[2:]
                result = self.cli("--config", config, "policy")
                self.assertRefused(result, config, shown, "configuration file")
                result = self.cli("policy", env={"CERTENROLL_CONFIG": config})
                self.assertRefused(result, config, shown, "configuration file")
        self.assertEqual(self.sandbox.requests()[mark:], [])
        link = os.path.join(self.tmp, "link.json")
        os.symlink(config, link)
        self.assertRefused(self.cli("--config", link, "policy"), link, "0664")
        os.chmod(config, 0o640)
        self.assertExit(self.cli("--config", link, "policy"), 0)

    def test_configuration_file_of_another_user_is_refused(self):
        """As root (CI's case): a configuration file owned by another user is refused; one of
        root's is read."""
        if os.geteuid() != 0:
            self.skipTest("giving the configuration file to another user needs root")
        config = self.write_config()
        os.chown(config, NOBODY, NOBODY)
        self.assertRefused(self.cli("--config", config, "policy"), config, "uid 65534")
        os.chown(config, 0, 0)
        self.assertExit(self.cli("--config", config, "policy"), 0)

    def assertDiagnoseFails(self, result, check_id, path, mode):
        """diagnose: exit 9, `check_id` the first failure, naming the path and mode, the fix."""
        self.assertExit(result, 9)
        self.assertEqual(result.json["first_failure"], check_id, repr(result))
        check = [c for c in result.json["checks"] if c["id"] == check_id][0]
        self.assertEqual(check["status"], "fail")
        self.assertEqual(check["category"], "local")
        for word in (path, mode, "owner"):
            self.assertIn(word, check["evidence"], repr(result))
        self.assertIn("chmod go-w", check["fix"])
        return check

    def test_diagnose_reports_an_untrusted_state_directory_and_configuration_file(self):
        """What every command refuses, diagnose reports as a failed check with the fix, in
        --json and in text: a state directory others may write (and, as root, one of another
        user), a configuration file others may write; the rest of the checklist still runs."""
        self.enroll("diag")
        os.chmod(self.state, 0o777)
        result = self.cli("diagnose", *self.cep(), *self.user())
        self.assertDiagnoseFails(result, "state-dir", self.state, "0777")
        self.assertEqual([c["status"] for c in result.json["checks"] if c["id"] == "policy"],
                         ["pass"])
        text = self.cli("diagnose", *self.cep(), *self.user(), json_mode=False)
        self.assertExit(text, 9)
        self.assertRegex(text.stdout, r"FAIL +State directory +refusing state directory '" +
                         re.escape(self.state) + "': owner .*mode 0777")
        self.assertRegex(text.stdout, r"fix: .*chmod go-w")
        if os.geteuid() == 0:
            os.chown(self.state, NOBODY, NOBODY)
            result = self.cli("diagnose", *self.cep(), *self.user())
            self.assertDiagnoseFails(result, "state-dir", self.state, "uid 65534")
            os.chown(self.state, 0, 0)
        os.chmod(self.state, 0o700)

        config = self.write_config()
        result = self.cli("--config", config, "diagnose")
        self.assertExit(result, 0)
        self.assertEqual(result.json["checks"][0]["id"], "config-file")
        self.assertEqual(result.json["checks"][0]["status"], "pass")
        self.assertIn(config, result.json["checks"][0]["evidence"])
        os.chmod(config, 0o666)
        result = self.cli("--config", config, "diagnose")
        self.assertDiagnoseFails(result, "config-file", config, "0666")
        self.assertEqual(result.json["checks"][0]["id"], "config-file")
        # Its profile was not applied: no URL, so only the local checks run after it.
        self.assertIn("no --url", [c for c in result.json["checks"]
                                    if c["id"] == "configuration"][0]["evidence"])
        text = self.cli("--config", config, "diagnose", json_mode=False)
        self.assertExit(text, 9)
        self.assertRegex(text.stdout, r"FAIL +Configuration file +refusing configuration file '" +
                         re.escape(config) + "': owner .*mode 0666")

    # 1. The audit log.
    def policy_with_audit_log(self, log):
        return self.cli("--audit-log", log, "policy", *self.cep(), *self.user())

    def test_audit_log_symlink_is_not_followed(self):
        """A symbolic link planted at the audit log's path (pointing at a file the attacker
        wants appended to) is refused: exit 9, the target unchanged, nothing sent."""
        target = os.path.join(self.tmp, "target")
        with open(target, "w") as f:
            f.write("precious\n")
        log = os.path.join(self.tmp, "audit.log")
        os.symlink(target, log)
        mark = len(self.sandbox.requests())
        result = self.policy_with_audit_log(log)
        self.assertExit(result, 9)
        self.assertIn(log, result.json["error"]["message"])
        self.assertEqual(read(target), "precious\n")
        self.assertEqual(self.sandbox.requests()[mark:], [])

    def test_audit_log_others_may_write_is_refused(self):
        """An audit log file, or its directory, that others may write is refused (a foreign
        owner too, as root); the log of our own, 0600, in a private directory works."""
        logs = os.path.join(self.tmp, "logs")
        os.mkdir(logs, 0o700)
        log = os.path.join(logs, "audit.log")
        self.assertExit(self.policy_with_audit_log(log), 0)
        self.assertEqual(stat.S_IMODE(os.stat(log).st_mode), 0o600)
        os.chmod(log, 0o622)
        self.assertRefused(self.policy_with_audit_log(log), log, "0622")
        os.chmod(log, 0o600)
        os.chmod(logs, 0o777)
        self.assertRefused(self.policy_with_audit_log(log), logs, "0777")
        os.chmod(logs, 0o700)
        if os.geteuid() == 0:
            os.chown(log, NOBODY, NOBODY)
            self.assertRefused(self.policy_with_audit_log(log), log, "uid 65534")
            os.chown(log, 0, 0)
        self.assertExit(self.policy_with_audit_log(log), 0)

    # 2. Hooks with a scrubbed environment; 7. the process cannot dump core.
    def test_deploy_hook_environment_holds_no_secret(self):
        """Every secret-bearing variable the tool reads is set for the run (the renewal uses
        the password); the hook's environment, which a daemon it restarts would keep in
        /proc/PID/environ, holds none of them, nor a proxy URL with credentials, while an
        ordinary variable and the documented CERTENROLL_* ones reach it."""
        self.enroll("hooked")
        out = os.path.join(self.tmp, "hook.env")
        env = {name: value for name, value in SECRETS.items() if value}
        env["CERTENROLL_TEST_ORDINARY"] = "kept"
        env["ALL_PROXY"] = "http://proxyuser:canary-url-Zq84@127.0.0.1:9"
        env["NO_PROXY"] = "*"
        result = self.renew("hooked", "--force", "--deploy-hook", "env > " + out, env=env)
        self.assertExit(result, 0)
        seen = read(out)
        for name in SECRETS:
            self.assertNotIn(name + "=", seen)
        for value in [self.password(), *[v for v in SECRETS.values() if v], "canary-url-Zq84"]:
            self.assertNotIn(value, seen)
        self.assertIn("CERTENROLL_TEST_ORDINARY=kept\n", seen)
        self.assertIn("CERTENROLL_NAME=hooked\n", seen)

    def test_process_cannot_dump_core(self):
        """RLIMIT_CORE 0 and PR_SET_DUMPABLE 0 for the life of the process, seen from outside
        while it waits on a server that never answers: /proc/PID/limits says no core file
        although it was started with core files allowed, and /proc/PID/status belongs to root
        although the process runs as another user (the kernel does that for non-dumpable
        processes only). As root (CI), the CLI runs as nobody."""
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        self.addCleanup(server.close)
        port = server.getsockname()[1]
        as_nobody = os.geteuid() == 0
        state = tempfile.mkdtemp(prefix="certenroll-dumpable-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", state]))
        if as_nobody:
            os.chown(state, NOBODY, NOBODY)
        argv = [cli.CLI, "--state-dir", state, "policy", "--url",
                f"https://127.0.0.1:{port}/ADPolicyProvider_CEP_UsernamePassword/service.svc/CEP",
                "--username", "alice"]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CERTENROLL_PASSWORD": "x"}
        for name in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
            if name in os.environ:
                env[name] = os.environ[name]
        def prepare():
            # Core files allowed as far as the hard limit lets us, so that the 0 seen below is
            # the CLI's own doing, not inherited.
            _, hard = resource.getrlimit(resource.RLIMIT_CORE)
            resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
            if as_nobody:
                os.setgid(NOBODY)
                os.setuid(NOBODY)

        process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   preexec_fn=prepare)
        self.addCleanup(process.wait)
        self.addCleanup(process.kill)  # cleanups run last-in first-out: kill, then wait
        self.assertTrue(select.select([server], [], [], 60)[0], "the CLI never connected")
        connection, _ = server.accept()  # accepted, never answered: the CLI waits
        self.addCleanup(connection.close)
        limits = read(f"/proc/{process.pid}/limits")
        core = [line for line in limits.splitlines() if line.startswith("Max core file size")]
        self.assertEqual(core[0].split()[4:6], ["0", "0"], limits)
        status = read(f"/proc/{process.pid}/status")
        uid = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
        self.assertNotEqual(uid, 0)
        self.assertEqual(os.stat(f"/proc/{process.pid}/status").st_uid, 0,
                         "the process is dumpable: /proc/PID/status belongs to its user")

    # 5. Strict envelopes.
    def test_duplicated_envelope_parts_are_refused(self):
        """Two s:Body in the Envelope, or two GetPoliciesResponse in one Body, were accepted
        using the first. Expected: exit 8 naming the duplicate, no policy cached."""
        for mode, words in (("twobodies", ["a second SOAP Body"]),
                            ("twopayloads", ["a second <GetPoliciesResponse>"])):
            with self.subTest(mode):
                self.sandbox.inject_fault(mode, match="CEP")
                result = self.cli("policy", *self.cep(), *self.user())
                self.assertExit(result, 8)
                self.assertEqual(result.json["error"]["category"], "protocol")
                for word in words:
                    self.assertIn(word, result.json["error"]["message"])
                self.assertFalse(os.listdir(os.path.join(self.state, "policy-cache"))
                                 if os.path.isdir(os.path.join(self.state, "policy-cache"))
                                 else [])
        self.assertExit(self.cli("policy", *self.cep(), *self.user()), 0)

    # 4. Traces.
    def test_verbose_traces_escape_control_characters_and_are_bounded(self):
        """-vv against a server whose 1 MiB answer starts with escape sequences (window title,
        screen clear, an 8-bit CSI): none reaches stderr raw, each is shown escaped, and the
        dump stops with "... N more bytes"."""
        self.sandbox.inject_fault("escapes", match="CEP")
        result = self.cli("-vv", "policy", *self.cep(), *self.user(), json_mode=False)
        self.assertNotEqual(result.code, 0)
        for raw in ("\x1b", "\x07", "\x9b"):
            self.assertNotIn(raw, result.stderr)
        self.assertIn("\\x1b]0;certenroll-pwned\\x07\\x1b[2J", result.stderr)
        self.assertIn("more bytes", result.stderr)
        self.assertLess(len(result.stderr), 256 * 1024)

    def test_verbose_dump_of_a_16_mb_response_is_cut(self):
        """-vv and the 16 MB response of 4 million elements: the dump is cut, not written whole."""
        self.sandbox.inject_fault("manyelements", match="CEP")
        result = self.cli("-vv", "policy", *self.cep(), *self.user(), json_mode=False)
        self.assertExit(result, 8)
        self.assertIn("more bytes", result.stderr)
        self.assertLess(len(result.stderr), 256 * 1024)

    # 6. TLS policy.
    def policy_against(self, stub):
        url = f"https://localhost:{stub.port}/ADPolicyProvider_CEP_UsernamePassword/service.svc/CEP"
        return self.cli("policy", "--url", url, "--ca-bundle", self.info["ca_bundle"],
                        *self.user())

    def test_server_named_only_in_its_common_name_is_refused(self):
        """A trusted certificate naming localhost only in its subject CN, without
        subjectAltName (RFC 6125 and browsers refuse the CN fallback): exit 6, no request."""
        chain, key = server_certificate(self.sandbox.state_dir, self.tmp, "cn-only",
                                        alt_names=False)
        stub = TlsStub(chain, key)
        self.addCleanup(stub.close)
        result = self.policy_against(stub)
        self.assertExit(result, 6)
        self.assertEqual(result.json["error"]["category"], "tls")
        self.assertIn("subjectAltName", result.json["error"]["message"])
        self.assertEqual(stub.handshakes, 0)

    def test_tls12_suites_without_forward_secrecy_or_aead_are_not_offered(self):
        """TLS 1.2 servers offering only static-RSA key exchange, or only CBC suites with
        SHA-1 or SHA-2 MACs: no handshake (exit 6)."""
        chain, key = server_certificate(self.sandbox.state_dir, self.tmp, "weak-suites")
        for suites in ("AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA:AES256-SHA",
                       "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA384:ECDHE-RSA-AES128-SHA256"):
            with self.subTest(suites):
                stub = TlsStub(chain, key, tls12_ciphers=suites)
                self.addCleanup(stub.close)
                result = self.policy_against(stub)
                self.assertExit(result, 6)
                self.assertEqual(stub.handshakes, 0)

    def test_talks_to_the_default_tls12_suites_of_windows_server_2012_r2(self):
        """A TLS 1.2-only server with an RSA certificate offering exactly the RSA suites of
        Windows Server 2012 R2's default list (Microsoft, "TLS Cipher Suites in Windows 8.1",
        in its order; no ECDHE-RSA-GCM there) and a 2048-bit DH group: the handshake completes
        with DHE-RSA-AES-GCM (the stub then closes: exit 7, not a TLS error)."""
        chain, key = server_certificate(self.sandbox.state_dir, self.tmp, "win2012r2")
        params = os.path.join(self.tmp, "ffdhe2048.pem")
        subprocess.run(["openssl", "genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt",
                        "group:ffdhe2048", "-out", params], check=True, capture_output=True)
        suites = ("ECDHE-RSA-AES256-SHA384:ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES256-SHA:"
                  "ECDHE-RSA-AES128-SHA:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES128-GCM-SHA256:"
                  "DHE-RSA-AES256-SHA:DHE-RSA-AES128-SHA:AES256-GCM-SHA384:AES128-GCM-SHA256:"
                  "AES256-SHA256:AES128-SHA256:AES256-SHA:AES128-SHA")
        stub = TlsStub(chain, key, tls12_ciphers=suites, dh_params=params)
        self.addCleanup(stub.close)
        result = self.policy_against(stub)
        deadline = time.monotonic() + 10
        while not stub.ciphers and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertTrue(stub.ciphers, repr(result))
        self.assertIn(stub.ciphers[0], ("DHE-RSA-AES256-GCM-SHA384", "DHE-RSA-AES128-GCM-SHA256"))
        self.assertNotEqual(result.json["error"]["category"], "tls", repr(result))

    def test_tls13_is_preferred(self):
        """Against a server that has TLS 1.3, TLS 1.3 is what is negotiated."""
        chain, key = server_certificate(self.sandbox.state_dir, self.tmp, "tls13")
        stub = TlsStub(chain, key)
        self.addCleanup(stub.close)
        self.policy_against(stub)
        deadline = time.monotonic() + 10
        while not stub.ciphers and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertTrue(stub.ciphers and stub.ciphers[0].startswith("TLS_"), stub.ciphers)


if __name__ == "__main__":
    import unittest
    unittest.main()
