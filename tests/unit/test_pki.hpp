#pragma once
// A tiny test PKI for the crypto unit tests, built with OpenSSL directly (no fixed files).

#include <doctest/doctest.h>
#include <openssl/pkcs7.h>

#include <chrono>
#include <ctime>
#include <functional>
#include <string>
#include <vector>

#include "crypto/certificate.hpp"
#include "crypto/csr.hpp"
#include "crypto/ossl.hpp"
#include "error.hpp"

namespace certenroll::test {

using namespace certenroll::crypto;
using Clock = std::chrono::system_clock;

inline PkeyPtr make_key(bool rsa = false) {
    PkeyPtr key(rsa ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048))
                    : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    REQUIRE(key);
    return key;
}

struct CertOptions {
    bool ca = true;
    long serial = 1;
    std::time_t not_before = Clock::to_time_t(Clock::now()) - 3600;
    std::time_t not_after = Clock::to_time_t(Clock::now()) + 86400;
    STACK_OF(X509_EXTENSION) * extensions = nullptr;  // copied into the certificate
};

inline void add_extension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
    X509ExtensionPtr extension(X509V3_EXT_conf_nid(nullptr, ctx, nid, value));
    REQUIRE(extension);
    REQUIRE(X509_add_ext(cert, extension.get(), -1) == 1);
}

// Issues a certificate for `key` named `subject`; self-signed when `issuer` is null.
inline Certificate issue(const std::string& subject, EVP_PKEY* key, const Certificate* issuer,
                         EVP_PKEY* issuer_key, const CertOptions& options = {}) {
    X509* raw = X509_new();
    REQUIRE(raw != nullptr);
    Certificate cert(raw);  // owns it from here
    REQUIRE(X509_set_version(raw, 2) == 1);
    REQUIRE(ASN1_INTEGER_set(X509_get_serialNumber(raw), options.serial) == 1);
    const X509NamePtr name(make_x509_name(subject));
    REQUIRE(X509_set_subject_name(raw, name.get()) == 1);
    REQUIRE(X509_set_issuer_name(raw,
                                 issuer ? X509_get_subject_name(issuer->x509()) : name.get()) == 1);
    REQUIRE(ASN1_TIME_set(X509_getm_notBefore(raw), options.not_before) != nullptr);
    REQUIRE(ASN1_TIME_set(X509_getm_notAfter(raw), options.not_after) != nullptr);
    REQUIRE(X509_set_pubkey(raw, key) == 1);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer ? issuer->x509() : raw, raw, nullptr, nullptr, 0);
    add_extension(raw, &ctx, NID_basic_constraints, options.ca ? "critical,CA:TRUE" : "CA:FALSE");
    add_extension(raw, &ctx, NID_subject_key_identifier, "hash");
    if (options.ca) {
        add_extension(raw, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
    }
    for (int i = 0; options.extensions && i < sk_X509_EXTENSION_num(options.extensions); ++i) {
        REQUIRE(X509_add_ext(raw, sk_X509_EXTENSION_value(options.extensions, i), -1) == 1);
    }
    REQUIRE(X509_sign(raw, issuer_key, EVP_sha256()) > 0);
    return cert;
}

// root → inter1 → inter2 → leaf
struct TestPki {
    PkeyPtr root_key = make_key(), inter1_key = make_key(), inter2_key = make_key(),
            leaf_key = make_key();
    Certificate root = issue("CN=Test Root,O=Example", root_key.get(), nullptr, root_key.get());
    Certificate inter1 =
        issue("CN=Test Inter 1,O=Example", inter1_key.get(), &root, root_key.get(), {true, 2});
    Certificate inter2 =
        issue("CN=Test Inter 2,O=Example", inter2_key.get(), &inter1, inter1_key.get(), {true, 3});
    Certificate leaf = issue("CN=web1.example.com,O=Example", leaf_key.get(), &inter2,
                             inter2_key.get(), {false, 0x1a2b});
};

// A certs-only PKCS#7 (what a CES sends the chain in) holding `certs`.
inline encoding::Bytes certs_only_pkcs7(const std::vector<const Certificate*>& certs) {
    OsslPtr<PKCS7, PKCS7_free> p7(PKCS7_new());
    REQUIRE(PKCS7_set_type(p7.get(), NID_pkcs7_signed) == 1);
    REQUIRE(PKCS7_content_new(p7.get(), NID_pkcs7_data) == 1);
    for (const auto* cert : certs) {
        REQUIRE(PKCS7_add_certificate(p7.get(), cert->x509()) == 1);
    }
    return der_of(p7.get(), i2d_PKCS7);
}

inline std::vector<std::string> thumbprints(const std::vector<Certificate>& certs) {
    std::vector<std::string> out;
    for (const auto& cert : certs) {
        out.push_back(cert.sha256_thumbprint());
    }
    return out;
}

inline ErrorKind kind_of(const std::function<void()>& action) {
    try {
        action();
    } catch (const Error& error) {
        return error.kind();
    }
    FAIL("no Error thrown");
    return ErrorKind::Internal;
}

}  // namespace certenroll::test
