"""Issue 24: each managed certificate keeps how to reach and authenticate to its CEP/CES (by
reference), renew --all collects pending requests, and a failed enroll's retry just works."""

import json
import os
import shlex

import cli


class RecordedSettingsTest(cli.SandboxTest):
    def enroll(self, name, *args, template="WebServer", code=0, env=None):
        result = self.cli("enroll", "--template", template, "--name", name,
                          "--cn", name + ".example.test", *args, env=env)
        self.assertExit(result, code)
        return result

    def record(self, name):
        with open(os.path.join(self.state, "certificates", name + ".json")) as f:
            return json.load(f)

    def password_enroll_args(self, user="alice"):
        return [*self.cep("password"), *self.user(user)]

    def certificate_enroll_args(self, user="alice"):
        u = self.info["users"][user]
        return [*self.cep("certificate"), "--client-cert", u["client_cert"],
                "--client-key", u["client_key"]]

    def kerberos_enroll_args(self, user="alice"):
        krb = self.info["kerberos"]
        return ["--url", self.info["cep"]["kerberos"], "--ca-bundle", self.info["ca_bundle"],
                "--keytab", krb["users"][user]["keytab"],
                "--principal", krb["users"][user]["principal"]]

    def kerberos_env(self):
        if not self.info.get("kerberos"):
            return None
        return {"KRB5_CONFIG": self.info["kerberos"]["krb5_conf"],
                "KRB5CCNAME": "FILE:" + os.path.join(self.tmp, "no-such-cache")}

    def issued_ces_requests(self, since):
        return [r for r in cli.ces_requests(self.sandbox, since) if r.get("outcome") == "issued"]

    def test_the_record_keeps_references_never_secrets(self):
        self.enroll("pw", *self.password_enroll_args())
        endpoint = self.record("pw")["endpoint"]
        self.assertEqual(endpoint["password_file"], self.info["users"]["alice"]["password_file"])
        self.assertEqual(endpoint["ca_bundle"], self.info["ca_bundle"])
        with open(os.path.join(self.state, "certificates", "pw.json")) as f:
            self.assertNotIn(self.sandbox.password("alice"), f.read())
        # The password from the environment is recorded as the variable's name.
        self.enroll("env", *self.cep("password"), "--username", "alice",
                    env={"CERTENROLL_PASSWORD": self.sandbox.password("alice")})
        endpoint = self.record("env")["endpoint"]
        self.assertEqual(endpoint["password_env"], "CERTENROLL_PASSWORD")
        self.assertNotIn("password_file", endpoint)

    def test_renew_name_needs_no_options(self):
        self.enroll("web", *self.password_enroll_args())
        # No --password-file, no --ca-bundle, no password in the environment.
        renewed = self.cli("renew", "web", "--force")
        self.assertExit(renewed, 0)
        self.assertEqual(renewed.json["certificates"][0]["status"], "renewed")

    def test_renew_all_across_ceps_and_auth_modes_with_a_profile_url(self):
        # The man page's configuration: a profile whose url is the password CEP, with a user.
        config = os.path.join(self.tmp, "config.json")
        with open(config, "w") as f:
            json.dump({"default_profile": "corp",
                       "profiles": {"corp": {"url": self.info["cep"]["password"],
                                             "username": "bob",
                                             "password-file":
                                                 self.info["users"]["bob"]["password_file"],
                                             "ca-bundle": self.info["ca_bundle"]}}}, f)
        env = {"CERTENROLL_CONFIG": config}
        self.enroll("by-password", *self.password_enroll_args("alice"))
        self.enroll("by-certificate", *self.certificate_enroll_args("alice"))
        expected = {"by-password": ("password", "alice"),
                    "by-certificate": ("certificate", "alice")}
        kerberos_env = self.kerberos_env()
        if kerberos_env:
            self.enroll("by-kerberos", *self.kerberos_enroll_args("alice"), env=kerberos_env)
            expected["by-kerberos"] = ("kerberos", "alice")
            env.update(kerberos_env)
        else:
            cli.require(self, False, "the sandbox's Kerberos realm (krb5-kdc)")
        since = len(self.sandbox.requests())
        result = self.cli("renew", "--all", "--force", env=env)
        self.assertExit(result, 0)
        self.assertEqual({c["name"]: c["status"] for c in result.json["certificates"]},
                         {name: "renewed" for name in expected})
        # Serials compared as numbers: one side may drop a leading zero nibble.
        by_serial = {int(c["certificate"]["serial"], 16): c["name"]
                     for c in result.json["certificates"]}
        seen = {by_serial[int(r["serial"], 16)]: (r["auth"], r["identity"])
                for r in self.issued_ces_requests(since)}
        self.assertEqual(seen, expected)

    def test_command_line_overrides_the_record_for_one_run_only(self):
        self.enroll("web", *self.password_enroll_args())
        before = self.record("web")["endpoint"]
        proxied = (self.info["base_url"] +
                   "/proxied/Sandbox-RSA-CA_CES_UsernamePassword/service.svc/CES")
        since = len(self.sandbox.requests())
        result = self.cli("renew", "web", "--force", "--ces-url", proxied, *self.user("bob"))
        self.assertExit(result, 0)
        issued = self.issued_ces_requests(since)
        self.assertEqual([(r["path"], r["identity"]) for r in issued],
                         [("/proxied/Sandbox-RSA-CA_CES_UsernamePassword/service.svc/CES",
                           "bob")])
        after = self.record("web")["endpoint"]
        for key in ("cep_url", "username", "password_file", "ca_bundle"):
            self.assertEqual(after.get(key), before.get(key), key)

    def test_the_retrieve_pending_hint_works_as_printed(self):
        result = self.cli("enroll", *self.password_enroll_args(), "--template",
                          "ApprovalRequired", "--cn", "later.example.test", "--name", "later",
                          json_mode=False)
        self.assertExit(result, 3)
        hint = [line for line in result.stdout.splitlines()
                if "certenroll-cli retrieve-pending" in line][0]
        command = shlex.split(hint[hint.index("certenroll-cli"):])
        request_id = command[-1]
        self.sandbox.approve("Sandbox-RSA-CA", request_id)
        done = self.cli(*command[1:])
        self.assertExit(done, 0)
        self.assertEqual(done.json["status"], "issued")
        self.assertEqual(self.record("later")["endpoint"]["password_file"],
                         self.info["users"]["alice"]["password_file"])


class PendingPickupTest(cli.SandboxTest):
    def enroll_pending(self, name):
        result = self.cli("enroll", *self.cep(), *self.user(), "--template", "ApprovalRequired",
                          "--cn", name + ".example.test", "--name", name)
        self.assertExit(result, 3)
        return result.json

    def quiet_renew_all(self):
        return self.cli("-q", "renew", "--all", json_mode=False)

    def test_renew_all_collects_approved_reports_denied_once_and_keeps_pending_quiet(self):
        approved = self.enroll_pending("approved")
        denied = self.enroll_pending("denied")
        waiting = self.enroll_pending("waiting")
        self.assertTrue(os.path.exists(denied["files"]["key"]))
        self.sandbox.approve("Sandbox-RSA-CA", approved["request_id"])
        self.sandbox.deny("Sandbox-RSA-CA", denied["request_id"])

        first = self.quiet_renew_all()
        # The denial is a failure, heard on stderr even with -q; the approval is installed.
        self.assertExit(first, 4)
        self.assertEqual(first.stdout, "")
        self.assertIn("denied", first.stderr)
        self.assertIn(denied["request_id"], first.stderr)
        self.assertNotIn("waiting", first.stderr)
        self.assertKeyMatches(approved["files"]["cert"], approved["files"]["key"])
        self.assertTrue(os.path.exists(os.path.join(self.state, "certificates", "approved.json")))
        # The denied request's key is gone; the waiting one's stays.
        self.assertFalse(os.path.exists(denied["files"]["key"]))
        self.assertTrue(os.path.exists(waiting["files"]["key"]))

        # Next run: nothing failed, one request still waits: silent, exit 0 (cron mails nothing).
        second = self.quiet_renew_all()
        self.assertExit(second, 0)
        self.assertEqual((second.stdout, second.stderr), ("", ""))
        listed = self.cli("renew", "--all")
        self.assertExit(listed, 0)
        states = {c["name"]: c["status"] for c in listed.json["certificates"]}
        self.assertEqual(states, {"waiting": "pending", "approved": "skipped"})
        self.assertEqual(listed.json["summary"]["pending"], 1)

    def test_an_approved_renewal_is_installed_with_its_deploy_hook(self):
        first = self.enroll_pending("svc")
        self.sandbox.approve("Sandbox-RSA-CA", first["request_id"])
        self.assertExit(self.cli("renew", "--all"), 0)
        hook_out = os.path.join(self.tmp, "hook.out")
        hook = "echo $CERTENROLL_NAME $CERTENROLL_SERIAL >> " + shlex.quote(hook_out)
        renewal = self.cli("renew", "svc", "--force", "--deploy-hook", hook)
        self.assertExit(renewal, 3)
        request_id = renewal.json["certificates"][0]["request_id"]
        self.assertFalse(os.path.exists(hook_out))
        self.sandbox.approve("Sandbox-RSA-CA", request_id)
        collected = self.cli("renew", "--all")
        self.assertExit(collected, 0)
        [entry] = collected.json["certificates"]
        self.assertEqual((entry["name"], entry["status"], entry["collected_request_id"]),
                         ("svc", "renewed", request_id))
        with open(hook_out) as f:
            self.assertEqual(f.read().split(), ["svc", entry["certificate"]["serial"]])
        self.assertKeyMatches(first["files"]["cert"], first["files"]["key"])


class RetryTest(cli.SandboxTest):
    def enroll_command(self, *extra, name="ci"):
        return ["enroll", *self.cep(), *self.user(), "--template", "WebServer",
                "--cn", name + ".example.test", "--name", name, *extra]

    def key_path(self, name="ci"):
        return os.path.join(self.state, "live", name, "key.pem")

    def test_the_same_command_succeeds_after_a_failure_before_the_ca_accepted(self):
        # Authentication refused at the CES, and IIS's 503 before the CA saw the request.
        for fault, code in (("http401", 5), ("http503", 7)):
            with self.subTest(fault=fault):
                self.sandbox.inject_fault(fault, 1, "CES")
                failed = self.cli(*self.enroll_command(name=fault))
                self.assertExit(failed, code)
                # The key made for it is kept: the identical retry reuses it.
                kept = cli.public_key_of_key(self.key_path(fault))
                again = self.cli(*self.enroll_command(name=fault))
                self.assertExit(again, 0)
                self.assertEqual(cli.public_key_of_key(self.key_path(fault)), kept)
                self.assertKeyMatches(again.json["files"]["cert"], self.key_path(fault))
        self.assertEqual(os.listdir(os.path.join(self.state, "attempts")), [])

    def test_a_retry_with_another_key_type_replaces_the_unanswered_key(self):
        self.sandbox.inject_fault("http401", 1, "CES")
        self.assertExit(self.cli(*self.enroll_command()), 5)
        kept = cli.public_key_of_key(self.key_path())
        again = self.cli(*self.enroll_command("--key-type", "rsa:3072"))
        self.assertExit(again, 0)
        self.assertNotEqual(cli.public_key_of_key(self.key_path()), kept)
        self.assertIn("3072 bit", cli.openssl("pkey", "-in", self.key_path(), "-noout", "-text"))

    def test_a_denied_request_leaves_no_key_and_the_retry_starts_clean(self):
        self.sandbox.inject_fault("fault:0x80094012", 1, "CES")
        denied = self.cli(*self.enroll_command())
        self.assertExit(denied, 4)
        self.assertFalse(os.path.exists(self.key_path()))
        self.assertExit(self.cli(*self.enroll_command()), 0)

    def test_a_key_given_with_key_is_never_removed(self):
        own = os.path.join(self.tmp, "own.key")
        cli.openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", own)
        self.sandbox.inject_fault("fault:0x80094012", 1, "CES")
        self.assertExit(self.cli(*self.enroll_command("--key", own)), 4)
        self.assertTrue(os.path.exists(own))

    def test_a_key_file_this_tool_did_not_make_for_the_attempt_is_not_touched(self):
        os.makedirs(os.path.dirname(self.key_path()))
        with open(self.key_path(), "w") as f:
            f.write("not ours\n")
        refused = self.cli(*self.enroll_command())
        self.assertExit(refused, 2)
        self.assertIn("already exists", refused.json["error"]["message"])
        with open(self.key_path()) as f:
            self.assertEqual(f.read(), "not ours\n")
        # Nor one whose certificate was issued: the second run after a success is refused too.
        os.remove(self.key_path())
        self.assertExit(self.cli(*self.enroll_command()), 0)
        issued_key = cli.public_key_of_key(self.key_path())
        self.assertExit(self.cli(*self.enroll_command()), 2)
        self.assertEqual(cli.public_key_of_key(self.key_path()), issued_key)


if __name__ == "__main__":
    import unittest

    unittest.main()
