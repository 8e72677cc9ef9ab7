"""Pending requests as real CES servers answer them: the Reference URI checked before it is
saved, `retrieve-pending --ces-url` overriding it, and an issued reply about RequestID 0."""

import glob
import json
import os

import cli


class PendingTest(cli.SandboxTest):
    def enroll_pending(self, name, *extra):
        result = self.cli("enroll", *self.cep(), *self.user(), "--template", "ApprovalRequired",
                          "--cn", name + ".example.test", "--name", name, *extra)
        self.assertExit(result, 3)
        return result

    def retrieve(self, request_id, *extra):
        return self.cli("retrieve-pending", request_id, *self.user(), "--ca-bundle",
                        self.info["ca_bundle"], *extra)

    def pending_record(self, request_id):
        for path in glob.glob(os.path.join(self.state, "pending", "*.json")):
            with open(path) as f:
                record = json.load(f)
            if record["request_id"] == request_id:
                return record
        self.fail(f"no pending record of request {request_id}")

    def queries(self):
        return [r for r in self.sandbox.requests() if r.get("request_type") == "QueryTokenStatus"]

    def password_ces(self):
        return self.info["ces"]["Sandbox-RSA-CA"]["password"]

    def test_a_relative_reference_is_not_saved(self):
        # A server answered "Taken Under Submission" with Reference URI="61": the request ID.
        self.sandbox.inject_fault("reference:{id}", 1, "CES")
        pending = self.enroll_pending("relative")
        request_id = pending.json["request_id"]
        self.assertTrue(any("'" + request_id + "'" in w and "not an https:// URL" in w
                            for w in pending.json["warnings"]), pending.json)
        self.assertEqual(self.pending_record(request_id)["endpoint"]["ces_url"],
                         self.password_ces())
        self.sandbox.approve("Sandbox-RSA-CA", request_id)
        done = self.retrieve(request_id)
        self.assertExit(done, 0)
        self.assertEqual(self.queries()[-1]["path"], "/Sandbox-RSA-CA_CES_UsernamePassword/service.svc/CES")

    def test_an_http_reference_is_not_saved(self):
        http_url = self.password_ces().replace("https://", "http://")
        self.sandbox.inject_fault("reference:" + http_url, 1, "CES")
        pending = self.enroll_pending("plain")
        self.assertTrue(any("not an https:// URL" in w for w in pending.json["warnings"]))
        self.assertEqual(self.pending_record(pending.json["request_id"])["endpoint"]["ces_url"],
                         self.password_ces())

    def test_an_absolute_https_reference_is_where_the_client_asks(self):
        # The CES names another URL of the same service (here its reverse-proxied path).
        proxied = self.info["base_url"] + "/proxied/Sandbox-RSA-CA_CES_UsernamePassword/service.svc/CES"
        self.sandbox.inject_fault("reference:" + proxied, 1, "CES")
        pending = self.enroll_pending("absolute")
        request_id = pending.json["request_id"]
        self.assertFalse(pending.json.get("warnings"), pending.json)
        self.assertEqual(self.pending_record(request_id)["endpoint"]["ces_url"], proxied)
        self.sandbox.approve("Sandbox-RSA-CA", request_id)
        self.assertExit(self.retrieve(request_id), 0)
        self.assertEqual(self.queries()[-1]["path"],
                         "/proxied/Sandbox-RSA-CA_CES_UsernamePassword/service.svc/CES")

    def test_retrieve_pending_ces_url_overrides_the_recorded_url(self):
        # A reference to a server that is gone: only --ces-url gets the certificate.
        self.sandbox.inject_fault("reference:https://127.0.0.1:1/gone/service.svc/CES", 1, "CES")
        pending = self.enroll_pending("moved")
        request_id = pending.json["request_id"]
        self.sandbox.approve("Sandbox-RSA-CA", request_id)
        before = len(self.queries())
        unreachable = self.retrieve(request_id)
        self.assertExit(unreachable, 7)
        self.assertEqual(len(self.queries()), before)
        done = self.retrieve(request_id, "--ces-url", self.password_ces())
        self.assertExit(done, 0)
        self.assertEqual(done.json["status"], "issued")
        self.assertEqual(done.json["ces_url"], self.password_ces())
        self.assertEqual(self.queries()[-1]["outcome"], "issued")

    def test_an_issued_reply_about_request_id_0_is_installed_with_a_warning(self):
        pending = self.enroll_pending("zero")
        request_id = pending.json["request_id"]
        self.sandbox.approve("Sandbox-RSA-CA", request_id)
        self.sandbox.inject_fault("requestid0", 1, "CES")
        done = self.retrieve(request_id)
        self.assertExit(done, 0)
        self.assertEqual(done.json["status"], "issued")
        self.assertTrue(any("answered request " + request_id + " with RequestID 0" in w
                            for w in done.json["warnings"]), done.json)
        self.assertTrue(os.path.exists(done.json["files"]["cert"]))
        with open(os.path.join(self.state, "certificates", "zero.json")) as f:
            self.assertEqual(json.load(f)["serial"], done.json["certificate"]["serial"])

    def test_a_certificate_for_another_key_names_the_request_id(self):
        self.sandbox.inject_fault("wrongkey", 1, "CES")
        refused = self.cli("enroll", *self.cep(), *self.user(), "--template", "WebServer",
                           "--cn", "w.example.test", "--name", "wrong")
        self.assertExit(refused, 8)
        issued = [r for r in self.sandbox.ca_requests() if r["status"] == "issued"][-1]
        error = refused.json["error"]
        self.assertIn("issued for request " + str(issued["id"]), error["message"])
        self.assertIn("not for our key", error["message"])
        self.assertIn("report request " + str(issued["id"]), error["hint"])
        self.assertEqual(error.get("request_id"), str(issued["id"]))


if __name__ == "__main__":
    import unittest

    unittest.main()
