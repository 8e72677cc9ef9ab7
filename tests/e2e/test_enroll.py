"""`enroll` and `retrieve-pending` with software keys against the sandbox: the main job."""

import os
import stat
import unittest

import cli
from cli import openssl


class EnrollTest(cli.SandboxTest):
    def enroll(self, template, *extra, user="alice", **kwargs):
        return self.cli("enroll", *self.cep(), *self.user(user), "--template", template, *extra,
                        **kwargs)

    def assertVerifies(self, files):
        out = openssl("verify", "-CAfile", self.info["ca_bundle"], "-untrusted", files["chain"],
                      files["cert"])
        self.assertIn(": OK", out)

    def test_webserver_rsa_issued_with_files_modes_and_chain(self):
        result = self.enroll("WebServer", "--cn", "web1.example.test", "--dns", "web1.example.test",
                             "--dns", "www.example.test", "--ip", "192.0.2.7")
        self.assertExit(result, 0)
        doc = result.json
        self.assertEqual(doc["status"], "issued")
        self.assertTrue(doc["request_id"])
        self.assertIn("CN=web1.example.test", doc["certificate"]["subject"])
        files = doc["files"]
        self.assertEqual(stat.S_IMODE(os.stat(files["key"]).st_mode), 0o600)
        self.assertVerifies(files)
        text = openssl("x509", "-in", files["cert"], "-noout", "-text")
        self.assertIn("DNS:www.example.test", text)
        self.assertIn("IP Address:192.0.2.7", text)
        # The certificate is for the key we saved.
        self.assertKeyMatches(files["cert"], files["key"])
        # fullchain = leaf + chain
        with open(files["fullchain"]) as f:
            leaf_and_chain = f.read().count("BEGIN CERTIFICATE")
        with open(files["chain"]) as f:
            self.assertEqual(leaf_and_chain, 1 + f.read().count("BEGIN CERTIFICATE"))
        # The CA saw the template and the identity.
        last = [r for r in self.sandbox.requests() if r.get("endpoint") == "CES"][-1]
        self.assertEqual(last["template"], "WebServer")
        self.assertEqual(last["identity"], "alice")
        # A managed record exists for renew.
        self.assertTrue(os.path.exists(os.path.join(self.state, "certificates", "WebServer.json")))

    def test_ec_template_gets_an_ec_key_by_default(self):
        result = self.enroll("ECWebServer", "--cn", "ec.example.test", "--dns", "ec.example.test")
        self.assertExit(result, 0)
        self.assertEqual(result.json["key"], "EC P-256")
        text = openssl("x509", "-in", result.json["files"]["cert"], "-noout", "-text")
        self.assertIn("id-ecPublicKey", text)
        self.assertVerifies(result.json["files"])

    def test_template_minimum_key_size_is_the_default_and_smaller_is_refused_locally(self):
        result = self.enroll("WebServer3072", "--cn", "big.example.test")
        self.assertExit(result, 0)
        self.assertEqual(result.json["key"], "RSA 3072")
        before = len(self.sandbox.requests())
        refused = self.enroll("WebServer3072", "--cn", "small.example.test", "--key-type", "rsa:2048",
                              "--name", "small")
        self.assertExit(refused, 2)
        self.assertIn("3072", refused.json["error"]["message"])
        ces_after = [r for r in self.sandbox.requests()[before:] if r.get("endpoint") == "CES"]
        self.assertEqual(ces_after, [])  # nothing was sent

    def test_subject_required_but_missing_is_refused_before_the_network(self):
        result = self.enroll("WebServer")
        self.assertExit(result, 2)
        self.assertIn("--subject", result.json["error"]["hint"] + result.json["error"]["message"])

    def test_machine_template_warns_that_the_ca_ignores_a_supplied_subject(self):
        result = self.enroll("Machine", "--cn", "ignored.example.test")
        self.assertExit(result, 0)
        self.assertTrue(any("ignore" in w for w in result.json["warnings"]), result.json)
        self.assertIn("alice", result.json["certificate"]["subject"])

    def test_pending_then_approved_then_retrieved(self):
        result = self.enroll("ApprovalRequired", "--cn", "pending.example.test")
        self.assertExit(result, 3)
        doc = result.json
        self.assertEqual(doc["status"], "pending")
        request_id = doc["request_id"]
        self.assertTrue(os.path.exists(doc["files"]["key"]))
        self.assertEqual(stat.S_IMODE(os.stat(doc["files"]["key"]).st_mode), 0o600)
        still = self.cli("retrieve-pending", request_id, *self.user(), "--ca-bundle",
                         self.info["ca_bundle"])
        self.assertExit(still, 3)
        self.sandbox.approve(doc["ca"], request_id)
        done = self.cli("retrieve-pending", request_id, *self.user(), "--ca-bundle",
                        self.info["ca_bundle"])
        self.assertExit(done, 0)
        self.assertEqual(done.json["status"], "issued")
        self.assertVerifies(done.json["files"])
        self.assertKeyMatches(done.json["files"]["cert"], doc["files"]["key"])
        # The pending record became a managed certificate.
        again = self.cli("retrieve-pending", request_id, *self.user(), "--ca-bundle",
                         self.info["ca_bundle"])
        self.assertExit(again, 2)

    def test_pending_then_denied(self):
        result = self.enroll("ApprovalRequired", "--cn", "denied.example.test", "--name", "denied")
        self.assertExit(result, 3)
        self.sandbox.deny(result.json["ca"], result.json["request_id"])
        denied = self.cli("retrieve-pending", "--all", *self.user(), "--ca-bundle",
                          self.info["ca_bundle"])
        self.assertExit(denied, 4)
        self.assertEqual(denied.json["requests"][0]["error"]["category"], "denied")

    def test_template_without_permission_is_refused_locally_and_denied_by_the_ca_with_force(self):
        before = len(self.sandbox.requests())
        result = self.enroll("Restricted", "--cn", "r.example.test")
        self.assertExit(result, 4)
        self.assertEqual(result.json["error"]["category"], "denied")
        self.assertNotIn("hresult", result.json["error"])  # decided locally, from the policy
        self.assertIn("--force", result.json["error"]["hint"])
        # Nothing was submitted to CES.
        self.assertFalse([r for r in self.sandbox.requests()[before:] if r.get("endpoint") == "CES"])
        forced = self.enroll("Restricted", "--cn", "r.example.test", "--force", "--name", "forced")
        self.assertExit(forced, 4)
        self.assertEqual(forced.json["error"]["category"], "denied")
        self.assertEqual(forced.json["error"]["hresult"], "0x80094012")
        # A denied request's key is removed (issue 24): a retry starts clean.
        self.assertFalse(os.path.exists(os.path.join(self.state, "live", "forced", "key.pem")))

    def test_direct_ces_url_without_cep(self):
        ces = self.info["ces"]["Sandbox-RSA-CA"]["password"]
        result = self.cli("enroll", "--ces-url", ces, "--ca-bundle", self.info["ca_bundle"],
                          *self.user(), "--template", "WebServer", "--cn", "direct.example.test")
        self.assertExit(result, 0)
        self.assertVerifies(result.json["files"])

    def test_pfx_output_with_password_from_file(self):
        pfx = os.path.join(self.tmp, "out.pfx")
        pw = os.path.join(self.tmp, "pfx-password")
        with open(pw, "w") as f:
            f.write("pfx-secret\n")
        result = self.enroll("WebServer", "--cn", "pfx.example.test", "--pfx-out", pfx,
                             "--pfx-password-file", pw)
        self.assertExit(result, 0)
        self.assertEqual(stat.S_IMODE(os.stat(pfx).st_mode), 0o600)
        out = openssl("pkcs12", "-in", pfx, "-nodes", "-passin", "pass:pfx-secret")
        self.assertIn("BEGIN PRIVATE KEY", out)
        self.assertGreaterEqual(out.count("BEGIN CERTIFICATE"), 2)

    def test_client_certificate_enrollment(self):
        alice = self.info["users"]["alice"]
        result = self.cli("enroll", "--url", self.info["cep"]["certificate"], "--ca-bundle",
                          self.info["ca_bundle"], "--auth", "certificate", "--client-cert",
                          alice["client_cert"], "--client-key", alice["client_key"],
                          "--template", "WebServer", "--cn", "cert-auth.example.test")
        self.assertExit(result, 0)
        self.assertIn("_CES_Certificate", result.json["ces_url"])

    def test_existing_key_file_is_never_overwritten_and_can_be_reused(self):
        first = self.enroll("WebServer", "--cn", "k.example.test", "--name", "k")
        self.assertExit(first, 0)
        key = first.json["files"]["key"]
        with open(key) as f:
            original = f.read()
        second = self.enroll("WebServer", "--cn", "k.example.test", "--name", "k")
        self.assertExit(second, 2)
        with open(key) as f:
            self.assertEqual(f.read(), original)
        reuse = self.enroll("WebServer", "--cn", "k.example.test", "--name", "k", "--key", key)
        self.assertExit(reuse, 0)
        self.assertNotEqual(reuse.json["certificate"]["serial"], first.json["certificate"]["serial"])
        self.assertTrue(os.path.exists(first.json["files"]["cert"] + ".prev"))

    def test_policy_fetch_and_issue_share_one_connection(self):
        """Expected: one enrollment opens one TLS connection: GetPolicies and the Issue arrive
        over the same TCP connection (the sandbox logs the client's address and port), with one
        full handshake and nothing to resume."""
        before = len(self.sandbox.requests())
        result = self.enroll("WebServer", "--cn", "oneconn.example.test", "--refresh-policy")
        self.assertExit(result, 0)
        requests = [r for r in self.sandbox.requests()[before:]
                    if r.get("endpoint") in ("CEP", "CES")]
        self.assertEqual([r["request_type"] for r in requests], ["GetPolicies", "Issue"])
        self.assertEqual(len({r["connection"] for r in requests}), 1, requests)
        self.assertFalse(any(r["tls_resumed"] for r in requests), requests)


if __name__ == "__main__":
    unittest.main()
