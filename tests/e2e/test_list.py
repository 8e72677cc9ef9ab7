"""`list`: what the state directory manages, with renew's due times and each record's last
outcome; the hints that point at it; --quiet and a new pending request; shell completion of
template, certificate and request names."""

import os
import subprocess

import cli


class ListTest(cli.SandboxTest):
    def enroll(self, name, template="WebServer", *extra):
        result = self.cli("enroll", *self.cep(), *self.user(), "--template", template,
                          "--name", name, "--cn", name + ".example.test", *extra)
        self.assertExit(result, 0 if template == "WebServer" else 3)
        return result.json

    def renew(self, *args, json_mode=True):
        return self.cli("renew", *args, "--ca-bundle", self.info["ca_bundle"],
                        json_mode=json_mode, env={"CERTENROLL_PASSWORD": self.sandbox.password()})

    def listed(self):
        result = self.cli("list")
        return result, {c["name"]: c for c in result.json["certificates"]}

    def test_list_shows_certificates_and_pending_requests(self):
        issued = self.enroll("web")
        pending = self.enroll("waiting", "ApprovalRequired")
        result, certificates = self.listed()
        self.assertExit(result, 0)
        self.assertEqual(list(certificates), ["web"])
        web = certificates["web"]
        self.assertEqual(web["template"], "WebServer")
        self.assertIn("CN=web.example.test", web["subject"])
        self.assertEqual(web["serial"], issued["certificate"]["serial"])
        self.assertEqual(web["not_after"], issued["certificate"]["not_after"])
        self.assertEqual(web["key"], {"location": "file", "reference": issued["files"]["key"]})
        self.assertEqual(web["endpoint"]["cep_url"], self.info["cep"]["password"])
        self.assertEqual(web["endpoint"]["auth"], "password")
        self.assertEqual(web["endpoint"]["username"], self.info["users"]["alice"]["username"])
        self.assertEqual(web["last_outcome"]["result"], "issued")
        self.assertIn(issued["certificate"]["serial"], web["last_outcome"]["message"])
        # The due time is renew's own: what renew --all reports for the certificate it skips.
        # (renew --all first asks about the pending request: its entry comes first.)
        def renewal_of_web(*args):
            result = self.renew("--all", *args)
            self.assertExit(result, 0)
            [entry] = [c for c in result.json["certificates"] if c["name"] == "web"]
            return entry
        self.assertEqual(web["renewal_due"], renewal_of_web()["due_at"])
        with_option = self.cli("list", "--renew-before", "1d").json["certificates"][0]
        self.assertNotEqual(with_option["renewal_due"], web["renewal_due"])
        self.assertEqual(with_option["renewal_due"], renewal_of_web("--renew-before", "1d")["due_at"])
        # The pending request, with its own last outcome.
        [request] = result.json["pending"]
        self.assertEqual((request["name"], request["request_id"], request["status"]),
                         ("waiting", pending["request_id"], "pending"))
        self.assertEqual(request["last_outcome"]["result"], "pending")
        self.assertEqual(request["endpoint"]["ces_url"], pending["ces_url"])
        # Text: a table row per certificate with its details, then the pending requests.
        text = self.cli("list", json_mode=False)
        self.assertExit(text, 0)
        lines = text.stdout.splitlines()
        self.assertTrue(lines[0].startswith("NAME"), text.stdout)
        self.assertTrue(lines[1].startswith("web "), text.stdout)
        self.assertIn(" issued", lines[1])
        self.assertIn("key file " + issued["files"]["key"], text.stdout)
        self.assertIn("CEP " + self.info["cep"]["password"] + ", auth password", text.stdout)
        self.assertIn("Pending requests:", text.stdout)
        self.assertIn(pending["request_id"], text.stdout.split("Pending requests:")[1])

    def test_an_empty_state_directory_lists_nothing(self):
        result = self.cli("list", json_mode=False)
        self.assertExit(result, 0)
        self.assertIn("No managed certificates in " + self.state, result.stdout)
        self.assertEqual(self.cli("list").json["certificates"], [])

    def test_last_outcome_of_each_certificate_in_renew_all_and_of_a_failed_renewal(self):
        for name in ("good", "broken"):
            self.enroll(name)
        os.unlink(os.path.join(self.state, "live", "broken", "cert.pem"))
        self.assertExit(self.renew("--all", "--force"), 9)
        result, certificates = self.listed()
        # The missing file is a failure list reports too (exit 9), naming the certificate.
        self.assertExit(result, 9)
        self.assertIn("broken: ", result.stderr)
        self.assertEqual(certificates["good"]["last_outcome"]["result"], "renewed")
        broken = certificates["broken"]["last_outcome"]
        self.assertEqual(broken["result"], "local")
        self.assertIn("cert.pem", broken["message"])
        self.assertIn("missing", certificates["broken"]["error"]["message"])
        # A failing renewal of one certificate: the category and message; then success again.
        self.sandbox.inject_fault("http401", count=5)
        try:
            self.assertExit(self.renew("good", "--force"), 5)
        finally:
            self.sandbox.clear_faults()
        failed = self.listed()[1]["good"]["last_outcome"]
        self.assertEqual(failed["result"], "auth")
        self.assertTrue(failed["message"])
        text = self.cli("list", json_mode=False).stdout
        self.assertIn("last error: " + failed["message"], text)
        self.assertExit(self.renew("good", "--force"), 0)
        self.assertEqual(self.listed()[1]["good"]["last_outcome"]["result"], "renewed")

    def test_not_due_leaves_the_last_outcome_alone(self):
        self.enroll("calm")
        record = os.path.join(self.state, "certificates", "calm.json")
        before = os.stat(record).st_mtime_ns
        with open(record) as f:
            content = f.read()
        self.assertExit(self.renew("--all"), 0)
        with open(record) as f:
            self.assertEqual(f.read(), content)
        self.assertEqual(os.stat(record).st_mtime_ns, before)

    def test_retrieve_pending_records_issue_and_denial(self):
        approved = self.enroll("approved", "ApprovalRequired")
        denied = self.enroll("denied", "ApprovalRequired")
        self.sandbox.approve(approved["ca"], approved["request_id"])
        self.sandbox.deny(denied["ca"], denied["request_id"])
        result = self.cli("retrieve-pending", "--all", *self.user(), "--ca-bundle",
                          self.info["ca_bundle"])
        self.assertExit(result, 4)
        listed = self.cli("list").json
        self.assertEqual(listed["certificates"][0]["name"], "approved")
        self.assertEqual(listed["certificates"][0]["last_outcome"]["result"], "issued")
        [request] = listed["pending"]
        self.assertEqual((request["name"], request["status"]), ("denied", "denied"))
        self.assertEqual(request["last_outcome"]["result"], "denied")

    def test_hints_for_unknown_names_point_at_list(self):
        renew = self.renew("nosuch")
        self.assertExit(renew, 2)
        self.assertIn("'certenroll-cli list'", renew.json["error"]["hint"])
        retrieve = self.cli("retrieve-pending", "999", *self.user(), "--ca-bundle",
                            self.info["ca_bundle"])
        self.assertExit(retrieve, 2)
        self.assertIn("'certenroll-cli list'", retrieve.json["error"]["hint"])

    def test_quiet_reports_a_new_pending_request_once(self):
        result = self.cli("-q", "enroll", *self.cep(), *self.user(), "--template",
                          "ApprovalRequired", "--name", "later", "--cn", "later.example.test",
                          json_mode=False)
        self.assertExit(result, 3)
        self.assertEqual(result.stdout, "")
        [line] = [l for l in result.stderr.splitlines() if "pending" in l]
        request_id = self.cli("list").json["pending"][0]["request_id"]
        self.assertIn("request " + request_id + " for 'later' is pending", line)
        self.assertIn("retrieve-pending " + request_id, line)
        # Polled again from cron: still pending is no news.
        again = self.cli("-q", "retrieve-pending", "--all", *self.user(), "--ca-bundle",
                         self.info["ca_bundle"], json_mode=False)
        self.assertExit(again, 3)
        self.assertEqual((again.stdout, again.stderr), ("", ""))
        single = self.cli("-q", "retrieve-pending", request_id, *self.user(), "--ca-bundle",
                          self.info["ca_bundle"], json_mode=False)
        self.assertExit(single, 3)
        self.assertEqual((single.stdout, single.stderr), ("", ""))


class CompletionNamesTest(cli.SandboxTest):
    def complete(self, *words):
        """What bash completion offers for the last word, with the script the binary generates
        and the binary itself answering the script's `completion --names`."""
        script = cli.run("completion", "bash", json_mode=False).stdout
        words = [cli.CLI, "--state-dir", self.state, *words]
        program = (script + "\nCOMP_WORDS=(\"$@\"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))\n"
                   "_certenroll_cli; printf '%s\\n' \"${COMPREPLY[@]}\"\n")
        result = subprocess.run(["bash", "-c", program, "bash", *words], capture_output=True,
                                text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        return [w for w in result.stdout.splitlines() if w]

    def test_template_certificate_and_request_names_are_completed(self):
        # Nothing cached yet: nothing offered, and no error in the command line.
        self.assertEqual(self.complete("enroll", "--template", ""), [])
        self.assertEqual(cli.run("--state-dir", self.state, "completion", "--names", "templates",
                                 json_mode=False).code, 0)
        enrolled = self.cli("enroll", *self.cep(), *self.user(), "--template", "WebServer",
                            "--name", "web1", "--cn", "web1.example.test")
        self.assertExit(enrolled, 0)
        pending = self.cli("enroll", *self.cep(), *self.user(), "--template", "ApprovalRequired",
                           "--name", "held", "--cn", "held.example.test")
        self.assertExit(pending, 3)
        # The templates of the cached policy (enroll fetched it).
        offered = self.complete("enroll", "--template", "")
        self.assertIn("WebServer", offered)
        self.assertIn("ApprovalRequired", offered)
        self.assertEqual(self.complete("policy", "--template", "WebServer3"), ["WebServer3072"])
        self.assertEqual(self.complete("renew", ""), ["web1"])
        self.assertEqual(self.complete("renew", "--all", "w"), ["web1"])
        self.assertEqual(self.complete("retrieve-pending", ""), [pending.json["request_id"]])
        # Options are still completed as before.
        self.assertIn("--all", self.complete("renew", "--a"))
        # Another state directory has other names.
        other = os.path.join(self.tmp, "other")
        names = cli.run("--state-dir", other, "completion", "--names", "certificates")
        self.assertEqual(names.json["names"], [])

    def test_an_unknown_kind_of_names_is_a_usage_error(self):
        result = cli.run("completion", "--names", "hosts")
        self.assertEqual(result.code, 2, repr(result))


if __name__ == "__main__":
    import unittest
    unittest.main()
