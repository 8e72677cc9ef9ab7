"""`enroll --csr` (a request made elsewhere), `--format p7b`/`p7b-der` and `--pfx-legacy`."""

import json
import os
import subprocess

import cli
from cli import openssl


def make_csr(directory, name, key_spec=("rsa:2048",), subject=None, extensions=(), der=False):
    """An openssl-made key and CSR: (key path, CSR path)."""
    key = os.path.join(directory, name + ".key")
    csr = os.path.join(directory, name + (".csr.der" if der else ".csr"))
    args = ["req", "-new", "-nodes", "-keyout", key, "-out", csr,
            "-subj", subject if subject is not None else "/CN=" + name + ".example.test"]
    if key_spec[0].startswith("ec:"):
        args += ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:" + key_spec[0][3:]]
    else:
        args += ["-newkey", key_spec[0]]
    for extension in extensions:
        args += ["-addext", extension]
    if der:
        args += ["-outform", "DER"]
    openssl(*args)
    return key, csr


class ExternalCsrTest(cli.SandboxTest):
    def enroll(self, template, *extra, **kwargs):
        return self.cli("enroll", *self.cep(), *self.user(), "--template", template, *extra,
                        **kwargs)

    def record(self, kind, name):
        with open(os.path.join(self.state, kind, name + ".json")) as f:
            return json.load(f)

    def ces_count(self):
        return len(cli.ces_requests(self.sandbox))

    def test_an_openssl_csr_is_enrolled_and_its_certificate_carries_the_csr_key(self):
        key, csr = make_csr(self.tmp, "ext", extensions=["subjectAltName=DNS:ext.example.test"])
        result = self.enroll("WebServer", "--csr", csr, "--name", "ext")
        self.assertExit(result, 0)
        files = result.json["files"]
        self.assertKeyMatches(files["cert"], key)
        self.assertEqual(result.json["key_reference"], "")
        self.assertNotIn("key", files)
        self.assertEqual(sorted(os.listdir(os.path.join(self.state, "live", "ext"))),
                         ["cert.pem", "chain.pem", "fullchain.pem"])
        text = openssl("x509", "-in", files["cert"], "-noout", "-text")
        self.assertIn("DNS:ext.example.test", text)
        out = openssl("verify", "-CAfile", self.info["ca_bundle"], "-untrusted", files["chain"],
                      files["cert"])
        self.assertIn(": OK", out)
        # The CSR names no template: the CA took it from the request attribute.
        self.assertEqual(cli.ces_requests(self.sandbox)[-1]["template"], "WebServer")
        # No key to renew with: the record says so, and renew leaves it alone.
        record = self.record("certificates", "ext")
        self.assertIs(record["renewable"], False)
        self.assertEqual(record["key_reference"], "")
        before = self.ces_count()
        named = self.cli("renew", "ext", "--force", "--ca-bundle", self.info["ca_bundle"])
        self.assertExit(named, 2)
        self.assertIn("not renewable by certenroll-cli", named.json["error"]["message"])
        every = self.cli("renew", "--all", "--force", "--ca-bundle", self.info["ca_bundle"])
        self.assertExit(every, 0)
        self.assertEqual(every.json["certificates"][0]["status"], "skipped")
        self.assertEqual(self.ces_count(), before)

    def test_a_der_csr_from_standard_input_with_its_key_is_managed_for_renew(self):
        key, csr = make_csr(self.tmp, "std", key_spec=("ec:P-256",), der=True)
        with open(csr, "rb") as f:
            der = f.read()
        argv, env = cli._argv_env(["--state-dir", self.state, "enroll", *self.cep(), *self.user(),
                                   "--template", "ECWebServer", "--csr", "-", "--key", key,
                                   "--name", "std"], True, None)
        completed = subprocess.run(argv, input=der, capture_output=True, env=env, timeout=120)
        self.assertEqual(completed.returncode, 0, completed.stderr)
        files = json.loads(completed.stdout)["files"]
        self.assertKeyMatches(files["cert"], key)
        self.assertEqual(files["key"], key)
        record = self.record("certificates", "std")
        self.assertIs(record["renewable"], True)
        self.assertEqual(record["key_reference"], key)
        with open(key) as f:
            original_key = f.read()
        renewed = self.cli("renew", "std", "--force", "--ca-bundle", self.info["ca_bundle"],
                           env={"CERTENROLL_PASSWORD": self.sandbox.password("alice")})
        self.assertExit(renewed, 0)
        self.assertEqual(renewed.json["certificates"][0]["status"], "renewed")
        self.assertKeyMatches(files["cert"], key)
        with open(key) as f:
            self.assertNotEqual(f.read(), original_key)  # renewed with a new key, in its place

    def test_a_csr_the_template_forbids_is_refused_before_anything_is_sent(self):
        before = self.ces_count()
        _, ec = make_csr(self.tmp, "ec", key_spec=("ec:P-256",))
        result = self.enroll("WebServer", "--csr", ec)
        self.assertExit(result, 2)
        self.assertIn("requires an RSA key", result.json["error"]["message"])
        _, small = make_csr(self.tmp, "small")
        result = self.enroll("WebServer3072", "--csr", small)
        self.assertExit(result, 2)
        self.assertIn("at least 3072 bits", result.json["error"]["message"])
        _, other = make_csr(self.tmp, "other",
                            extensions=["1.3.6.1.4.1.311.20.2=ASN1:BMPSTRING:Machine"])
        result = self.enroll("WebServer", "--csr", other)
        self.assertExit(result, 2)
        self.assertIn("names template 'Machine'", result.json["error"]["message"])
        _, empty = make_csr(self.tmp, "empty", subject="/")
        result = self.enroll("WebServer", "--csr", empty)
        self.assertExit(result, 2)
        self.assertIn("neither a subject nor subject alternative names",
                      result.json["error"]["message"])
        # A request changed after it was signed.
        _, good = make_csr(self.tmp, "tampered", der=True)
        with open(good, "rb") as f:
            der = bytearray(f.read())
        der[40] ^= 0x01  # inside the subject
        with open(good, "wb") as f:
            f.write(der)
        result = self.enroll("WebServer", "--csr", good)
        self.assertExit(result, 2)
        self.assertIn("does not verify", result.json["error"]["message"])
        # Options that would change the request do not apply to one made already.
        self.assertExit(self.enroll("WebServer", "--csr", ec, "--cn", "x"), 2)
        self.assertExit(self.enroll("WebServer", "--csr", ec, "--format", "pfx"), 2)
        self.assertEqual(self.ces_count(), before)
        self.assertFalse(os.path.exists(os.path.join(self.state, "live")))

    def test_a_pending_csr_request_is_retrieved_later(self):
        key, csr = make_csr(self.tmp, "later")
        pending = self.enroll("ApprovalRequired", "--csr", csr, "--name", "later")
        self.assertExit(pending, 3)
        request_id = pending.json["request_id"]
        records = [json.load(open(os.path.join(self.state, "pending", name)))
                   for name in os.listdir(os.path.join(self.state, "pending"))]
        self.assertEqual(len(records), 1)
        self.assertEqual(records[0]["key_reference"], "")
        self.assertIs(records[0]["renewable"], False)
        self.assertEqual(records[0]["public_key"], cli.public_key_of_key(key))
        self.sandbox.approve("Sandbox-RSA-CA", request_id)
        done = self.cli("retrieve-pending", request_id, *self.user(), "--ca-bundle",
                        self.info["ca_bundle"])
        self.assertExit(done, 0)
        self.assertEqual(done.json["status"], "issued")
        self.assertKeyMatches(done.json["files"]["cert"], key)
        self.assertIs(self.record("certificates", "later")["renewable"], False)
        self.assertEqual(os.listdir(os.path.join(self.state, "pending")), [])


class OutputFormatsTest(cli.SandboxTest):
    def enroll(self, *extra):
        return self.cli("enroll", *self.cep(), *self.user(), "--template", "WebServer",
                        "--cn", "fmt.example.test", *extra)

    def password_file(self):
        path = os.path.join(self.tmp, "pfx-password")
        with open(path, "w") as f:
            f.write("pfx-secret\n")
        return path

    def test_p7b_in_pem_and_der_holds_the_certificate_and_its_chain(self):
        result = self.enroll("--name", "p7", "--format", "pem", "--format", "p7b",
                             "--format", "p7b-der")
        self.assertExit(result, 0)
        files = result.json["files"]
        self.assertTrue(files["p7b"].endswith("/live/p7/cert.p7b"))
        with open(files["cert"]) as f:
            leaf = f.read()
        with open(files["chain"]) as f:
            chain = f.read()
        for path, inform in ((files["p7b"], "PEM"), (files["p7b_der"], "DER")):
            printed = openssl("pkcs7", "-inform", inform, "-in", path, "-print_certs")
            pems = ["-----BEGIN CERTIFICATE-----" + part.split("-----END CERTIFICATE-----")[0]
                    + "-----END CERTIFICATE-----\n"
                    for part in printed.split("-----BEGIN CERTIFICATE-----")[1:]]
            self.assertEqual(pems[0], leaf)
            self.assertEqual("".join(pems[1:]), chain)
        with open(files["p7b"]) as f:
            self.assertTrue(f.read().startswith("-----BEGIN PKCS7-----"))

    def test_legacy_pfx_is_3des_with_a_sha1_mac_and_the_default_stays_aes(self):
        pw = self.password_file()
        legacy = self.enroll("--name", "old", "--pfx-legacy", "--pfx-password-file", pw)
        self.assertExit(legacy, 0)
        path = legacy.json["files"]["pfx"]
        info = subprocess.run(["openssl", "pkcs12", "-legacy", "-in", path, "-info", "-nodes",
                               "-passin", "pass:pfx-secret"], capture_output=True, text=True,
                              check=True)
        self.assertIn("BEGIN PRIVATE KEY", info.stdout)
        self.assertIn("MAC: sha1", info.stderr)
        self.assertIn("pbeWithSHA1And3-KeyTripleDES-CBC", info.stderr)
        self.assertNotIn("AES", info.stderr)
        self.assertKeyMatches(legacy.json["files"]["cert"], self.key_of(path))
        modern = self.enroll("--name", "new", "--format", "pfx", "--pfx-password-file", pw)
        self.assertExit(modern, 0)
        info = subprocess.run(["openssl", "pkcs12", "-in", modern.json["files"]["pfx"], "-info",
                               "-nodes", "-passin", "pass:pfx-secret"], capture_output=True,
                              text=True, check=True)
        self.assertIn("MAC: sha256", info.stderr)
        self.assertIn("AES-256-CBC", info.stderr)
        self.assertNotIn("TripleDES", info.stderr)

    def key_of(self, pfx):
        path = os.path.join(self.tmp, "from-pfx.key")
        openssl("pkcs12", "-legacy", "-in", pfx, "-nocerts", "-nodes", "-passin",
                "pass:pfx-secret", "-out", path)
        return path
