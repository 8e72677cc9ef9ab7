"""One-line sandbox CEP/CES server for end-to-end tests.

    with Sandbox() as sb:
        sb.info["cep"]["password"]          # URLs, users, CA bundle: see tests/server/README.md
        sb.approve("Sandbox-RSA-CA", "7")   # CA manager approves a pending request
        sb.inject_fault("http500", count=1, match="CES")
        sb.requests()                       # the JSON-lines request log, parsed
"""

import json
import os
import shutil
import ssl
import subprocess
import tempfile
import urllib.error
import urllib.request

SANDBOX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server", "sandbox")


class SandboxError(RuntimeError):
    pass


class Sandbox:
    """Starts the sandbox in a temporary state directory (or the one given); stops it on exit."""

    def __init__(self, state_dir=None, port=0, config=None, keep=False):
        self._own_dir = state_dir is None
        self.state_dir = state_dir or tempfile.mkdtemp(prefix="certenroll-sandbox-")
        self.port = port
        self.config = config
        self.keep = keep
        self.info = None
        self._ssl = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        argv = ["/usr/bin/python3", SANDBOX, "start", "--state-dir", self.state_dir]
        if self.port:
            argv += ["--port", str(self.port)]
        if self.config:
            argv += ["--config", self.config]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise SandboxError(f"sandbox start failed ({done.returncode}): {done.stderr.strip()}")
        self.info = json.loads(done.stdout)
        self._ssl = ssl.create_default_context(cafile=self.info["ca_bundle"])
        return self

    def stop(self):
        subprocess.run(["/usr/bin/python3", SANDBOX, "stop", "--state-dir", self.state_dir],
                       capture_output=True, timeout=60)
        if self._own_dir and not self.keep:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    # Admin API.
    def _admin(self, method, path, doc=None):
        data = json.dumps(doc).encode() if doc is not None else None
        req = urllib.request.Request(self.info["admin_url"] + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, context=self._ssl, timeout=30) as resp:
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as e:
            raise SandboxError(f"{method} {path}: HTTP {e.code} {e.read().decode(errors='replace')}")

    def approve(self, ca, request_id):
        """CA manager approval of a pending request; returns the request record."""
        return self._admin("POST", f"/requests/{ca}/{request_id}/approve", {})

    def deny(self, ca, request_id):
        return self._admin("POST", f"/requests/{ca}/{request_id}/deny", {})

    def revoke(self, serial_hex):
        return self._admin("POST", "/revoke", {"serial": serial_hex})

    def inject_fault(self, mode, count=1, match="any"):
        """Makes the next `count` CEP/CES/any requests fail: http500, cut, truncate, hang,
        http401, fault:0x80094012, slow:<seconds>, http503[:<retry-after seconds>],
        manyattributes, manyelements (hostile XML), partialpolicy (a CEP answer with broken
        template and CA entries; tests/server/README.md), cafault:0x800706BA[:<seconds>] (CES
        failing in its call to the CA, after the client's authentication)."""
        return self._admin("POST", "/faults", {"mode": mode, "count": count, "match": match})

    def clear_faults(self):
        return self._admin("POST", "/faults/clear", {})

    def ca_requests(self):
        """The CA database: every request and its state (pending, issued, denied)."""
        return self._admin("GET", "/requests")["requests"]

    def submitted_csr(self, ca, request_id):
        """The DER PKCS#10 the CA recorded for a request (from its database file, db/<CA>.json:
        the admin API leaves CSRs out)."""
        import base64
        with open(os.path.join(self.state_dir, "db", ca + ".json"), encoding="utf-8") as f:
            return base64.b64decode(json.load(f)["requests"][str(request_id)]["csr"])

    def requests(self):
        """The JSON-lines request log, one dict per request, oldest first."""
        try:
            with open(self.info["log"], encoding="utf-8") as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def password(self, user="alice"):
        with open(self.info["users"][user]["password_file"], encoding="utf-8") as f:
            return f.read().strip()
