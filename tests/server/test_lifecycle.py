"""start / status / stop, state reuse, the TLS endpoint, and the e2e helper (tests/e2e/sandbox.py)."""

import json
import os
import socket
import stat
import subprocess
import sys
import tempfile
import unittest

from cryptography import x509

import sbtest

E2E = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e")


def sandbox(*args, check=True):
    return subprocess.run([sbtest.SANDBOX, *args], capture_output=True, text=True, check=check,
                          timeout=60)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LifecycleTest(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="sandbox-life-")
        self.dir = os.path.join(self._tmp.name, "state")

    def tearDown(self):
        sandbox("stop", "--state-dir", self.dir, check=False)
        self._tmp.cleanup()

    def test_start_status_stop_and_reuse(self):
        info = json.loads(sandbox("start", "--state-dir", self.dir).stdout)
        for key in ("pid", "port", "base_url", "state_dir", "ca_bundle", "cep", "ces", "users",
                    "admin_url", "log", "server_log", "kerberos"):
            self.assertIn(key, info)
        self.assertEqual(set(info["ces"]), {"Sandbox-RSA-CA", "Sandbox-EC-CA"})
        kerberos = {"kerberos"} if info["kerberos"] else set()
        self.assertEqual(set(info["ces"]["Sandbox-EC-CA"]),
                         {"password", "certificate", "keybasedrenewal"} | kerberos)
        self.assertEqual(set(info["users"]), {"alice", "bob", "nobody"})
        for user in info["users"].values():
            self.assertEqual(stat.S_IMODE(os.stat(user["password_file"]).st_mode), 0o600)
            self.assertEqual(stat.S_IMODE(os.stat(user["client_key"]).st_mode), 0o600)
            cert = x509.load_pem_x509_certificate(open_bytes(user["client_cert"]))
            self.assertIn("Sandbox-RSA-CA", cert.issuer.rfc4514_string())
        # A second start while running reports the same server.
        self.assertEqual(json.loads(sandbox("start", "--state-dir", self.dir).stdout)["pid"], info["pid"])
        self.assertEqual(json.loads(sandbox("status", "--state-dir", self.dir).stdout), info)
        root = open_bytes(info["ca_bundle"])
        self.assertEqual(sandbox("stop", "--state-dir", self.dir).returncode, 0)
        self.assertEqual(sandbox("status", "--state-dir", self.dir, check=False).returncode, 3)
        self.assertEqual(sandbox("stop", "--state-dir", self.dir).returncode, 0)
        # A restart reuses the CA hierarchy.
        # (Start-up time is measured by tests/bench, never asserted here: CI machines are noisy.)
        again = json.loads(sandbox("start", "--state-dir", self.dir).stdout)
        self.assertEqual(open_bytes(again["ca_bundle"]), root)
        self.assertEqual(again["policy_id"], info["policy_id"])

    def test_fixed_port_and_tls(self):
        port = free_port()
        info = json.loads(sandbox("start", "--state-dir", self.dir, "--port", str(port)).stdout)
        self.assertEqual(info["port"], port)
        self.assertEqual(info["base_url"], f"https://127.0.0.1:{port}")
        bundle = info["ca_bundle"]
        ok = subprocess.run(["curl", "-sS", "--cacert", bundle, f"https://localhost:{port}/admin/ping"],
                            capture_output=True, text=True)
        self.assertEqual(ok.returncode, 0, ok.stderr)
        old = subprocess.run(["curl", "-sS", "--cacert", bundle, "--tlsv1.1", "--tls-max", "1.1",
                              info["admin_url"] + "/ping"], capture_output=True, text=True)
        self.assertNotEqual(old.returncode, 0)
        untrusted = subprocess.run(["curl", "-sS", info["admin_url"] + "/ping"], capture_output=True)
        self.assertEqual(untrusted.returncode, 60)  # peer certificate cannot be authenticated


class E2eHelperTest(unittest.TestCase):
    def test_context_manager_and_admin_helpers(self):
        sys.path.insert(0, E2E)
        try:
            from sandbox import Sandbox, SandboxError
        finally:
            sys.path.remove(E2E)
        with Sandbox() as sb:
            state_dir = sb.state_dir
            self.assertTrue(os.path.exists(sb.info["ca_bundle"]))
            self.assertEqual(sb.inject_fault("http500", count=2, match="CEP")["faults"][0]["remaining"], 2)
            self.assertEqual(sb.clear_faults()["faults"], [])
            self.assertEqual(sb.requests(), [])
            self.assertEqual(sb.ca_requests(), [])
            with self.assertRaises(SandboxError):
                sb.approve("Sandbox-RSA-CA", "12345")
            self.assertTrue(sb.password("bob").startswith("bob-"))
        self.assertFalse(os.path.exists(state_dir))


def open_bytes(path):
    with open(path, "rb") as f:
        return f.read()


if __name__ == "__main__":
    unittest.main()
