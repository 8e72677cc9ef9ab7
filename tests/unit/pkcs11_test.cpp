// The PKCS#11 backend against a real SoftHSM2 token initialised in a temporary directory, and the
// RFC 7512 URI parser.
#include <doctest/doctest.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>

#include "crypto/csr.hpp"
#include "error.hpp"
#include "keys/pkcs11_key.hpp"
#include "keys/pkcs11_uri.hpp"
#include "keys/software_key.hpp"
#include "temp_dir.hpp"

using namespace certenroll;
using namespace certenroll::keys;

namespace {

constexpr const char* softhsm_module = "/usr/lib/softhsm/libsofthsm2.so";

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
    CHECK(uri.to_string() ==
          "pkcs11:token=My%20HSM;object=web1;id=%01%a2;type=private?module-path=/usr/lib/x.so");
    CHECK(is_pkcs11_uri("pkcs11:object=x"));
    CHECK_FALSE(is_pkcs11_uri("/etc/key.pem"));

    const Error pin = error_of([] { parse_pkcs11_uri("pkcs11:object=x?pin-value=1234"); });
    CHECK(pin.kind() == ErrorKind::Usage);
    CHECK(pin.message().find("1234") == std::string::npos);
    CHECK(error_of([] { parse_pkcs11_uri("pkcs11:object=%zz"); }).kind() == ErrorKind::Usage);
    CHECK(error_of([] { parse_pkcs11_uri("pkcs11:object"); }).kind() == ErrorKind::Usage);
}

TEST_CASE("keys generated on a SoftHSM2 token sign there and never leave it") {
    SoftHsm hsm;
    if (!hsm.available) {
        MESSAGE("SoftHSM2 not installed: skipped");
        return;
    }
    Pkcs11KeyBackend backend(hsm.settings());
    for (const char* type : {"rsa:2048", "ec:P-256", "ec:P-384"}) {
        CAPTURE(type);
        KeySpec spec = parse_key_type(type);
        spec.label = std::string("unit-") + type;
        const Key key = backend.generate(spec);
        CHECK(key.backend() == "pkcs11");
        CHECK(key.reference().starts_with("pkcs11:token=unit;object=unit-"));
        CHECK(describe(spec_of(key.get())) == describe(spec));
        // A CSR signed on the token verifies with its public key.
        crypto::CsrSpec csr;
        csr.subject = "CN=token.example.test";
        CHECK_FALSE(crypto::build_csr(csr, key.get()).empty());
        // The private key cannot be exported.
        CHECK_THROWS_AS(private_key_to_pem(key.get(), ""), Error);
        // The reference finds the same key again.
        const Key again = backend.load(key.reference());
        CHECK(again.reference() == key.reference());
    }
}

TEST_CASE("PKCS#11 failures are named: wrong PIN, unknown token, unknown key") {
    SoftHsm hsm;
    if (!hsm.available) {
        MESSAGE("SoftHSM2 not installed: skipped");
        return;
    }
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
    if (!hsm.available) {
        MESSAGE("SoftHSM2 not installed: skipped");
        return;
    }
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
