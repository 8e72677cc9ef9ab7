#include <doctest/doctest.h>

#include "config/config.hpp"
#include "error.hpp"

using namespace certenroll;

namespace {

const char* kConfig = R"({
  "default_profile": "corp",
  "profiles": {
    "corp": {"url": "https://cep.example.com/CEP", "username": "EXAMPLE\\svc",
             "dns": ["a.example.com", "b.example.com"], "refresh-policy": true,
             "force": false, "timeout": 30},
    "lab": {"url": "https://lab/CEP"}
  }
})";

}  // namespace

TEST_CASE("the default profile's options become option values") {
    const auto options = config::parse_profile(kConfig, "", "config.json");
    auto find = [&options](const std::string& name) -> const config::OptionValue* {
        for (const auto& option : options) {
            if (option.name == name) {
                return &option;
            }
        }
        return nullptr;
    };
    CHECK(options.size() == 5);  // "force": false is not set
    CHECK_FALSE(find("force"));
    REQUIRE(find("url"));
    CHECK(find("url")->values == std::vector<std::string>{"https://cep.example.com/CEP"});
    CHECK(find("username")->values == std::vector<std::string>{"EXAMPLE\\svc"});
    CHECK(find("dns")->values == std::vector<std::string>{"a.example.com", "b.example.com"});
    REQUIRE(find("refresh-policy"));
    CHECK(find("refresh-policy")->values.empty());
    CHECK(find("timeout")->values == std::vector<std::string>{"30"});
}

TEST_CASE("a named profile is selected; an unknown one lists the known ones") {
    CHECK(config::parse_profile(kConfig, "lab", "c.json").front().values.front() ==
          "https://lab/CEP");
    try {
        config::parse_profile(kConfig, "prod", "c.json");
        FAIL("unknown profile accepted");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::Usage);
        CHECK(e.message().find("corp, lab") != std::string::npos);
        CHECK(e.message().find("c.json") != std::string::npos);
    }
}

TEST_CASE("no default profile means no defaults") {
    CHECK(config::parse_profile(R"({"profiles": {"a": {"url": "x"}}})", "", "c").empty());
}

TEST_CASE("secrets, bad JSON and nested values are refused with the file named") {
    for (const char* bad :
         {R"({"profiles": {"p": {"password": "hunter2"}}, "default_profile": "p"})",
          R"({"profiles": {"p": {"proxy-password": "hunter2"}}, "default_profile": "p"})",
          "{not json", R"([1, 2])",
          R"({"profiles": {"p": {"url": {"nested": 1}}}, "default_profile": "p"})",
          R"({"profiles": {"p": {"--url": "x"}}, "default_profile": "p"})"}) {
        try {
            config::parse_profile(bad, "", "bad.json");
            FAIL("accepted: " << bad);
        } catch (const Error& e) {
            CHECK(e.kind() == ErrorKind::Usage);
            CHECK(e.message().find("bad.json") != std::string::npos);
            CHECK(e.message().find("hunter2") == std::string::npos);
        }
    }
}
