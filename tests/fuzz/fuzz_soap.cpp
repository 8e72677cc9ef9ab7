/// libFuzzer target: SOAP 1.2 response envelopes and faults (src/soap), as they arrive with
/// HTTP 200 and with HTTP 500.

#include "error.hpp"
#include "fuzz_common.hpp"
#include "soap/envelope.hpp"
#include "soap/fault.hpp"

using namespace certenroll;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto text = fuzz::as_text(data, size);
    for (const long status : {200L, 500L}) {
        try {
            (void)soap::parse_response(status, text);
        } catch (const Error&) {
        }
    }
    // parse_fault on any element, as if it were an s:Fault (only reached through a valid
    // envelope above otherwise).
    try {
        const auto root = xml::parse(text);
        const auto fault = soap::parse_fault(root);
        (void)soap::to_error(fault);
    } catch (const Error&) {
    }
    return 0;
}
