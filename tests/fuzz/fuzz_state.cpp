/// libFuzzer target: state records (src/store), a pending request and a managed certificate, parsed
/// from memory by the same functions StateDirectory uses when retrieve-pending and renew read them
/// (reading the file itself is not parsing and would only slow the fuzzer down).

#include "error.hpp"
#include "fuzz_common.hpp"
#include "store/state.hpp"

using namespace certenroll;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto text = fuzz::as_text(data, size);
    try {
        (void)store::parse_pending_record(text, "pending/r.json");
    } catch (const Error&) {
    }
    try {
        (void)store::parse_certificate_record(text, "certificates/web1.json");
    } catch (const Error&) {
    }
    return 0;
}
