"""kill -9 during `renew`, many times, against the sandbox; after each kill the next (cron) run
must leave a matching key and certificate and no temporary or staged file. Not part of ctest
(it takes minutes); run by hand after changing the store or the renewal:

    CERTENROLL_CLI=build/cmd/certenroll-cli /usr/bin/python3 tests/e2e/kill_stress.py [KILLS]

Prints what the kills left behind before the next run (temporaries, staged files, journals of
an interrupted switch) and after it (must be nothing); exits 1 if anything stayed."""

import os
import random
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cli  # noqa: E402
from sandbox import Sandbox  # noqa: E402


def leftovers(directory):
    return sorted(f for f in os.listdir(directory) if ".tmp." in f or f.endswith(".new"))


def main(kills):
    with Sandbox() as sandbox, tempfile.TemporaryDirectory(prefix="certenroll-kill-") as tmp:
        info = sandbox.info
        state = os.path.join(tmp, "state")
        alice = info["users"]["alice"]
        with open(alice["password_file"]) as f:
            env = dict(os.environ, CERTENROLL_PASSWORD=f.read().strip())
        enrolled = cli.run("--state-dir", state, "enroll", "--url", info["cep"]["password"],
                           "--ca-bundle", info["ca_bundle"], "--username", "alice",
                           "--password-file", alice["password_file"], "--template", "WebServer",
                           "--name", "crash", "--cn", "crash.example.test")
        assert enrolled.code == 0, repr(enrolled)
        files = enrolled.json["files"]
        live = os.path.dirname(files["cert"])
        journal = os.path.join(state, "journal")
        argv = [cli.CLI, "--state-dir", state, "renew", "crash", "--force", "--ca-bundle",
                info["ca_bundle"]]
        start = time.monotonic()
        subprocess.run(argv, env=env, check=True, capture_output=True)
        duration = time.monotonic() - start
        rng = random.Random(29)
        before = {"temporaries": 0, "staged": 0, "journals": 0}
        after = {"leftovers": 0, "mismatches": 0, "failures": 0}
        for _ in range(kills):
            proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0, duration))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            left = leftovers(live)
            before["temporaries"] += any(".tmp." in f for f in left)
            before["staged"] += any(f.endswith(".new") for f in left)
            before["journals"] += bool(os.path.isdir(journal) and os.listdir(journal))
            check = cli.run("--state-dir", state, "renew", "crash", "--ca-bundle",
                            info["ca_bundle"], env={"CERTENROLL_PASSWORD":
                                                    env["CERTENROLL_PASSWORD"]})
            after["failures"] += check.code != 0
            after["leftovers"] += bool(leftovers(live)) or bool(
                os.path.isdir(journal) and os.listdir(journal))
            after["mismatches"] += (cli.public_key_of_certificate(files["cert"]) !=
                                    cli.public_key_of_key(files["key"]))
        print(f"{kills} kills of renew (each at a random point of a {duration:.2f} s run)")
        print("left by the kill, before the next run: "
              f"temporaries after {before['temporaries']}, staged .new files after "
              f"{before['staged']}, an interrupted switch (journal) after {before['journals']}")
        print(f"after the next run: leftovers {after['leftovers']}, key/certificate mismatches "
              f"{after['mismatches']}, failed runs {after['failures']}")
        return 1 if any(after.values()) else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
