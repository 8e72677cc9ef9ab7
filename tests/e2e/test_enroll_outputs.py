"""`enroll`: output formats and places, --dry-run, SANs, failover and a CES that cheats."""

import os
import socket
import stat
import subprocess
import unittest

import cli
from cli import openssl


class OutputsTest(cli.SandboxTest):
    def enroll(self, template, *extra, **kwargs):
        return self.cli("enroll", *self.cep(), *self.user(), "--template", template, *extra,
                        **kwargs)

    def test_out_dir_with_every_format(self):
        out = os.path.join(self.tmp, "out")
        pw = os.path.join(self.tmp, "pfx-password")
        with open(pw, "w") as f:
            f.write("pfx-secret\n")
        result = self.enroll("WebServer", "--cn", "fmt.example.test", "--name", "web",
                             "--out-dir", out, "--format", "pem", "--format", "der",
                             "--format", "pfx", "--pfx-password-file", pw)
        self.assertExit(result, 0)
        files = result.json["files"]
        self.assertEqual(files["key"], os.path.join(out, "web.key.pem"))
        self.assertEqual(files["cert"], os.path.join(out, "web.cert.pem"))
        self.assertEqual(files["der"], os.path.join(out, "web.cert.der"))
        self.assertEqual(files["pfx"], os.path.join(out, "web.pfx"))
        self.assertEqual(stat.S_IMODE(os.stat(files["key"]).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(files["pfx"]).st_mode), 0o600)
        # The DER file is the same certificate as the PEM file.
        pem_from_der = openssl("x509", "-inform", "DER", "-in", files["der"])
        with open(files["cert"]) as f:
            self.assertEqual(pem_from_der, f.read())
        bundle = openssl("pkcs12", "-in", files["pfx"], "-nodes", "-passin", "pass:pfx-secret")
        self.assertIn("BEGIN PRIVATE KEY", bundle)
        # Nothing went to the state directory's live/ folder.
        self.assertFalse(os.path.exists(os.path.join(self.state, "live", "web")))

    def test_der_only_writes_no_pem_certificate(self):
        out = os.path.join(self.tmp, "out")
        result = self.enroll("WebServer", "--cn", "der.example.test", "--name", "d",
                             "--out-dir", out, "--format", "der")
        self.assertExit(result, 0)
        self.assertEqual(sorted(os.listdir(out)), ["d.cert.der", "d.key.pem"])
        self.assertExit(self.enroll("WebServer", "--cn", "x", "--format", "jpeg"), 2)

    def test_dry_run_prints_csr_and_request_and_sends_nothing(self):
        before = [r for r in self.sandbox.requests() if r.get("endpoint") == "CES"]
        result = self.enroll("WebServer", "--cn", "dry.example.test", "--dns", "dry.example.test",
                             "--dry-run")
        self.assertExit(result, 0)
        doc = result.json
        self.assertEqual(doc["status"], "dry-run")
        path = os.path.join(self.tmp, "csr.pem")
        with open(path, "w") as f:
            f.write(doc["csr"])
        csr = subprocess.run(["openssl", "req", "-in", path, "-noout", "-text", "-verify"],
                             capture_output=True, text=True, check=True)
        self.assertIn("CN = dry.example.test", csr.stdout)
        self.assertIn("DNS:dry.example.test", csr.stdout)
        self.assertIn("verify OK", csr.stdout + csr.stderr)
        self.assertIn("RequestSecurityToken", doc["request"])
        self.assertNotIn(self.sandbox.password("alice"), result.stdout + result.stderr)
        self.assertTrue(doc["ces_urls"])
        after = [r for r in self.sandbox.requests() if r.get("endpoint") == "CES"]
        self.assertEqual(len(before), len(after))
        self.assertFalse(os.path.exists(os.path.join(self.state, "live")))

    def test_every_san_kind_is_in_the_issued_certificate(self):
        result = self.enroll("WebServer", "--subject", "CN=sans.example.test,O=Example\\, Inc.",
                             "--dns", "sans.example.test", "--ip", "2001:db8::7",
                             "--email", "ops@example.test", "--upn", "svc@example.test",
                             "--uri", "https://sans.example.test/id")
        self.assertExit(result, 0)
        text = openssl("x509", "-in", result.json["files"]["cert"], "-noout", "-text")
        self.assertIn("O = \"Example, Inc.\"", text)
        self.assertIn("DNS:sans.example.test", text)
        self.assertIn("IP Address:2001:DB8:0:0:0:0:0:7", text)
        self.assertIn("email:ops@example.test", text)
        self.assertIn("URI:https://sans.example.test/id", text)
        self.assertIn("othername: UPN::svc@example.test", text)

    def test_denial_json_names_the_hresult(self):
        result = self.enroll("Restricted", "--cn", "r.example.test", "--force")
        self.assertExit(result, 4)
        error = result.json["error"]
        self.assertEqual(error["hresult"], "0x80094012")
        self.assertEqual(error["hresult_name"], "CERTSRV_E_TEMPLATE_DENIED")

    def test_certificate_for_another_key_is_refused_and_nothing_is_overwritten(self):
        first = self.enroll("WebServer", "--cn", "k.example.test", "--name", "k")
        self.assertExit(first, 0)
        files = first.json["files"]
        with open(files["cert"]) as f:
            original = f.read()
        self.sandbox.inject_fault("wrongkey", 1, "CES")
        again = self.enroll("WebServer", "--cn", "k.example.test", "--name", "k", "--key",
                            files["key"])
        self.assertExit(again, 8)
        self.assertIn("not for our key", again.json["error"]["message"])
        with open(files["cert"]) as f:
            self.assertEqual(f.read(), original)
        self.assertFalse(os.path.exists(files["cert"] + ".new"))


class FailoverTest(cli.CustomSandboxTest):
    """A policy whose preferred CES URL is down: the client moves on to the next one."""

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = "/Sandbox-RSA-CA_CES_UsernamePassword/service.svc/CES"
    dead = "https://127.0.0.1:9" + path
    # Tried first (down), then the sandbox's own URL (priority 1), then this alias of it.
    last = "https://localhost:%d%s" % (port, path)

    @classmethod
    def configure(cls, config):
        config["cas"]["Sandbox-RSA-CA"]["extra_uris"] = [
            {"auth": 4, "uri": cls.dead, "priority": 0, "renewal_only": False},
            {"auth": 4, "uri": cls.last, "priority": 9, "renewal_only": False}]

    def test_network_error_on_the_first_url_fails_over_to_the_next(self):
        alice = self.info["users"]["alice"]
        result = cli.run("--state-dir", os.path.join(self.tmp, "state"), "-v", "enroll", "--url",
                         self.info["cep"]["password"], "--ca-bundle", self.info["ca_bundle"],
                         "--username", "alice", "--password-file", alice["password_file"],
                         "--template", "WebServer", "--cn", "fo.example.test")
        self.assertEqual(result.code, 0, repr(result))
        self.assertEqual(result.json["ces_url"], self.info["ces"]["Sandbox-RSA-CA"]["password"])
        self.assertIn(self.dead, result.stderr)  # -v shows the attempt on the dead URL first
        self.assertIn("trying the next CES URL", result.stderr)

    def test_a_denial_does_not_fail_over(self):
        alice = self.info["users"]["alice"]
        before = len(self.sandbox.requests())
        result = cli.run("--state-dir", os.path.join(self.tmp, "state2"), "-v", "enroll", "--url",
                         self.info["cep"]["password"], "--ca-bundle", self.info["ca_bundle"],
                         "--username", "alice", "--password-file", alice["password_file"],
                         "--template", "Restricted", "--cn", "d.example.test", "--force")
        self.assertEqual(result.code, 4, repr(result))
        self.assertIn(self.dead, result.stderr)  # the network error was failed over
        self.assertNotIn(self.last, result.stderr)  # the denial was not
        ces = [r for r in self.sandbox.requests()[before:] if r.get("endpoint") == "CES"]
        self.assertEqual(len(ces), 1, ces)
        self.assertEqual(ces[0].get("hresult"), "0x80094012")


if __name__ == "__main__":
    unittest.main()
