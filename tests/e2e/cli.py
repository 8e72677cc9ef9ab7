"""Runs the real certenroll-cli binary for end-to-end tests and decodes what it printed."""

import functools
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
# The same CLI with test seams (cmd/test_seams.hpp): CERTENROLL_TEST_CRASH_AT=N kills it at the
# Nth step of writing files.
CLI_TEST = os.environ.get("CERTENROLL_CLI_TEST") or os.path.join(
    os.path.dirname(CLI), "certenroll-cli-test")


class Result:
    def __init__(self, completed, json_mode):
        self.code = completed.returncode
        self.stdout = completed.stdout
        self.stderr = completed.stderr
        self.json = json.loads(completed.stdout) if json_mode and completed.stdout.strip() else None

    def __repr__(self):
        return f"exit {self.code}\nstdout: {self.stdout}\nstderr: {self.stderr}"


def _argv_env(args, json_mode, env, binary=None):
    argv = [binary or CLI] + (["--json"] if json_mode else []) + [str(a) for a in args]
    full_env = dict(os.environ)
    full_env.pop("CERTENROLL_PASSWORD", None)
    full_env.update(env or {})
    return argv, full_env


def run(*args, json_mode=True, env=None, timeout=120, binary=None):
    """Runs the CLI (or `binary`, e.g. CLI_TEST) with --json (unless json_mode is False); never
    through a shell."""
    argv, full_env = _argv_env(args, json_mode, env, binary)
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


# CI (CI=true) installs every component the suite drives (packaging/install-deps.sh --test).
ON_CI = os.environ.get("CI") == "true"


def require(test, available, component):
    """Skips `test` when `component` is missing (ctest shows the file as skipped, see
    run_tests.py); on CI a missing component fails the test instead."""
    if available:
        return
    if ON_CI:
        test.fail(f"CI=true, yet {component} is missing: packaging/install-deps.sh --test "
                  "installs it")
    test.skipTest(f"{component} is missing")


def needs(available, component):
    """require() as a decorator of a test method."""
    def decorate(method):
        @functools.wraps(method)
        def run_test(self, *args, **kwargs):
            require(self, available, component)
            return method(self, *args, **kwargs)
        return run_test
    return decorate


def openssl(*args, input=None, env=None):
    """The openssl command's standard output; fails the caller on a non-zero exit."""
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=True,
                          input=input, env=env).stdout


def public_key_of_certificate(path, inform="PEM"):
    """The certificate's public key as PEM (compare with public_key_of_key)."""
    return openssl("x509", "-inform", inform, "-in", path, "-noout", "-pubkey")


def public_key_of_key(path):
    """The private key file's public key as PEM."""
    return openssl("pkey", "-in", path, "-pubout")


def ces_requests(sandbox, since=0):
    """The sandbox's logged CES requests (from the `since`th logged request on)."""
    return [r for r in sandbox.requests()[since:] if r.get("endpoint") == "CES"]


class KeyAssertions(unittest.TestCase):
    def assertKeyMatches(self, certificate, key, inform="PEM"):
        """The certificate carries the public key of the private key file."""
        self.assertEqual(public_key_of_certificate(certificate, inform), public_key_of_key(key))


class CustomSandboxTest(KeyAssertions):
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


class SandboxTest(KeyAssertions):
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
