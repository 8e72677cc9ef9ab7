"""Fault injection through the admin API: every mode, counts and matching."""

import time
import unittest
import xml.etree.ElementTree as ET

import sbtest


class FaultTest(sbtest.SandboxCase):
    def setUp(self):
        super().setUp()
        self.admin("POST", "/faults/clear", {})

    def inject(self, mode, count=1, match="any"):
        code, doc = self.admin("POST", "/faults", {"mode": mode, "count": count, "match": match})
        self.assertEqual(code, 200, doc)

    def csr(self):
        return sbtest.openssl_csr(self.tmp, "rsa:2048", "/CN=f.example.test",
                                  [sbtest.v1_template_ext("WebServer")])[0]

    def test_http500_with_html_body_then_recovers(self):
        self.inject("http500", count=2, match="CEP")
        for _ in range(2):
            reply = self.cep()
            self.assertEqual(reply.status, 500)
            self.assertIn("text/html", reply.headers)
            self.assertIn(b"Server Error", reply.body)
        self.assertEqual(self.cep().status, 200)
        self.assertEqual(self.log()[-2]["fault_injected"], "http500")

    def test_match_selects_the_service(self):
        self.inject("http500", match="CES")
        self.assertEqual(self.cep().status, 200)
        self.assertEqual(self.ces(sbtest.rst_body(self.csr())).status, 500)
        self.assertEqual(self.ces(sbtest.rst_body(self.csr())).status, 200)

    def test_cut_closes_the_connection_mid_response(self):
        self.inject("cut", match="CEP")
        reply = self.cep()
        self.assertNotEqual(reply.curl_exit, 0)
        self.assertEqual(self.cep().status, 200)

    def test_truncate_sends_half_the_xml(self):
        self.inject("truncate", match="CES")
        reply = self.ces(sbtest.rst_body(self.csr()))
        self.assertEqual((reply.curl_exit, reply.status), (0, 200))
        self.assertTrue(reply.body.startswith(b"<s:Envelope"))
        with self.assertRaises(ET.ParseError):
            reply.xml()
        # The CA still processed it: the certificate was issued, the answer was lost.
        self.assertEqual(self.log()[-1]["outcome"], "issued")

    def test_hostile_payloads_are_well_formed_soap(self):
        self.inject("manyattributes", match="CEP")
        reply = self.cep()
        self.assertEqual(reply.status, 200)
        response = reply.xml().find(f".//{{{sbtest.XCEP}}}response")
        self.assertEqual(len(response.attrib), 100_000)
        self.inject("manyelements", match="CES")
        reply = self.ces(sbtest.rst_body(self.csr()))
        self.assertEqual(reply.status, 200)
        self.assertLess(len(reply.body), 16 * 1024 * 1024)  # under the client's response cap
        self.assertEqual(reply.body.count(b"<a/>"), 4_000_000)
        self.assertTrue(reply.body.endswith(b"</RequestSecurityTokenResponse>"
                                            b"</RequestSecurityTokenResponseCollection>"
                                            b"</s:Body></s:Envelope>"))
        self.assertEqual([e["fault_injected"] for e in self.log()[-2:]],
                         ["manyattributes", "manyelements"])

    def test_issue23_hostile_shapes(self):
        """Duplicated envelope parts, a header flood within the client's caps, and terminal
        escape sequences, each as the client under test will see it (`manyheaders`, past curl's
        own cap on a response head, is seen only through certenroll-cli: tests/e2e)."""
        self.inject("twobodies", match="CEP")
        body = self.cep().body
        self.assertEqual(body.count(b"<s:Body>"), 2)
        self.inject("twopayloads", match="CEP")
        body = self.cep().body
        self.assertEqual(body.count(b"<GetPoliciesResponse "), 2)
        self.assertEqual(body.count(b"<s:Body>"), 1)
        self.inject("manyboth", match="CEP")
        reply = self.cep()
        self.assertEqual(reply.headers.count("X-Filler-"), 240)
        self.assertLess(len(reply.headers), 64 * 1024)
        self.assertEqual(reply.body.count(b"<a/>"), 4_000_000)
        self.inject("escapes", match="CEP")
        reply = self.cep()
        self.assertEqual(reply.status, 500)
        self.assertTrue(reply.body.startswith(b"\x1b]0;certenroll-pwned\x07\x1b[2J"))

    def test_hang_never_answers_and_the_server_keeps_serving(self):
        self.inject("hang", match="CEP")
        started = time.monotonic()
        reply = self.cep(timeout=2)
        self.assertEqual(reply.curl_exit, 28)  # curl: operation timed out
        self.assertGreaterEqual(time.monotonic() - started, 1.9)
        self.assertEqual(self.cep().status, 200)

    def test_requests_are_served_while_another_hangs(self):
        import subprocess
        url = self.info["cep"]["password"]
        body = sbtest.envelope(sbtest.GET_POLICIES, url, sbtest.get_policies_body(), self.sec())
        path = f"{self.tmp}/gp.xml"
        with open(path, "wb") as f:
            f.write(body)
        def hangs():
            return len([e for e in self.log() if e.get("fault_injected") == "hang"])

        before = hangs()
        self.inject("hang", match="CEP")
        hung = subprocess.Popen(["curl", "-sS", "--max-time", "20", "--cacert", self.info["ca_bundle"],
                                 "-H", f"Content-Type: {sbtest.SOAP_CT}", "--data-binary", "@" + path,
                                 url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while hangs() == before:
                self.assertLess(time.monotonic(), deadline, "the hanging request never arrived")
                time.sleep(0.05)
            reply = self.cep(timeout=10, extra=["-v"])
            self.assertEqual(reply.status, 200, (reply.curl_exit, reply.stderr))
            self.assertIsNone(hung.poll())  # still waiting for its answer
        finally:
            hung.kill()
            hung.wait()

    def test_http401(self):
        self.inject("http401")
        self.assertEqual(self.cep().status, 401)

    def test_http503_with_and_without_retry_after(self):
        self.inject("http503:7", count=2, match="CES")
        for _ in range(2):
            reply = self.ces(sbtest.rst_body(self.csr()))
            self.assertEqual(reply.status, 503)
            self.assertIn("Retry-After: 7", reply.headers)
            self.assertIn(b"Service Unavailable", reply.body)
        entry = self.log()[-1]
        self.assertEqual((entry["fault_injected"], entry["http_status"]), ("http503:7", 503))
        self.assertEqual(entry["request_type"], "Issue")  # logged although never processed
        self.assertEqual(entry["outcome"], "fault")
        # Answered before the CA saw anything: the next request is the first one it processes.
        self.assertEqual(self.ces(sbtest.rst_body(self.csr())).status, 200)
        self.assertEqual(self.log()[-1]["outcome"], "issued")
        self.inject("http503", match="CEP")
        reply = self.cep()
        self.assertEqual(reply.status, 503)
        self.assertNotIn("Retry-After", reply.headers)
        self.assertEqual(self.log()[-1]["request_type"], "GetPolicies")
        self.assertEqual(self.cep().status, 200)

    def test_soap_fault_with_hresult(self):
        self.inject("fault:0x80094012", match="CES")
        reply = self.ces(sbtest.rst_body(self.csr()))
        self.assertFault(reply, 0x80094012)

    def test_ca_fault_answers_after_the_clients_authentication(self):
        # Issue 28: CES failing behind itself. The client's credentials are checked first...
        self.inject("cafault:0x800706BA", match="CES")
        reply = self.ces(sbtest.rst_body(self.csr()))
        self.assertFault(reply, 0x800706BA)
        self.assertIn("The RPC server is unavailable.", reply.fault_reason())
        entry = self.log()[-1]
        self.assertEqual((entry["fault_injected"], entry["identity"], entry["request_type"]),
                         ("cafault:0x800706BA", "alice", "Issue"))
        # ... so a wrong password still gets its 401, not the CA's fault.
        self.inject("cafault:0x80070005", match="CES")
        url = self.info["ces"]["Sandbox-RSA-CA"]["password"]
        refused = self.post(url, sbtest.envelope(sbtest.RST, url, sbtest.rst_body(self.csr()),
                                                 sbtest.security("alice", "wrong")))
        self.assertEqual(refused.status, 401, refused.body[:500])
        # With a wait (CES waiting for the CA), and on QueryTokenStatus as on Issue.
        self.inject("cafault:0x80070005:1.5", match="CES")
        started = time.monotonic()
        denied = self.ces(sbtest.rst_body(None, request_type=sbtest.QUERY,
                                          request_id="2147483646"))
        self.assertGreaterEqual(time.monotonic() - started, 1.4)
        self.assertFault(denied, 0x80070005)
        self.assertEqual(self.ces(sbtest.rst_body(self.csr())).status, 200)

    def test_slow(self):
        self.inject("slow:1.5", match="CEP")
        started = time.monotonic()
        self.assertEqual(self.cep().status, 200)
        self.assertGreaterEqual(time.monotonic() - started, 1.4)

    def test_invalid_fault_requests_are_400(self):
        for doc in ({"mode": "explode"}, {"mode": "http500", "match": "XYZ"},
                    {"mode": "http500", "count": 0}, {"count": 1}, {"mode": "http503:soon"},
                    {"mode": "http503:1.5"}, {"mode": "cafault:0x800706B"},
                    {"mode": "cafault:0x800706BA:soon"}):
            self.assertEqual(self.admin("POST", "/faults", doc)[0], 400, doc)
        self.assertEqual(self.admin("GET", "/faults")[1]["faults"], [])


if __name__ == "__main__":
    unittest.main()
