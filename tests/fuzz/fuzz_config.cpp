/// libFuzzer target: configuration profiles (src/config), the default profile and a named one.

#include "config/config.hpp"
#include "error.hpp"
#include "fuzz_common.hpp"

using namespace certenroll;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto text = fuzz::as_text(data, size);
    for (const char* profile : {"", "corp"}) {
        try {
            (void)config::parse_profile(text, profile, "fuzz.json");
        } catch (const Error&) {
        }
    }
    return 0;
}
