#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "encoding/base64.hpp"
#include "encoding/time_text.hpp"
#include "error.hpp"

using namespace certenroll;

TEST_CASE("every error kind has exactly one distinct exit code") {
    const ErrorKind kinds[] = {ErrorKind::Usage,    ErrorKind::Pending, ErrorKind::Denied,
                               ErrorKind::Auth,     ErrorKind::Tls,     ErrorKind::Network,
                               ErrorKind::Protocol, ErrorKind::Local,   ErrorKind::Internal};
    std::set<int> codes;
    std::set<std::string_view> names;
    for (const auto kind : kinds) {
        codes.insert(exit_code(kind));
        names.insert(kind_name(kind));
    }
    CHECK(codes.size() == std::size(kinds));
    CHECK(names.size() == std::size(kinds));
    CHECK(exit_code_table().size() == std::size(kinds));
    CHECK(codes.count(0) == 0);
    for (const int code : codes) {
        CHECK(code < 100);  // never collide with CLI11's or the shell's codes
    }
    CHECK(exit_code(ErrorKind::Pending) == 3);
    CHECK(kind_name(ErrorKind::Denied) == "denied");
}

TEST_CASE("Error carries message, hint, HRESULT and request id") {
    Error error(ErrorKind::Denied, "denied by policy", "ask for enroll permission");
    error.with_hresult(0x80094012u).with_request_id("42");
    CHECK(error.kind() == ErrorKind::Denied);
    CHECK(std::string(error.what()) == "denied by policy");
    CHECK(error.hint() == "ask for enroll permission");
    REQUIRE(error.hresult());
    CHECK(format_hresult(*error.hresult()) == "0x80094012");
    CHECK(error.request_id() == "42");
}

TEST_CASE("base64 round-trips every length and ignores XML whitespace") {
    encoding::Bytes data;
    for (int n = 0; n < 40; ++n) {
        const auto text = encoding::base64_encode(data);
        CHECK(encoding::base64_decode(text) == data);
        data.push_back(static_cast<std::uint8_t>(n * 37 + 11));
    }
    CHECK(encoding::base64_encode(encoding::Bytes{'M', 'a', 'n'}) == "TWFu");
    const auto wrapped = encoding::base64_decode("TW\r\nFu\n  TWE=\t");
    CHECK(std::string(wrapped.begin(), wrapped.end()) == "ManMa");
}

TEST_CASE("base64 garbage is a protocol error naming the field") {
    // "TWFu-AAA": OpenSSL's decoder alone would stop at '-'; "TWF=", "TR==": padding bits that
    // are not zero, which it ignores; "TW\vFu": not XML whitespace.
    for (const char* bad :
         {"TWF", "TW=u", "T*Fu", "TWE===", "TWFu-AAA", "TWF=", "TR==", "TW\vFu"}) {
        try {
            encoding::base64_decode(bad, "BinarySecurityToken");
            FAIL("accepted " << bad);
        } catch (const Error& e) {
            CHECK(e.kind() == ErrorKind::Protocol);
            CHECK(e.message().find("BinarySecurityToken") != std::string::npos);
        }
    }
}

TEST_CASE("README's exit-status table is the table in src/error.cpp") {
    std::ifstream in(std::string(CERTENROLL_TESTS_DIR) + "/../README.md");
    REQUIRE(in);
    std::string line;
    bool inside = false;
    std::vector<std::string> rows;
    while (std::getline(in, line)) {
        if (line.find("exit-codes:begin") != std::string::npos) {
            inside = true;
        } else if (line.find("exit-codes:end") != std::string::npos) {
            inside = false;
        } else if (inside && line.rfind("| ", 0) == 0 && std::isdigit(line[2])) {
            rows.push_back(line);
        }
    }
    REQUIRE(rows.size() == exit_code_table().size() + 1);  // + success
    for (const auto& row : exit_code_table()) {
        const std::string expected = "| " + std::to_string(row.code) + " | " +
                                     std::string(row.name) + " | " + std::string(row.description) +
                                     " |";
        CHECK_MESSAGE(std::find(rows.begin(), rows.end(), expected) != rows.end(),
                      "README lacks: " << expected);
    }
}

TEST_CASE("durations parse in the units people type, and nothing else") {
    using std::chrono::seconds;
    CHECK(encoding::parse_duration("30d", "--renew-before") == seconds(30 * 86400));
    CHECK(encoding::parse_duration("1d12h", "--renew-before") == seconds(86400 + 12 * 3600));
    CHECK(encoding::parse_duration("90m", "--random-delay") == seconds(5400));
    CHECK(encoding::parse_duration("3600", "--random-delay") == seconds(3600));
    CHECK(encoding::parse_duration("0s", "--random-delay") == seconds(0));
    for (const char* bad : {"", "d", "-5m", "5w", "1d12", "10 m", "99999999999999d"}) {
        try {
            (void)encoding::parse_duration(bad, "--renew-before");
            FAIL("accepted " << bad);
        } catch (const Error& e) {
            CHECK(e.kind() == ErrorKind::Usage);
            CHECK(std::string(e.what()).find("--renew-before") != std::string::npos);
        }
    }
}

TEST_CASE("times are written in UTC") {
    const std::chrono::system_clock::time_point t(std::chrono::seconds(1764041400));
    CHECK(encoding::format_time_utc(t) == "2025-11-25 03:30:00 UTC");
    CHECK(encoding::format_iso8601(t) == "2025-11-25T03:30:00Z");
}
