/// libFuzzer target: the MS-XCEP GetPoliciesResponse parser (src/xcep) behind the SOAP layer,
/// and the JSON rendering of whatever it accepts.

#include "error.hpp"
#include "fuzz_common.hpp"
#include "soap/envelope.hpp"
#include "xcep/get_policies.hpp"
#include "xcep/policy_json.hpp"

using namespace certenroll;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        const auto response = soap::parse_response(200, fuzz::as_text(data, size));
        const auto policy = xcep::parse_get_policies_response(response.payload);
        (void)xcep::to_json(policy).dump();
    } catch (const Error&) {
    }
    return 0;
}
