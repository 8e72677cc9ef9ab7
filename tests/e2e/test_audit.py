"""The audit log (--audit-log, --audit-syslog): one JSON line per enrollment event, with the facts a
SIEM needs and never a secret, against the sandbox."""

import datetime
import json
import os
import re
import resource
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import unittest

import cli
from cli import openssl

EVENT_TYPES = {"policy_fetched", "request_submitted", "issued", "pending", "denied", "renewed",
               "retrieved", "failed"}
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def openssl_time(text):
    """'Nov 25 03:30:00 2026 GMT' -> the audit log's RFC 3339 form."""
    parsed = datetime.datetime.strptime(" ".join(text.split()), "%b %d %H:%M:%S %Y %Z")
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def certificate_facts(path):
    """What openssl says about a certificate, in the audit log's spelling."""
    def field(*args):
        return openssl("x509", "-in", path, "-noout", *args).strip().split("=", 1)[1]

    def fingerprint(digest):
        return field("-fingerprint", "-" + digest).replace(":", "").lower()

    return {"serial": field("-serial").lower(), "sha1_thumbprint": fingerprint("sha1"),
            "sha256_thumbprint": fingerprint("sha256"),
            "not_before": openssl_time(field("-startdate")),
            "not_after": openssl_time(field("-enddate"))}


def key_material(path):
    """The base64 lines of a PEM key file: none of them may appear in the audit log."""
    with open(path) as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("-----")]


class AuditTest(cli.SandboxTest):
    def setUp(self):
        super().setUp()
        self.log = os.path.join(self.tmp, "audit.jsonl")

    def audited(self, *args, log=None, **kwargs):
        return self.cli("--audit-log", log or self.log, *args, **kwargs)

    def enroll(self, template, *extra, **kwargs):
        return self.audited("enroll", *self.cep(), *self.user(), "--template", template, *extra,
                            **kwargs)

    def events(self, path=None):
        with open(path or self.log, encoding="utf-8") as f:
            return [json.loads(line) for line in f]

    def secrets(self):
        found = []
        for user in self.info["users"].values():
            if "password_file" in user:
                with open(user["password_file"]) as f:
                    found.append(f.read().strip())
        return [s for s in found if s]

    def ces_requests(self):
        return cli.ces_requests(self.sandbox)

    def assertCommonFields(self, event, subcommand):
        self.assertIn(event["event"], EVENT_TYPES)
        self.assertRegex(event["time"], RFC3339)
        self.assertEqual(event["schema_version"], 1)
        self.assertEqual(event["host"], socket.gethostname())
        self.assertIsInstance(event["pid"], int)
        self.assertEqual(event["tool"], "certenroll-cli")
        self.assertTrue(event["version"])
        self.assertEqual(event["subcommand"], subcommand)

    def assertCertificate(self, event, cert_path):
        for key, value in certificate_facts(cert_path).items():
            self.assertEqual(event[key], value, key)

    def test_every_event_type_with_its_facts_and_no_secret(self):
        # policy: fetched from the server once; the cache hit after it is no event.
        result = self.audited("policy", *self.cep(), *self.user())
        self.assertExit(result, 0)
        self.assertExit(self.audited("policy", *self.cep(), *self.user()), 0)
        events = self.events()
        self.assertEqual([e["event"] for e in events], ["policy_fetched"])
        fetched = events[0]
        self.assertCommonFields(fetched, "policy")
        self.assertEqual(fetched["cep_url"], self.info["cep"]["password"])
        self.assertEqual(fetched["auth"], "password")
        self.assertEqual(fetched["identity"], self.info["users"]["alice"]["username"])
        self.assertTrue(fetched["policy_changed"])
        self.assertEqual(fetched["template_count"], len(result.json["templates"]))
        self.assertEqual(stat.S_IMODE(os.stat(self.log).st_mode), 0o600)

        # enroll, issued: request_submitted then issued, with the certificate's facts.
        issued = self.enroll("WebServer", "--cn", "web1.example.test", "--dns",
                             "web1.example.test")
        self.assertExit(issued, 0)
        submitted, done = self.events()[-2:]
        self.assertEqual(submitted["event"], "request_submitted")
        self.assertEqual(done["event"], "issued")
        for event in (submitted, done):
            self.assertCommonFields(event, "enroll")
            self.assertEqual(event["template"], "WebServer")
            self.assertEqual(event["name"], "WebServer")
            self.assertEqual(event["ca"], "Sandbox-RSA-CA")
            self.assertEqual(event["ces_url"], issued.json["ces_url"])
            self.assertEqual(event["identity"], self.info["users"]["alice"]["username"])
            self.assertEqual(event["key_backend"], "software")
            self.assertEqual(event["key_algorithm"], "RSA 2048")
            self.assertEqual(event["requested_subject"], "CN=web1.example.test")
            self.assertEqual(event["requested_sans"], ["dns:web1.example.test"])
        self.assertNotIn("request_id", submitted)  # the CA has not assigned one yet
        self.assertEqual(done["request_id"], issued.json["request_id"])
        self.assertCertificate(done, issued.json["files"]["cert"])
        self.assertEqual(done["serial"], issued.json["certificate"]["serial"])
        self.assertIn("CN=web1.example.test", done["subject"])
        self.assertEqual(done["sans"], ["dns:web1.example.test"])
        self.assertTrue(done["issuer"])

        # enroll, pending; approved; retrieve-pending: retrieved.
        pending = self.enroll("ApprovalRequired", "--cn", "pending.example.test")
        self.assertExit(pending, 3)
        request_id = pending.json["request_id"]
        event = self.events()[-1]
        self.assertEqual(event["event"], "pending")
        self.assertEqual(event["request_id"], request_id)
        self.assertEqual(event["template"], "ApprovalRequired")
        self.assertNotIn("serial", event)
        still = self.audited("retrieve-pending", request_id, *self.user(), "--ca-bundle",
                             self.info["ca_bundle"])
        self.assertExit(still, 3)
        self.assertEqual(self.events()[-1]["event"], "pending")  # polling is no event
        self.sandbox.approve(pending.json["ca"], request_id)
        retrieved = self.audited("retrieve-pending", request_id, *self.user(), "--ca-bundle",
                                 self.info["ca_bundle"])
        self.assertExit(retrieved, 0)
        event = self.events()[-1]
        self.assertCommonFields(event, "retrieve-pending")
        self.assertEqual(event["event"], "retrieved")
        self.assertEqual(event["request_id"], request_id)
        self.assertEqual(event["template"], "ApprovalRequired")
        self.assertEqual(event["ca"], "Sandbox-RSA-CA")
        self.assertEqual(event["identity"], self.info["users"]["alice"]["username"])
        self.assertCertificate(event, retrieved.json["files"]["cert"])

        # denied by the policy (nothing sent), then by the CA (--force).
        before = len(self.events())
        refused = self.enroll("Restricted", "--cn", "r.example.test")
        self.assertExit(refused, 4)
        new = self.events()[before:]
        self.assertEqual([e["event"] for e in new], ["denied"])
        self.assertEqual(new[0]["denied_by"], "policy")
        self.assertEqual(new[0]["template"], "Restricted")
        self.assertEqual(new[0]["error_category"], "denied")
        forced = self.enroll("Restricted", "--cn", "r.example.test", "--force", "--name", "forced")
        self.assertExit(forced, 4)
        submitted, denied = self.events()[-2:]
        self.assertEqual(submitted["event"], "request_submitted")
        self.assertEqual(denied["event"], "denied")
        self.assertEqual(denied["denied_by"], "ca")
        self.assertEqual(denied["hresult"], "0x80094012")
        self.assertEqual(denied["ca"], "Sandbox-RSA-CA")
        self.assertEqual(denied["ces_url"], submitted["ces_url"])
        self.assertEqual(denied["request_id"], forced.json["error"]["request_id"])
        self.assertEqual(denied["name"], "forced")
        self.assertTrue(denied["error_message"])

        # renew --force: renewed, naming the certificate it replaced.
        old_serial = done["serial"]
        renewed = self.audited("renew", "WebServer", "--force", "--ca-bundle",
                               self.info["ca_bundle"],
                               env={"CERTENROLL_PASSWORD": self.sandbox.password()})
        self.assertExit(renewed, 0)
        submitted, event = self.events()[-2:]
        self.assertEqual(submitted["event"], "request_submitted")
        self.assertTrue(submitted["renewal"])
        self.assertEqual(event["event"], "renewed")
        self.assertCommonFields(event, "renew")
        self.assertTrue(event["renewal"])
        self.assertEqual(event["previous_serial"], old_serial)
        self.assertEqual(event["request_id"], renewed.json["certificates"][0]["request_id"])
        self.assertCertificate(event, issued.json["files"]["cert"])  # the renewed file
        self.assertNotEqual(event["serial"], old_serial)

        # A CES answer that is not for our key: failed, naming what the CA issued.
        self.sandbox.inject_fault("wrongkey", 1, "CES")
        wrong = self.enroll("WebServer", "--cn", "w.example.test", "--name", "wrong")
        self.assertExit(wrong, 8)
        event = self.events()[-1]
        self.assertEqual(event["event"], "failed")
        self.assertEqual(event["error_category"], "protocol")
        self.assertIn("not for our key", event["error_message"])
        self.assertTrue(event["serial"])

        # Every event type appeared, each line is one JSON object, and no secret is anywhere.
        events = self.events()
        self.assertEqual({e["event"] for e in events}, EVENT_TYPES)
        with open(self.log, encoding="utf-8") as f:
            text = f.read()
        self.assertEqual(text.count("\n"), len(events))
        for secret in self.secrets():
            self.assertNotIn(secret, text)
        self.assertNotIn("PRIVATE KEY", text)
        for key in (issued.json["files"]["key"], pending.json["files"]["key"]):
            for line in key_material(key):
                self.assertNotIn(line, text)

    def test_denied_after_pending_is_recorded_by_retrieve_pending(self):
        pending = self.enroll("ApprovalRequired", "--cn", "d.example.test", "--name", "d")
        self.assertExit(pending, 3)
        self.sandbox.deny(pending.json["ca"], pending.json["request_id"])
        denied = self.audited("retrieve-pending", "--all", *self.user(), "--ca-bundle",
                              self.info["ca_bundle"])
        self.assertExit(denied, 4)
        event = self.events()[-1]
        self.assertEqual(event["event"], "denied")
        self.assertEqual(event["denied_by"], "ca")
        self.assertEqual(event["request_id"], pending.json["request_id"])
        self.assertEqual(event["subcommand"], "retrieve-pending")

    def test_log_that_cannot_be_opened_stops_the_run_before_anything_is_sent(self):
        before = len(self.sandbox.requests())
        result = self.enroll("WebServer", "--cn", "x.example.test",
                             log=os.path.join(self.tmp, "missing", "audit.jsonl"))
        self.assertExit(result, 9)
        self.assertEqual(result.json["error"]["category"], "local")
        self.assertIn("audit log", result.json["error"]["message"])
        self.assertEqual(self.sandbox.requests()[before:], [])
        self.assertFalse(os.path.exists(os.path.join(self.state, "live", "WebServer")))

    def test_log_that_cannot_be_written_stops_the_request_before_it_is_sent(self):
        before = len(self.ces_requests())
        result = self.enroll("WebServer", "--cn", "x.example.test", log="/dev/full")
        self.assertExit(result, 9)
        self.assertIn("audit log", result.json["error"]["message"])
        self.assertEqual(self.ces_requests()[before:], [])

    def test_failure_to_record_an_outcome_never_loses_the_certificate(self):
        pending = self.enroll("ApprovalRequired", "--cn", "p.example.test", "--name", "p")
        self.assertExit(pending, 3)
        self.sandbox.approve(pending.json["ca"], pending.json["request_id"])
        # A full disk: the log (our own file, so it opens) holds 1 MiB and the process may not
        # write past 1 MiB + 64 bytes, so every event's append fails with EFBIG while the
        # certificate files (a few KB each) are written. (/dev/full, a device others may write,
        # is refused as an audit log since issue 23.) The outcome is reported, the run succeeds.
        log = os.path.join(self.tmp, "full.jsonl")
        with open(log, "w") as f:
            f.write("{}\n" * ((1 << 20) // 3 + 1))
        limit = os.path.getsize(log) + 64

        def full_disk():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        argv, env = cli._argv_env(["--state-dir", self.state, "--audit-log", log,
                                   "retrieve-pending", pending.json["request_id"], *self.user(),
                                   "--ca-bundle", self.info["ca_bundle"]], True, None)
        retrieved = cli.Result(subprocess.run(argv, capture_output=True, text=True, env=env,
                                              timeout=120, stdin=subprocess.DEVNULL,
                                              preexec_fn=full_disk), True)
        self.assertExit(retrieved, 0)
        self.assertEqual(retrieved.json["status"], "issued")
        self.assertTrue(os.path.exists(retrieved.json["files"]["cert"]))
        self.assertIn("warning: audit log: cannot write the retrieved event", retrieved.stderr)

    def test_existing_log_is_appended_to_and_keeps_its_mode(self):
        with open(self.log, "w") as f:
            f.write('{"event": "earlier"}\n')
        os.chmod(self.log, 0o640)
        self.assertExit(self.audited("policy", *self.cep(), *self.user()), 0)
        events = self.events()
        self.assertEqual(events[0], {"event": "earlier"})
        self.assertEqual(events[1]["event"], "policy_fetched")
        self.assertEqual(stat.S_IMODE(os.stat(self.log).st_mode), 0o640)

    def test_configuration_and_environment_name_the_log_and_the_flag_wins(self):
        config = os.path.join(self.tmp, "config.json")
        from_config = os.path.join(self.tmp, "from-config.jsonl")
        with open(config, "w") as f:
            json.dump({"default_profile": "p", "profiles": {"p": {"audit-log": from_config}}}, f)
        self.assertExit(self.cli("--config", config, "policy", *self.cep(), *self.user()), 0)
        self.assertEqual([e["event"] for e in self.events(from_config)], ["policy_fetched"])
        from_flag = os.path.join(self.tmp, "from-flag.jsonl")
        self.assertExit(self.cli("--config", config, "--audit-log", from_flag, "policy",
                                 *self.cep(), *self.user(), "--refresh"), 0)
        self.assertEqual(len(self.events(from_config)), 1)
        self.assertEqual(len(self.events(from_flag)), 1)
        from_env = os.path.join(self.tmp, "from-env.jsonl")
        self.assertExit(self.cli("policy", *self.cep(), *self.user(), "--refresh",
                                 env={"CERTENROLL_AUDIT_LOG": from_env}), 0)
        self.assertEqual([e["event"] for e in self.events(from_env)], ["policy_fetched"])

    def test_no_log_without_the_option(self):
        self.assertExit(self.cli("policy", *self.cep(), *self.user()), 0)
        self.assertFalse(os.path.exists(self.log))


def private_dev_log_available():
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0


class SyslogTest(cli.SandboxTest):
    """--audit-syslog, received on a /dev/log of our own: the CLI runs in a private mount
    namespace whose /dev holds our datagram socket, so no system logger is needed or touched."""

    def run_with_our_dev_log(self, *args, env=None):
        dev = os.path.join(self.tmp, "dev")
        os.mkdir(dev)
        receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        receiver.bind(os.path.join(dev, "log"))
        script = ('set -e; mount --make-rprivate /; '
                  'for n in null zero random urandom; do touch "$1/$n"; '
                  'mount --bind "/dev/$n" "$1/$n"; done; '
                  'mount --rbind "$1" /dev; shift; exec "$@"')
        argv = ["unshare", "-m", "sh", "-c", script, "sh", dev, cli.CLI, "--json",
                "--state-dir", self.state, *[str(a) for a in args]]
        full_env = dict(os.environ)
        full_env.pop("CERTENROLL_PASSWORD", None)
        full_env.update(env or {})
        completed = subprocess.run(argv, capture_output=True, text=True, env=full_env,
                                   timeout=120, stdin=subprocess.DEVNULL)
        receiver.settimeout(1)
        messages = []
        try:
            while True:
                messages.append(receiver.recv(65536).decode())
        except socket.timeout:
            pass
        receiver.close()
        return cli.Result(completed, True), messages

    @unittest.skipUnless(private_dev_log_available(), "needs root and unshare -m")
    def test_events_go_to_syslog_as_authpriv_json(self):
        result, messages = self.run_with_our_dev_log(
            "--audit-syslog", "enroll", *self.cep(), *self.user(), "--template", "WebServer",
            "--cn", "s.example.test")
        self.assertExit(result, 0)
        parsed = []
        for message in messages:
            match = re.match(r"^<(\d+)>.*?certenroll-cli\[(\d+)\]: (\{.*\})$", message)
            self.assertTrue(match, message)
            priority, pid, body = int(match.group(1)), int(match.group(2)), json.loads(match.group(3))
            self.assertEqual(priority // 8, 10)  # LOG_AUTHPRIV
            self.assertEqual(body["pid"], pid)
            parsed.append((priority % 8, body))
        self.assertEqual([b["event"] for _, b in parsed],
                         ["policy_fetched", "request_submitted", "issued"])
        self.assertEqual(parsed[0][0], 6)  # info
        self.assertEqual(parsed[2][0], 5)  # notice
        self.assertEqual(parsed[2][1]["serial"], result.json["certificate"]["serial"])
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "audit.jsonl")))


if __name__ == "__main__":
    unittest.main()
