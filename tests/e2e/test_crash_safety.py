"""Crash safety and serialisation: a kill at every step of writing a certificate set (enroll,
renew, retrieve-pending) through the test build of the CLI, what the next run makes of it, and
the state lock proven by the order of the sandbox's CES requests."""

import concurrent.futures
import json
import os
import shutil
import signal
import subprocess
import time

import cli

KILLED = -signal.SIGKILL


def leftovers(directory):
    """Temporaries (`*.tmp.<pid>.<hex>`) and staged `.new` files in `directory`."""
    return sorted(f for f in os.listdir(directory) if ".tmp." in f or f.endswith(".new"))


class CrashPointTest(cli.SandboxTest):
    """Each step runs in a state directory of its own, a few at a time (they only wait for the
    sandbox and each other's CPU)."""

    WORKERS = 4

    def setUp(self):
        super().setUp()
        with open(self.info["users"]["alice"]["password_file"]) as f:
            self.env = {"CERTENROLL_PASSWORD": f.read().strip()}

    def run_in(self, state, *args, **kwargs):
        return cli.run("--state-dir", state, *args, **kwargs)

    def enroll(self, state, name, template, *extra, binary=None, env=None):
        return self.run_in(state, "enroll", *self.cep(), *self.user(), "--template", template,
                           "--name", name, "--cn", name + ".example.test", *extra,
                           binary=binary, env=env)

    def renew_all(self, state):
        """A plain cron run: it completes an interrupted switch and removes what a killed run
        left, before deciding anything (nothing is due here)."""
        result = self.run_in(state, "renew", "--all", "--ca-bundle", self.info["ca_bundle"],
                             env=self.env)
        self.assertExit(result, 0)

    def crashed(self, n, result):
        """The step's name if the run was killed at write step n; None if it completed."""
        if result.code != KILLED:
            self.assertEqual(result.code, 0, repr(result))
            return None
        self.assertIn(f"killed at write step {n} (", result.stderr)
        return result.stderr.strip().splitlines()[-1].split("(")[1].rstrip(")")

    @staticmethod
    def files(state, name):
        live = os.path.join(state, "live", name)
        return {kind: os.path.join(live, kind + ".pem")
                for kind in ("key", "cert", "chain", "fullchain")}

    def assertConsistent(self, files):
        self.assertKeyMatches(files["cert"], files["key"])
        with open(files["cert"]) as cert, open(files["fullchain"]) as fullchain:
            self.assertTrue(fullchain.read().startswith(cert.read()))

    def assertClean(self, state, files):
        self.assertEqual(leftovers(os.path.dirname(files["cert"])), [])
        journal = os.path.join(state, "journal")
        self.assertEqual(os.listdir(journal) if os.path.isdir(journal) else [], [])

    def crash_at_every_step(self, step_test):
        """step_test(n, state) runs the command killed at write step n in `state` and checks
        what the next run makes of it; it returns the step's name, or None when the command
        completed (n is past its last step). Runs n = 1, 2, ... until one completes; returns the
        names of the steps killed."""
        steps = []

        def checked(n):
            try:
                return step_test(n, os.path.join(self.tmp, "state%d" % n))
            except AssertionError as e:
                raise AssertionError(f"killed at write step {n}: {e}") from None

        with concurrent.futures.ThreadPoolExecutor(self.WORKERS) as pool:
            for first in range(1, 100, self.WORKERS):
                for name in pool.map(checked, range(first, first + self.WORKERS)):
                    if name is None:
                        return steps
                    steps.append(name)
        self.fail("the command never completed")

    def test_renew_killed_at_every_step_is_rolled_forward_or_back_by_the_next_run(self):
        def step_test(n, state):
            self.assertExit(self.enroll(state, "crash", "ECWebServer"), 0)  # EC: quick keys
            files = self.files(state, "crash")
            result = self.run_in(state, "renew", "crash", "--force", "--ca-bundle",
                                 self.info["ca_bundle"], binary=cli.CLI_TEST,
                                 env=dict(self.env, CERTENROLL_TEST_CRASH_AT=str(n)))
            step = self.crashed(n, result)
            # `renew NAME` (not --all) as the next run: it too completes the switch first.
            again = self.run_in(state, "renew", "crash", "--ca-bundle", self.info["ca_bundle"],
                                env=self.env)
            self.assertExit(again, 0)
            self.assertConsistent(files)
            self.assertClean(state, files)
            return step

        steps = self.crash_at_every_step(step_test)
        # The new key, each staged file, the journal, each switch, the record: every one killed.
        for step in ("temporary-written", "staged", "journaled", "switched-in",
                     "journal-removed"):
            self.assertIn(step, steps)
        self.assertGreaterEqual(steps.count("switched-in"), 4, steps)

    def test_enroll_killed_at_every_step_leaves_a_matching_pair_or_a_retry(self):
        def step_test(n, state):
            files = self.files(state, "crash")
            result = self.enroll(state, "crash", "ECWebServer", binary=cli.CLI_TEST,
                                 env={"CERTENROLL_TEST_CRASH_AT": str(n)})
            step = self.crashed(n, result)
            if step is not None:
                self.renew_all(state)  # completes an interrupted switch of a recorded one
                if os.path.exists(files["cert"]):
                    self.assertConsistent(files)
                # The documented retry: the same enroll, reusing the key if it was written.
                reuse = ["--key", files["key"]] if os.path.exists(files["key"]) else []
                self.assertExit(self.enroll(state, "crash", "ECWebServer", *reuse), 0)
            self.assertConsistent(files)
            self.assertClean(state, files)
            return step

        steps = self.crash_at_every_step(step_test)
        # A first enrollment replaces nothing and keeps no journal: chain, fullchain and cert
        # are switched in, then the record (store/replacement.hpp). Killed at each of them.
        self.assertNotIn("journaled", steps)
        self.assertGreaterEqual(steps.count("switched-in"), 4, steps)
        self.assertGreaterEqual(len(steps), 8, steps)

    def test_retrieve_pending_killed_at_every_step_completes_on_the_next_run(self):
        # The template wants RSA: one key made here, a copy of it for each request (--key),
        # instead of an RSA key generation per step.
        rsa_key = os.path.join(self.tmp, "rsa.pem")
        cli.openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out",
                    rsa_key)

        def step_test(n, state):
            key = os.path.join(self.tmp, "key%d.pem" % n)
            shutil.copyfile(rsa_key, key)
            requested = self.enroll(state, "approval", "ApprovalRequired", "--key", key)
            self.assertExit(requested, 3)
            rid = requested.json["request_id"]
            self.sandbox.approve(requested.json["ca"], rid)
            retrieve = ["retrieve-pending", rid, *self.user(), "--ca-bundle",
                        self.info["ca_bundle"]]
            files = dict(self.files(state, "approval"), key=key)
            step = self.crashed(n, self.run_in(state, *retrieve, binary=cli.CLI_TEST,
                                               env={"CERTENROLL_TEST_CRASH_AT": str(n)}))
            if step is not None:
                self.renew_all(state)
                pending = os.path.join(state, "pending")
                if any(rid in f for f in os.listdir(pending)):
                    self.assertExit(self.run_in(state, *retrieve), 0)  # retrieved again
            self.assertConsistent(files)
            self.assertClean(state, files)
            return step

        steps = self.crash_at_every_step(step_test)
        self.assertNotIn("journaled", steps)  # a first installation, as enroll's above
        self.assertGreaterEqual(steps.count("switched-in"), 4, steps)
        self.assertGreaterEqual(len(steps), 8, steps)


class LockTest(cli.SandboxTest):
    def test_a_second_renew_all_waits_or_refuses_while_the_first_holds_the_lock(self):
        with open(self.info["users"]["alice"]["password_file"]) as f:
            env = dict(os.environ, CERTENROLL_PASSWORD=f.read().strip())
        for name in ("c0", "c1"):
            enrolled = self.cli("enroll", *self.cep(), *self.user(), "--template", "WebServer",
                                "--name", name, "--cn", name + ".example.test")
            self.assertExit(enrolled, 0)
        since = len(self.sandbox.requests())
        argv = [cli.CLI, "--json", "--state-dir", self.state, "renew", "--all", "--force",
                "--ca-bundle", self.info["ca_bundle"]]
        # The first run's first CES request is held 3 s by the sandbox: the lock is held then.
        self.sandbox.inject_fault("slow:3", match="CES")
        first = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                 text=True)
        deadline = time.monotonic() + 60
        while self.sandbox._admin("GET", "/faults")["faults"]:  # until the request arrived
            self.assertLess(time.monotonic(), deadline, "the first run never reached the CES")
            time.sleep(0.05)
        refused = subprocess.run(argv + ["--lock-wait", "0s"], capture_output=True, env=env,
                                 text=True, timeout=120)
        waiting = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                   text=True)
        outputs = {"first": first.communicate(timeout=300),
                   "waiting": waiting.communicate(timeout=300)}
        self.assertEqual(refused.returncode, 9, refused.stdout + refused.stderr)
        self.assertIn("holds the lock", json.loads(refused.stdout)["error"]["message"])
        serials = {}
        for run, process in (("first", first), ("waiting", waiting)):
            out, err = outputs[run]
            self.assertEqual(process.returncode, 0, out + err)
            for entry in json.loads(out)["certificates"]:
                self.assertEqual(entry["status"], "renewed", out)
                serials[entry["certificate"]["serial"].lower().lstrip("0")] = run
        # Who sent each issued request, in the order the CES answered: the whole first run, then
        # the whole waiting one; the refused run sent nothing.
        issued = [r for r in cli.ces_requests(self.sandbox, since) if r.get("outcome") == "issued"]
        order = [serials.get(str(r.get("serial")).lower().lstrip("0"), "unknown") for r in issued]
        self.assertEqual(order, ["first", "first", "waiting", "waiting"], issued)
