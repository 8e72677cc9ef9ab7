/// libFuzzer target: the namespace-aware XML parser (src/xml) on arbitrary bytes, with the
/// default limits and with small ones; a parsed document must serialise and parse again, and
/// tinyxml2 must read it the same way (xml_oracle.hpp).

#include <cstdio>
#include <cstdlib>

#include "error.hpp"
#include "fuzz_common.hpp"
#include "xml/xml.hpp"
#include "xml_oracle.hpp"

using namespace certenroll;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto text = fuzz::as_text(data, size);
    try {
        const auto root = xml::parse(text);
        if (const auto difference = xml_oracle::difference(root, text); !difference.empty()) {
            std::fprintf(stderr, "reader and tinyxml2 disagree: %s\n", difference.c_str());
            std::abort();
        }
        (void)xml::parse(xml::serialize(root));
    } catch (const Error&) {
    }
    try {
        xml::Limits small;
        small.max_bytes = 4096;
        small.max_depth = 8;
        (void)xml::parse(text, small);
    } catch (const Error&) {
    }
    return 0;
}
