/// libFuzzer target: the XML layer (src/xml) on arbitrary bytes, with the default limits and with
/// small ones. Two properties abort when broken (xml_properties.hpp): the pre-scan counts what
/// tinyxml2 builds from the same bytes, and a parsed document survives serialize and parse.

#include <cstdio>
#include <cstdlib>

#include "error.hpp"
#include "fuzz_common.hpp"
#include "xml/xml.hpp"
#include "xml_properties.hpp"

using namespace certenroll;

namespace {

void check(const std::string& difference, const char* property) {
    if (!difference.empty()) {
        std::fprintf(stderr, "%s: %s\n", property, difference.c_str());
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto text = fuzz::as_text(data, size);
    check(xml_properties::prescan_difference(text), "pre-scan and tinyxml2 disagree");
    try {
        const auto root = xml::parse(text);
        check(xml_properties::round_trip_difference(root), "serialize and parse changed the tree");
    } catch (const Error&) {
    }
    try {
        // Small enough that the seeds of hostile shapes (corpus/xml/hostile_*) cross them.
        xml::Limits small;
        small.max_bytes = 4096;
        small.max_depth = 8;
        small.max_nodes = 64;
        small.max_attributes = 8;
        (void)xml::parse(text, small);
    } catch (const Error&) {
    }
    return 0;
}
