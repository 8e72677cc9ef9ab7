// The properties of tests/fuzz/xml_properties.hpp (the pre-scan counts what tinyxml2 builds; a
// parsed tree survives serialize and parse) on every XML document of the test data and the fuzz
// seed corpora; fuzz_xml checks them on generated input.

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "error.hpp"
#include "xml/xml.hpp"
#include "xml_properties.hpp"

using namespace certenroll;
namespace fs = std::filesystem;

namespace {

std::string read_all(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

void check_properties(const std::string& document, const std::string& name, int& accepted) {
    CHECK_MESSAGE(xml_properties::prescan_difference(document).empty(),
                  name << ": " << xml_properties::prescan_difference(document));
    try {
        const auto root = xml::parse(document);
        ++accepted;
        CHECK_MESSAGE(xml_properties::round_trip_difference(root).empty(),
                      name << ": " << xml_properties::round_trip_difference(root));
    } catch (const Error&) {
        // Refused (hostile seeds): nothing to serialize.
    }
}

}  // namespace

TEST_CASE("every corpus document: the pre-scan counts what tinyxml2 builds; trees round-trip") {
    std::vector<fs::path> files;
    for (const fs::path& dir : {fs::path(CERTENROLL_TEST_DATA_DIR),
                                fs::path(CERTENROLL_TESTS_DIR) / "fuzz" / "corpus" / "xml",
                                fs::path(CERTENROLL_TESTS_DIR) / "fuzz" / "corpus" / "soap",
                                fs::path(CERTENROLL_TESTS_DIR) / "fuzz" / "corpus" / "xcep",
                                fs::path(CERTENROLL_TESTS_DIR) / "fuzz" / "corpus" / "wstep"}) {
        for (const auto& entry : fs::recursive_directory_iterator(dir)) {
            if (entry.is_regular_file() &&
                (dir.filename() != "data" || entry.path().extension() == ".xml"))
                files.push_back(entry.path());
        }
    }
    int accepted = 0;
    for (const auto& file : files)
        check_properties(read_all(file), file.string(), accepted);
    CHECK(accepted >= 60);  // the corpora hold well over that many well-formed documents
}

TEST_CASE("the properties hold on the edge cases of markup") {
    int accepted = 0;
    for (const std::string& document : {
             std::string("\xEF\xBB\xBF<?xml version='1.0'?><r a='x &amp; &#65;' b=\"1\r\n2\t3\">"
                         "t&lt;<!-- c -->&#x20AC;<![CDATA[<raw>]]>\r\nu<c/><d></d ></r  >\n"),
             std::string("<p:r xmlns:p=\"urn:1\"><p:a xmlns:p=\"urn:2\" p:x=\"1\"/></p:r>"),
             std::string("<r a=\"&gt;<\" b='\"' c=\"'\"/>"),  // '<' in a value is refused
             std::string("<r a=\"x>y\" b='\">'><!-- <a><b> --><![CDATA[<c><d>]]><e/></r>"),
             std::string("<r xmlns=\"urn:d\" xmlns:x=\"urn:x\" x:a=\"&#x9;&#xA;&#xD;\">"
                         "<c xmlns=\"\">&#x1b;&#xD;</c><x:d xml:lang=\"en\"/></r>"),
             std::string("<r>a\rb<a/>  <b/>&#x20;</r>"),
         }) {
        check_properties(document, document, accepted);
    }
    CHECK(accepted == 5);
}

TEST_CASE("the round-trip property sees a tree that changes") {
    xml::Element root("urn:a", "r");
    root.add("urn:b", "c", "text");
    CHECK(xml_properties::round_trip_difference(root).empty());
    // A name that is not an XML name cannot be read back.
    xml::Element broken("urn:a", "not a name");
    CHECK_FALSE(xml_properties::round_trip_difference(broken).empty());
}
