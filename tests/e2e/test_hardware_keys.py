"""Keys that never leave their device, through the real binary: a SoftHSM2 token (PKCS#11) and a
software TPM (swtpm), both set up here. Enroll, renew and TLS client authentication with each,
and proof that no private key material of those keys is in any file the tool writes."""

import glob
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.parse

import cli

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "4711-e2e"


def port_pair():
    """A port whose successor is free too: the swtpm TCTI finds the control channel there."""
    for _ in range(200):
        port = random.randint(20000, 60000)
        try:
            for p in (port, port + 1):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair")


def read(path):
    with open(path) as f:
        return f.read()


def written_files(*roots):
    for root in roots:
        for path in glob.glob(os.path.join(root, "**"), recursive=True):
            if os.path.isfile(path):
                yield path


class Devices:
    """A SoftHSM2 token "e2e" (user PIN in a file) and an swtpm, in one temporary directory."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="certenroll-devices-")
        self.env = {}
        self.pin_file = os.path.join(self.dir, "pin")
        with open(self.pin_file, "w") as f:
            f.write(PIN + "\n")
        self.softhsm = os.path.exists(SOFTHSM_MODULE) and shutil.which("softhsm2-util")
        if self.softhsm:
            os.makedirs(os.path.join(self.dir, "tokens"))
            conf = os.path.join(self.dir, "softhsm2.conf")
            with open(conf, "w") as f:
                f.write(f"directories.tokendir = {self.dir}/tokens\nobjectstore.backend = file\n"
                        "log.level = ERROR\n")
            self.env["SOFTHSM2_CONF"] = conf
            subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "e2e",
                            "--so-pin", "0000", "--pin", PIN], env=dict(os.environ, **self.env),
                           check=True, capture_output=True)
        self.swtpm_pid = None
        if shutil.which("swtpm"):
            state = os.path.join(self.dir, "tpm")
            os.makedirs(state)
            pid_file = os.path.join(self.dir, "swtpm.pid")
            # swtpm must be told its ports (the swtpm TCTI expects the control channel at the
            # server's port + 1; handing swtpm sockets bound here with fd= did not give a TPM the
            # TCTI could reach), so a port pair is picked, and picked again when another process
            # took one of them before swtpm bound it (swtpm then exits non-zero, before
            # daemonising).
            for attempt in range(5):
                port = port_pair()
                started = subprocess.run(
                    ["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={state}",
                     "--server", f"type=tcp,port={port},bindaddr=127.0.0.1",
                     "--ctrl", f"type=tcp,port={port + 1},bindaddr=127.0.0.1",
                     "--flags", "not-need-init,startup-clear", "--daemon",
                     "--pid", f"file={pid_file}"], capture_output=True, text=True)
                if started.returncode == 0:
                    break
            else:
                raise RuntimeError(f"swtpm did not start: {started.stderr.strip()}")
            for _ in range(100):
                if os.path.exists(pid_file) and read(pid_file).strip():
                    break
                time.sleep(0.02)
            self.swtpm_pid = int(read(pid_file))
            self.tcti = f"swtpm:host=127.0.0.1,port={port}"
            self.start_resource_manager()

    def start_resource_manager(self):
        """tpm2-abrmd on a private D-Bus session bus, in front of the swtpm, as /dev/tpmrm0 is in
        front of a platform TPM: TLS signing with a TPM key needs one (it swaps objects in and
        out of the TPM's few slots); without it the test falls back to the bare socket."""
        self.dbus_pid = self.abrmd = None
        if not (shutil.which("tpm2-abrmd") and shutil.which("dbus-daemon")):
            return
        out = subprocess.run(["dbus-daemon", "--session", "--fork", "--nopidfile",
                              "--print-address=1", "--print-pid=1"],
                             capture_output=True, text=True, check=True).stdout.split()
        address, self.dbus_pid = out[0], int(out[1])
        self.env["DBUS_SESSION_BUS_ADDRESS"] = address
        bus_name = f"com.intel.tss2.Tabrmd.e2e{os.getpid()}"
        root = ["--allow-root"] if os.geteuid() == 0 else []
        self.abrmd = subprocess.Popen(
            ["tpm2-abrmd", "--session", f"--dbus-name={bus_name}", "--flush-all", *root,
             f"--tcti={self.tcti}"], env=dict(os.environ, **self.env),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        tcti = f"tabrmd:bus_type=session,bus_name={bus_name}"
        for _ in range(100):
            probe = subprocess.run(["tpm2_getcap", "handles-transient"], capture_output=True,
                                   env=dict(os.environ, **self.env, TPM2TOOLS_TCTI=tcti))
            if probe.returncode == 0:
                self.tcti = tcti
                return
            time.sleep(0.05)
        raise RuntimeError("tpm2-abrmd did not come up in front of the swtpm")

    def close(self):
        if getattr(self, "abrmd", None):
            self.abrmd.terminate()
            self.abrmd.wait()
        if getattr(self, "dbus_pid", None):
            os.kill(self.dbus_pid, signal.SIGTERM)
        if self.swtpm_pid:
            try:
                os.kill(self.swtpm_pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def pkcs11_flags(self):
        return ["--key-backend", "pkcs11", "--pkcs11-module", SOFTHSM_MODULE, "--pkcs11-token",
                "pkcs11:token=e2e", "--pin-file", self.pin_file]

    def tpm_flags(self):
        return ["--key-backend", "tpm", "--tpm-tcti", self.tcti]

    def token_objects(self, kind):
        done = subprocess.run(["pkcs11-tool", "--module", SOFTHSM_MODULE, "--login",
                               "--pin", PIN, "--list-objects", "--type", kind],
                              env=dict(os.environ, **self.env), capture_output=True, text=True)
        return done.stdout


class HardwareKeyTest(cli.SandboxTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.devices = Devices()

    @classmethod
    def tearDownClass(cls):
        cls.devices.close()
        super().tearDownClass()

    def run_cli(self, *args, **kwargs):
        return self.cli(*args, env=self.devices.env, **kwargs)

    def enroll(self, template, name, *flags, extra=()):
        return self.run_cli("enroll", *self.cep(), *self.user(), "--template", template,
                            "--name", name, *flags, *extra)

    def assertNoPrivateKeyIn(self, *roots):
        for path in written_files(*roots):
            with open(path, "rb") as f:
                data = f.read()
            self.assertNotIn(b"BEGIN PRIVATE KEY", data, path)
            self.assertNotIn(b"BEGIN RSA PRIVATE KEY", data, path)
            self.assertNotIn(b"BEGIN EC PRIVATE KEY", data, path)
            self.assertNotIn(b"BEGIN ENCRYPTED PRIVATE KEY", data, path)
            self.assertNotIn(PIN.encode(), data, path)

    def requireSoftHsm(self):
        cli.require(self, self.devices.softhsm, "SoftHSM2 (softhsm2)")

    def requireTpm(self):
        cli.require(self, self.devices.swtpm_pid, "swtpm (swtpm, swtpm-tools)")

    def test_pkcs11_enroll_rsa_and_ec_renew_and_store_on_token(self):
        self.requireSoftHsm()
        rsa = self.enroll("WebServer", "tok-rsa", *self.devices.pkcs11_flags(),
                          extra=["--cn", "tok-rsa.example.test", "--store-on-token"])
        self.assertExit(rsa, 0)
        # p11-kit's canonical form: token, the key's random id, its label, its type.
        self.assertRegex(rsa.json["key_reference"],
                         r"^pkcs11:token=e2e;id=(%[0-9A-F]{2}){16};object=tok-rsa;type=private$")
        self.assertEqual(rsa.json["key"], "RSA 2048")
        self.assertIn("tok-rsa", self.devices.token_objects("cert"))
        ec = self.enroll("ECWebServer", "tok-ec", *self.devices.pkcs11_flags(),
                         extra=["--cn", "tok-ec.example.test"])
        self.assertExit(ec, 0)
        self.assertEqual(ec.json["key"], "EC P-256")
        # Renewal makes a new key on the token and signs the CMS with the old one there.
        renewed = self.run_cli("renew", "tok-ec", "--force", "--ca-bundle",
                               self.info["ca_bundle"], *self.user(), "--pin-file",
                               self.devices.pin_file, "--pkcs11-module", SOFTHSM_MODULE)
        self.assertExit(renewed, 0)
        self.assertEqual(renewed.json["certificates"][0]["status"], "renewed")
        self.assertNoPrivateKeyIn(self.state)

    def test_pkcs11_key_as_tls_client_credential(self):
        self.requireSoftHsm()
        # Machine certificates carry clientAuth and name the identity (CN=alice).
        machine = self.enroll("Machine", "tok-client", *self.devices.pkcs11_flags())
        self.assertExit(machine, 0)
        policy = self.run_cli("policy", *self.cep("certificate"), "--client-cert",
                              machine.json["files"]["cert"], "--client-key",
                              machine.json["key_reference"], "--pkcs11-module", SOFTHSM_MODULE,
                              "--pin-file", self.devices.pin_file)
        self.assertExit(policy, 0)
        last = self.sandbox.requests()[-1]
        self.assertEqual((last["auth"], last["identity"]), ("certificate", "alice"))

    def test_pkcs11_key_based_renewal(self):
        # The certificate being renewed and its key on the token are the TLS client credential
        # at the key-based renewal CES; no password anywhere.
        self.requireSoftHsm()
        pending = self.enroll("KeyBasedRenewal", "tok-kbr", *self.devices.pkcs11_flags(),
                              extra=["--cn", "tok-kbr.example.test"])
        self.assertExit(pending, 3)
        self.sandbox.approve(pending.json["ca"], pending.json["request_id"])
        done = self.run_cli("retrieve-pending", pending.json["request_id"], *self.user(),
                            "--ca-bundle", self.info["ca_bundle"], "--pkcs11-module",
                            SOFTHSM_MODULE, "--pin-file", self.devices.pin_file)
        self.assertExit(done, 0)
        renewed = self.run_cli("renew", "tok-kbr", "--force", "--key-based", "--url",
                               self.info["cep"]["keybasedrenewal"], "--ca-bundle",
                               self.info["ca_bundle"], "--pkcs11-module", SOFTHSM_MODULE,
                               "--pin-file", self.devices.pin_file)
        self.assertExit(renewed, 0)
        ces = [r for r in self.sandbox.requests() if r.get("endpoint") == "CES"][-1]
        self.assertEqual((ces["auth"], ces["outcome"], ces["identity"]),
                         ("keybasedrenewal", "issued", "alice"))
        self.assertNoPrivateKeyIn(self.state)

    def test_pkcs11_refusals_before_the_network(self):
        self.requireSoftHsm()
        before = len(self.sandbox.requests())
        pfx = self.enroll("WebServer", "tok-pfx", *self.devices.pkcs11_flags(),
                          extra=["--cn", "x.example.test", "--format", "pfx"])
        self.assertExit(pfx, 2)
        self.assertIn("never leaves its device", pfx.json["error"]["message"])
        wrong_pin = os.path.join(self.tmp, "wrong-pin")
        with open(wrong_pin, "w") as f:
            f.write("0000000\n")
        flags = self.devices.pkcs11_flags()
        flags[flags.index(self.devices.pin_file)] = wrong_pin
        bad = self.enroll("WebServer", "tok-badpin", *flags, extra=["--cn", "x.example.test"])
        self.assertExit(bad, 5)
        self.assertIn("PIN for token 'e2e' is wrong", bad.json["error"]["message"])
        self.assertNotIn("0000000", bad.stdout + bad.stderr)
        ces = cli.ces_requests(self.sandbox, before)
        self.assertEqual(ces, [])

    def test_tpm_enroll_rsa_and_ec_renew_and_client_auth(self):
        self.requireTpm()
        ec = self.enroll("ECWebServer", "tpm-ec", *self.devices.tpm_flags(),
                         extra=["--cn", "tpm-ec.example.test"])
        self.assertExit(ec, 0)
        with open(ec.json["files"]["key"]) as f:
            self.assertIn("-----BEGIN TSS2 PRIVATE KEY-----", f.read())
        rsa = self.enroll("Machine", "tpm-rsa", *self.devices.tpm_flags())
        self.assertExit(rsa, 0)
        self.assertEqual(rsa.json["key"], "RSA 2048")
        renewed = self.run_cli("renew", "tpm-ec", "--force", "--ca-bundle",
                               self.info["ca_bundle"], *self.user(), "--tpm-tcti",
                               self.devices.tcti)
        self.assertExit(renewed, 0)
        with open(ec.json["files"]["key"]) as f:
            self.assertIn("TSS2 PRIVATE KEY", f.read())
        policy = self.run_cli("policy", *self.cep("certificate"), "--client-cert",
                              rsa.json["files"]["cert"], "--client-key", rsa.json["files"]["key"],
                              "--tpm-tcti", self.devices.tcti)
        self.assertExit(policy, 0)
        self.assertEqual(self.sandbox.requests()[-1]["identity"], "alice")
        self.assertNoPrivateKeyIn(self.state)

    # The issued certificate carries the device's key: a new key at each renewal, the same one
    # with --reuse-key.

    def token_public_key(self, reference):
        """The PEM public key of the token object that `reference` (a pkcs11: URI) names by id."""
        key_id = urllib.parse.unquote_to_bytes(
            re.search(r";id=([^;]+)", reference).group(1)).hex()
        der = os.path.join(self.tmp, "token-pubkey.der")
        subprocess.run(["pkcs11-tool", "--module", SOFTHSM_MODULE, "--login", "--pin", PIN,
                        "--read-object", "--type", "pubkey", "--id", key_id, "-o", der],
                       env=dict(os.environ, **self.devices.env), check=True, capture_output=True)
        return cli.openssl("pkey", "-pubin", "-inform", "DER", "-in", der, "-pubout")

    def tpm_public_key(self, key_file):
        """The PEM public key of a TSS2 key file, read through the TPM (tpm2-openssl)."""
        return cli.openssl("pkey", "-provider", "tpm2", "-provider", "default", "-in", key_file,
                           "-pubout", env=dict(os.environ, **self.devices.env,
                                               TPM2OPENSSL_TCTI=self.devices.tcti))

    def record(self, name):
        with open(os.path.join(self.state, "certificates", name + ".json")) as f:
            return json.load(f)

    def renew_device(self, name, *flags):
        renewed = self.run_cli("renew", name, "--force", "--ca-bundle", self.info["ca_bundle"],
                               *self.user(), *flags)
        self.assertExit(renewed, 0)
        return renewed

    def test_pkcs11_certificate_carries_the_token_key_renewal_replaces_or_reuses_it(self):
        self.requireSoftHsm()
        enrolled = self.enroll("ECWebServer", "tok-pub", *self.devices.pkcs11_flags(),
                               extra=["--cn", "tok-pub.example.test"])
        self.assertExit(enrolled, 0)
        cert = enrolled.json["files"]["cert"]
        first = self.token_public_key(enrolled.json["key_reference"])
        self.assertEqual(cli.public_key_of_certificate(cert), first)
        flags = ["--pin-file", self.devices.pin_file, "--pkcs11-module", SOFTHSM_MODULE]
        self.renew_device("tok-pub", *flags)
        reference = self.record("tok-pub")["key_reference"]
        self.assertNotEqual(reference, enrolled.json["key_reference"])
        second = self.token_public_key(reference)
        self.assertNotEqual(second, first)
        self.assertEqual(cli.public_key_of_certificate(cert), second)
        self.renew_device("tok-pub", "--reuse-key", *flags)
        self.assertEqual(self.record("tok-pub")["key_reference"], reference)
        self.assertEqual(cli.public_key_of_certificate(cert), second)

    def test_tpm_certificate_carries_the_tpm_key_renewal_replaces_or_reuses_it(self):
        self.requireTpm()
        enrolled = self.enroll("ECWebServer", "tpm-pub", *self.devices.tpm_flags(),
                               extra=["--cn", "tpm-pub.example.test"])
        self.assertExit(enrolled, 0)
        cert, key = enrolled.json["files"]["cert"], enrolled.json["files"]["key"]
        first = self.tpm_public_key(key)
        self.assertEqual(cli.public_key_of_certificate(cert), first)
        self.renew_device("tpm-pub", "--tpm-tcti", self.devices.tcti)
        second = self.tpm_public_key(key)
        self.assertNotEqual(second, first)
        self.assertEqual(cli.public_key_of_certificate(cert), second)
        self.renew_device("tpm-pub", "--reuse-key", "--tpm-tcti", self.devices.tcti)
        self.assertEqual(self.tpm_public_key(key), second)
        self.assertEqual(cli.public_key_of_certificate(cert), second)

    # diagnose --key-backend: the device is checked for real, and nothing is left on it.

    def diagnose(self, *flags):
        return self.run_cli("diagnose", *self.cep(), *self.user(), "--template", "WebServer",
                            *flags)

    def key_check(self, result):
        self.assertIsNotNone(result.json, repr(result))
        return [c for c in result.json["checks"] if c["id"] == "key-backend"][0]

    def test_diagnose_pkcs11_token_present_missing_pin_and_wrong_label(self):
        self.requireSoftHsm()
        objects = [self.devices.token_objects(kind) for kind in ("privkey", "pubkey")]
        found = self.diagnose(*self.devices.pkcs11_flags())
        self.assertExit(found, 0)
        check = self.key_check(found)
        self.assertEqual(check["status"], "pass", check)
        self.assertIn("token 'e2e' (SoftHSM project", check["evidence"])
        self.assertIn("RSA 2048 key generation (what WebServer requires)", check["evidence"])
        self.assertIn("logged in with the PIN", check["evidence"])
        self.assertNotIn(PIN, found.stdout + found.stderr)
        # Without a PIN at hand diagnose warns (enroll would prompt); it never prompts itself.
        flags = self.devices.pkcs11_flags()
        at = flags.index("--pin-file")
        del flags[at:at + 2]
        no_pin = self.diagnose(*flags)
        self.assertExit(no_pin, 0)
        check = self.key_check(no_pin)
        self.assertEqual(check["status"], "warn", check)
        self.assertIn("needs its PIN", check["evidence"])
        self.assertIn("enroll will prompt", check["fix"])
        self.assertIn("CERTENROLL_PKCS11_PIN", check["fix"])
        # A token label that is not there: the tokens that are, and how to name one.
        flags = self.devices.pkcs11_flags()
        flags[flags.index("pkcs11:token=e2e")] = "pkcs11:token=nosuch"
        wrong = self.diagnose(*flags)
        self.assertExit(wrong, 9)
        self.assertEqual(wrong.json["first_failure"], "key-backend")
        check = self.key_check(wrong)
        self.assertEqual(check["status"], "fail", check)
        self.assertIn("no token labelled 'nosuch'", check["evidence"])
        self.assertIn("(tokens: e2e)", check["evidence"])
        self.assertIn("pkcs11:token=LABEL", check["fix"])
        # No key (or anything else) was made on the token.
        self.assertEqual([self.devices.token_objects(kind) for kind in ("privkey", "pubkey")],
                         objects)
        self.assertFalse(os.path.exists(self.state))

    def test_diagnose_tpm_reachable_and_unreachable(self):
        self.requireTpm()
        reachable = self.diagnose(*self.devices.tpm_flags())
        self.assertExit(reachable, 0)
        check = self.key_check(reachable)
        self.assertEqual(check["status"], "pass", check)
        self.assertIn(f"TCTI {self.devices.tcti}", check["evidence"])
        self.assertIn("generated a transient RSA 2048 key", check["evidence"])
        self.assertIn("nothing was stored", check["evidence"])
        self.assertFalse(os.path.exists(self.state))
        # Nothing listens there: the fix names the ways to reach a TPM.
        with socket.socket() as closed:
            closed.bind(("127.0.0.1", 0))
            port = closed.getsockname()[1]
            unreachable = self.diagnose("--key-backend", "tpm", "--tpm-tcti",
                                        f"swtpm:host=127.0.0.1,port={port}")
        self.assertExit(unreachable, 9)
        self.assertEqual(unreachable.json["first_failure"], "key-backend")
        check = self.key_check(unreachable)
        self.assertEqual(check["status"], "fail", check)
        self.assertIn(f"TCTI swtpm:host=127.0.0.1,port={port}", check["evidence"])
        for words in ("--tpm-tcti", "TPM2OPENSSL_TCTI", "tss group", "resource manager"):
            self.assertIn(words, check["fix"])


if __name__ == "__main__":
    unittest.main()
