#include "test_seams.hpp"

#include <unistd.h>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string>

#include "store/atomic_file.hpp"

namespace certenroll::cli {

namespace {

long crash_at = 0;
long steps_seen = 0;

void crash_at_chosen_step(std::string_view step) {
    if (++steps_seen != crash_at)
        return;
    std::cerr << "certenroll-cli-test: killed at write step " << steps_seen << " (" << step << ")"
              << std::endl;
    ::kill(::getpid(), SIGKILL);
}

}  // namespace

void install_test_seams() {
    if (const char* at = std::getenv("CERTENROLL_TEST_CRASH_AT")) {
        crash_at = std::strtol(at, nullptr, 10);
        store::set_write_step_observer(crash_at_chosen_step);
    }
}

bool parse_only() {
    const char* flag = std::getenv("CERTENROLL_TEST_PARSE_ONLY");
    return flag != nullptr && std::string(flag) == "1";
}

}  // namespace certenroll::cli
