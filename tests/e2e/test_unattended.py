"""Unattended runs (cron, the systemd timer): --quiet silences success only; every failure, also
each one inside a batch, reaches stderr and the exit status, and --json carries each outcome."""

import os

import cli


class QuietTest(cli.SandboxTest):
    def enroll(self, name, template="WebServer"):
        result = self.cli("enroll", *self.cep(), *self.user(), "--template", template,
                          "--name", name, "--cn", name + ".example.test")
        self.assertEqual(result.code, 0 if template == "WebServer" else 3, repr(result))
        return result.json

    def renew(self, *args, json_mode=False):
        return self.cli(*args, "--ca-bundle", self.info["ca_bundle"], json_mode=json_mode,
                        env={"CERTENROLL_PASSWORD": self.sandbox.password()})

    def test_quiet_renewal_of_one_certificate_fails_aloud(self):
        self.enroll("loud")
        # The CA's web server refuses the credentials (as after a password change).
        self.sandbox.inject_fault("http401", count=5)
        try:
            failed = self.renew("-q", "renew", "loud", "--force")
            failed_json = self.renew("-q", "renew", "loud", "--force", json_mode=True)
        finally:
            self.sandbox.clear_faults()
        self.assertExit(failed, 5)
        self.assertEqual(failed.stdout, "")
        self.assertIn("certenroll-cli: auth error: loud: ", failed.stderr)
        self.assertIn("\n  hint: ", failed.stderr)
        # --json: the document carries the outcome, stderr still tells a person.
        self.assertExit(failed_json, 5)
        entry = failed_json.json["certificates"][0]
        self.assertEqual((entry["name"], entry["status"]), ("loud", "failed"))
        self.assertEqual(entry["error"]["category"], "auth")
        self.assertIn("auth error: loud: " + entry["error"]["message"], failed_json.stderr)
        # Success stays silent.
        renewed = self.renew("-q", "renew", "loud", "--force")
        self.assertExit(renewed, 0)
        self.assertEqual((renewed.stdout, renewed.stderr), ("", ""))

    def test_quiet_renew_all_reports_each_failing_certificate(self):
        for name in ("good1", "broken", "good2"):
            self.enroll(name)
        os.unlink(os.path.join(self.state, "live", "broken", "cert.pem"))
        result = self.renew("-q", "renew", "--all", "--force")
        self.assertExit(result, 9)  # local error: the missing file
        self.assertEqual(result.stdout, "")
        failures = [line for line in result.stderr.splitlines() if " error: " in line]
        self.assertEqual(len(failures), 1, result.stderr)
        self.assertTrue(failures[0].startswith("certenroll-cli: local error: broken: "), failures)
        self.assertIn("cert.pem", failures[0])
        self.assertNotIn("good", result.stderr)
        # --json -q: one outcome per certificate, and the failure on stderr as well.
        result = self.renew("-q", "renew", "--all", "--force", json_mode=True)
        self.assertExit(result, 9)
        outcomes = {c["name"]: c["status"] for c in result.json["certificates"]}
        self.assertEqual(outcomes, {"good1": "renewed", "broken": "failed", "good2": "renewed"})
        self.assertEqual(result.json["exit_code"], 9)
        self.assertIn("local error: broken: ", result.stderr)
        # Text mode without -q: the list on stdout, the failure with its hint on stderr.
        result = self.renew("renew", "--all", "--force")
        self.assertExit(result, 9)
        self.assertIn("broken: failed (", result.stdout)
        self.assertIn("good1: renewed (", result.stdout)
        self.assertIn("local error: broken: ", result.stderr)

    def test_quiet_deploy_hook_failure_is_heard(self):
        self.enroll("hooked")
        result = self.renew("-q", "renew", "hooked", "--force", "--deploy-hook", "exit 7")
        self.assertNotEqual(result.code, 0, repr(result))
        self.assertEqual(result.stdout, "")
        self.assertIn("error: hooked: ", result.stderr)

    def test_quiet_retrieve_pending_all_reports_a_denied_request(self):
        pending = self.enroll("waiting", template="ApprovalRequired")
        self.sandbox.deny(pending["ca"], pending["request_id"])
        result = self.cli("-q", "retrieve-pending", "--all", *self.user(), "--ca-bundle",
                          self.info["ca_bundle"], json_mode=False)
        self.assertExit(result, 4)
        self.assertEqual(result.stdout, "")
        self.assertIn("denied error: request " + pending["request_id"] + ": ", result.stderr)

    def test_quiet_diagnose_failure_names_its_root_cause(self):
        # Nothing listens on port 9 of this machine.
        result = self.cli("-q", "diagnose", "--url", "https://127.0.0.1:9/CEP",
                          "--connect-timeout", "2", json_mode=False)
        self.assertExit(result, 7)
        self.assertEqual(result.stdout, "")
        self.assertIn("certenroll-cli: network error: ", result.stderr)
        self.assertIn("\n  hint: ", result.stderr)


if __name__ == "__main__":
    import unittest
    unittest.main()
