#pragma once
/// A test case that cannot run here because a component is missing (SoftHSM2, swtpm, ...) says
/// so through skip(): the executable then exits 77, which ctest reports as skipped
/// (SKIP_RETURN_CODE), never as passed. With CI=true (CI installs every component, see
/// packaging/install-deps.sh --test) a missing component fails the test case instead.

#include <doctest/doctest.h>

#include <string>

namespace certenroll::test {

/// How many test cases skip() was called in (main.cpp).
int& skipped_cases();

/// True when the environment says CI=true.
bool on_ci();

/// Call as: `if (!available) return test::skip("swtpm is not installed");`
inline void skip(const std::string& reason) {
    if (on_ci()) {
        FAIL_CHECK("CI=true, yet " << reason << ": install it (packaging/install-deps.sh --test)");
        return;
    }
    MESSAGE("SKIPPED: " << reason);
    ++skipped_cases();
}

}  // namespace certenroll::test
