#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdlib>
#include <iostream>
#include <string_view>

#include "skip.hpp"

namespace certenroll::test {

int& skipped_cases() {
    static int count = 0;
    return count;
}

bool on_ci() {
    const char* ci = std::getenv("CI");
    return ci != nullptr && std::string_view(ci) == "true";
}

}  // namespace certenroll::test

// doctest's runner, plus: a run that passed but skipped test cases exits 77, ctest's
// SKIP_RETURN_CODE, so that the skip shows in ctest's summary.
int main(int argc, char** argv) {
    doctest::Context context(argc, argv);
    const int result = context.run();
    if (context.shouldExit() || result != 0)
        return result;
    if (const int skipped = certenroll::test::skipped_cases(); skipped > 0) {
        std::cout << skipped << " test case(s) skipped: reported to ctest as skipped\n";
        return 77;
    }
    return 0;
}
