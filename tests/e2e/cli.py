"""Runs the real certenroll-cli binary for end-to-end tests and decodes what it printed."""

import json
import os
import shutil
import subprocess
import tempfile
import threading
import unittest

from sandbox import Sandbox

CLI = os.environ.get("CERTENROLL_CLI") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "cmd", "certenroll-cli")


class Result:
    def __init__(self, completed, json_mode):
        self.code = completed.returncode
        self.stdout = completed.stdout
        self.stderr = completed.stderr
        self.json = json.loads(completed.stdout) if json_mode and completed.stdout.strip() else None

    def __repr__(self):
        return f"exit {self.code}\nstdout: {self.stdout}\nstderr: {self.stderr}"


def _argv_env(args, json_mode, env):
    argv = [CLI] + (["--json"] if json_mode else []) + [str(a) for a in args]
    full_env = dict(os.environ)
    full_env.pop("CERTENROLL_PASSWORD", None)
    full_env.update(env or {})
    return argv, full_env


def run(*args, json_mode=True, env=None, timeout=120):
    """Runs the CLI with --json (unless json_mode is False); never through a shell."""
    argv, full_env = _argv_env(args, json_mode, env)
    completed = subprocess.run(argv, capture_output=True, text=True, env=full_env,
                               timeout=timeout, stdin=subprocess.DEVNULL)
    return Result(completed, json_mode)


def run_with_rusage(*args, json_mode=True, env=None, timeout=120):
    """Like run(), and also returns the process's resource usage (os.wait4 on its pid alone,
    so ru_maxrss, in KiB on Linux, is the CLI's own peak RSS)."""
    argv, full_env = _argv_env(args, json_mode, env)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(argv, stdout=out, stderr=err, env=full_env,
                                   stdin=subprocess.DEVNULL)
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        completed = subprocess.CompletedProcess(argv, process.returncode,
                                                out.read().decode(errors="replace"),
                                                err.read().decode(errors="replace"))
    return Result(completed, json_mode), usage


class CustomSandboxTest(unittest.TestCase):
    """One sandbox per test class, started with a modified copy of tests/server/templates.json:
    subclasses override configure(config) and may set `port`."""

    port = 0

    @classmethod
    def configure(cls, config):
        pass

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="certenroll-e2e-class-")
        here = os.path.dirname(os.path.abspath(__file__))
        with open(os.path.join(here, "..", "server", "templates.json")) as f:
            config = json.load(f)
        cls.configure(config)
        path = os.path.join(cls.tmp, "templates.json")
        with open(path, "w") as f:
            json.dump(config, f)
        cls._sandbox_cm = Sandbox(config=path, port=cls.port)
        cls.sandbox = cls._sandbox_cm.__enter__()
        cls.info = cls.sandbox.info

    @classmethod
    def tearDownClass(cls):
        cls._sandbox_cm.__exit__(None, None, None)
        shutil.rmtree(cls.tmp, ignore_errors=True)


class SandboxTest(unittest.TestCase):
    """One sandbox per test class; a fresh state directory per test."""

    sandbox = None

    @classmethod
    def setUpClass(cls):
        cls._sandbox_cm = Sandbox()
        cls.sandbox = cls._sandbox_cm.__enter__()
        cls.info = cls.sandbox.info

    @classmethod
    def tearDownClass(cls):
        cls._sandbox_cm.__exit__(None, None, None)

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="certenroll-e2e-")
        self.tmp = self._tmp.name
        self.state = os.path.join(self.tmp, "state")

    def tearDown(self):
        self._tmp.cleanup()

    # Helpers building the usual flags.
    def user(self, name="alice"):
        u = self.info["users"][name]
        return ["--username", u["username"], "--password-file", u["password_file"]]

    def cli(self, *args, **kwargs):
        return run("--state-dir", self.state, *args, **kwargs)

    def cep(self, mode="password"):
        return ["--url", self.info["cep"][mode], "--ca-bundle", self.info["ca_bundle"]]

    def assertExit(self, result, code):
        self.assertEqual(result.code, code, repr(result))
