// The one-pass XML reader against tinyxml2 (tests/fuzz/xml_oracle.hpp) on every XML document of
// the test data and the fuzz seed corpora; fuzz_xml does the same on generated input.

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "error.hpp"
#include "xml/xml.hpp"
#include "xml_oracle.hpp"

using namespace certenroll;
namespace fs = std::filesystem;

namespace {

std::string read_all(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

}  // namespace

TEST_CASE("tinyxml2 reads every document the reader accepts the same way") {
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
    for (const auto& file : files) {
        const auto document = read_all(file);
        try {
            const auto root = xml::parse(document);
            ++accepted;
            CHECK_MESSAGE(xml_oracle::difference(root, document).empty(),
                          file.string() << ": " << xml_oracle::difference(root, document));
        } catch (const Error&) {
            // Refused by the reader (hostile seeds): nothing to compare.
        }
    }
    CHECK(accepted >= 60);  // the corpora hold well over that many well-formed documents
}

TEST_CASE("tinyxml2 agrees on the reader's edge cases") {
    for (const std::string& document : {
             std::string("\xEF\xBB\xBF<?xml version='1.0'?><r a='x &amp; &#65;' b=\"1\r\n2\t3\">"
                         "t&lt;<!-- c -->&#x20AC;<![CDATA[<raw>]]>\r\nu<c/><d></d ></r  >\n"),
             std::string("<p:r xmlns:p=\"urn:1\"><p:a xmlns:p=\"urn:2\" p:x=\"1\"/></p:r>"),
             std::string("<r>a\rb</r>"),
         }) {
        const auto root = xml::parse(document);
        CHECK_MESSAGE(xml_oracle::difference(root, document).empty(),
                      xml_oracle::difference(root, document));
    }
}
