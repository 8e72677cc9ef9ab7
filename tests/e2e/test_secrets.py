"""No secret leaks (issue 9, "Secrets"): every command run with --verbose, -vv (the redacted SOAP
dump), --dry-run and failures (wrong password, denied template, pending, refused renewal); then
every stdout, stderr, audit log line and file written in the state and output directories is
searched for the passwords, passphrases and private keys used, and none is found. Written files
have the modes the code and the documentation promise (keys and PFX 0600, state records 0600,
their directories 0700), and TLS verification cannot be turned off.
"""

import base64
import os
import re
import stat

import cli
from cli import openssl


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def pem_body_lines(pem_text):
    """The base64 lines between BEGIN and END."""
    return [line for line in pem_text.splitlines()
            if line and not line.startswith("-----") and ":" not in line]


def files_under(*directories):
    for directory in directories:
        for root, _, names in os.walk(directory):
            for name in names:
                yield os.path.join(root, name)


KEY_FILE = re.compile(r"(^|[./])key\.pem(\.prev|\.new)?$")
PFX_FILE = re.compile(r"\.pfx(\.prev|\.new)?$")


class SecretsTest(cli.SandboxTest):
    def setUp(self):
        super().setUp()
        self.out = os.path.join(self.tmp, "out")
        # Secret files live apart from everything that is searched.
        self.secrets_dir = os.path.join(self.tmp, "secrets")
        os.mkdir(self.secrets_dir, 0o700)
        self.password = self.sandbox.password("alice")
        self.secrets = {
            "alice's password": self.password,
            "a wrong password": "Wr0ng-Passw0rd-4417",
            "the PFX password": "Pfx-Secret-9931",
            "the key passphrase": "Key-Passphrase-2287",
            "the client PFX passphrase": "Client-Pfx-Pass-6612",
        }
        self.files = {label: self.secret_file(label, value) for label, value in self.secrets.items()}
        self.results = []
        help_text = cli.run("--help", json_mode=False).stdout
        self.audit_log = os.path.join(self.tmp, "audit.jsonl") if "--audit-log" in help_text else None

    def secret_file(self, label, value):
        path = os.path.join(self.secrets_dir, re.sub(r"\W+", "-", label).strip("-"))
        with open(path, "w") as f:
            f.write(value + "\n")
        return path

    def run_cli(self, expected, *args, json_mode=True, env=None):
        """Runs with --audit-log when the binary has it; records the output for the search."""
        extra = ["--audit-log", self.audit_log] if self.audit_log else []
        result = self.cli(*extra, *args, json_mode=json_mode, env=env)
        self.assertExit(result, expected)
        self.results.append((" ".join(str(a) for a in args[:2]), result))
        return result

    def user(self, name="alice", password_file=None):
        return ["--username", name, "--password-file",
                password_file or self.files["alice's password"]]

    def assertAbsent(self, needle, haystack, what):
        """Like assertNotIn, without printing the haystack (a key file, a whole dump)."""
        if needle in haystack:
            at = haystack.index(needle)
            self.fail(f"{what} (at offset {at} of {len(haystack)})")

    def pfx_client_certificate(self):
        u = self.info["users"]["alice"]
        pfx = os.path.join(self.secrets_dir, "alice.pfx")
        openssl("pkcs12", "-export", "-in", u["client_cert"], "-inkey", u["client_key"], "-out",
                pfx, "-passout", "file:" + self.files["the client PFX passphrase"])
        return pfx

    def session(self):
        """Every subcommand, verbose and very verbose, succeeding and failing."""
        wrong = self.user(password_file=self.files["a wrong password"])
        pfx_pw = ["--pfx-password-file", self.files["the PFX password"]]
        key_pw = ["--key-passphrase-file", self.files["the key passphrase"]]
        bundle = ["--ca-bundle", self.info["ca_bundle"]]
        alice_env = {"CERTENROLL_PASSWORD": self.password,
                     "CERTENROLL_PFX_PASSWORD": self.secrets["the PFX password"]}

        # policy
        self.run_cli(0, "-vv", "policy", *self.cep(), *self.user())
        self.run_cli(0, "-v", "policy", *self.cep(), *self.user(), "--template", "WebServer",
                     json_mode=False)
        self.run_cli(5, "-vv", "policy", *self.cep(), *wrong, "--refresh")
        self.run_cli(5, "-vv", "policy", *self.cep(), *wrong, "--refresh",
                     json_mode=False)
        # enroll: dry run, issued with a PFX, an encrypted key, failures, pending
        self.run_cli(0, "-vv", "enroll", *self.cep(), *self.user(), "--template", "WebServer",
                     "--cn", "dry.example.test", "--dry-run")
        self.run_cli(0, "-vv", "enroll", *self.cep(), *self.user(), "--template", "WebServer",
                     "--name", "web", "--cn", "web.example.test", "--format", "pem",
                     "--format", "pfx", *pfx_pw)
        self.run_cli(0, "-vv", "enroll", *self.cep(), *self.user(), "--template", "WebServer",
                     "--name", "locked", "--cn", "locked.example.test", "--out-dir", self.out,
                     *key_pw, json_mode=False)
        self.run_cli(4, "-vv", "enroll", *self.cep(), *self.user(), "--template", "Restricted",
                     "--name", "denied", "--cn", "denied.example.test", "--force")
        self.run_cli(4, "-v", "enroll", *self.cep(), *self.user(), "--template", "Restricted",
                     "--name", "refused", "--cn", "refused.example.test", json_mode=False)
        self.run_cli(5, "-vv", "enroll", *self.cep(), *wrong, "--template", "WebServer",
                     "--name", "wrongpw", "--cn", "wrongpw.example.test", "--refresh-policy")
        pending = self.run_cli(3, "-vv", "enroll", *self.cep(), *self.user(), "--template",
                               "ApprovalRequired", "--name", "approval", "--cn",
                               "approval.example.test")
        # TLS client certificate from a PFX with a passphrase
        self.run_cli(0, "-vv", "enroll", *self.cep("certificate"), "--client-cert",
                     self.pfx_client_certificate(), "--client-key-passphrase-file",
                     self.files["the client PFX passphrase"], "--template", "WebServer",
                     "--name", "bycert", "--cn", "bycert.example.test")
        # retrieve-pending: wrong password, still pending, then issued (password from the env)
        request_id = pending.json["request_id"]
        self.run_cli(5, "-vv", "retrieve-pending", request_id, *wrong, *bundle)
        self.run_cli(3, "-vv", "retrieve-pending", request_id, *self.user(), *bundle)
        self.sandbox.approve(pending.json["ca"], request_id)
        self.run_cli(0, "-vv", "retrieve-pending", "--all", *bundle, env=alice_env)
        # renew: passwords from the environment and from files, an encrypted key, a failure
        self.run_cli(0, "-vv", "renew", "web", "--force", *bundle, env=alice_env)
        self.run_cli(0, "-v", "renew", "locked", "--force", *bundle, *key_pw,
                     "--password-file", self.files["alice's password"], json_mode=False)
        self.run_cli(5, "-vv", "renew", "web", "--force", *bundle, "--password-file",
                     self.files["a wrong password"], *pfx_pw)
        self.run_cli(5, "-vv", "renew", "--all", "--force", *bundle, "--password-file",
                     self.files["a wrong password"], *pfx_pw, json_mode=False)

    def private_keys(self):
        """{key file: (base64 lines, byte strings)} that betray each private key the session made
        or used: the key files in the state and output directories (encrypted ones decrypted)
        and alice's TLS client key. Only the private part counts (from the private exponent on):
        the modulus is public, and also in CSRs and certificates."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        keys = {}
        paths = [p for p in files_under(self.state, self.out) if KEY_FILE.search(p)]
        paths.append(self.info["users"]["alice"]["client_key"])
        for path in paths:
            encrypted = b"ENCRYPTED" in read_bytes(path)
            password = self.secrets["the key passphrase"].encode() if encrypted else None
            key = serialization.load_pem_private_key(read_bytes(path), password)
            self.assertIsInstance(key, rsa.RSAPrivateKey)  # what the session's templates make
            der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
            d = key.private_numbers().d
            d_bytes = d.to_bytes((d.bit_length() + 7) // 8, "big")
            start = der.index(d_bytes)  # d, p, q, dp, dq, qinv follow: all private
            b64 = base64.b64encode(der).decode()
            pem_lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]  # as in a PEM file
            lines = [line for i, line in enumerate(pem_lines) if i * 48 >= start]
            self.assertGreaterEqual(len(lines), 10)
            needles = [d_bytes[:48], d_bytes[:48].hex().encode(), d_bytes[:48].hex().upper().encode(),
                       der[-48:]]
            keys[path] = (lines, needles, encrypted)
        return keys

    def test_no_secret_in_any_output_log_or_file(self):
        """Expected: none of the passwords/passphrases appears in any stdout, stderr, audit log or
        file under the state and output directories; no private key (the base64 lines of its
        private part, its private exponent raw or in hex) appears anywhere but in its own key file
        (and that file's .prev copy); an encrypted key file does not hold its key in the clear."""
        self.session()
        keys = self.private_keys()
        self.assertGreaterEqual(len(keys), 8)  # web (+ .prev, + failed renewal's .new), locked...
        self.assertTrue(any("ENCRYPTED" in read_bytes(p).decode() for p in keys))

        outputs = {f"{label}: stdout": r.stdout for label, r in self.results}
        outputs.update({f"{label}: stderr": r.stderr for label, r in self.results})
        written = {path: read_bytes(path) for path in files_under(self.state, self.out)}
        if self.audit_log and os.path.exists(self.audit_log):
            written[self.audit_log] = read_bytes(self.audit_log)
        self.assertTrue(any(PFX_FILE.search(p) for p in written))
        # The verbose dumps really contain the traffic that was searched.
        dumps = "".join(r.stderr for _, r in self.results)
        self.assertIn("<o:Password", dumps)
        self.assertIn("RequestSecurityToken", dumps)

        for what, secret in self.secrets.items():
            for where, text in outputs.items():
                self.assertAbsent(secret, text, f"{what} in {where}")
            for path, content in written.items():
                self.assertAbsent(secret.encode(), content, f"{what} in {path}")
                self.assertAbsent(secret.encode("utf-16-le"), content, f"{what} in {path}")

        for key_path, (lines, needles, encrypted) in keys.items():
            own = {p for p, content in written.items()
                   if KEY_FILE.search(p) and content == read_bytes(key_path)}
            for where, text in outputs.items():
                for line in lines:
                    self.assertAbsent(line, text, f"private key {key_path} in {where}")
                for needle in needles[1:3]:
                    self.assertAbsent(needle.decode(), text, f"private key {key_path} in {where}")
            for path, content in written.items():
                if path in own and not encrypted:
                    continue  # the key file itself (and its .prev link)
                for needle in [line.encode() for line in lines] + needles:
                    self.assertAbsent(needle, content, f"private key {key_path} in {path}")

    def test_written_files_have_the_documented_modes(self):
        """Expected: key files (also .prev and .new) and PFX files 0600; state records (pending,
        certificates, policy cache, journal) and the lock 0600; certificate and chain files
        0644; the directories the tool creates for records and keys 0700; nothing anywhere
        group- or world-writable."""
        self.session()
        seen = set()
        for path in files_under(self.state, self.out):
            mode = stat.S_IMODE(os.stat(path).st_mode)
            rel = os.path.relpath(path, self.tmp)
            name = os.path.basename(path)
            self.assertEqual(mode & 0o022, 0, f"{rel} is writable by others: {oct(mode)}")
            if KEY_FILE.search(name) or PFX_FILE.search(name):
                expected, kind = 0o600, "key"
            elif name == "lock" or name.endswith((".json", ".policy")):
                expected, kind = 0o600, "record"
            elif re.search(r"(cert|chain|fullchain)\.(pem|der)(\.prev)?$", name):
                expected, kind = 0o644, "certificate"
            else:
                self.fail(f"unexpected file {rel}")
            seen.add(kind)
            self.assertEqual(mode, expected, f"{rel}: {oct(mode)}")
        self.assertEqual(seen, {"key", "record", "certificate"})
        for sub in ("pending", "certificates", "policy-cache", "journal", "live/web",
                    "live/approval"):
            mode = stat.S_IMODE(os.stat(os.path.join(self.state, sub)).st_mode)
            self.assertEqual(mode, 0o700, f"{sub}: {oct(mode)}")

    def test_tls_verification_cannot_be_disabled(self):
        """Expected: no option turns certificate verification off: --insecure and friends are
        usage errors (exit 2), no subcommand's help offers one, and a server the CA bundle does
        not vouch for is refused (exit 6) whatever the curl-style environment says."""
        for flag in ("--insecure", "-k", "--no-verify", "--no-check-certificate",
                     "--tls-no-verify", "--skip-tls-verify"):
            result = self.cli("policy", *self.cep(), *self.user(), flag)
            self.assertExit(result, 2)
        for sub in ("policy", "enroll", "renew", "retrieve-pending", "diagnose"):
            text = cli.run(sub, "--help", json_mode=False).stdout.lower()
            for word in ("insecure", "no-verify", "skip-verify", "noverify"):
                self.assertNotIn(word, text, f"{sub} --help offers {word}")
        env = {"CURLOPT_SSL_VERIFYPEER": "0", "CURL_SSL_NO_VERIFY": "1", "GIT_SSL_NO_VERIFY": "1",
               "PYTHONHTTPSVERIFY": "0", "NODE_TLS_REJECT_UNAUTHORIZED": "0"}
        result = self.cli("policy", "--url", self.info["cep"]["password"], *self.user(), env=env)
        self.assertExit(result, 6)
        self.assertEqual(result.json["error"]["category"], "tls")


if __name__ == "__main__":
    import unittest
    unittest.main()
