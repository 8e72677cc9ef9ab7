// Kerberos for HTTP: the pure parts (SPN choice, error naming) and the transport decorator's
// behaviour without a KDC. The real KDC is exercised end to end in tests/e2e/test_auth.py.
#include <doctest/doctest.h>
#include <krb5/krb5.h>

#include <gssapi/gssapi.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string_view>
#include <vector>

#include "../support/memory_transport.hpp"
#include "auth/channel_binding.hpp"
#include "auth/kerberos.hpp"

using namespace certenroll;
using auth::KerberosSettings;

namespace {

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

Error failure(std::int32_t minor, const KerberosSettings& settings = {}) {
    return auth::kerberos_failure(GSS_S_FAILURE, minor, "mechanism text", "HTTP@ces.example.com",
                                  settings);
}

struct PkeyFree {
    void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct X509Free {
    void operator()(X509* cert) const { X509_free(cert); }
};

// A self-signed certificate for a new key of `type` ("RSA" or "EC" P-384), signed with `md`:
// its DER.
std::vector<std::uint8_t> self_signed(const char* type, const EVP_MD* md) {
    std::unique_ptr<EVP_PKEY, PkeyFree> key(
        std::string_view(type) == "RSA"
            ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048))
            : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"));
    REQUIRE(key);
    std::unique_ptr<X509, X509Free> cert(X509_new());
    REQUIRE(cert);
    REQUIRE(X509_set_version(cert.get(), 2) == 1);
    REQUIRE(ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 7) == 1);
    X509_NAME* name = X509_get_subject_name(cert.get());
    REQUIRE(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                       reinterpret_cast<const unsigned char*>("ces.example.com"),
                                       -1, -1, 0) == 1);
    REQUIRE(X509_set_issuer_name(cert.get(), name) == 1);
    REQUIRE(X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0) != nullptr);
    REQUIRE(X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600) != nullptr);
    REQUIRE(X509_set_pubkey(cert.get(), key.get()) == 1);
    REQUIRE(X509_sign(cert.get(), key.get(), md) > 0);
    unsigned char* der = nullptr;
    const int length = i2d_X509(cert.get(), &der);
    REQUIRE(length > 0);
    std::vector<std::uint8_t> out(der, der + length);
    OPENSSL_free(der);
    return out;
}

// "tls-server-end-point:" + the `md` hash of the whole certificate, computed on its own.
std::vector<std::uint8_t> expected_binding(const std::vector<std::uint8_t>& der, const EVP_MD* md) {
    unsigned char hash[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    REQUIRE(EVP_Digest(der.data(), der.size(), hash, &length, md, nullptr) == 1);
    std::string text = "tls-server-end-point:";
    text.append(reinterpret_cast<const char*>(hash), length);
    return std::vector<std::uint8_t>(text.begin(), text.end());
}

}  // namespace

TEST_CASE("RFC 5929 tls-server-end-point hashes with the certificate's signature hash") {
    struct Case {
        const char* key;
        const EVP_MD* signed_with;
        const EVP_MD* expected;
        const char* expected_name;
    };
    // SHA-1 (like MD5) is replaced by SHA-256 (RFC 5929 4.1); the others are kept.
    for (const Case& c : {Case{"RSA", EVP_sha256(), EVP_sha256(), "SHA256"},
                          Case{"RSA", EVP_sha384(), EVP_sha384(), "SHA384"},
                          Case{"EC", EVP_sha384(), EVP_sha384(), "SHA384"},
                          Case{"RSA", EVP_sha1(), EVP_sha256(), "SHA256"}}) {
        CAPTURE(c.key);
        CAPTURE(EVP_MD_get0_name(c.signed_with));
        const auto der = self_signed(c.key, c.signed_with);
        const auth::ChannelBinding binding = auth::tls_server_end_point(der);
        CHECK(binding.hash == c.expected_name);
        CHECK(binding.application_data == expected_binding(der, c.expected));
        if (c.signed_with != c.expected)
            CHECK(binding.application_data != expected_binding(der, c.signed_with));
    }
}

TEST_CASE("a server certificate that does not parse gives no channel binding") {
    const std::vector<std::uint8_t> garbage{0x30, 0x03, 0x02, 0x01, 0x01};
    try {
        auth::tls_server_end_point(garbage);
        FAIL("expected an error");
    } catch (const Error& error) {
        CHECK(error.kind() == ErrorKind::Tls);
    }
}

TEST_CASE("the default SPN is HTTP@ the URL's host, without port or brackets") {
    CHECK(auth::default_spn("https://ces.example.com:8443/CA_CES_Kerberos/service.svc/CES") ==
          "HTTP@ces.example.com");
    CHECK(auth::default_spn("https://[::1]:4443/x") == "HTTP@::1");
}

TEST_CASE("each Kerberos failure is named with its cause and fix, as an auth error") {
    const Error no_ticket = failure(KRB5_FCC_NOFILE);
    CHECK(no_ticket.kind() == ErrorKind::Auth);
    CHECK(contains(no_ticket.message(), "no Kerberos ticket"));
    CHECK(contains(no_ticket.message(), "mechanism text"));
    CHECK(contains(no_ticket.hint(), "kinit"));

    CHECK(contains(failure(KRB5_KDC_UNREACH).message(), "cannot reach a Kerberos KDC"));
    CHECK(contains(failure(KRB5KRB_AP_ERR_SKEW).message(), "clock"));
    CHECK(contains(failure(KRB5KRB_AP_ERR_SKEW).hint(), "NTP"));
    CHECK(contains(failure(KRB5KRB_AP_ERR_TKT_EXPIRED).message(), "expired"));

    const Error spn = failure(KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN);
    CHECK(contains(spn.message(), "does not know the service principal HTTP@ces.example.com"));
    CHECK(contains(spn.hint(), "setspn"));

    KerberosSettings keytab;
    keytab.keytab = "/etc/host.keytab";
    CHECK(contains(failure(KRB5_KT_NOTFOUND, keytab).message(), "/etc/host.keytab"));
    CHECK(contains(failure(KRB5KDC_ERR_PREAUTH_FAILED, keytab).hint(), "fresh keytab"));
    CHECK(contains(failure(KRB5_FCC_NOFILE, keytab).hint(), "--keytab"));

    const Error other = failure(12345);
    CHECK(other.kind() == ErrorKind::Auth);
    CHECK(contains(other.message(), "Kerberos authentication for HTTP@ces.example.com failed"));
}

TEST_CASE("an unreadable keytab is refused before any request") {
    KerberosSettings settings;
    settings.keytab = "/nonexistent/certenroll.keytab";
    auto inner = std::make_unique<test::MemoryTransport>([](const http::Request&) {
        FAIL("no request may be sent");
        return http::Response{};
    });
    try {
        auth::NegotiateTransport transport(std::move(inner), settings);
        FAIL("expected an error");
    } catch (const Error& error) {
        CHECK(error.kind() == ErrorKind::Auth);
        CHECK(contains(error.message(), "cannot read the keytab /nonexistent/certenroll.keytab"));
    }
}

TEST_CASE("without a ticket no request leaves, and the error names the missing ticket") {
    // An empty, private configuration and cache: no ticket can exist.
    setenv("KRB5_CONFIG", "/dev/null", 1);
    setenv("KRB5CCNAME", "FILE:/nonexistent/certenroll-test-cc", 1);
    int requests = 0;
    auth::NegotiateTransport transport(
        std::make_unique<test::MemoryTransport>([&](const http::Request&) {
            ++requests;
            return http::Response{};
        }),
        {});
    http::Request request;
    request.url = "https://ces.example.com/CA_CES_Kerberos/service.svc/CES";
    try {
        transport.post(request);
        FAIL("expected an error");
    } catch (const Error& error) {
        CHECK(error.kind() == ErrorKind::Auth);
        CHECK(contains(error.message(), "Kerberos"));
    }
    CHECK(requests == 0);
}
