#pragma once
/// Test-only behaviour of certenroll-cli-test (built with the tests, never installed).

namespace certenroll::cli {

/// CERTENROLL_TEST_CRASH_AT=N: the process kills itself (SIGKILL, as kill -9 would) at the Nth
/// step of writing files (store::write_step), after naming the step on stderr; tests/e2e runs
/// N = 1, 2, ... until a run completes, so every step of enroll, renew and retrieve-pending is
/// interrupted once, deterministically.
void install_test_seams();

/// CERTENROLL_TEST_PARSE_ONLY=1: main parses the command line as usual (no configuration file is
/// read) and exits 0 without running the subcommand, or 2 on a parse error; tests/e2e checks with
/// it that every command the hints, README and man page show names options that exist.
bool parse_only();

}  // namespace certenroll::cli
