// The PKCS#11 backend against a real SoftHSM2 token initialised in a temporary directory, and the
// RFC 7512 URI parser.
#include <doctest/doctest.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <type_traits>

#include "crypto/csr.hpp"
#include "csr_check.hpp"
#include "error.hpp"
#include "keys/pkcs11_key.hpp"
#include "keys/pkcs11_uri.hpp"
#include "keys/software_key.hpp"
#include "skip.hpp"
#include "temp_dir.hpp"

using namespace certenroll;
using namespace certenroll::keys;

namespace {

constexpr const char* softhsm_module = "/usr/lib/softhsm/libsofthsm2.so";

// The PIN is handed over, and kept until the login, as a SecretString: cleansed when it goes.
static_assert(
    std::is_same_v<std::invoke_result_t<decltype(Pkcs11Settings::pin), const std::string&>,
                   SecretString>);

Error error_of(const std::function<void()>& action) {
    try {
        action();
    } catch (const Error& error) {
        return error;
    }
    FAIL("no Error thrown");
    return Error(ErrorKind::Internal, "unreachable");
}

// A SoftHSM2 token "unit" with user PIN 1234 in its own directory.
struct SoftHsm {
    test::TempDir dir{"certenroll-softhsm-"};
    bool available = std::filesystem::exists(softhsm_module);
    SoftHsm() {
        if (!available)
            return;
        std::filesystem::create_directories(dir.path / "tokens");
        const auto conf =
            dir.write("softhsm2.conf", "directories.tokendir = " + (dir.path / "tokens").string() +
                                           "\nobjectstore.backend = file\n"
                                           "log.level = ERROR\n");
        setenv("SOFTHSM2_CONF", conf.c_str(), 1);
        const std::string init =
            "softhsm2-util --init-token --free --label unit --so-pin 0000 "
            "--pin 1234 >/dev/null";
        available = std::system(init.c_str()) == 0;
    }
    Pkcs11Settings settings(std::string pin = "1234") const {
        Pkcs11Settings s;
        s.module = softhsm_module;
        s.token_uri = "pkcs11:token=unit";
        s.pin = [pin](const std::string&) { return pin; };
        return s;
    }
};

}  // namespace

TEST_CASE("PKCS#11 URIs parse and print per RFC 7512") {
    const auto uri = parse_pkcs11_uri(
        "pkcs11:token=My%20HSM;object=web1;id=%01%A2;type=private?module-path=/usr/lib/x.so");
    CHECK(uri.token == "My HSM");
    CHECK(uri.object == "web1");
    REQUIRE(uri.id.has_value());
    CHECK(*uri.id == encoding::Bytes{0x01, 0xa2});
    CHECK(uri.type == "private");
    CHECK(uri.module_path == "/usr/lib/x.so");
    // p11-kit's canonical form: its attribute order, '/' escaped in the query.
    CHECK(
        uri.to_string() ==
        "pkcs11:token=My%20HSM;id=%01%A2;object=web1;type=private?module-path=%2Fusr%2Flib%2Fx.so");
    CHECK(parse_pkcs11_uri(uri.to_string()).to_string() == uri.to_string());
    CHECK(is_pkcs11_uri("pkcs11:object=x"));
    CHECK_FALSE(is_pkcs11_uri("/etc/key.pem"));

    // Token fields, pin-source (a file, with or without file:), an empty id, a trailing ';'.
    const auto token = parse_pkcs11_uri(
        "pkcs11:manufacturer=SoftHSM%20project;serial=a1b2;model=SoftHSM%20v2;id=;?pin-source=file:"
        "/run/pin");
    CHECK(token.manufacturer == "SoftHSM project");
    CHECK(token.serial == "a1b2");
    CHECK(token.model == "SoftHSM v2");
    REQUIRE(token.id.has_value());
    CHECK(token.id->empty());
    CHECK(token.pin_source == "/run/pin");
    CHECK(parse_pkcs11_uri("pkcs11:object=k?pin-source=/run/pin").pin_source == "/run/pin");
    // Whitespace written as is stays part of the value (p11-kit alone would drop it).
    CHECK(parse_pkcs11_uri("pkcs11:token=My HSM;object=web 1").token == "My HSM");
    CHECK(parse_pkcs11_uri("pkcs11:token=My HSM;object=web 1").object == "web 1");
    // Attributes that narrow the search further are accepted; unknown query attributes ignored.
    CHECK(parse_pkcs11_uri("pkcs11:slot-id=3;library-manufacturer=x;object=k?x-vendor=1").object ==
          "k");

    const Error pin = error_of([] { parse_pkcs11_uri("pkcs11:object=x?pin-value=1234"); });
    CHECK(pin.kind() == ErrorKind::Usage);
    CHECK(pin.message() == "a PKCS#11 URI must not contain the PIN (pin-value)");
    // Also in the path, and before any other fault of the URI, whose message quotes the URI.
    for (const char* with_pin :
         {"pkcs11:pin-value=1234;object=x", "pkcs11:object=%zz?pin-value=1234"}) {
        CAPTURE(with_pin);
        CHECK(error_of([&] { parse_pkcs11_uri(with_pin); }).message().find("1234") ==
              std::string::npos);
    }
    const auto refused = [](const std::string& text) {
        CAPTURE(text);
        const Error error = error_of([&] { parse_pkcs11_uri(text); });
        CHECK(error.kind() == ErrorKind::Usage);
        return error.message();
    };
    CHECK(refused("pkcs11:object=%zz") ==
          "invalid PKCS#11 URI 'pkcs11:object=%zz': a '%' must be followed by two hex digits");
    CHECK(refused("pkcs11:object=a%2") ==
          "invalid PKCS#11 URI 'pkcs11:object=a%2': a '%' must be followed by two hex digits");
    CHECK(refused("pkcs11:object") == "invalid PKCS#11 URI 'pkcs11:object': 'object' has no '='");
    CHECK(refused("pkcs11:object=a?module-path") ==
          "invalid PKCS#11 URI 'pkcs11:object=a?module-path': 'module-path' has no '='");
    CHECK(refused("/etc/key.pem").find("it does not start with pkcs11:") != std::string::npos);
    // An empty attribute: p11-kit would drop the attribute after it.
    for (const char* empty :
         {"pkcs11:;object=a", "pkcs11:token=t;;object=a", "pkcs11:object=a?&module-path=/m"}) {
        CHECK(refused(empty).find("an empty attribute") != std::string::npos);
    }
    // What RFC 7512 does not define in the path, or what cannot fit its PKCS#11 field, is named.
    CHECK(refused("pkcs11:object=a;colour=blue") ==
          "invalid PKCS#11 URI 'pkcs11:object=a;colour=blue': 'colour=blue': not an attribute "
          "RFC 7512 defines");
    CHECK(refused("pkcs11:type=secret;object=a").find("'type=secret': not a type RFC 7512") !=
          std::string::npos);
    const std::string long_label = "pkcs11:token=" + std::string(33, 'x');
    CHECK(refused(long_label).find("longer than the 32 bytes PKCS#11 allows") != std::string::npos);
    CHECK(parse_pkcs11_uri("pkcs11:token=" + std::string(32, 'x')).token == std::string(32, 'x'));
    CHECK(refused("pkcs11:serial=" + std::string(17, '1')).find("16 bytes") != std::string::npos);
    CHECK(refused(std::string("pkcs11:object=a\0;token=b", 24)).find("a NUL byte") !=
          std::string::npos);
    CHECK(refused("pkcs11:slot-id=three").find("'slot-id=three': ") != std::string::npos);
}

TEST_CASE("keys generated on a SoftHSM2 token sign there and never leave it") {
    SoftHsm hsm;
    if (!hsm.available)
        return test::skip("SoftHSM2 is not installed or its token cannot be initialised");
    Pkcs11KeyBackend backend(hsm.settings());
    for (const char* type : {"rsa:2048", "ec:P-256", "ec:P-384"}) {
        CAPTURE(type);
        KeySpec spec = parse_key_type(type);
        spec.label = std::string("unit-") + type;
        const Key key = backend.generate(spec);
        CHECK(key.backend() == "pkcs11");
        // p11-kit's form: the token, the key's random 16-byte id, its label, its type.
        const auto& reference = key.reference();
        CHECK(reference.starts_with("pkcs11:token=unit;id=%"));
        CHECK(reference.find(";object=unit-") ==
              std::string("pkcs11:token=unit;").size() + 16 * 3 + 3);
        CHECK(reference.ends_with(";type=private"));
        CHECK(describe(spec_of(key.get())) == describe(spec));
        // A CSR signed on the token carries its public key and verifies with it.
        crypto::CsrSpec csr;
        csr.subject = "CN=token.example.test";
        CHECK(test::csr_signed_by(crypto::build_csr(csr, key.get()), key.get()));
        // The private key cannot be exported.
        CHECK_THROWS_AS(private_key_to_pem(key.get(), ""), Error);
        // The reference finds the same key again.
        const Key again = backend.load(key.reference());
        CHECK(again.reference() == key.reference());
    }
}

TEST_CASE("PKCS#11 failures are named: wrong PIN, unknown token, unknown key") {
    SoftHsm hsm;
    if (!hsm.available)
        return test::skip("SoftHSM2 is not installed or its token cannot be initialised");
    {
        Pkcs11KeyBackend wrong_pin(hsm.settings("9999"));
        const Error error = error_of([&] { wrong_pin.generate(parse_key_type("ec")); });
        CHECK(error.kind() == ErrorKind::Auth);
        CHECK(error.message().find("PIN for token 'unit' is wrong") != std::string::npos);
    }
    Pkcs11KeyBackend backend(hsm.settings());
    const Error token = error_of([&] { backend.load("pkcs11:token=absent;object=x"); });
    CHECK(token.kind() == ErrorKind::Local);
    CHECK(token.message().find("tokens: unit") != std::string::npos);
    const Error key = error_of([&] { backend.load("pkcs11:token=unit;object=missing"); });
    CHECK(key.message().find("no private key matching") != std::string::npos);
}

TEST_CASE("probe() finds the token and logs in without creating anything on it") {
    SoftHsm hsm;
    if (!hsm.available)
        return test::skip("SoftHSM2 is not installed or its token cannot be initialised");
    // SoftHSM2 keeps each token object in a file of the token directory.
    const auto files = [&] {
        std::size_t count = 0;
        for (const auto& entry : std::filesystem::recursive_directory_iterator(hsm.dir.path))
            count += entry.is_regular_file() ? 1 : 0;
        return count;
    };
    const std::size_t before = files();
    {
        Pkcs11KeyBackend backend(hsm.settings());
        const TokenProbe token = backend.probe(parse_key_type("rsa:2048"));
        CHECK(token.label == "unit");
        CHECK(token.manufacturer == "SoftHSM project");
        CHECK(token.model.find("SoftHSM") != std::string::npos);
        CHECK(token.module == softhsm_module);
        CHECK(token.login == TokenProbe::Login::LoggedIn);
        CHECK(backend.probe(parse_key_type("ec:P-384")).label == "unit");
    }
    {
        // No PIN at hand: reported, not asked for.
        Pkcs11Settings settings = hsm.settings();
        settings.pin = nullptr;
        Pkcs11KeyBackend backend(settings);
        CHECK(backend.probe(parse_key_type("ec")).login == TokenProbe::Login::NoPin);
    }
    {
        Pkcs11KeyBackend wrong_pin(hsm.settings("9999"));
        CHECK(error_of([&] { wrong_pin.probe(parse_key_type("ec")); }).kind() == ErrorKind::Auth);
    }
    {
        Pkcs11Settings settings = hsm.settings();
        settings.token_uri = "pkcs11:token=absent";
        Pkcs11KeyBackend backend(settings);
        const Error error = error_of([&] { backend.probe(parse_key_type("ec")); });
        CHECK(error.kind() == ErrorKind::Local);
        CHECK(error.message().find("no token labelled 'absent'") != std::string::npos);
        CHECK(error.message().find("tokens: unit") != std::string::npos);
    }
    CHECK(files() == before);
}
