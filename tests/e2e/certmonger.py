"""A real certmonger daemon for end-to-end tests, in a temporary directory: its own state,
requests and CA directories, and a private socket instead of the system D-Bus
(`certmonger -L -P`), so that nothing of the machine's certmonger is touched.

    with Certmonger(tmp) as cm:
        cm.getcert("add-ca", "-c", "certenroll", "-e", helper_command)
        cm.getcert("request", "-c", "certenroll", "-I", "web", ...)
        cm.wait_for_status("web", "MONITORING")
"""

import os
import re
import shutil
import signal
import subprocess
import time

CERTMONGER = shutil.which("certmonger", path="/usr/sbin:/usr/bin:/sbin:/bin")
GETCERT = shutil.which("getcert", path="/usr/sbin:/usr/bin:/sbin:/bin")
AVAILABLE = CERTMONGER is not None and GETCERT is not None


class CertmongerError(RuntimeError):
    pass


class Certmonger:
    def __init__(self, directory):
        self.dir = directory
        self.state = os.path.join(directory, "state")
        self.requests_dir = os.path.join(self.state, "requests")
        self.socket = os.path.join(directory, "cm.sock")
        self.log = os.path.join(directory, "certmonger.log")
        self.env = dict(os.environ)
        self.env.update({
            "CERTMONGER_CONFIG_DIR": self.state,
            "CERTMONGER_REQUESTS_DIR": self.requests_dir,
            "CERTMONGER_CAS_DIR": os.path.join(self.state, "cas"),
            "CERTMONGER_LOCAL_CA_DIR": os.path.join(self.state, "local"),
            "CERTMONGER_TMPDIR": os.path.join(directory, "tmp"),
            "CERTMONGER_SYSTEM_LOCK_FILE": os.path.join(self.state, "lock"),
            "CERTMONGER_PVT_ADDRESS": "unix:path=" + self.socket,
            "HOME": os.path.join(directory, "home"),
        })
        self.process = None

    def __enter__(self):
        for sub in ("state/requests", "state/cas", "state/local", "tmp", "home"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        self._log = open(self.log, "w")
        self.process = subprocess.Popen([CERTMONGER, "-L", "-P", self.socket, "-n", "-d", "2"],
                                        env=self.env, stdout=self._log, stderr=self._log,
                                        stdin=subprocess.DEVNULL)
        # The daemon is ready once its socket exists (it never takes long; bounded anyway).
        for _ in range(200):
            if os.path.exists(self.socket):
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.__exit__(None, None, None)
        raise CertmongerError("certmonger did not start: " + self.log_text())

    def __exit__(self, *exc):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        if os.path.exists(self.socket):
            os.unlink(self.socket)
        return False

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()[-4000:]

    def getcert(self, *args, check=True):
        done = subprocess.run([GETCERT, *args], env=self.env, capture_output=True, text=True,
                              timeout=120, stdin=subprocess.DEVNULL)
        if check and done.returncode != 0:
            raise CertmongerError(f"getcert {' '.join(args)}: exit {done.returncode}\n"
                                  f"{done.stdout}{done.stderr}")
        return done

    def status(self, request_id):
        """`getcert list -i ID` as a dict: status, ca-error, ... (the indented "key: value"
        lines)."""
        text = self.getcert("list", "-i", request_id).stdout
        fields = {}
        for line in text.splitlines():
            m = re.match(r"^\t([a-zA-Z -]+): ?(.*)$", line)
            if m:
                fields[m.group(1)] = m.group(2)
        return fields

    def wait_for_status(self, request_id, wanted, timeout=60):
        """Polls `getcert list` until the request's status is one of `wanted` (a string or a
        tuple); returns the fields. The timeout only bounds a hung run: nothing is asserted
        about how long it took."""
        wanted = (wanted,) if isinstance(wanted, str) else wanted
        deadline = time.monotonic() + timeout
        while True:
            fields = self.status(request_id)
            if fields.get("status") in wanted:
                return fields
            if time.monotonic() > deadline:
                raise CertmongerError(f"request {request_id} stayed {fields.get('status')} "
                                      f"(wanted {wanted}): {fields}\n{self.log_text()}")
            time.sleep(0.2)
