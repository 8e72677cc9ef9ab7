"""A loopback MIT Kerberos KDC for the Kerberos (HTTP Negotiate) endpoints.

The realm lives in DIR/kdc/ and is created once per state directory: database, stash, one
principal per sandbox user (password = the sandbox password), HTTP/localhost with its keytab,
and a client keytab per user. Every start writes krb5.conf/kdc.conf with a free port.
"""

from __future__ import annotations

import importlib.util
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time

REALM = "CERTENROLL.TEST"
SERVICE = "HTTP/localhost"  # clients must call the server "localhost" for this SPN to match
TOOLS = ("krb5kdc", "kdb5_util", "kadmin.local")
START_TIMEOUT = 10.0


def tool(name: str) -> str | None:
    """The path of a krb5 tool; /usr/sbin is often not on a normal user's PATH."""
    found = shutil.which(name)
    if found:
        return found
    path = os.path.join("/usr/sbin", name)
    return path if os.access(path, os.X_OK) else None


def available() -> bool:
    """True when the KDC tools and python3-gssapi (the acceptor) are installed."""
    return all(tool(t) for t in TOOLS) and importlib.util.find_spec("gssapi") is not None


def _port_free(port: int) -> bool:
    """Both TCP and UDP (the KDC listens on both) are free on 127.0.0.1:port."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # krb5kdc sets it too
            tcp.bind(("127.0.0.1", port))
            udp.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False


def _free_port() -> int:
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if _port_free(port):
            return port
    raise RuntimeError("no free TCP+UDP port for the KDC")


def _is_our_kdc(pid: int, pid_file: str) -> bool:
    """True if pid is a krb5kdc started with this pid file (pids get reused)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return False
    return os.path.basename(argv[0]) == b"krb5kdc" and os.fsencode(pid_file) in argv


def _terminate(pid: int, pid_file: str) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 3
        # A zombie has an empty cmdline, so this also ends when it is dead but not yet reaped.
        while time.monotonic() < deadline and _is_our_kdc(pid, pid_file):
            time.sleep(0.02)
        if _is_our_kdc(pid, pid_file):
            os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def kill_stale(state_dir: str) -> None:
    """Stops a KDC left behind by a server that was killed without cleaning up."""
    pid_file = os.path.join(os.path.abspath(state_dir), "kdc", "kdc.pid")
    try:
        with open(pid_file, encoding="utf-8") as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        return
    if _is_our_kdc(pid, pid_file):
        _terminate(pid, pid_file)
    try:
        os.remove(pid_file)
    except OSError:
        pass


class Kdc:
    """The realm's files and the running krb5kdc."""

    def __init__(self, state_dir: str, passwords: dict[str, str]):
        self.dir = os.path.join(os.path.abspath(state_dir), "kdc")
        self.passwords = passwords
        self.krb5_conf = os.path.join(self.dir, "krb5.conf")
        self.kdc_conf = os.path.join(self.dir, "kdc.conf")
        self.database = os.path.join(self.dir, "principal")
        self.stash = os.path.join(self.dir, "stash")
        self.pid_file = os.path.join(self.dir, "kdc.pid")
        self.log_path = os.path.join(self.dir, "kdc.log")
        self.service_keytab = os.path.join(self.dir, "http.keytab")
        self.port = 0
        self.process: subprocess.Popen | None = None

    def keytab(self, user: str) -> str:
        return os.path.join(self.dir, user + ".keytab")

    def tool_env(self) -> dict[str, str]:
        # Always our own config: the machine's krb5.conf names outside KDCs.
        return dict(os.environ, KRB5_CONFIG=self.krb5_conf, KRB5_KDC_PROFILE=self.kdc_conf)

    def server_env(self) -> dict[str, str]:
        """What the sandbox process needs for gssapi to accept as HTTP/localhost."""
        return {"KRB5_CONFIG": self.krb5_conf, "KRB5_KTNAME": "FILE:" + self.service_keytab,
                "KRB5RCACHEDIR": self.dir}  # the replay cache stays in the state directory

    # Files.
    def _write_config(self) -> None:
        krb5 = (f"[libdefaults]\n default_realm = {REALM}\n dns_lookup_kdc = false\n"
                f" dns_lookup_realm = false\n rdns = false\n dns_canonicalize_hostname = false\n"
                f" udp_preference_limit = 1\n\n"
                # Realm blocks over several lines: a one-line block is silently ignored.
                f"[realms]\n {REALM} = {{\n  kdc = 127.0.0.1:{self.port}\n }}\n\n"
                f"[domain_realm]\n localhost = {REALM}\n")
        kdc = (f"[kdcdefaults]\n kdc_listen = 127.0.0.1:{self.port}\n"
               f" kdc_tcp_listen = 127.0.0.1:{self.port}\n\n"
               f"[realms]\n {REALM} = {{\n  database_name = {self.database}\n"
               f"  key_stash_file = {self.stash}\n  acl_file = {os.path.join(self.dir, 'kadm5.acl')}\n"
               f" }}\n\n[logging]\n kdc = FILE:{self.log_path}\n")
        for path, text in ((self.krb5_conf, krb5), (self.kdc_conf, kdc)):
            with open(path + ".tmp", "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(path + ".tmp", path)

    def _old_port(self) -> int:
        try:
            with open(self.krb5_conf, encoding="utf-8") as f:
                match = re.search(r"kdc = 127\.0\.0\.1:(\d+)", f.read())
            return int(match.group(1)) if match else 0
        except OSError:
            return 0

    def _run(self, argv: list[str], stdin: str | None = None) -> str:
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True,
                              env=self.tool_env(), timeout=30)
        if done.returncode != 0:
            raise RuntimeError(f"{os.path.basename(argv[0])} {argv[1]} failed ({done.returncode}): "
                               f"{done.stderr.strip()}")
        return done.stderr

    def _ensure_realm(self) -> None:
        """Creates the database once; adds principals and keytabs for users that lack them."""
        if not (os.path.exists(self.database) and os.path.exists(self.service_keytab)):
            shutil.rmtree(self.dir, ignore_errors=True)  # a half-made realm from an interrupted run
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        self._write_config()
        commands = []
        if not os.path.exists(self.database):
            open(os.path.join(self.dir, "kadm5.acl"), "w").close()
            self._run([tool("kdb5_util"), "create", "-s", "-r", REALM, "-P", secrets.token_urlsafe(24)])
            commands += [f"addprinc -randkey {SERVICE}",
                         f"ktadd -k {self.service_keytab} {SERVICE}"]
        missing = [u for u in self.passwords if not os.path.exists(self.keytab(u))]
        for user in missing:
            # -norandkey keeps the password working next to the keytab (kinit either way).
            commands += [f"addprinc -pw {self.passwords[user]} {user}",
                         f"ktadd -norandkey -k {self.keytab(user)} {user}"]
        if commands:
            # One kadmin.local reading commands from stdin: one process instead of one per command.
            errors = self._run([tool("kadmin.local"), "-r", REALM], "\n".join(commands) + "\n")
            for path in [self.service_keytab] + [self.keytab(u) for u in missing]:
                if not os.path.exists(path):
                    raise RuntimeError(f"kadmin.local did not write {path}: {errors.strip()}")
                os.chmod(path, 0o600)

    # Process.
    def start(self) -> None:
        kill_stale(os.path.dirname(self.dir))
        old = self._old_port()
        self.port = old if old and _port_free(old) else _free_port()
        self._ensure_realm()
        for attempt in range(3):
            if attempt:  # someone took the port between the check and krb5kdc's bind
                self.port = _free_port()
                self._write_config()
            if self._spawn():
                return
        raise RuntimeError(f"krb5kdc did not start; see {self.log_path}")

    def _spawn(self) -> bool:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([tool("krb5kdc"), "-n", "-P", self.pid_file],
                                            stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, env=self.tool_env())
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return True
            except OSError:
                time.sleep(0.02)
        self.stop()
        return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        try:
            os.remove(self.pid_file)
        except OSError:
            pass

    def info(self) -> dict:
        return {"realm": REALM, "krb5_conf": self.krb5_conf, "kdc_port": self.port,
                "service_principal": f"{SERVICE}@{REALM}", "service_keytab": self.service_keytab,
                "users": {u: {"principal": f"{u}@{REALM}", "keytab": self.keytab(u)}
                          for u in self.passwords}}
