#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "crypto/features.hpp"
#include "crypto/ossl.hpp"
#include "error.hpp"
#include "keys/key_backend.hpp"
#include "keys/pkcs11_key.hpp"
#include "keys/software_key.hpp"
#include "temp_dir.hpp"

using namespace certenroll;
using namespace certenroll::keys;
namespace fs = std::filesystem;

namespace {

struct TempDir : test::TempDir {
    TempDir() : test::TempDir("certenroll-keys-") {}
};

Error error_of(const std::function<void()>& action) {
    try {
        action();
    } catch (const Error& error) {
        return error;
    }
    FAIL("no Error thrown");
    return Error(ErrorKind::Internal, "unreachable");
}

// A signature made with `signer` verifies with `verifier`: the keys are one pair.
bool same_pair(EVP_PKEY* signer, EVP_PKEY* verifier) {
    const unsigned char message[] = "certenroll";
    crypto::MdCtxPtr sign(EVP_MD_CTX_new());
    std::size_t length = 0;
    REQUIRE(EVP_DigestSignInit_ex(sign.get(), nullptr, "SHA256", nullptr, nullptr, signer,
                                  nullptr) == 1);
    REQUIRE(EVP_DigestSign(sign.get(), nullptr, &length, message, sizeof message) == 1);
    std::vector<unsigned char> signature(length);
    REQUIRE(EVP_DigestSign(sign.get(), signature.data(), &length, message, sizeof message) == 1);
    crypto::MdCtxPtr verify(EVP_MD_CTX_new());
    REQUIRE(EVP_DigestVerifyInit_ex(verify.get(), nullptr, "SHA256", nullptr, nullptr, verifier,
                                    nullptr) == 1);
    return EVP_DigestVerify(verify.get(), signature.data(), length, message, sizeof message) == 1;
}

}  // namespace

TEST_CASE("parse_key_type accepts the usual spellings") {
    struct Case {
        const char* text;
        KeyAlgorithm algorithm;
        int bits;
        const char* curve;
    };
    for (const Case& c :
         {Case{"rsa", KeyAlgorithm::Rsa, 2048, ""}, Case{"RSA:3072", KeyAlgorithm::Rsa, 3072, ""},
          Case{"rsa4096", KeyAlgorithm::Rsa, 4096, ""},
          Case{"rsa-8192", KeyAlgorithm::Rsa, 8192, ""}, Case{"ec", KeyAlgorithm::Ec, 0, "P-256"},
          Case{"ecdsa", KeyAlgorithm::Ec, 0, "P-256"},
          Case{"ec:P-384", KeyAlgorithm::Ec, 0, "P-384"},
          Case{"ecdsa-p256", KeyAlgorithm::Ec, 0, "P-256"},
          Case{"ec:secp521r1", KeyAlgorithm::Ec, 0, "P-521"},
          Case{"ec:prime256v1", KeyAlgorithm::Ec, 0, "P-256"},
          Case{"p384", KeyAlgorithm::Ec, 0, "P-384"},
          Case{"P-521", KeyAlgorithm::Ec, 0, "P-521"}}) {
        const std::string text = c.text;
        CAPTURE(text);
        const KeySpec spec = parse_key_type(c.text);
        CHECK(spec.algorithm == c.algorithm);
        if (c.algorithm == KeyAlgorithm::Rsa) {
            CHECK(spec.rsa_bits == c.bits);
        } else {
            CHECK(spec.ec_curve == c.curve);
        }
    }
    CHECK(describe(parse_key_type("rsa:3072")) == "RSA 3072");
    CHECK(describe(parse_key_type("ec:p-384")) == "EC P-384");
}

TEST_CASE("parse_key_type refuses unsupported types with a usage error") {
    for (const char* bad : {"", "dsa", "rsa:1024", "rsa:16384", "rsa:2049", "rsa:abc",
                            "rsa:", "ec:P-192", "ec:secp256k1", "ed25519", "ec256", "rsa 2048"}) {
        const std::string text = bad;
        CAPTURE(text);
        const Error error = error_of([&] { parse_key_type(bad); });
        CHECK(error.kind() == ErrorKind::Usage);
        CHECK(error.message().find("'" + std::string(bad) + "'") != std::string::npos);
        CHECK(error.hint().find("rsa:3072") != std::string::npos);
    }
}

TEST_CASE("ML-DSA key types: parsed on every build, generated from OpenSSL 3.5 on") {
    for (const auto& [text, level] : {std::pair{"ml-dsa-44", 44}, std::pair{"ML-DSA-65", 65},
                                      std::pair{"mldsa87", 87}, std::pair{"ml-dsa:65", 65}}) {
        CAPTURE(std::string(text));
        const KeySpec spec = parse_key_type(text);
        CHECK(spec.algorithm == KeyAlgorithm::MlDsa);
        CHECK(spec.ml_dsa_level == level);
        CHECK(describe(spec) == "ML-DSA-" + std::to_string(level));
    }
    for (const char* bad : {"ml-dsa", "ml-dsa-66", "mldsa-", "ml-dsa-6"}) {
        CAPTURE(std::string(bad));
        CHECK(error_of([&] { parse_key_type(bad); }).kind() == ErrorKind::Usage);
    }
    SoftwareKeyBackend backend;
    const KeySpec spec = parse_key_type("ml-dsa-65");
    if (!crypto::kHaveMlDsa) {
        const Error refused = error_of([&] { backend.generate(spec); });
        CHECK(refused.kind() == ErrorKind::Usage);
        CHECK(refused.message() ==
              "ML-DSA-65 keys need OpenSSL 3.5 or later; this "
              "certenroll-cli was built with " +
                  crypto::built_openssl_version());
        return;
    }
    for (const int level : {44, 65, 87}) {
        KeySpec wanted = spec;
        wanted.ml_dsa_level = level;
        const Key key = backend.generate(wanted);
        CHECK(key.algorithm() == KeyAlgorithm::MlDsa);
        CHECK(spec_of(key.get()).ml_dsa_level == level);
        // PEM round trip, encrypted too.
        const std::string pem = private_key_to_pem(key.get(), "secret");
        const auto loaded = private_key_from_pem(pem, "secret", "test key");
        CHECK(EVP_PKEY_eq(loaded.get(), key.get()) == 1);
    }
}

TEST_CASE("ML-DSA on a PKCS#11 token: refused before any module or token is opened") {
    // libp11 turns no ML-DSA token key into an EVP_PKEY. The module named here does not exist:
    // opening it would fail differently, so the refusal comes first, on every build.
    Pkcs11Settings settings;
    settings.module = "/nonexistent/certenroll-test-module.so";
    settings.token_uri = "pkcs11:token=none";
    settings.pin = [](const std::string&) -> std::string {
        FAIL("no PIN may be asked for");
        return "";
    };
    Pkcs11KeyBackend backend(settings);
    for (const char* type : {"ml-dsa-44", "ml-dsa-65", "ml-dsa-87"}) {
        CAPTURE(std::string(type));
        const KeySpec spec = parse_key_type(type);
        const Error refused = error_of([&] { backend.generate(spec); });
        CHECK(refused.kind() == ErrorKind::Usage);
        CHECK(refused.message() == describe(spec) +
                                       " keys on a PKCS#11 token are not supported (libp11 has "
                                       "no ML-DSA keys)");
        CHECK(refused.hint().find("--key-backend software") != std::string::npos);
    }
}

TEST_CASE("the software backend generates what the spec asks for") {
    SoftwareKeyBackend backend;
    CHECK(backend.name() == "software");
    for (const char* type : {"rsa:2048", "rsa:3072", "ec:P-256", "ec:P-384", "ec:P-521"}) {
        const std::string text = type;
        CAPTURE(text);
        const KeySpec spec = parse_key_type(type);
        const Key key = backend.generate(spec);
        REQUIRE(key.get() != nullptr);
        CHECK(key.backend() == "software");
        CHECK(key.reference().empty());
        CHECK(key.algorithm() == spec.algorithm);
        const KeySpec actual = spec_of(key.get());
        CHECK(describe(actual) == describe(spec));
        if (spec.algorithm == KeyAlgorithm::Rsa) {
            CHECK(key.bits() == spec.rsa_bits);
            CHECK(key.curve().empty());
        } else {
            CHECK(key.curve() == spec.ec_curve);
            CHECK(key.bits() == std::stoi(spec.ec_curve.substr(2)));
        }
        const Key stored = key.with_reference("/tmp/key.pem");
        CHECK(stored.reference() == "/tmp/key.pem");
        CHECK(stored.get() == key.get());
        CHECK(key.reference().empty());
    }
    KeySpec too_small;
    too_small.rsa_bits = 1024;
    CHECK(error_of([&] { backend.generate(too_small); }).kind() == ErrorKind::Usage);
    KeySpec odd_curve;
    odd_curve.algorithm = KeyAlgorithm::Ec;
    odd_curve.ec_curve = "no-such-curve";
    CHECK(error_of([&] { backend.generate(odd_curve); }).kind() == ErrorKind::Usage);
}

TEST_CASE("spec_of refuses algorithms templates cannot ask for") {
    crypto::PkeyPtr ed25519(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    REQUIRE(ed25519);
    const Error error = error_of([&] { spec_of(ed25519.get()); });
    CHECK(error.kind() == ErrorKind::Local);
    CHECK(error.message().find("ED25519") != std::string::npos);
    CHECK(error_of([&] { Key(std::shared_ptr<evp_pkey_st>(), "software", ""); }).kind() ==
          ErrorKind::Internal);
}

TEST_CASE("PEM private keys: plain and encrypted PKCS#8 round trips") {
    SoftwareKeyBackend backend;
    const Key key = backend.generate(parse_key_type("ec:P-384"));

    const std::string plain = private_key_to_pem(key.get(), "");
    CHECK(plain.starts_with("-----BEGIN PRIVATE KEY-----"));
    const auto plain_back = private_key_from_pem(plain, "");
    CHECK(EVP_PKEY_eq(plain_back.get(), key.get()) == 1);
    CHECK(same_pair(plain_back.get(), key.get()));

    const std::string encrypted = private_key_to_pem(key.get(), "correct horse");
    CHECK(encrypted.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    CHECK(encrypted != private_key_to_pem(key.get(), "correct horse"));  // fresh salt and IV
    const auto encrypted_back = private_key_from_pem(encrypted, "correct horse");
    CHECK(same_pair(encrypted_back.get(), key.get()));

    // The cipher is AES-256-CBC under PBES2.
    const crypto::BioPtr bio = crypto::memory_bio(encrypted.data(), encrypted.size());
    {
        X509_SIG* sig = PEM_read_bio_PKCS8(bio.get(), nullptr, nullptr, nullptr);
        REQUIRE(sig != nullptr);
        const X509_ALGOR* algorithm = nullptr;
        X509_SIG_get0(sig, &algorithm, nullptr);
        const ASN1_OBJECT* algorithm_oid = nullptr;
        X509_ALGOR_get0(&algorithm_oid, nullptr, nullptr, algorithm);
        CHECK(OBJ_obj2nid(algorithm_oid) == NID_pbes2);
        PBE2PARAM* pbe2 = static_cast<PBE2PARAM*>(ASN1_TYPE_unpack_sequence(
            ASN1_ITEM_rptr(PBE2PARAM), static_cast<const ASN1_TYPE*>(algorithm->parameter)));
        REQUIRE(pbe2 != nullptr);
        CHECK(OBJ_obj2nid(pbe2->encryption->algorithm) == NID_aes_256_cbc);
        PBE2PARAM_free(pbe2);
        X509_SIG_free(sig);
    }

    const Error wrong =
        error_of([&] { private_key_from_pem(encrypted, "wrong", "key file k.pem"); });
    CHECK(wrong.kind() == ErrorKind::Usage);
    CHECK(wrong.message() == "wrong passphrase for key file k.pem");
    const Error missing = error_of([&] { private_key_from_pem(encrypted, "", "key file k.pem"); });
    CHECK(missing.kind() == ErrorKind::Usage);
    CHECK(missing.message().find("encrypted") != std::string::npos);
    const Error garbage = error_of([&] { private_key_from_pem("hello", "", "key file k.pem"); });
    CHECK(garbage.kind() == ErrorKind::Usage);
    CHECK(garbage.message().find("key file k.pem") != std::string::npos);
}

TEST_CASE("the software backend loads key files") {
    TempDir dir;
    SoftwareKeyBackend plain_backend;
    const Key rsa = plain_backend.generate(parse_key_type("rsa"));
    const fs::path plain_path = dir.write("plain.pem", private_key_to_pem(rsa.get(), ""));
    const Key loaded = plain_backend.load(plain_path.string());
    CHECK(loaded.reference() == plain_path.string());
    CHECK(loaded.backend() == "software");
    CHECK(describe(spec_of(loaded.get())) == "RSA 2048");
    CHECK(same_pair(loaded.get(), rsa.get()));

    const fs::path secret_path = dir.write("secret.pem", private_key_to_pem(rsa.get(), "pw"));
    CHECK(same_pair(SoftwareKeyBackend("pw").load(secret_path.string()).get(), rsa.get()));
    const Error wrong = error_of([&] { SoftwareKeyBackend("nope").load(secret_path.string()); });
    CHECK(wrong.kind() == ErrorKind::Usage);
    CHECK(wrong.message() == "wrong passphrase for key file " + secret_path.string());

    // Traditional "BEGIN EC PRIVATE KEY" files, as openssl ecparam -genkey writes them.
    const Key ec = plain_backend.generate(parse_key_type("ec"));
    crypto::BioPtr bio(BIO_new(BIO_s_mem()));
    REQUIRE(PEM_write_bio_PrivateKey_traditional(bio.get(), ec.get(), nullptr, nullptr, 0, nullptr,
                                                 nullptr) == 1);
    const crypto::Bytes traditional = crypto::bio_contents(bio.get());
    const std::string traditional_pem(traditional.begin(), traditional.end());
    CHECK(traditional_pem.starts_with("-----BEGIN EC PRIVATE KEY-----"));
    const fs::path ec_path = dir.write("ec.pem", traditional_pem);
    CHECK(plain_backend.load(ec_path.string()).curve() == "P-256");

    const Error absent = error_of([&] { plain_backend.load((dir.path / "absent.pem").string()); });
    CHECK(absent.kind() == ErrorKind::Local);
    CHECK(absent.message().find("absent.pem") != std::string::npos);
}
