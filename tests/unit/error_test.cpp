#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <new>
#include <set>
#include <string>
#include <vector>

#include "encoding/base64.hpp"
#include "encoding/terminal_text.hpp"
#include "encoding/time_text.hpp"
#include "error.hpp"
#include "secret.hpp"

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

TEST_CASE("text for the terminal: control characters escaped, length capped") {
    using encoding::terminal_safe;
    CHECK(terminal_safe("plain text\n\tindented", 100) == "plain text\n\tindented");
    // Window title, bell, screen clear, carriage return, DEL.
    CHECK(terminal_safe("\x1b]0;pwned\x07\x1b[2J\rX\x7f", 100) ==
          "\\x1b]0;pwned\\x07\\x1b[2J\\x0dX\\x7f");
    // C1 controls: U+009B (CSI) in UTF-8, and a lone 8-bit CSI byte.
    CHECK(terminal_safe("a\xc2\x9b"
                        "31m",
                        100) ==
          "a\\xc2\\x9b"
          "31m");
    CHECK(terminal_safe("a\x9b"
                        "31m",
                        100) ==
          "a\\x9b"
          "31m");
    // Printable UTF-8 (2, 3 and 4 bytes, continuation bytes in 0x80-0x9f included) is kept.
    const std::string printable = "caf\xc3\xa9 \xe2\x80\x9cq\xe2\x80\x9d \xf0\x9f\x94\x92 \xc4\x81";
    CHECK(terminal_safe(printable, 100) == printable);
    CHECK(terminal_safe("\xff\xfe", 100) == "\\xff\\xfe");
    // The cap counts input bytes and says how many were left out.
    CHECK(terminal_safe(std::string(10, 'x'), 4) == "xxxx... 6 more bytes");
    CHECK(terminal_safe("xxxx", 4) == "xxxx");
    const std::string huge(16 * 1024 * 1024, '<');
    const auto shown = terminal_safe(huge, 65536);
    CHECK(shown.size() < 65536 + 64);
    CHECK(shown.find("... 16711680 more bytes") != std::string::npos);
}

TEST_CASE("secrets are overwritten when cleansed, destroyed or moved from") {
    // A long secret (on the heap): cleanse() zeroes the whole buffer it still owns.
    std::string long_secret = "correct horse battery staple, far too long for the inline buffer";
    const char* buffer = long_secret.data();
    const std::size_t capacity = long_secret.capacity();
    cleanse(long_secret);
    CHECK(long_secret.empty());
    CHECK(long_secret.data() == buffer);
    CHECK(std::all_of(buffer, buffer + capacity, [](char c) { return c == 0; }));

    // A short secret lives inside the object: after destruction its bytes are gone.
    alignas(SecretString) unsigned char storage[sizeof(SecretString)];
    auto* pin = new (storage) SecretString(std::string("4711"));
    CHECK(*pin == "4711");
    pin->~SecretString();
    const std::string raw(reinterpret_cast<const char*>(storage), sizeof storage);
    CHECK(raw.find("4711") == std::string::npos);

    // Moved from: the source keeps nothing.
    alignas(SecretString) unsigned char source_storage[sizeof(SecretString)];
    auto* source = new (source_storage) SecretString("8812");
    SecretString target = std::move(*source);
    CHECK(target == "8812");
    const std::string left(reinterpret_cast<const char*>(source_storage), sizeof source_storage);
    CHECK(left.find("8812") == std::string::npos);
    source->~SecretString();
}
