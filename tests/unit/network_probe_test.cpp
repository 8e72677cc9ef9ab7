// The connection probes of diagnose: TCP attempts, and TLS handshakes with every reason a chain
// is refused, against a real TLS server on the loopback interface.

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>

#include "../support/tls_server.hpp"
#include "diagnose/network_probe.hpp"

using namespace certenroll::diagnose;
using certenroll::http::Settings;
using namespace certenroll::test;

namespace {

Settings probe_settings(const std::string& ca_bundle = {}) {
    Settings settings;
    settings.ca_bundle = ca_bundle;
    settings.connect_timeout = std::chrono::seconds(5);
    settings.total_timeout = std::chrono::seconds(10);
    return settings;
}

// Sets (or, with an empty value, unsets) an environment variable for the scope of a test.
struct ScopedEnv {
    std::string name;
    std::optional<std::string> previous;
    ScopedEnv(std::string n, const std::string& value) : name(std::move(n)) {
        if (const char* old = std::getenv(name.c_str()))
            previous = old;
        if (value.empty())
            ::unsetenv(name.c_str());
        else
            ::setenv(name.c_str(), value.c_str(), 1);
    }
    ~ScopedEnv() {
        if (previous)
            ::setenv(name.c_str(), previous->c_str(), 1);
        else
            ::unsetenv(name.c_str());
    }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;
};

bool has_issue(const TlsResult& result, TrustIssue issue) {
    return std::any_of(result.problems.begin(), result.problems.end(),
                       [issue](const VerifyProblem& p) { return p.issue == issue; });
}

}  // namespace

TEST_CASE("format_ip_address writes IPv4 and RFC 5952 IPv6") {
    const unsigned char v4[] = {192, 0, 2, 1};
    CHECK(format_ip_address(v4, 4) == "192.0.2.1");
    unsigned char loopback[16] = {};
    loopback[15] = 1;
    CHECK(format_ip_address(loopback, 16) == "::1");
    const unsigned char doc[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
    CHECK(format_ip_address(doc, 16) == "2001:db8::1");
    const unsigned char one_zero[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1};
    CHECK(format_ip_address(one_zero, 16) == "2001:db8:0:1:1:1:1:1");
}

TEST_CASE("probe_tcp connects, and names a refused connection") {
    const TestPki pki;
    TlsServer server({.identity = &pki.server});
    const auto open = probe_tcp("127.0.0.1", server.port(), std::chrono::seconds(5));
    CHECK(open.connected);
    CHECK(open.error.empty());

    RefusingPort refusing;
    const auto closed = probe_tcp("127.0.0.1", refusing.port(), std::chrono::seconds(5));
    CHECK_FALSE(closed.connected);
    CHECK(closed.error.find("refused") != std::string::npos);
}

TEST_CASE("probe_tls reports protocol, cipher and a trusted chain") {
    const TestPki pki;
    TlsServer server({.identity = &pki.server});
    const auto result = probe_tls(server.base_url() + "/CEP", probe_settings(pki.ca_bundle()));
    REQUIRE(result.handshake);
    CHECK(result.protocol.rfind("TLSv1.", 0) == 0);
    CHECK_FALSE(result.cipher.empty());
    CHECK(result.problems.empty());
    REQUIRE_FALSE(result.presented.empty());
    const auto& leaf = result.presented.front();
    CHECK(std::find(leaf.names.begin(), leaf.names.end(), "127.0.0.1") != leaf.names.end());
    CHECK(leaf.key_bits > 0);
    CHECK(leaf.sha256.size() == 64);
    CHECK(result.trust_store == "--ca-bundle " + pki.ca_bundle());
    // The path verification built ends at the trusted CA.
    REQUIRE(result.path.size() == 2);
    CHECK(result.path.back().self_signed);
    CHECK_FALSE(result.client_certificate_requested);
}

TEST_CASE("probe_tls lists why a chain is refused") {
    const TestPki pki;
    SUBCASE("an issuer that is not trusted, and what would fix it") {
        TlsServer server({.identity = &pki.server});
        const ScopedEnv variables[] = {
            {"CURL_CA_BUNDLE", ""}, {"SSL_CERT_FILE", ""}, {"SSL_CERT_DIR", ""}};
        // The system store does not know the test CA.
        auto result = probe_tls(server.base_url() + "/x", probe_settings());
        REQUIRE(result.handshake);
        CHECK(has_issue(result, TrustIssue::UnknownIssuer));
        CHECK(result.trust_store.find("system trust store") != std::string::npos);
        CHECK_FALSE(result.trusted_by_system_store.has_value());  // no bundle was configured
        // SSL_CERT_FILE, as the transport reads it.
        const ScopedEnv file("SSL_CERT_FILE", pki.ca_bundle());
        result = probe_tls(server.base_url() + "/x", probe_settings());
        CHECK(result.problems.empty());
        CHECK(result.trust_store == "SSL_CERT_FILE=" + pki.ca_bundle());
    }
    SUBCASE("a self-signed server certificate; trusting it would work") {
        TlsServer server({.identity = &pki.self_signed});
        const auto result = probe_tls(server.base_url() + "/x", probe_settings(pki.ca_bundle()));
        REQUIRE(result.handshake);
        CHECK(has_issue(result, TrustIssue::SelfSigned));
        CHECK(result.trusted_with_sent_root == true);
        CHECK(result.trusted_by_system_store == false);
    }
    SUBCASE("a certificate for another host") {
        TlsServer server({.identity = &pki.wrong_host});
        const auto result = probe_tls(server.base_url() + "/x", probe_settings(pki.ca_bundle()));
        REQUIRE(result.handshake);
        REQUIRE(result.problems.size() == 1);
        CHECK(result.problems.front().issue == TrustIssue::HostnameMismatch);
        CHECK(result.presented.front().names == std::vector<std::string>{"other.example"});
    }
    SUBCASE("an expired certificate") {
        TlsServer server({.identity = &pki.expired});
        const auto result = probe_tls(server.base_url() + "/x", probe_settings(pki.ca_bundle()));
        REQUIRE(result.handshake);
        CHECK(has_issue(result, TrustIssue::Expired));
        CHECK(result.presented.front().not_after < std::chrono::system_clock::now());
    }
    SUBCASE("a CA bundle that is not PEM") {
        TlsServer server({.identity = &pki.server});
        const auto result = probe_tls(server.base_url() + "/x",
                                      probe_settings(pki.write_file("bad.pem", "not a cert\n")));
        REQUIRE(result.handshake);
        CHECK_FALSE(result.trust_store_error.empty());
    }
}

TEST_CASE("probe_tls trusts what the transport trusts: a bundle of the issuing CA alone") {
    const TestPki pki;
    TlsServer server({.identity = &pki.issued});
    const auto partial =
        probe_tls(server.base_url() + "/x", probe_settings(pki.issuing_ca_bundle()));
    REQUIRE(partial.handshake);
    CHECK(partial.problems.empty());
    REQUIRE_FALSE(partial.path.empty());
    CHECK(partial.path.back().subject == "CN=certenroll test issuing CA");
    // The root alone does not do: the server does not send the intermediate.
    const auto root = probe_tls(server.base_url() + "/x", probe_settings(pki.ca_bundle()));
    REQUIRE(root.handshake);
    CHECK(has_issue(root, TrustIssue::UnknownIssuer));
}

TEST_CASE("probe_tls notices a server that asks for a client certificate") {
    const TestPki pki;
    TlsServer server({.identity = &pki.server, .client_ca = &pki.ca, .tls12_only = true});
    const auto result = probe_tls(server.base_url() + "/x", probe_settings(pki.ca_bundle()));
    CHECK(result.client_certificate_requested);
}

TEST_CASE("probe_tls names a port that does not answer") {
    RefusingPort refusing;
    const auto result =
        probe_tls("https://127.0.0.1:" + std::to_string(refusing.port()) + "/x", probe_settings());
    CHECK_FALSE(result.handshake);
    CHECK_FALSE(result.error.empty());
}
