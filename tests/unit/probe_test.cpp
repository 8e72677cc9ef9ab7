// The connection probes of diagnose: URL and proxy rules, TCP attempts, and TLS handshakes with
// every reason a chain is refused, against a real TLS server on the loopback interface.

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>

#include "../support/tls_server.hpp"
#include "http/probe.hpp"

using namespace certenroll::http;
using namespace certenroll::test;

namespace {

Settings probe_settings(const std::string& ca_bundle = {}) {
    Settings settings;
    settings.ca_bundle = ca_bundle;
    settings.connect_timeout = std::chrono::seconds(5);
    settings.total_timeout = std::chrono::seconds(10);
    return settings;
}

bool has_issue(const TlsResult& result, TrustIssue issue) {
    return std::any_of(result.problems.begin(), result.problems.end(),
                       [issue](const VerifyProblem& p) { return p.issue == issue; });
}

// Sets an environment variable for the scope of a test.
struct ScopedEnv {
    std::string name;
    explicit ScopedEnv(std::string n, const std::string& value) : name(std::move(n)) {
        ::setenv(name.c_str(), value.c_str(), 1);
    }
    ~ScopedEnv() { ::unsetenv(name.c_str()); }
};

}  // namespace

TEST_CASE("parse_url splits host, port and IPv6 literals") {
    auto parts = parse_url("https://CEP.Example.com/ADPolicyProvider_CEP_Kerberos/service.svc/CEP");
    REQUIRE(parts);
    CHECK(parts->scheme == "https");
    CHECK(parts->host == "cep.example.com");
    CHECK(parts->port == 443);
    CHECK_FALSE(parts->ip_literal);
    parts = parse_url("https://user:pw@[::1]:8443/x");
    REQUIRE(parts);
    CHECK(parts->host == "::1");
    CHECK(parts->port == 8443);
    CHECK(parts->ip_literal);
    parts = parse_url("https://10.0.0.5:9/x");
    REQUIRE(parts);
    CHECK(parts->ip_literal);
    CHECK(parts->port == 9);
    CHECK_FALSE(parse_url("cep.example.com/x"));
    CHECK_FALSE(parse_url("https://host:99999/"));
    CHECK_FALSE(parse_url("https://[::1/"));
}

TEST_CASE("no_proxy matches hosts and domain suffixes as libcurl does") {
    CHECK(no_proxy_matches("*", "anything.example"));
    CHECK(no_proxy_matches("example.com", "example.com"));
    CHECK(no_proxy_matches("example.com", "cep.EXAMPLE.com"));
    CHECK(no_proxy_matches(".example.com", "cep.example.com"));
    CHECK(no_proxy_matches("localhost, 127.0.0.1", "127.0.0.1"));
    CHECK(no_proxy_matches("other.test example.com:443", "cep.example.com"));
    CHECK(no_proxy_matches("[::1]", "::1"));
    CHECK_FALSE(no_proxy_matches("example.com", "badexample.com"));
    CHECK_FALSE(no_proxy_matches("", "example.com"));
    CHECK_FALSE(no_proxy_matches("0.0.1", "127.0.0.1"));
}

TEST_CASE("effective_proxy: --proxy, then the environment unless no_proxy excludes the host") {
    ::unsetenv("https_proxy");
    ::unsetenv("HTTPS_PROXY");
    ::unsetenv("all_proxy");
    ::unsetenv("ALL_PROXY");
    ::unsetenv("no_proxy");
    ::unsetenv("NO_PROXY");
    CHECK_FALSE(effective_proxy("https://cep.example.com/x", ""));

    auto chosen = effective_proxy("https://cep.example.com/x", "http://u:secret@proxy.test:3128");
    REQUIRE(chosen);
    CHECK(chosen->source == "--proxy");
    CHECK(chosen->parts.host == "proxy.test");
    CHECK(chosen->parts.port == 3128);
    CHECK(chosen->display == "http://***@proxy.test:3128");
    CHECK(chosen->display.find("secret") == std::string::npos);

    ScopedEnv proxy("https_proxy", "proxy.corp");
    chosen = effective_proxy("https://cep.example.com/x", "");
    REQUIRE(chosen);
    CHECK(chosen->source == "https_proxy");
    CHECK(chosen->parts.port == 1080);  // libcurl's default proxy port
    {
        ScopedEnv bypass("no_proxy", ".example.com");
        CHECK_FALSE(effective_proxy("https://cep.example.com/x", ""));
        // --proxy wins over no_proxy, as in libcurl's CURLOPT_PROXY.
        CHECK(effective_proxy("https://cep.example.com/x", "http://p:8080"));
    }
}

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
        // The system store does not know the test CA.
        auto result = probe_tls(server.base_url() + "/x", probe_settings());
        REQUIRE(result.handshake);
        CHECK(has_issue(result, TrustIssue::UnknownIssuer));
        CHECK(result.trust_store.find("system trust store") != std::string::npos);
        CHECK_FALSE(result.trusted_by_system_store.has_value());  // no bundle was configured
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
