"""GetPolicies against the sandbox CEP, posted with curl."""

import base64
import datetime
import unittest

from cryptography import x509

import sbtest
from sbtest import XCEP, XSI


def q(local):
    return f"{{{XCEP}}}{local}"


def is_nil(el):
    return el is not None and el.get(f"{{{XSI}}}nil") == "true"


class GetPoliciesTest(sbtest.SandboxCase):
    def policies(self, reply):
        self.assertEqual(reply.status, 200, reply.body[:2000])
        root = reply.xml()
        return root.find(f".//{q('GetPoliciesResponse')}")

    def test_full_response_model_and_references_resolve(self):
        resp = self.policies(self.cep())
        response = resp.find(q("response"))
        self.assertEqual(response.find(q("nextUpdateHours")).text, "8")
        self.assertEqual(response.find(q("policyID")).text, self.info["policy_id"])
        self.assertEqual(response.find(q("policiesNotChanged")).text, "false")
        oids = {int(o.find(q("oIDReferenceID")).text): (o.find(q("value")).text, int(o.find(q("group")).text))
                for o in resp.find(q("oIDs"))}
        cas = {int(c.find(q("cAReferenceID")).text): c for c in resp.find(q("cAs"))}
        names = {}
        for policy in response.find(q("policies")):
            attrs = policy.find(q("attributes"))
            name = attrs.find(q("commonName")).text
            names[name] = attrs
            value, group = oids[int(policy.find(q("policyOIDReference")).text)]
            self.assertEqual(group, 9)
            self.assertTrue(value.startswith("1.3.6.1.4.1.311.21.8."))
            for ref in policy.find(q("cAs")):
                self.assertIn(int(ref.text), cas)
            for ext in attrs.find(q("extensions")):
                self.assertEqual(oids[int(ext.find(q("oIDReference")).text)][1], 6)
                base64.b64decode(ext.find(q("value")).text)
        self.assertTrue({"WebServer", "Machine", "ECWebServer", "WebServer3072", "ApprovalRequired",
                         "Restricted", "SameKeyRenewal", "KeyBasedRenewal"} <= set(names))
        ec = names["ECWebServer"]
        self.assertEqual(ec.find(q("policySchema")).text, "3")
        alg = ec.find(q("privateKeyAttributes")).find(q("algorithmOIDReference")).text
        self.assertEqual(oids[int(alg)], ("1.2.840.10045.2.1", 3))
        self.assertEqual(oids[int(ec.find(q("hashAlgorithmOIDReference")).text)],
                         ("2.16.840.1.101.3.4.2.1", 1))
        self.assertEqual(names["WebServer3072"].find(q("privateKeyAttributes"))
                         .find(q("minimalKeyLength")).text, "3072")
        self.assertEqual(int(names["ApprovalRequired"].find(q("enrollmentFlags")).text) & 0x2, 0x2)
        self.assertEqual(int(names["SameKeyRenewal"].find(q("privateKeyFlags")).text) & 0x80, 0x80)
        self.assertEqual(int(names["KeyBasedRenewal"].find(q("enrollmentFlags")).text) & 0x10042,
                         0x10042)
        self.assertEqual(names["Restricted"].find(q("permission")).find(q("enroll")).text, "false")
        self.assertEqual(names["WebServer"].find(q("permission")).find(q("enroll")).text, "true")
        # CA entries: a real certificate and the URIs with their auth modes (Kerberos when on).
        for ca in cas.values():
            der = base64.b64decode("".join(ca.find(q("certificate")).text.split()))
            self.assertIn("Sandbox-", x509.load_der_x509_certificate(der).subject.rfc4514_string())
            uris = {(int(u.find(q("clientAuthentication")).text), u.find(q("renewalOnly")).text)
                    for u in ca.find(q("uris"))}
            kerberos = {(2, "false")} if self.info["kerberos"] else set()
            # The key-based renewal CES: certificate authentication (8), renewal only.
            self.assertEqual(uris, {(4, "false"), (8, "false"), (8, "true")} | kerberos)

    def test_wcf_style_headers(self):
        reply = self.cep()
        root = reply.xml()
        self.assertIn(b"<s:Envelope", reply.body)
        self.assertIsNotNone(root.find(".//{http://schemas.microsoft.com/2004/09/ServiceModel/Diagnostics}ActivityId"))
        self.assertIsNotNone(root.find(".//{http://www.w3.org/2005/08/addressing}RelatesTo"))

    def test_policy_id_is_stable(self):
        first = self.policies(self.cep()).find(q("response")).find(q("policyID")).text
        second = self.policies(self.cep()).find(q("response")).find(q("policyID")).text
        self.assertEqual(first, second)

    def test_last_update_after_server_time_gives_policies_not_changed(self):
        later = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=1))
        resp = self.policies(self.cep(sbtest.get_policies_body(later.strftime("%Y-%m-%dT%H:%M:%SZ"))))
        response = resp.find(q("response"))
        self.assertEqual(response.find(q("policiesNotChanged")).text, "true")
        self.assertTrue(is_nil(response.find(q("policies"))))
        self.assertTrue(is_nil(resp.find(q("cAs"))))
        self.assertTrue(is_nil(resp.find(q("oIDs"))))
        self.assertEqual(self.log()[-1]["outcome"], "notchanged")

    def test_old_last_update_gives_a_full_response(self):
        resp = self.policies(self.cep(sbtest.get_policies_body("2009-03-15T09:38:46Z")))
        self.assertEqual(resp.find(q("response")).find(q("policiesNotChanged")).text, "false")
        self.assertFalse(is_nil(resp.find(q("cAs"))))

    def test_nobody_gets_nil_collections(self):
        resp = self.policies(self.cep(user="nobody"))
        self.assertTrue(is_nil(resp.find(q("response")).find(q("policies"))))
        self.assertTrue(is_nil(resp.find(q("cAs"))))
        self.assertTrue(is_nil(resp.find(q("oIDs"))))
        self.assertEqual(self.log()[-1]["identity"], "nobody")

    def test_bob_sees_a_subset(self):
        resp = self.policies(self.cep(user="bob"))
        names = {p.find(q("attributes")).find(q("commonName")).text
                 for p in resp.find(q("response")).find(q("policies"))}
        self.assertIn("WebServer", names)
        self.assertNotIn("ECWebServer", names)

    def test_version_filter_follows_the_spec(self):
        # requestFilter nil => clientVersion 3; the schema-3 EC template needs client version 4.
        resp = self.policies(self.cep(sbtest.get_policies_body(request_filter=False)))
        names = {p.find(q("attributes")).find(q("commonName")).text
                 for p in resp.find(q("response")).find(q("policies"))}
        self.assertNotIn("ECWebServer", names)
        self.assertIn("WebServer", names)
        nil_versions = self.policies(self.cep(sbtest.get_policies_body(client_version=None,
                                                                       server_version=None)))
        self.assertNotIn("ECWebServer", nil_versions.findtext(".//" + q("policies")) or "")
        self.assertEqual(len([p for p in nil_versions.iter(q("policy"))]), len(names))

    def test_certificate_endpoint_uses_the_tls_client_certificate(self):
        reply = self.cep(auth="certificate", cert=self.client_cert("bob"))
        self.policies(reply)
        self.assertEqual(self.log()[-1]["identity"], "bob")
        self.assertEqual(self.log()[-1]["auth"], "certificate")

    def test_certificate_endpoint_without_certificate_is_401(self):
        reply = self.cep(auth="certificate")
        self.assertEqual(reply.status, 401)
        self.assertEqual(self.log()[-1]["outcome"], "unauthorized")

    def test_wrong_password_is_401(self):
        url = self.info["cep"]["password"]
        reply = self.post(url, sbtest.envelope(sbtest.GET_POLICIES, url, sbtest.get_policies_body(),
                                               sbtest.security("alice", "wrong")))
        self.assertEqual(reply.status, 401)
        self.assertEqual(reply.subcode(), "a:InvalidSecurity")
        with open(self.info["log"]) as f:
            self.assertNotIn('"wrong"', f.read())

    def test_missing_username_token_is_401(self):
        url = self.info["cep"]["password"]
        reply = self.post(url, sbtest.envelope(sbtest.GET_POLICIES, url, sbtest.get_policies_body()))
        self.assertEqual(reply.status, 401)

    def test_expired_timestamp_is_401(self):
        url = self.info["cep"]["password"]
        reply = self.post(url, sbtest.envelope(sbtest.GET_POLICIES, url, sbtest.get_policies_body(),
                                               self.sec(expired=True)))
        self.assertEqual(reply.status, 401)
        self.assertIn("stale", reply.fault_reason())

    def test_username_forms_and_no_timestamp(self):
        url = self.info["cep"]["password"]
        for name in ("SANDBOX\\alice", "alice@sandbox.test"):
            reply = self.post(url, sbtest.envelope(
                sbtest.GET_POLICIES, url, sbtest.get_policies_body(),
                sbtest.security(name, self.password(), timestamp=False)))
            self.assertEqual(reply.status, 200, name)
            self.assertEqual(self.log()[-1]["identity"], "alice")

    def test_missing_client_element_is_a_fault(self):
        reply = self.cep(f'<GetPolicies xmlns="{XCEP}"><requestFilter xsi:nil="true"/></GetPolicies>')
        self.assertEqual(reply.status, 500)
        self.assertIn("client", reply.fault_reason())

    def test_malformed_last_update_is_a_deserialization_fault(self):
        reply = self.cep(sbtest.get_policies_body("20090-03-15-T09:38:46"))
        self.assertEqual(reply.status, 500)
        self.assertEqual(reply.subcode(), "a:DeserializationFailed")


if __name__ == "__main__":
    unittest.main()
