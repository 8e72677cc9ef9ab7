"""Failures behind CES (issue 28) through the real binary: CES that cannot reach the CA (fast:
delegation; slow: firewall or CA down), access denied after the client authenticated, a template
the CA does not issue although the policy lists it there, and a template refusal that is not the
client's own missing permission; and diagnose's "CES reaches the CA" step.

The sandbox's `cafault:0xHHHHHHHH[:<seconds>]` fault mode checks the client's credentials first and
then answers the CES fault (tests/server/README.md, "Failures behind CES", says what each models
and where that behaviour is documented). Each test states the exit code, the --json category,
diagnosis and likely causes, and the words of the message and hint; the human text on stderr
carries the same message.
"""

import os
import unittest

import cli
from test_diagnose import NETWORK, Diagnose

# The sandbox's slow answer: past the client's threshold between a fast and a slow
# RPC_S_SERVER_UNAVAILABLE (wstep::slow_ca_answer, 4 s).
SLOW_SECONDS = 5


class ServerSideFaultTest(cli.SandboxTest):
    def setUp(self):
        super().setUp()
        self.sandbox.clear_faults()

    def tearDown(self):
        self.sandbox.clear_faults()
        super().tearDown()

    def enroll(self, name, *extra, template="WebServer", cep=None, json_mode=True):
        return self.cli("enroll", *(cep if cep is not None else self.cep()), *self.user(),
                        "--template", template, "--name", name, "--cn", name + ".example.test",
                        *extra, json_mode=json_mode)

    def ces_requests_since(self, mark):
        return [r for r in self.sandbox.requests()[mark:] if r.get("endpoint") == "CES"]

    def assertServerSide(self, result, code, category, diagnosis, causes, *words):
        """Exit code, --json error (category, diagnosis, likely causes in order, HRESULT), the
        words of message and hint, and the same message and hint on stderr."""
        self.assertExit(result, code)
        error = result.json["error"]
        self.assertEqual(error["category"], category, repr(result))
        self.assertEqual(error.get("diagnosis"), diagnosis, repr(result))
        self.assertEqual(error["likely_causes"][:len(causes)], list(causes), repr(result))
        text = error["message"] + " " + error["hint"]
        for word in words:
            self.assertIn(word, text, repr(result))
        self.assertIn(f"certenroll-cli: {category} error: " + error["message"], result.stderr)
        self.assertIn("  hint: " + error["hint"], result.stderr)
        return error

    def assertAuthenticated(self, mark, fault):
        """The sandbox accepted the client's credentials before answering with the fault."""
        ces = self.ces_requests_since(mark)
        self.assertEqual([(r["fault_injected"], r["identity"]) for r in ces], [(fault, "alice")])

    def test_ces_cannot_reach_the_ca_fast_names_delegation_first(self):
        """RPC_S_SERVER_UNAVAILABLE at once, after the password was accepted. Expected: exit 7
        (network), "could not reach the CA Sandbox-RSA-CA", causes delegation, CA service or
        firewall, CES permissions, in that order; the hint names the HOST and RPCSS SPNs before
        certsvc, and never the user's credentials."""
        mark = len(self.sandbox.requests())
        self.sandbox.inject_fault("cafault:0x800706BA", match="CES")
        result = self.enroll("rpcfast")
        error = self.assertServerSide(
            result, 7, "network", "ces-cannot-reach-ca",
            ["ces-delegation", "ca-service-or-firewall", "ces-permissions"],
            "accepted this client's credentials", "could not reach the CA Sandbox-RSA-CA",
            "a fast answer", "not your credentials")
        self.assertEqual(error["hresult"], "0x800706BA")
        self.assertEqual(error["hresult_name"], "RPC_S_SERVER_UNAVAILABLE")
        self.assertLess(error["hint"].index("HOST and RPCSS"), error["hint"].index("certsvc"))
        self.assertNotIn("check the credentials", error["hint"])
        self.assertAuthenticated(mark, "cafault:0x800706BA")

    def test_ces_cannot_reach_the_ca_slow_names_the_firewall_first(self):
        """The same fault after CES waited 5 s (as for a dropped RPC connection). Expected: exit
        7, "a slow answer", the CA service and firewall first, delegation second; without
        --json the same text on stderr and nothing on stdout."""
        self.sandbox.inject_fault(f"cafault:0x800706BA:{SLOW_SECONDS}", match="CES")
        result = self.enroll("rpcslow")
        error = self.assertServerSide(
            result, 7, "network", "ces-cannot-reach-ca",
            ["ca-service-or-firewall", "ces-delegation", "ces-permissions"],
            "a slow answer", "certsvc", "TCP 135")
        self.assertLess(error["hint"].index("certsvc"), error["hint"].index("HOST and RPCSS"))

        self.sandbox.inject_fault(f"cafault:0x800706BA:{SLOW_SECONDS}", match="CES")
        text = self.enroll("rpcslowtext", json_mode=False)
        self.assertExit(text, 7)
        self.assertEqual(text.stdout, "")
        self.assertIn("certenroll-cli: network error: the enrollment service (CES) accepted",
                      text.stderr)
        self.assertIn("a slow answer", text.stderr)
        self.assertIn("  hint: not your credentials: ask the CES and CA administrators",
                      text.stderr)

    def test_access_denied_after_authentication_is_not_an_auth_error(self):
        """E_ACCESSDENIED from CES after the password was accepted. Expected: exit 7 (network),
        not 5: "refused the request on the server side", hint "not your password" naming
        delegation, the CES account's rights and Request Certificates. A wrong password is
        still exit 5 (auth)."""
        mark = len(self.sandbox.requests())
        self.sandbox.inject_fault("cafault:0x80070005", match="CES")
        result = self.enroll("denied")
        error = self.assertServerSide(
            result, 7, "network", "server-side-access-denied",
            ["ces-delegation", "ces-permissions", "client-ca-permission"],
            "refused the request on the server side", "not your password", "HOST and RPCSS",
            "Impersonate a client after authentication", "Request Certificates")
        self.assertEqual(error["hresult"], "0x80070005")
        self.assertAuthenticated(mark, "cafault:0x80070005")

        wrong = os.path.join(self.tmp, "wrong-password")
        with open(wrong, "w") as f:
            f.write("not-the-password\n")
        own = self.cli("enroll", *self.cep(), "--username", self.info["users"]["alice"]["username"],
                       "--password-file", wrong, "--template", "WebServer", "--name", "wrongpw",
                       "--cn", "wrongpw.example.test")
        self.assertExit(own, 5)
        self.assertEqual(own.json["error"]["category"], "auth")
        self.assertNotIn("diagnosis", own.json["error"])

    def test_template_the_ca_does_not_issue_although_the_policy_lists_it(self):
        """CERTSRV_E_UNSUPPORTED_CERT_TYPE for WebServer, which the policy lists at
        Sandbox-RSA-CA. Expected: exit 4 (denied), "does not issue template WebServer although
        the policy lists it there", hint certutil -CATemplates. Without a policy (--ces-url) the
        same answer stays the user's choice of CA or template: exit 2 (usage), no diagnosis."""
        self.sandbox.inject_fault("cafault:0x80094800", match="CES")
        result = self.enroll("notonca")
        self.assertServerSide(
            result, 4, "denied", "template-not-on-ca",
            ["template-not-published", "ces-fronts-another-ca", "ca-template-cache"],
            "the CA Sandbox-RSA-CA does not issue template WebServer although the policy lists "
            "it there", "certutil -CATemplates")

        self.sandbox.inject_fault("cafault:0x80094800", match="CES")
        ces_url = self.info["ces"]["Sandbox-RSA-CA"]["password"]
        direct = self.enroll("notoncadirect",
                             cep=["--ces-url", ces_url, "--ca-bundle", self.info["ca_bundle"]])
        self.assertExit(direct, 2)
        self.assertEqual(direct.json["error"]["category"], "usage")
        self.assertNotIn("diagnosis", direct.json["error"])
        self.assertIn("this CA does not issue the template", direct.json["error"]["hint"])

    def test_template_refusal_is_told_apart_from_the_clients_own_permission(self):
        """CERTSRV_E_TEMPLATE_DENIED for WebServer, on which the policy grants alice Enroll:
        the CA judged another identity (the CES account). Expected: exit 4, diagnosis
        template-denied-to-ces, delegation first. Template Restricted, on which the policy
        grants no Enroll, submitted with --force: the CA's own refusal is the client's missing
        permission (template-denied-to-client)."""
        self.sandbox.inject_fault("cafault:0x80094012", match="CES")
        result = self.enroll("tmplces")
        self.assertServerSide(
            result, 4, "denied", "template-denied-to-ces",
            ["ces-delegation", "ces-permissions", "template-permission-changed"],
            "although the policy grants this identity Enroll", "CES account")

        own = self.enroll("tmplown", "--force", template="Restricted")
        self.assertServerSide(own, 4, "denied", "template-denied-to-client",
                              ["client-template-permission"],
                              "this identity may not enroll in it",
                              "Enroll permission on template Restricted for this identity")

    def test_renewal_and_retrieve_pending_explain_the_same_faults(self):
        """A forced renewal meeting RPC_S_SERVER_UNAVAILABLE: exit 7, the certificate's error
        carries the diagnosis. retrieve-pending whose QueryTokenStatus meets it: exit 7 too."""
        enrolled = self.enroll("renewme")
        self.assertExit(enrolled, 0)
        self.sandbox.inject_fault("cafault:0x800706BA", match="CES")
        renewed = self.cli("renew", "renewme", "--force", "--ca-bundle", self.info["ca_bundle"],
                           "--password-file", self.info["users"]["alice"]["password_file"])
        self.assertExit(renewed, 7)
        entry = renewed.json["certificates"][0]
        self.assertEqual(entry["status"], "failed")
        self.assertEqual(entry["error"]["category"], "network")
        self.assertEqual(entry["error"]["diagnosis"], "ces-cannot-reach-ca")

        pending = self.enroll("waiting", template="ApprovalRequired")
        self.assertExit(pending, 3)
        self.sandbox.inject_fault("cafault:0x800706BA", match="CES")
        retrieved = self.cli("retrieve-pending", pending.json["request_id"], *self.user(),
                             "--ca-bundle", self.info["ca_bundle"])
        self.assertExit(retrieved, 7)
        self.assertIn("could not reach the CA", retrieved.stderr)
        self.assertIn("ces-cannot-reach-ca", retrieved.stdout)


class CesReachesCaTest(Diagnose, cli.SandboxTest):
    """diagnose's "CES reaches the CA" step (ces-ca): a QueryTokenStatus for a request ID that
    cannot exist, answered by the CA with CERTSRV_E_PROPERTY_EMPTY when CES reaches it."""

    def setUp(self):
        super().setUp()
        self.sandbox.clear_faults()

    def tearDown(self):
        self.sandbox.clear_faults()
        super().tearDown()

    def diagnose_web_server(self, text=False):
        return self.diagnose(*self.cep(), *self.user(), "--template", "WebServer", text=text)

    def test_the_ca_answering_about_an_unknown_request_passes(self):
        mark = len(self.sandbox.requests())
        result = self.diagnose_web_server()
        self.assertDiagnosis(result, 0)
        check = self.assertStatus(result, "ces-ca", "pass")
        self.assertIn("the CA answered that it has no request 2147483646", check["evidence"])
        self.assertIn("CERTSRV_E_PROPERTY_EMPTY 0x80094004", check["evidence"])
        # The only CES request is that harmless QueryTokenStatus.
        ces = [r for r in self.sandbox.requests()[mark:] if r.get("endpoint") == "CES"]
        self.assertEqual([r.get("request_type") for r in ces], ["QueryTokenStatus"], ces)
        self.assertEqual([r.get("hresult") for r in ces], ["0x80094004"], ces)

    def test_rpc_server_unavailable_fails_the_step_after_ces_passed(self):
        """Expected: exit 7, first failure ces-ca (ces itself passed: authenticated), the
        evidence "could not reach the CA", the fix naming delegation first (a fast answer)."""
        self.sandbox.inject_fault("cafault:0x800706BA", match="CES")
        result = self.diagnose_web_server()
        self.assertDiagnosis(result, NETWORK, "ces-ca")
        self.assertStatus(result, "ces", "pass")
        check = self.assertStatus(result, "ces-ca", "fail")
        self.assertEqual(check["category"], "network")
        self.assertIn("could not reach the CA Sandbox-RSA-CA", check["evidence"])
        self.assertLess(check["fix"].index("HOST and RPCSS"), check["fix"].index("certsvc"))

        self.sandbox.inject_fault("cafault:0x800706BA", match="CES")
        text = self.diagnose_web_server(text=True)
        self.assertExit(text, NETWORK)
        self.assertRegex(text.stdout, r"FAIL\s+CES reaches the CA")

    def test_access_denied_fails_the_step_as_server_side(self):
        self.sandbox.inject_fault("cafault:0x80070005", match="CES")
        result = self.diagnose_web_server()
        self.assertDiagnosis(result, NETWORK, "ces-ca")
        self.assertStatus(result, "ces", "pass")
        check = self.assertStatus(result, "ces-ca", "fail")
        self.assertIn("on the server side", check["evidence"])
        self.assertIn("not your password", check["fix"])


if __name__ == "__main__":
    unittest.main()
