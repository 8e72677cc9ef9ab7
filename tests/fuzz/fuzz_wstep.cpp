/// libFuzzer target: the MS-WSTEP RequestSecurityTokenResponseCollection parser (src/wstep)
/// behind the SOAP layer.

#include "error.hpp"
#include "fuzz_common.hpp"
#include "soap/envelope.hpp"
#include "wstep/response.hpp"

using namespace certenroll;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        const auto response = soap::parse_response(200, fuzz::as_text(data, size));
        (void)wstep::parse_submit_response(response.payload);
    } catch (const Error&) {
    }
    return 0;
}
