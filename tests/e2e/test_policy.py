"""`policy` against the sandbox CEP: listing, details, JSON model, cache, auth and TLS failures."""

import hashlib
import json
import os
import time
import unittest

import cli


class PolicyTest(cli.SandboxTest):
    def test_lists_templates_as_a_table(self):
        result = self.cli("policy", *self.cep(), *self.user(), json_mode=False)
        self.assertExit(result, 0)
        for name in ("WebServer", "Machine", "ECWebServer", "ApprovalRequired"):
            self.assertIn(name, result.stdout)
        self.assertIn("TEMPLATE", result.stdout)

    def test_json_has_the_full_model(self):
        result = self.cli("policy", *self.cep(), *self.user())
        self.assertExit(result, 0)
        doc = result.json
        self.assertTrue(doc["policy_id"])
        self.assertEqual(doc["next_update_hours"], 8)
        names = {t["name"] for t in doc["templates"]}
        self.assertTrue({"WebServer", "ECWebServer", "WebServer3072"} <= names)
        ec = next(t for t in doc["templates"] if t["name"] == "ECWebServer")
        self.assertEqual(ec["schema"], 3)
        self.assertIn("ECDSA", ec["key_algorithm"].upper() + " " + str(ec.get("key_algorithm_oid", "")))
        self.assertTrue(doc["cas"])
        ca = doc["cas"][0]
        self.assertIn("name", ca)
        self.assertIn("enroll_permission", ca)
        self.assertTrue(any(u["auth"] == "password" for u in ca["uris"]))

    def test_template_details_name_the_ces_urls(self):
        result = self.cli("policy", *self.cep(), *self.user(), "--template", "WebServer",
                          json_mode=False)
        self.assertExit(result, 0)
        self.assertIn("CES", result.stdout)
        self.assertIn("_CES_UsernamePassword/service.svc/CES", result.stdout)
        self.assertIn("--auth password", result.stdout)

    def test_templates_that_cannot_be_used_say_why(self):
        result = self.cli("policy", *self.cep(), *self.user())
        self.assertExit(result, 0)
        by_name = {t["name"]: t for t in result.json["templates"]}
        self.assertTrue(by_name["WebServer"]["usable"])
        self.assertEqual(by_name["WebServer"]["unusable_reasons"], [])
        self.assertFalse(by_name["Restricted"]["usable"])
        self.assertIn("no Enroll permission", by_name["Restricted"]["unusable_reasons"][0])
        # Another auth mode offered by the CES endpoints: still usable.
        by_cert = self.cli("policy", "--url", self.info["cep"]["certificate"], "--ca-bundle",
                            self.info["ca_bundle"], "--auth", "certificate", "--client-cert",
                            self.info["users"]["alice"]["client_cert"], "--client-key",
                            self.info["users"]["alice"]["client_key"])
        self.assertExit(by_cert, 0)
        web = next(t for t in by_cert.json["templates"] if t["name"] == "WebServer")
        self.assertTrue(web["usable"])
        table = self.cli("policy", *self.cep(), *self.user(), json_mode=False)
        line = next(l for l in table.stdout.splitlines() if l.startswith("Restricted"))
        self.assertIn("cannot use: no Enroll permission", line)

    def test_unknown_template_is_a_usage_error(self):
        result = self.cli("policy", *self.cep(), *self.user(), "--template", "NoSuchTemplate")
        self.assertExit(result, 2)
        self.assertIn("NoSuchTemplate", result.json["error"]["message"])

    def test_second_call_uses_the_cache_and_refresh_refetches(self):
        first = self.cli("policy", *self.cep(), *self.user())
        self.assertExit(first, 0)
        self.assertFalse(first.json["from_cache"])
        before = len([r for r in self.sandbox.requests() if r.get("endpoint") == "CEP"])
        second = self.cli("policy", *self.cep(), *self.user())
        self.assertExit(second, 0)
        self.assertTrue(second.json["from_cache"])
        self.assertEqual(before, len([r for r in self.sandbox.requests() if r.get("endpoint") == "CEP"]))
        third = self.cli("policy", *self.cep(), *self.user(), "--refresh")
        self.assertExit(third, 0)
        cep_requests = [r for r in self.sandbox.requests() if r.get("endpoint") == "CEP"]
        self.assertEqual(before + 1, len(cep_requests))
        # The refetch sent lastUpdate, and the unchanged policy came back as policiesNotChanged.
        self.assertEqual(cep_requests[-1]["outcome"], "notchanged")
        self.assertEqual(sorted(t["name"] for t in third.json["templates"]),
                         sorted(t["name"] for t in first.json["templates"]))

    def test_cache_entry_holds_the_response_as_it_is_and_replaces_the_first_format(self):
        # An entry of the first format (the response inside JSON, KEY.json) is not read: the
        # policy is fetched again, and the old file removed when the new entry is written.
        url = self.info["cep"]["password"]
        key = hashlib.sha256(
            f"{url}\npassword:{self.info['users']['alice']['username']}".encode()).hexdigest()
        cache_dir = os.path.join(self.state, "policy-cache")
        os.makedirs(cache_dir, mode=0o700)
        legacy = os.path.join(cache_dir, key + ".json")
        with open(legacy, "w") as f:
            json.dump({"version": 1, "cep_url": url, "identity": "password:alice",
                       "fetched_at": int(time.time()), "last_full_update": int(time.time()),
                       "response_xml": "<GetPoliciesResponse/>"}, f)
        first = self.cli("policy", *self.cep(), *self.user())
        self.assertExit(first, 0)
        self.assertFalse(first.json["from_cache"])
        self.assertEqual(os.listdir(cache_dir), [key + ".policy"])
        with open(os.path.join(cache_dir, key + ".policy"), "rb") as f:
            header, response = f.read().split(b"\n", 1)
        entry = json.loads(header)
        self.assertEqual((entry["version"], entry["cep_url"], entry["response_bytes"]),
                         (2, url, len(response)))
        self.assertTrue(response.startswith(b"<"), response[:80])
        self.assertIn(b"WebServer3072", response)
        second = self.cli("policy", *self.cep(), *self.user())
        self.assertExit(second, 0)
        self.assertTrue(second.json["from_cache"])
        self.assertEqual(second.json["templates"], first.json["templates"])
        # Cut short: unreadable, so fetched again and rewritten whole.
        with open(os.path.join(cache_dir, key + ".policy"), "wb") as f:
            f.write(header + b"\n" + response[:-10])
        third = self.cli("policy", *self.cep(), *self.user(), "-v")
        self.assertExit(third, 0)
        self.assertFalse(third.json["from_cache"])
        self.assertIn("ignoring unreadable policy cache", third.stderr)
        self.assertEqual(third.json["templates"], first.json["templates"])
        # Empty, as an entry written without fsync can be after a power failure: a miss too.
        open(os.path.join(cache_dir, key + ".policy"), "wb").close()
        fourth = self.cli("policy", *self.cep(), *self.user(), "-v")
        self.assertExit(fourth, 0)
        self.assertFalse(fourth.json["from_cache"])
        self.assertIn("ignoring unreadable policy cache", fourth.stderr)
        self.assertEqual(fourth.json["templates"], first.json["templates"])
        self.assertTrue(self.cli("policy", *self.cep(), *self.user()).json["from_cache"])

    def test_identity_without_templates_gets_an_empty_list(self):
        result = self.cli("policy", *self.cep(), *self.user("nobody"), json_mode=False)
        self.assertExit(result, 0)
        self.assertIn("No templates are available", result.stdout)

    def test_wrong_password_is_an_auth_error(self):
        bad = os.path.join(self.tmp, "bad-password")
        with open(bad, "w") as f:
            f.write("not-the-password\n")
        result = self.cli("policy", *self.cep(), "--username", "alice", "--password-file", bad)
        self.assertExit(result, 5)
        self.assertEqual(result.json["error"]["category"], "auth")
        self.assertNotIn("not-the-password", result.stdout + result.stderr)

    def test_password_from_environment(self):
        with open(self.info["users"]["alice"]["password_file"]) as f:
            password = f.read().strip()
        result = self.cli("policy", *self.cep(), "--username", "alice",
                          env={"CERTENROLL_PASSWORD": password})
        self.assertExit(result, 0)

    def test_untrusted_server_is_a_tls_error_with_a_hint(self):
        result = self.cli("policy", "--url", self.info["cep"]["password"], *self.user())
        self.assertExit(result, 6)
        self.assertEqual(result.json["error"]["category"], "tls")
        self.assertIn("--ca-bundle", result.json["error"]["hint"])

    def test_verbose_dump_redacts_the_password(self):
        with open(self.info["users"]["alice"]["password_file"]) as f:
            password = f.read().strip()
        result = self.cli("-vv", "policy", *self.cep(), *self.user(), "--refresh", json_mode=False)
        self.assertExit(result, 0)
        self.assertIn("GetPolicies", result.stderr)
        self.assertIn("***", result.stderr)
        self.assertNotIn(password, result.stderr + result.stdout)

    def test_client_certificate_authentication(self):
        alice = self.info["users"]["alice"]
        result = self.cli("policy", "--url", self.info["cep"]["certificate"], "--ca-bundle",
                          self.info["ca_bundle"], "--auth", "certificate", "--client-cert",
                          alice["client_cert"], "--client-key", alice["client_key"])
        self.assertExit(result, 0)
        self.assertTrue(result.json["templates"])

    def test_certificate_endpoint_without_client_certificate_is_an_auth_error(self):
        # The URL names the mode: refused before sending anything.
        result = self.cli("policy", "--url", self.info["cep"]["certificate"], "--ca-bundle",
                          self.info["ca_bundle"], *self.user())
        self.assertExit(result, 2)
        self.assertIn("--client-cert", result.json["error"]["message"])
        # Behind a path that hides it, the server's refusal is an auth error.
        proxied = self.info["cep"]["certificate"].replace("/ADPolicy", "/proxied/ADPolicy")
        result = self.cli("policy", "--url", proxied, "--ca-bundle", self.info["ca_bundle"],
                          *self.user())
        self.assertExit(result, 5)


if __name__ == "__main__":
    unittest.main()
