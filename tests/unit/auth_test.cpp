// Kerberos for HTTP: the pure parts (SPN choice, error naming) and the transport decorator's
// behaviour without a KDC. The real KDC is exercised end to end in tests/e2e/test_auth.py.
#include <doctest/doctest.h>
#include <krb5/krb5.h>

#include <gssapi/gssapi.h>

#include "../support/memory_transport.hpp"
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

}  // namespace

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
