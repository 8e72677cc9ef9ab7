"""`renew` against the sandbox: new-key, same-key and key-based renewal, cron safety."""

import datetime
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time

import cli
from cli import openssl


def read(path):
    with open(path) as f:
        return f.read()


def serial_of(path):
    return openssl("x509", "-in", path, "-noout", "-serial").strip().split("=")[1].lower()


class RenewTest(cli.SandboxTest):
    def enroll(self, template, name, *extra):
        result = self.cli("enroll", *self.cep(), *self.user(), "--template", template,
                          "--name", name, "--cn", name + ".example.test", "--dns",
                          name + ".example.test", *extra)
        self.assertExit(result, 0)
        return result.json["files"]

    def renew(self, *args, **kwargs):
        return self.cli("renew", "--ca-bundle", self.info["ca_bundle"], *args,
                        env={"CERTENROLL_PASSWORD": self.password()}, **kwargs)

    def password(self, user="alice"):
        with open(self.info["users"][user]["password_file"]) as f:
            return f.read().strip()

    def ces_requests(self):
        return cli.ces_requests(self.sandbox)

    def assertConsistent(self, files):
        self.assertKeyMatches(files["cert"], files["key"])
        with open(files["fullchain"]) as f:
            first = f.read().split("-----END CERTIFICATE-----")[0]
        with open(files["cert"]) as f:
            self.assertEqual(f.read().split("-----END CERTIFICATE-----")[0], first)

    def test_new_key_renewal_replaces_files_and_keeps_backups(self):
        files = self.enroll("WebServer", "web1")
        old_serial, old_pub = serial_of(files["cert"]), cli.public_key_of_key(files["key"])
        result = self.renew("web1", "--force")
        self.assertExit(result, 0)
        entry = result.json["certificates"][0]
        self.assertEqual(entry["status"], "renewed")
        self.assertFalse(entry["same_key"])
        self.assertNotEqual(serial_of(files["cert"]), old_serial)
        self.assertNotEqual(cli.public_key_of_key(files["key"]), old_pub)
        self.assertConsistent(files)
        self.assertEqual(serial_of(files["cert"] + ".prev"), old_serial)
        self.assertEqual(cli.public_key_of_key(files["key"] + ".prev"), old_pub)
        self.assertEqual(os.stat(files["key"]).st_mode & 0o777, 0o600)
        out = openssl("verify", "-CAfile", self.info["ca_bundle"], "-untrusted", files["chain"],
                      files["cert"])
        self.assertIn(": OK", out)
        # The CA saw a renewal signed with the old certificate.
        last = self.ces_requests()[-1]
        self.assertEqual(last["outcome"], "issued")
        self.assertEqual(last["template"], "WebServer")
        with open(os.path.join(self.state, "certificates", "web1.json")) as f:
            record = json.load(f)
        self.assertEqual(record["serial"], serial_of(files["cert"]))

    def test_same_key_renewal_when_asked_and_when_the_template_demands_it(self):
        files = self.enroll("WebServer", "web2")
        old_pub = cli.public_key_of_key(files["key"])
        result = self.renew("web2", "--force", "--reuse-key")
        self.assertExit(result, 0)
        self.assertTrue(result.json["certificates"][0]["same_key"])
        self.assertEqual(cli.public_key_of_key(files["key"]), old_pub)
        self.assertConsistent(files)

        files = self.enroll("SameKeyRenewal", "same")
        old_pub = cli.public_key_of_key(files["key"])
        result = self.renew("same", "--force")
        self.assertExit(result, 0)
        self.assertTrue(result.json["certificates"][0]["same_key"])
        self.assertEqual(cli.public_key_of_key(files["key"]), old_pub)

    def enroll_key_based(self, name, *extra):
        """A KeyBasedRenewal certificate: its first issuance waits for CA manager approval (the
        template pends every request), then retrieve-pending collects it."""
        pending = self.cli("enroll", *self.cep(), *self.user(), "--template", "KeyBasedRenewal",
                           "--name", name, "--cn", name + ".example.test", *extra)
        self.assertExit(pending, 3)
        self.sandbox.approve(pending.json["ca"], pending.json["request_id"])
        done = self.cli("retrieve-pending", pending.json["request_id"], *self.user(),
                        "--ca-bundle", self.info["ca_bundle"])
        self.assertExit(done, 0)
        return done.json["files"]

    def record(self, name):
        with open(os.path.join(self.state, "certificates", name + ".json")) as f:
            return json.load(f)

    def kbr_ces(self):
        return self.info["ces"]["Sandbox-RSA-CA"]["keybasedrenewal"]

    def assertKeyBasedRenewal(self, entry):
        """The CES request: at the -AllowKeyBasedRenewal CES, issued to the account of the
        certificate being renewed (the TLS client certificate maps to none: CN kbr...)."""
        self.assertEqual(entry["path"], "/keybased/Sandbox-RSA-CA_CES_Certificate/service.svc/CES")
        self.assertEqual((entry["auth"], entry["outcome"], entry["identity"]),
                         ("keybasedrenewal", "issued", "alice"))

    def test_key_based_renewal_uses_only_the_old_certificate(self):
        files = self.enroll_key_based("kbr")
        old_serial = serial_of(files["cert"])
        # The policy advertised the key-based renewal CES (certificate authentication, renewal
        # only); enroll remembered it.
        self.assertEqual(self.record("kbr")["endpoint"]["renewal_url"], self.kbr_ces())
        # No password anywhere: the certificate is the credential.
        result = self.cli("renew", "kbr", "--force", "--key-based", "--ca-bundle",
                          self.info["ca_bundle"])
        self.assertExit(result, 0)
        self.assertNotEqual(serial_of(files["cert"]), old_serial)
        self.assertConsistent(files)
        self.assertEqual(result.json["certificates"][0]["ces_url"], self.kbr_ces())
        self.assertKeyBasedRenewal(self.ces_requests()[-1])
        self.assertTrue(self.record("kbr")["endpoint"]["key_based"])

    def test_key_based_renewal_through_the_key_based_renewal_cep(self):
        files = self.enroll_key_based("kbrcep")
        cep = self.info["cep"]["keybasedrenewal"]
        before = len(self.sandbox.requests())
        result = self.cli("renew", "kbrcep", "--force", "--key-based", "--url", cep,
                          "--ca-bundle", self.info["ca_bundle"])
        self.assertExit(result, 0)
        requests = self.sandbox.requests()[before:]
        policy = [r for r in requests if r.get("endpoint") == "CEP"]
        # The _Certificate CEP was read with the same certificate; it offers only key-based
        # renewal templates.
        self.assertEqual(policy[-1]["path"],
                         "/KeyBasedRenewal_ADPolicyProvider_CEP_Certificate/service.svc/CEP")
        self.assertEqual((policy[-1]["outcome"], policy[-1]["templates"]),
                         ("policy", ["KeyBasedRenewal"]))
        self.assertIsNone(policy[-1]["identity"])  # the certificate maps to no account
        self.assertKeyBasedRenewal(self.ces_requests()[-1])
        endpoint = self.record("kbrcep")["endpoint"]
        self.assertEqual((endpoint["cep_url"], endpoint["key_based"]), (cep, True))

        # The next run (cron: no flags, no password) renews the same way.
        old_serial = serial_of(files["cert"])
        before = len(self.sandbox.requests())
        again = self.cli("renew", "--all", "--force", "--ca-bundle", self.info["ca_bundle"])
        self.assertExit(again, 0)
        self.assertNotEqual(serial_of(files["cert"]), old_serial)
        # (The key-based renewal CEP's policy is still cached: nextUpdateHours 8.)
        paths = [r["path"] for r in self.sandbox.requests()[before:] if r.get("endpoint")]
        self.assertEqual(paths, ["/keybased/Sandbox-RSA-CA_CES_Certificate/service.svc/CES"])

    def test_key_based_renewal_cep_with_username_and_password(self):
        # A -KeyBasedRenewal CEP may itself use username/password: the recorded user signs in
        # there, and the CES still gets the certificate.
        self.enroll_key_based("kbrpw")
        cep = self.info["cep"]["keybasedrenewal_password"]
        before = len(self.sandbox.requests())
        result = self.renew("kbrpw", "--force", "--key-based", "--url", cep)
        self.assertExit(result, 0)
        policy = [r for r in self.sandbox.requests()[before:] if r.get("endpoint") == "CEP"]
        self.assertEqual((policy[-1]["auth"], policy[-1]["identity"]),
                         ("keybasedrenewal_password", "alice"))
        self.assertKeyBasedRenewal(self.ces_requests()[-1])

    def test_key_based_renewal_of_a_der_only_certificate(self):
        der = self.enroll_key_based("kbrder", "--format", "der")["der"]
        old_serial = self.serial_of_der(der)
        renewed = self.cli("renew", "kbrder", "--force", "--key-based", "--ca-bundle",
                           self.info["ca_bundle"])
        self.assertExit(renewed, 0)
        self.assertNotEqual(self.serial_of_der(der), old_serial)
        self.assertKeyBasedRenewal(self.ces_requests()[-1])

    def test_key_based_renewal_of_a_template_without_it_is_refused(self):
        files = self.enroll("WebServer", "nokbr")
        # The template lacks enrollmentFlags 0x10000: enroll recorded no key-based renewal CES,
        # and nothing is sent.
        result = self.cli("renew", "nokbr", "--force", "--key-based", "--ca-bundle",
                          self.info["ca_bundle"])
        self.assertExit(result, 2)
        self.assertIn("key-based renewal", result.json["certificates"][0]["error"]["message"])
        self.assertIn("KeyBasedRenewal_ADPolicyProvider_CEP",
                      result.json["certificates"][0]["error"]["hint"])
        self.assertTrue(os.path.exists(files["cert"]))
        self.assertFalse(os.path.exists(files["key"] + ".new"))

    def test_not_due_is_skipped_without_network_traffic(self):
        self.enroll("WebServer", "fresh")
        before = len(self.sandbox.requests())
        result = self.renew("--all")
        self.assertExit(result, 0)
        entry = result.json["certificates"][0]
        self.assertEqual(entry["status"], "skipped")
        self.assertIn("due_at", entry)
        self.assertEqual(len(self.sandbox.requests()), before)
        # --renew-before longer than the remaining lifetime makes it due.
        result = self.renew("--all", "--renew-before", "400d")
        self.assertExit(result, 0)
        self.assertEqual(result.json["certificates"][0]["status"], "renewed")
        self.assertGreater(len(self.sandbox.requests()), before)

    def test_all_isolates_a_broken_record(self):
        good1 = self.enroll("WebServer", "good1")
        good2 = self.enroll("WebServer", "good2")
        self.enroll("WebServer", "broken")
        os.unlink(os.path.join(self.state, "live", "broken", "cert.pem"))
        serials = [serial_of(good1["cert"]), serial_of(good2["cert"])]
        result = self.renew("--all", "--force")
        self.assertExit(result, 9)  # local error: the missing file
        by_name = {c["name"]: c for c in result.json["certificates"]}
        self.assertEqual(by_name["good1"]["status"], "renewed")
        self.assertEqual(by_name["good2"]["status"], "renewed")
        self.assertEqual(by_name["broken"]["status"], "failed")
        self.assertEqual(by_name["broken"]["error"]["category"], "local")
        self.assertEqual(result.json["summary"]["failed"], 1)
        self.assertNotEqual(serial_of(good1["cert"]), serials[0])
        self.assertNotEqual(serial_of(good2["cert"]), serials[1])
        # A corrupt record is isolated too.
        with open(os.path.join(self.state, "certificates", "broken.json"), "w") as f:
            f.write("{not json")
        result = self.renew("--all", "--force")
        self.assertExit(result, 9)
        self.assertEqual(result.json["summary"]["renewed"], 2)

    def test_two_concurrent_runs_are_serialised(self):
        files = [self.enroll("WebServer", "c%d" % i) for i in range(2)]
        before = len(self.ces_requests())
        argv = [cli.CLI, "--json", "--state-dir", self.state, "renew", "--all", "--force",
                "--ca-bundle", self.info["ca_bundle"]]
        env = dict(os.environ, CERTENROLL_PASSWORD=self.password())
        procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                  text=True) for _ in range(2)]
        outputs = [p.communicate(timeout=300) for p in procs]
        for p, (out, err) in zip(procs, outputs):
            self.assertEqual(p.returncode, 0, out + err)
            self.assertEqual(json.loads(out)["summary"]["renewed"], 2)
        for f in files:
            self.assertConsistent(f)
        # Each run renewed both certificates in turn; the final files are the last run's.
        issued = [r for r in self.ces_requests()[before:] if r["outcome"] == "issued"]
        self.assertEqual(len(issued), 4)

    def test_kill_during_renewal_never_leaves_a_broken_set(self):
        # Random kills, as cron sees them (test_crash_safety.py kills at every step in turn); EC
        # keys keep each renewal short.
        files = self.enroll("ECWebServer", "crash")
        argv = [cli.CLI, "--state-dir", self.state, "renew", "crash", "--force", "--ca-bundle",
                self.info["ca_bundle"]]
        env = dict(os.environ, CERTENROLL_PASSWORD=self.password())
        start = time.monotonic()
        subprocess.run(argv, env=env, check=True, capture_output=True)
        duration = time.monotonic() - start
        rng = random.Random(1234)
        for _ in range(12):
            proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0, duration))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            # The next run completes an interrupted switch before deciding anything, and
            # removes what the killed run left (temporaries may hold a copy of the key).
            check = self.renew("crash")
            self.assertExit(check, 0)
            self.assertConsistent(files)
            self.assertEqual(self.leftovers("crash"), [])

    def test_deploy_hook_gets_the_variables_and_is_remembered(self):
        files = self.enroll("WebServer", "hooked")
        out = os.path.join(self.tmp, "hook.out")
        hook = "env | grep ^CERTENROLL_ | sort >> " + out + "; echo --- >> " + out
        result = self.renew("hooked", "--force", "--deploy-hook", hook)
        self.assertExit(result, 0)
        self.assertEqual(result.json["certificates"][0]["deploy_hook_status"], 0)
        text = read(out)
        self.assertIn("CERTENROLL_NAME=hooked\n", text)
        self.assertIn("CERTENROLL_CERT=" + files["cert"] + "\n", text)
        self.assertIn("CERTENROLL_KEY=" + files["key"] + "\n", text)
        self.assertIn("CERTENROLL_SERIAL=" + serial_of(files["cert"]) + "\n", text)
        # Saved in the record: the next renewal runs it without the flag.
        result = self.renew("hooked", "--force")
        self.assertExit(result, 0)
        self.assertEqual(read(out).count("---"), 2)
        # A failing hook is reported, the certificate stays renewed.
        result = self.renew("hooked", "--force", "--deploy-hook", "exit 7")
        self.assertExit(result, 9)
        entry = result.json["certificates"][0]
        self.assertEqual(entry["status"], "renewed")
        self.assertEqual(entry["deploy_hook_status"], 7)
        # Given empty, it removes the saved hook: the next renewal runs none.
        self.assertExit(self.renew("hooked", "--force", "--deploy-hook", ""), 0)
        result = self.renew("hooked", "--force")
        self.assertExit(result, 0)
        self.assertNotIn("deploy_hook_status", result.json["certificates"][0])

    def test_pending_renewal_then_retrieve_switches_the_new_key_in(self):
        files = self.enroll_pending_then_issue()
        old_pub = cli.public_key_of_key(files["key"])
        hook = "echo deployed >> " + os.path.join(self.tmp, "hook.out")
        result = self.renew("approval", "--force", "--deploy-hook", hook)
        self.assertExit(result, 3)
        entry = result.json["certificates"][0]
        self.assertEqual(entry["status"], "pending")
        # Nothing replaced yet; the new key waits beside the old one for retrieve-pending.
        self.assertEqual(cli.public_key_of_key(files["key"]), old_pub)
        self.assertTrue(os.path.exists(files["key"] + ".new"))
        # A second run does not submit again.
        again = self.renew("approval", "--force")
        self.assertExit(again, 3)
        self.assertEqual(again.json["certificates"][0]["request_id"], entry["request_id"])
        ca = [r for r in self.ces_requests() if r.get("request_id") == entry["request_id"]][0]["ca"]
        self.sandbox.approve(ca, entry["request_id"])
        done = self.cli("retrieve-pending", entry["request_id"], *self.user(),
                        "--ca-bundle", self.info["ca_bundle"])
        self.assertExit(done, 0)
        self.assertNotEqual(cli.public_key_of_key(files["key"]), old_pub)
        self.assertConsistent(files)
        # The deploy hook given with the renewal is remembered through the pending request.
        with open(os.path.join(self.state, "certificates", "approval.json")) as f:
            self.assertEqual(json.load(f)["deploy_hook"], hook)

    def test_pending_renewal_denied_later_removes_the_new_key(self):
        files = self.enroll_pending_then_issue()
        old_key = read(files["key"])
        result = self.renew("approval", "--force")
        self.assertExit(result, 3)
        rid = result.json["certificates"][0]["request_id"]
        self.assertTrue(os.path.exists(files["key"] + ".new"))
        ca = [r for r in self.ces_requests() if r.get("request_id") == rid][0]["ca"]
        self.sandbox.deny(ca, rid)
        denied = self.cli("retrieve-pending", rid, *self.user(), "--ca-bundle",
                          self.info["ca_bundle"])
        self.assertExit(denied, 4)
        # The denial is final: the key no certificate will ever be issued for is removed; the
        # current key and certificate are untouched.
        self.assertFalse(os.path.exists(files["key"] + ".new"))
        self.assertEqual(read(files["key"]), old_key)
        self.assertConsistent(files)

    def test_renew_name_collects_its_own_pending_renewal(self):
        """renew NAME asks about its certificate's waiting renewal, as renew --all does: a cron
        job renewing one certificate installs it once approved, without retrieve-pending."""
        hook_out = os.path.join(self.tmp, "hook.out")
        files, old_key, rid, ca = self.renewal_waiting("--deploy-hook",
                                                       "echo deployed >> " + hook_out)
        submitted = {r.get("request_id") for r in self.ces_requests()}

        # Not approved yet: asked about, still pending (exit 3), nothing installed or sent anew.
        waiting = self.renew("approval")
        self.assertExit(waiting, 3)
        entry = waiting.json["certificates"][0]
        self.assertEqual((entry["status"], entry["collected_request_id"]), ("pending", rid))
        self.assertEqual(read(files["key"]), old_key)
        self.assertTrue(os.path.exists(files["key"] + ".new"))

        self.sandbox.approve(ca, rid)
        done = self.renew("approval")
        self.assertExit(done, 0)
        entry = done.json["certificates"][0]
        self.assertEqual((entry["status"], entry["collected_request_id"]), ("renewed", rid))
        self.assertNotEqual(read(files["key"]), old_key)
        self.assertFalse(os.path.exists(files["key"] + ".new"))
        self.assertConsistent(files)
        with open(hook_out) as f:
            self.assertEqual(f.read(), "deployed\n")
        self.assertEqual({r.get("request_id") for r in self.ces_requests()}, submitted)

        # Nothing waits any more: the next run is the due check alone.
        self.assertDueCheckOnly("approval")

    def test_renew_name_reports_its_denied_renewal_once(self):
        files, old_key, rid, ca = self.renewal_waiting()
        self.sandbox.deny(ca, rid)
        denied = self.renew("approval")
        self.assertExit(denied, 4)
        entry = denied.json["certificates"][0]
        self.assertEqual((entry["status"], entry["collected_request_id"]), ("failed", rid))
        self.assertEqual(entry["error"]["category"], "denied")
        # The key generated for it is removed; the current files are untouched.
        self.assertFalse(os.path.exists(files["key"] + ".new"))
        self.assertEqual(read(files["key"]), old_key)
        self.assertConsistent(files)
        # A denial is final: the next run is the due check alone.
        self.assertDueCheckOnly("approval")

    def test_due_check_reads_the_certificate_file_itself(self):
        # Not due is told from the certificate file's own validity (PEM and DER files alike),
        # never from what the record saved.
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        def not_after(path, der=False):
            with open(path, "rb") as f:
                data = f.read()
            cert = (x509.load_der_x509_certificate(data) if der
                    else x509.load_pem_x509_certificate(data))
            return cert.not_valid_after.strftime("%Y-%m-%dT%H:%M:%SZ")

        pem = self.enroll("WebServer", "pemfile")
        der = self.enroll("WebServer", "derfile", "--format", "der")
        before = len(self.sandbox.requests())
        result = self.renew("--all")
        self.assertExit(result, 0)
        by_name = {c["name"]: c for c in result.json["certificates"]}
        self.assertEqual(by_name["pemfile"]["status"], "skipped")
        self.assertEqual(by_name["pemfile"]["previous_not_after"], not_after(pem["cert"]))
        self.assertEqual(by_name["derfile"]["status"], "skipped")
        self.assertEqual(by_name["derfile"]["previous_not_after"], not_after(der["der"], True))

        # A certificate put in the file by other means, valid until 2061 (GeneralizedTime):
        # its validity is the one reported.
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pemfile.example.test")])
        replaced = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                    .public_key(key.public_key()).serial_number(x509.random_serial_number())
                    .not_valid_before(datetime.datetime(2026, 1, 1))
                    .not_valid_after(datetime.datetime(2061, 3, 4, 5, 6, 7))
                    .sign(key, hashes.SHA256()))
        with open(pem["cert"], "wb") as f:
            f.write(b"Subject: pemfile\n" + replaced.public_bytes(serialization.Encoding.PEM))
        result = self.renew("--all")
        self.assertExit(result, 0)
        by_name = {c["name"]: c for c in result.json["certificates"]}
        self.assertEqual(by_name["pemfile"]["status"], "skipped")
        self.assertEqual(by_name["pemfile"]["previous_not_after"], "2061-03-04T05:06:07Z")
        self.assertEqual(len(self.sandbox.requests()), before)

        # A damaged file is a failure that names it: OpenSSL's parse says what is
        # wrong, and nothing is sent.
        with open(der["der"], "rb") as f:
            data = f.read()
        with open(der["der"], "wb") as f:
            f.write(data[:-20])
        result = self.renew("--all")
        self.assertNotEqual(result.code, 0)
        by_name = {c["name"]: c for c in result.json["certificates"]}
        self.assertEqual(by_name["derfile"]["status"], "failed", repr(result))
        self.assertEqual(by_name["pemfile"]["status"], "skipped")
        self.assertEqual(len(self.sandbox.requests()), before)

    def assertDueCheckOnly(self, name):
        """renew NAME finds the certificate not due and sends nothing."""
        sent = len(self.sandbox.requests())
        after = self.renew(name)
        self.assertExit(after, 0)
        self.assertEqual(after.json["certificates"][0]["status"], "skipped")
        self.assertEqual(len(self.sandbox.requests()), sent)

    def renewal_waiting(self, *extra):
        """A certificate of the approval template, renewed once with a renewal still pending:
        its files, its key before the renewal, the renewal's request ID and its CA."""
        files = self.enroll_pending_then_issue()
        old_key = read(files["key"])
        result = self.renew("approval", "--force", *extra)
        self.assertExit(result, 3)
        rid = result.json["certificates"][0]["request_id"]
        ca = [r for r in self.ces_requests() if r.get("request_id") == rid][0]["ca"]
        return files, old_key, rid, ca

    def enroll_pending_then_issue(self):
        result = self.cli("enroll", *self.cep(), *self.user(), "--template", "ApprovalRequired",
                          "--name", "approval", "--cn", "approval.example.test")
        self.assertExit(result, 3)
        rid = result.json["request_id"]
        self.sandbox.approve(result.json["ca"], rid)
        done = self.cli("retrieve-pending", rid, *self.user(), "--ca-bundle",
                        self.info["ca_bundle"])
        self.assertExit(done, 0)
        return done.json["files"]

    def test_expired_certificate_is_refused_with_a_hint(self):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old.example.test")])
        now = datetime.datetime.utcnow()
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=30))
                .not_valid_after(now - datetime.timedelta(days=1))
                .sign(key, hashes.SHA256()))
        cert_path = os.path.join(self.tmp, "old.pem")
        key_path = os.path.join(self.tmp, "old.key")
        with open(cert_path, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(key_path, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        before = len(self.sandbox.requests())
        result = self.renew("--cert", cert_path, "--key", key_path, "--template", "WebServer",
                            "--url", self.info["cep"]["password"], *self.user(), "--force")
        self.assertExit(result, 2)
        self.assertIn("certificates", result.json, repr(result))
        entry = result.json["certificates"][0]
        self.assertEqual(entry["status"], "failed")
        self.assertIn("expired", entry["error"]["message"])
        self.assertIn("enroll", entry["error"]["hint"])
        self.assertEqual(len(self.sandbox.requests()), before)

    def test_unmanaged_files_are_renewed_in_place_and_become_managed(self):
        out = os.path.join(self.tmp, "out")
        result = self.cli("enroll", *self.cep(), *self.user(), "--template", "WebServer",
                          "--name", "ext", "--cn", "ext.example.test", "--out-dir", out)
        self.assertExit(result, 0)
        cert, key = result.json["files"]["cert"], result.json["files"]["key"]
        shutil.rmtree(os.path.join(self.state, "certificates"))  # as if enrolled elsewhere
        old_serial = serial_of(cert)
        renewed = self.renew("--cert", cert, "--key", key, "--name", "adopted", "--url",
                             self.info["cep"]["password"], *self.user(), "--force")
        self.assertExit(renewed, 0)
        self.assertNotEqual(serial_of(cert), old_serial)
        self.assertKeyMatches(cert, key)
        with open(os.path.join(self.state, "certificates", "adopted.json")) as f:
            record = json.load(f)
        self.assertEqual(record["template"], "WebServer")  # from the certificate's extension
        self.assertEqual(record["serial"], serial_of(cert))

    def test_random_delay_waits_only_when_something_is_due(self):
        self.enroll("WebServer", "delayed")
        quiet = self.renew("-v", "--all", "--random-delay", "30m")
        self.assertExit(quiet, 0)
        self.assertNotIn("--random-delay", quiet.stderr)  # nothing due: no wait at all
        due = self.renew("-v", "--all", "--force", "--random-delay", "1s")
        self.assertExit(due, 0)
        self.assertIn("(--random-delay) before contacting the CA", due.stderr)

    def leftovers(self, name):
        live = os.path.join(self.state, "live", name)
        return sorted(f for f in os.listdir(live) if f.endswith(".new") or ".tmp" in f)

    def test_failed_or_denied_renewal_leaves_no_new_key_behind(self):
        files = self.enroll("WebServer", "nodebris")
        old_key = read(files["key"])
        # The state directories the key lives below are private.
        for d in (self.state, os.path.join(self.state, "live"),
                  os.path.join(self.state, "live", "nodebris")):
            self.assertEqual(os.stat(d).st_mode & 0o777, 0o700, d)
        self.sandbox.inject_fault("fault:0x80094012", match="CES")
        try:
            denied = self.renew("nodebris", "--force")
        finally:
            self.sandbox.clear_faults()
        self.assertExit(denied, 4)
        self.assertEqual(denied.json["certificates"][0]["status"], "failed")
        self.assertEqual(self.leftovers("nodebris"), [])
        self.assertEqual(read(files["key"]), old_key)
        # A CES that cannot be reached: the new key was written, then removed again.
        gone = self.renew("nodebris", "--force", "--ces-url", "https://127.0.0.1:9/CES",
                          "--connect-timeout", "2")
        self.assertNotEqual(gone.code, 0, repr(gone))
        self.assertEqual(self.leftovers("nodebris"), [])
        self.assertEqual(read(files["key"]), old_key)
        # And a later renewal still works.
        self.assertExit(self.renew("nodebris", "--force"), 0)
        self.assertNotEqual(read(files["key"]), old_key)

    def serial_of_der(self, path):
        return openssl("x509", "-inform", "DER", "-in", path, "-noout",
                       "-serial").strip().split("=")[1].lower()

    def pfx_certificate(self, path, password):
        return openssl("pkcs12", "-in", path, "-nokeys", "-clcerts", "-passin",
                       "pass:" + password)

    def test_der_only_and_der_plus_pfx_certificates_are_renewed_in_their_formats(self):
        # Enrolled without any PEM certificate: renew finds it in the DER file.
        files = self.enroll("WebServer", "deronly", "--format", "der")
        self.assertEqual(sorted(os.listdir(os.path.join(self.state, "live", "deronly"))),
                         ["cert.der", "key.pem"])
        old_serial = self.serial_of_der(files["der"])
        result = self.renew("deronly", "--force")
        self.assertExit(result, 0)
        self.assertEqual(result.json["certificates"][0]["status"], "renewed")
        self.assertNotEqual(self.serial_of_der(files["der"]), old_serial)
        self.assertEqual(self.serial_of_der(files["der"] + ".prev"), old_serial)
        self.assertKeyMatches(files["der"], files["key"], inform="DER")
        live = sorted(f for f in os.listdir(os.path.join(self.state, "live", "deronly"))
                      if not f.endswith(".prev"))
        self.assertEqual(live, ["cert.der", "key.pem"])  # still no PEM certificate
        # DER and PFX: the successor is written in both.
        pw = os.path.join(self.tmp, "pfx-password")
        with open(pw, "w") as f:
            f.write("pfx-secret\n")
        files = self.enroll("WebServer", "derpfx", "--format", "der", "--format", "pfx",
                            "--pfx-password-file", pw)
        old_serial = self.serial_of_der(files["der"])
        result = self.renew("derpfx", "--force", "--pfx-password-file", pw)
        self.assertExit(result, 0)
        new_serial = self.serial_of_der(files["der"])
        self.assertNotEqual(new_serial, old_serial)
        in_pfx = self.pfx_certificate(files["pfx"], "pfx-secret")
        with open(os.path.join(self.tmp, "from-pfx.pem"), "w") as f:
            f.write(in_pfx)
        self.assertEqual(serial_of(os.path.join(self.tmp, "from-pfx.pem")), new_serial)

    def test_pfx_only_certificate_is_renewed_with_its_password(self):
        pw = os.path.join(self.tmp, "pfx-password")
        with open(pw, "w") as f:
            f.write("pfx-secret\n")
        files = self.enroll("WebServer", "pfxonly", "--format", "pfx", "--pfx-password-file", pw)
        self.assertEqual(sorted(os.listdir(os.path.join(self.state, "live", "pfxonly"))),
                         ["cert.pfx", "key.pem"])
        before = os.path.join(self.tmp, "before.pem")
        with open(before, "w") as f:
            f.write(self.pfx_certificate(files["pfx"], "pfx-secret"))
        # Not due: a cron run without the password skips it quietly (the record's validity).
        quiet = self.renew("--all")
        self.assertExit(quiet, 0)
        self.assertEqual(quiet.json["certificates"][0]["status"], "skipped")
        # The record names the password file (issue 24); a record from before that, which does
        # not, cannot even read the certificate without it: said before any request.
        record_path = os.path.join(self.state, "certificates", "pfxonly.json")
        with open(record_path) as f:
            record = json.load(f)
        self.assertEqual(record["endpoint"].pop("pfx_password_file"), pw)
        with open(record_path, "w") as f:
            json.dump(record, f)
        requests = len(self.sandbox.requests())
        refused = self.renew("pfxonly", "--force")
        self.assertExit(refused, 2)
        self.assertIn("needs a password", refused.json["certificates"][0]["error"]["message"])
        self.assertEqual(len(self.sandbox.requests()), requests)
        result = self.renew("pfxonly", "--force", "--pfx-password-file", pw)
        self.assertExit(result, 0)
        after = os.path.join(self.tmp, "after.pem")
        with open(after, "w") as f:
            f.write(self.pfx_certificate(files["pfx"], "pfx-secret"))
        self.assertNotEqual(serial_of(after), serial_of(before))
        self.assertKeyMatches(after, files["key"])

    def test_usage_errors(self):
        self.assertExit(self.renew(), 2)
        self.assertExit(self.renew("x", "--all"), 2)
        self.assertExit(self.renew("--cert", "/nonexistent"), 2)
        self.assertExit(self.renew("--all", "--renew-before", "soon"), 2)
        result = self.renew("nosuch")
        self.assertExit(result, 2)
        self.assertIn("no managed certificate", result.json["error"]["message"])


LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


class CronTest(cli.CustomSandboxTest):
    """renew --all run every two seconds keeps short-lived certificates fresh over time. The
    seconds are simulated: libfaketime (FAKETIME_TIMESTAMP_FILE, re-read at every clock read)
    moves the clock of the sandbox and of each CLI run together, so 26 s pass without waiting
    for them and without racing the wall clock."""

    @classmethod
    def configure(cls, config):
        short = dict(next(t for t in config["templates"] if t["name"] == "WebServer"))
        short["name"] = "ShortLived"
        short["oid"] = short["oid"] + "1"
        # The sandbox backdates notBefore by 10 minutes: 30 s remain at issuance, and the
        # certificate is due for renewal when less than 20 s remain.
        short["validity_seconds"] = 630
        short["renewal_seconds"] = 20
        config["templates"].append(short)

    @classmethod
    def setUpClass(cls):
        cls.faketime = os.path.exists(LIBFAKETIME)
        if not cls.faketime:
            return  # the test reports it (cli.require)
        cls.clock_dir = tempfile.mkdtemp(prefix="certenroll-clock-")
        cls.clock_file = os.path.join(cls.clock_dir, "offset")
        cls.set_clock(time.time())  # real time until the test starts its clock
        cls.clock_env = {"LD_PRELOAD": LIBFAKETIME, "FAKETIME_TIMESTAMP_FILE": cls.clock_file,
                         "FAKETIME_NO_CACHE": "1",
                         # preloaded before a sanitizer runtime: let ASan accept that
                         "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") +
                         ":verify_asan_link_order=0"}
        saved = dict(os.environ)
        os.environ.update(cls.clock_env)  # the sandbox daemon inherits the simulated clock
        try:
            super().setUpClass()
        finally:
            os.environ.clear()
            os.environ.update(saved)

    @classmethod
    def tearDownClass(cls):
        if cls.faketime:
            super().tearDownClass()
            shutil.rmtree(cls.clock_dir, ignore_errors=True)

    @classmethod
    def set_clock(cls, simulated):
        """Sets the time of the sandbox and of the CLI runs to `simulated` (seconds since the
        epoch), from where it runs on at the real clock's pace."""
        cls.offset = simulated - time.time()
        with open(cls.clock_file + ".tmp", "w") as f:
            f.write("%+ds\n" % round(cls.offset))
        os.replace(cls.clock_file + ".tmp", cls.clock_file)

    @classmethod
    def simulated_now(cls):
        return time.time() + cls.offset

    def test_certificates_stay_valid_across_time(self):
        cli.require(self, self.faketime, "libfaketime (faketime)")
        state = os.path.join(self.tmp, "state")
        alice = self.info["users"]["alice"]
        common = ["--state-dir", state]
        self.set_clock(time.time())
        enrolled = cli.run(*common, "enroll", "--url", self.info["cep"]["password"],
                           "--ca-bundle", self.info["ca_bundle"], "--username", "alice",
                           "--password-file", alice["password_file"], "--template",
                           "ShortLived", "--name", "short", "--cn", "short.example.test",
                           env=self.clock_env)
        self.assertEqual(enrolled.code, 0, repr(enrolled))
        files = enrolled.json["files"]
        statuses = []
        for _ in range(13):  # 2 simulated seconds after the end of each run: 26 s and more
            now = self.simulated_now() + 2
            self.set_clock(now)
            before = len(self.sandbox.requests())
            result = cli.run(*common, "renew", "--all", "--ca-bundle", self.info["ca_bundle"],
                             "--password-file", alice["password_file"], env=self.clock_env)
            self.assertEqual(result.code, 0, repr(result))
            status = result.json["certificates"][0]["status"]
            statuses.append(status)
            if status == "skipped":
                self.assertEqual(len(self.sandbox.requests()), before)  # no traffic
            # At every point the files are a valid, matching pair.
            end = openssl("x509", "-in", files["cert"], "-noout", "-enddate").strip()
            not_after = datetime.datetime.strptime(end.split("=", 1)[1], "%b %d %H:%M:%S %Y GMT")
            not_after = not_after.replace(tzinfo=datetime.timezone.utc).timestamp()
            self.assertGreater(not_after, now + 1, statuses)
            self.assertKeyMatches(files["cert"], files["key"])
        self.assertIn("skipped", statuses)
        self.assertGreaterEqual(statuses.count("renewed"), 2, statuses)
