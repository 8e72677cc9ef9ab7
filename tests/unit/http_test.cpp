// The HTTP transports: CurlTransport (libcurl) against a real TLS server on the loopback
// interface, MemoryTransport with the shared 401 rule, the retry decorator, URLs and proxies as
// libcurl reads them, and the mapping of libcurl's failures to errors.

#include <doctest/doctest.h>

#include <net/if.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "../support/memory_transport.hpp"
#include "../support/tls_server.hpp"
#include "error.hpp"
#include "http/curl_easy.hpp"
#include "http/curl_transport.hpp"
#include "http/transfer_error.hpp"
#include "http/url.hpp"

using certenroll::Error;
using certenroll::ErrorKind;
using namespace certenroll::http;
using namespace certenroll::test;

namespace {

Settings trusting(const TestPki& pki) {
    Settings settings;
    settings.ca_bundle = pki.ca_bundle();
    settings.connect_timeout = std::chrono::seconds(5);
    settings.total_timeout = std::chrono::seconds(10);
    return settings;
}

Request soap_request(const std::string& url, std::string body = "<s:Envelope/>") {
    Request request;
    request.url = url;
    request.body = std::move(body);
    request.headers = {{"Content-Type", "application/soap+xml; charset=utf-8"},
                       {"X-Test", "value 1"}};
    return request;
}

Request carrying(Credential credential, std::string detail) {
    Request request = soap_request("https://ca.test/x");
    request.credential = credential;
    request.credential_detail = std::move(detail);
    return request;
}

// Runs `post` and returns the Error it throws; fails the test if it does not throw one.
template <typename Post>
Error expect_error(Post&& post) {
    try {
        post();
    } catch (const Error& error) {
        return error;
    }
    FAIL("expected certenroll::Error");
    return Error(ErrorKind::Internal, "unreachable");
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("Response::header is case-insensitive and returns the first match") {
    Response response;
    response.headers = {{"Content-Type", "text/xml"}, {"X-A", "1"}, {"x-a", "2"}};
    CHECK(response.header("content-type") == "text/xml");
    CHECK(response.header("X-A") == "1");
    CHECK_FALSE(response.header("Location").has_value());
}

TEST_CASE("url_host keeps the host only, never credentials") {
    CHECK(url_host("https://ca.example.com/CES") == "ca.example.com");
    CHECK(url_host("https://ca.example.com:8443/x?y") == "ca.example.com");
    CHECK(url_host("https://[::1]:4443/path") == "[::1]");
    CHECK(url_host("https://user:secret@host.example/") == "host.example");
    CHECK(url_host("not a url") == "not a url");
}

TEST_CASE("throw_if_unauthorized lists the schemes the server offers") {
    Response ok;
    ok.status = 500;
    CHECK_NOTHROW(throw_if_unauthorized(ok, soap_request("https://h/")));

    Response denied;
    denied.status = 401;
    denied.headers = {{"WWW-Authenticate", "Negotiate"},
                      {"www-authenticate", "NTLM"},
                      {"WWW-Authenticate", "Basic realm=\"ca\", charset=\"UTF-8\""}};
    const Error error =
        expect_error([&] { throw_if_unauthorized(denied, soap_request("https://ca.test/x")); });
    CHECK(error.kind() == ErrorKind::Auth);
    CHECK(contains(error.message(), "ca.test"));
    CHECK(contains(error.message(), "server asks for Negotiate, NTLM, Basic)"));
    CHECK(contains(error.hint(), "--auth kerberos"));

    Response bare;
    bare.status = 401;
    const Error bare_error =
        expect_error([&] { throw_if_unauthorized(bare, soap_request("https://ca.test/")); });
    CHECK(bare_error.kind() == ErrorKind::Auth);
    CHECK(contains(bare_error.hint(), "--auth"));
}

TEST_CASE("throw_if_unauthorized explains a 401 in terms of the credential sent") {
    Response negotiate_only;
    negotiate_only.status = 401;
    negotiate_only.headers = {{"WWW-Authenticate", "Negotiate"}};
    const Error kerberos_only = expect_error([&] {
        throw_if_unauthorized(negotiate_only, carrying(Credential::UsernameToken, "alice"));
    });
    CHECK(kerberos_only.kind() == ErrorKind::Auth);
    CHECK(contains(kerberos_only.message(), "ca.test is Kerberos-only"));
    CHECK(contains(kerberos_only.hint(), "--auth kerberos"));

    Response rejected;
    rejected.status = 401;
    const Error password = expect_error(
        [&] { throw_if_unauthorized(rejected, carrying(Credential::UsernameToken, "alice")); });
    CHECK(contains(password.message(), "rejected the username/password of alice"));
    CHECK(contains(password.hint(), "--password-file"));

    const Error ticket = expect_error([&] {
        throw_if_unauthorized(negotiate_only, carrying(Credential::Negotiate, "HTTP@ca.test"));
    });
    CHECK(contains(ticket.message(), "rejected the Kerberos ticket for HTTP@ca.test"));
    CHECK(contains(ticket.hint(), "setspn -Q HTTP@ca.test"));

    const Error certificate = expect_error(
        [&] { throw_if_unauthorized(rejected, carrying(Credential::ClientCertificate, "")); });
    CHECK(contains(certificate.message(), "did not accept the TLS client certificate"));
}

TEST_CASE("MemoryTransport records requests and applies the 401 rule") {
    int calls = 0;
    MemoryTransport transport([&](const Request& request) {
        ++calls;
        Response response;
        response.status = request.body == "deny" ? 401 : 500;
        response.headers = {{"WWW-Authenticate", "Negotiate"}};
        response.body = "fault for " + request.url;
        return response;
    });
    const Response response = transport.post(soap_request("https://a.test/one", "first"));
    CHECK(response.status == 500);
    CHECK(response.body == "fault for https://a.test/one");
    const Error error =
        expect_error([&] { transport.post(soap_request("https://b.test/two", "deny")); });
    CHECK(error.kind() == ErrorKind::Auth);
    CHECK(contains(error.message(), "Negotiate"));
    CHECK(calls == 2);
    REQUIRE(transport.requests().size() == 2);
    CHECK(transport.requests()[0].body == "first");
    CHECK(transport.requests()[1].url == "https://b.test/two");
    CHECK(transport.requests()[1].headers.at(0).name == "Content-Type");
}

namespace {

Response answer(long status, std::vector<Header> headers = {}) {
    Response response;
    response.status = status;
    response.headers = std::move(headers);
    response.body = status == 200 ? "<ok/>" : "<html>Service Unavailable</html>";
    return response;
}

// A server answering with `statuses` in turn (the last one repeated), and a RetryTransport over
// it whose sleeps are recorded instead of waited.
struct RetryFixture {
    std::vector<Response> answers;
    std::vector<std::chrono::milliseconds> sleeps;
    MemoryTransport* server = nullptr;
    std::unique_ptr<RetryTransport> transport;
    std::vector<std::string> trace;

    explicit RetryFixture(std::vector<Response> script, RetryPolicy policy = {})
        : answers(std::move(script)) {
        auto memory = std::make_unique<MemoryTransport>([this](const Request&) {
            const std::size_t n = server->requests().size();
            return answers.at(std::min(n, answers.size()) - 1);
        });
        server = memory.get();
        transport = std::make_unique<RetryTransport>(
            std::move(memory), policy,
            [this](std::chrono::milliseconds delay) { sleeps.push_back(delay); },
            [this](std::string_view line) { trace.emplace_back(line); });
    }

    Response post(bool idempotent) {
        Request request = soap_request("https://ces.test/CES");
        request.idempotent = idempotent;
        return transport->post(request);
    }
};

using std::chrono::milliseconds;
using std::chrono::seconds;

}  // namespace

TEST_CASE("RetryTransport repeats an idempotent request after 503 as Retry-After says") {
    RetryFixture f(
        {answer(503, {{"Retry-After", "2"}}), answer(503, {{"retry-after", " 0 "}}), answer(200)});
    const Response response = f.post(true);
    CHECK(response.status == 200);
    CHECK(f.server->requests().size() == 3);
    CHECK(f.sleeps == std::vector<milliseconds>{seconds(2), seconds(0)});
    REQUIRE(f.trace.size() == 2);
    CHECK(contains(f.trace[0], "HTTP 503; retrying in 2000 ms (attempt 2 of 3)"));
    // Each attempt sends the same request.
    CHECK(f.server->requests()[2].body == f.server->requests()[0].body);
}

TEST_CASE("RetryTransport backs off exponentially without Retry-After and stops at the bound") {
    RetryFixture f({answer(503)});
    const Response response = f.post(true);
    CHECK(response.status == 503);  // the last answer, for the SOAP layer to report
    CHECK(f.server->requests().size() == 3);
    CHECK(response.attempts == 3);  // ... "after 3 attempts"
    CHECK(f.sleeps == std::vector<milliseconds>{seconds(1), seconds(2)});
    CHECK(contains(f.trace.back(), "not sending again: attempt 3 of at most 3"));

    RetryFixture five({answer(429), answer(429), answer(429), answer(429), answer(200)},
                      RetryPolicy{5, milliseconds(100), milliseconds(250)});
    CHECK(five.post(true).status == 200);
    CHECK(five.sleeps == std::vector<milliseconds>{milliseconds(100), milliseconds(200),
                                                   milliseconds(250),
                                                   milliseconds(250)});  // capped at max_delay
}

TEST_CASE("RetryTransport never repeats a request that is not idempotent (an Issue)") {
    RetryFixture f({answer(503, {{"Retry-After", "1"}}), answer(200)});
    CHECK(f.post(false).status == 503);
    CHECK(f.server->requests().size() == 1);
    CHECK(f.sleeps.empty());
    REQUIRE(f.trace.size() == 1);
    CHECK(contains(f.trace[0], "not idempotent"));
}

TEST_CASE("RetryTransport: other statuses, long Retry-After and transport errors are final") {
    for (const long status : {200L, 400L, 500L, 502L, 504L}) {
        RetryFixture f({answer(status), answer(200)});
        CHECK(f.post(true).status == status);
        CHECK(f.server->requests().size() == 1);
    }
    // Asked to come back in an hour: not waited for.
    RetryFixture hour({answer(503, {{"Retry-After", "3600"}}), answer(200)});
    CHECK(hour.post(true).status == 503);
    CHECK(hour.server->requests().size() == 1);
    CHECK(hour.sleeps.empty());
    RetryFixture huge({answer(503, {{"Retry-After", "99999999999999999999999"}}), answer(200)});
    CHECK(huge.post(true).status == 503);
    CHECK(huge.server->requests().size() == 1);
    // An HTTP-date is not parsed: the backoff applies.
    RetryFixture date(
        {answer(503, {{"Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"}}), answer(200)});
    CHECK(date.post(true).status == 200);
    CHECK(date.sleeps == std::vector<milliseconds>{seconds(1)});
    // A 401 still throws Auth through the wrapper, once.
    RetryFixture unauthorized({answer(401)});
    CHECK(expect_error([&] { unauthorized.post(true); }).kind() == ErrorKind::Auth);
    CHECK(unauthorized.server->requests().size() == 1);
    // A transport failure (timeout, cut connection) is not repeated: the caller decides.
    int calls = 0;
    RetryTransport failing(std::make_unique<MemoryTransport>([&](const Request&) -> Response {
                               ++calls;
                               throw Error(ErrorKind::Network, "connection broke");
                           }),
                           RetryPolicy{}, [](milliseconds) { FAIL("no sleep expected"); });
    Request request = soap_request("https://cep.test/CEP");
    request.idempotent = true;
    CHECK(expect_error([&] { failing.post(request); }).kind() == ErrorKind::Network);
    CHECK(calls == 1);
}

TEST_CASE("retry_delay follows the policy") {
    Request idempotent = soap_request("https://cep.test/CEP");
    idempotent.idempotent = true;
    const RetryPolicy policy;
    CHECK(retry_delay(policy, idempotent, answer(503), 1) == milliseconds(1000));
    CHECK(retry_delay(policy, idempotent, answer(503), 2) == milliseconds(2000));
    CHECK_FALSE(retry_delay(policy, idempotent, answer(503), 3).has_value());
    CHECK(retry_delay(policy, idempotent, answer(503, {{"Retry-After", "30"}}), 1) == seconds(30));
    CHECK_FALSE(retry_delay(policy, idempotent, answer(503, {{"Retry-After", "31"}}), 1));
    // Not delta-seconds: the backoff applies.
    CHECK(retry_delay(policy, idempotent, answer(503, {{"Retry-After", "-1"}}), 1) == seconds(1));
    CHECK_FALSE(retry_delay(policy, soap_request("https://ces.test/CES"), answer(503), 1));
}

TEST_CASE("CurlTransport posts over verified TLS and reuses the connection") {
    const TestPki pki;
    TlsServer server({.identity = &pki.server, .reply = [](const ReceivedRequest& request) {
                          return Reply{200,
                                       {{"X-Echo", request.header("X-Test")}},
                                       "<ok>" + request.body + "</ok>"};
                      }});
    std::vector<std::string> trace;
    Settings settings = trusting(pki);
    settings.trace = [&](std::string_view line) { trace.emplace_back(line); };
    CurlTransport transport(settings);

    const std::string url = server.base_url() + "/svc/service.svc/CES";
    const Response first = transport.post(soap_request(url, "secret-body-1"));
    CHECK(first.status == 200);
    CHECK(first.body == "<ok>secret-body-1</ok>");
    CHECK(first.header("x-echo") == "value 1");
    const Response second = transport.post(soap_request(url, "body-2"));
    CHECK(second.body == "<ok>body-2</ok>");
    CHECK(server.connections() == 1);

    const auto requests = server.requests();
    REQUIRE(requests.size() == 2);
    CHECK(requests[0].request_line == "POST /svc/service.svc/CES HTTP/1.1");
    CHECK(requests[0].header("Content-Type") == "application/soap+xml; charset=utf-8");
    CHECK(requests[0].header("X-Test") == "value 1");
    CHECK(requests[0].body == "secret-body-1");
    CHECK_FALSE(requests[0].has_header("Expect"));
    CHECK(requests[0].client_subject.empty());

    auto traced = [&](const std::string& part) {
        for (const std::string& line : trace) {
            if (contains(line, part)) {
                return true;
            }
        }
        return false;
    };
    CHECK(traced("> POST " + url));
    CHECK(traced("< HTTP 200"));
    CHECK(traced("TLSv1."));
    CHECK(traced("CN=127.0.0.1"));
    CHECK_FALSE(traced("secret-body-1"));
}

TEST_CASE("CurlTransport opens a new connection, resuming the TLS session, when one is closed") {
    const TestPki pki;
    SUBCASE("closed by the server after each reply, without a word") {
        TlsServer server({.identity = &pki.server, .close_after_reply = true});
        std::vector<std::string> trace;
        Settings settings = trusting(pki);
        settings.trace = [&](std::string_view line) { trace.emplace_back(line); };
        CurlTransport transport(settings);
        // Idempotent: libcurl may send one again when the close crosses the next request.
        Request request = soap_request(server.base_url() + "/x", "b");
        request.idempotent = true;
        for (int i = 0; i < 3; ++i) {
            CHECK(transport.post(request).body == "ok");
        }
        CHECK(server.connections() == 3);
        CHECK(server.requests().size() == 3);
        CHECK(std::count_if(trace.begin(), trace.end(), [](const std::string& line) {
                  return contains(line, "session resumed");
              }) == 2);
    }
    SUBCASE("announced with Connection: close") {
        TlsServer server({.identity = &pki.server, .reply = [](const ReceivedRequest&) {
                              return Reply{200, {{"Connection", "close"}}, "bye"};
                          }});
        CurlTransport transport(trusting(pki));
        CHECK(transport.post(soap_request(server.base_url())).body == "bye");
        CHECK(transport.post(soap_request(server.base_url())).body == "bye");
        CHECK(server.connections() == 2);
    }
}

TEST_CASE("CurlTransport keeps one connection per server") {
    const TestPki pki;
    TlsServer first({.identity = &pki.server});
    TlsServer second({.identity = &pki.server});
    CurlTransport transport(trusting(pki));
    transport.post(soap_request(first.base_url() + "/cep"));
    transport.post(soap_request(second.base_url() + "/ces"));
    transport.post(soap_request(second.base_url() + "/ces"));
    CHECK(first.requests().size() == 1);
    CHECK(second.requests().size() == 2);
    CHECK(second.connections() == 1);
}

TEST_CASE("CurlTransport returns HTTP errors other than 401 instead of throwing") {
    const TestPki pki;
    TlsServer server({.identity = &pki.server, .reply = [](const ReceivedRequest&) {
                          return Reply{500, {}, "<s:Fault>boom</s:Fault>"};
                      }});
    CurlTransport transport(trusting(pki));
    const Response response = transport.post(soap_request(server.base_url() + "/"));
    CHECK(response.status == 500);
    CHECK(response.body == "<s:Fault>boom</s:Fault>");
}

TEST_CASE("CurlTransport maps HTTP 401 to Auth naming the offered scheme, 407 to Network") {
    const TestPki pki;
    int status = 401;
    TlsServer server({.identity = &pki.server, .reply = [&](const ReceivedRequest&) {
                          return Reply{status, {{"WWW-Authenticate", "Negotiate"}}, "denied"};
                      }});
    CurlTransport transport(trusting(pki));
    const Error error = expect_error([&] { transport.post(soap_request(server.base_url())); });
    CHECK(error.kind() == ErrorKind::Auth);
    CHECK(contains(error.message(), "server asks for Negotiate"));
    CHECK(contains(error.message(), "127.0.0.1"));
    CHECK(contains(error.hint(), "--auth"));

    status = 407;
    const Error proxy = expect_error([&] { transport.post(soap_request(server.base_url())); });
    CHECK(proxy.kind() == ErrorKind::Network);
    CHECK(contains(proxy.message(), "407"));
}

TEST_CASE("CurlTransport says why a server certificate is rejected") {
    const TestPki pki;

    SUBCASE("untrusted issuer") {
        TlsServer server({.identity = &pki.self_signed});
        CurlTransport transport(trusting(pki));
        const Error error = expect_error([&] { transport.post(soap_request(server.base_url())); });
        INFO(error.message(), " / ", error.hint());
        CHECK(error.kind() == ErrorKind::Tls);
        CHECK(contains(error.message(), "127.0.0.1"));
        CHECK(contains(error.message(), "not trusted"));
        CHECK(contains(error.hint(), "--ca-bundle"));
        CHECK(server.requests().empty());
    }
    SUBCASE("CA missing from the system store when no bundle is given") {
        TlsServer server({.identity = &pki.server});
        Settings settings;
        settings.connect_timeout = std::chrono::seconds(5);
        CurlTransport transport(settings);
        const Error error = expect_error([&] { transport.post(soap_request(server.base_url())); });
        INFO(error.message(), " / ", error.hint());
        CHECK(error.kind() == ErrorKind::Tls);
        CHECK(contains(error.message(), "not trusted"));
        CHECK(contains(error.message(), "local issuer"));
    }
    SUBCASE("certificate for another host") {
        TlsServer server({.identity = &pki.wrong_host});
        CurlTransport transport(trusting(pki));
        const Error error = expect_error([&] { transport.post(soap_request(server.base_url())); });
        INFO(error.message(), " / ", error.hint());
        CHECK(error.kind() == ErrorKind::Tls);
        CHECK(contains(error.message(), "does not match the name 127.0.0.1"));
        CHECK(contains(error.hint(), "name in the certificate"));
    }
    SUBCASE("expired certificate") {
        TlsServer server({.identity = &pki.expired});
        CurlTransport transport(trusting(pki));
        const Error error = expect_error([&] { transport.post(soap_request(server.base_url())); });
        INFO(error.message(), " / ", error.hint());
        CHECK(error.kind() == ErrorKind::Tls);
        CHECK(contains(error.message(), "expired"));
    }
}

TEST_CASE("CurlTransport maps transport failures to Network and Protocol") {
    const TestPki pki;

    SUBCASE("server that never answers times out") {
        TlsServer server({.identity = &pki.server, .hang = true});
        Settings settings = trusting(pki);
        settings.total_timeout = std::chrono::milliseconds(700);
        CurlTransport transport(settings);
        const auto start = std::chrono::steady_clock::now();
        const Error error = expect_error([&] { transport.post(soap_request(server.base_url())); });
        INFO(error.message(), " / ", error.hint());
        CHECK(error.kind() == ErrorKind::Network);
        CHECK(contains(error.message(), "did not answer in time"));
        CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
        CHECK(server.requests().size() == 1);
    }
    SUBCASE("oversize response") {
        TlsServer server({.identity = &pki.server, .reply = [](const ReceivedRequest&) {
                              return Reply{200, {}, std::string(64 * 1024, 'x')};
                          }});
        Settings settings = trusting(pki);
        settings.max_response_bytes = 1000;
        CurlTransport transport(settings);
        const Error error = expect_error([&] { transport.post(soap_request(server.base_url())); });
        INFO(error.message(), " / ", error.hint());
        CHECK(error.kind() == ErrorKind::Protocol);
        CHECK(contains(error.message(), "response from 127.0.0.1 exceeds 1000 bytes"));
    }
    SUBCASE("connection refused") {
        const RefusingPort refusing;
        CurlTransport transport(trusting(pki));
        const Error error = expect_error([&] {
            transport.post(soap_request("https://127.0.0.1:" + std::to_string(refusing.port())));
        });
        CHECK(error.kind() == ErrorKind::Network);
        CHECK(contains(error.message(), "cannot connect to 127.0.0.1"));
    }
}

TEST_CASE("CurlTransport reaches an IPv6 literal URL") {
    if (!TlsServer::ipv6_available()) {
        MESSAGE("skipped: no IPv6 loopback on this machine");
        return;
    }
    const TestPki pki;
    TlsServer server({.identity = &pki.server, .ipv6 = true});
    CurlTransport transport(trusting(pki));
    REQUIRE(contains(server.base_url(), "https://[::1]:"));
    const Response response = transport.post(soap_request(server.base_url() + "/v6"));
    CHECK(response.status == 200);
    CHECK(response.body == "ok");
    REQUIRE(server.requests().size() == 1);
    CHECK(server.requests()[0].request_line == "POST /v6 HTTP/1.1");
}

TEST_CASE("CurlTransport presents a client certificate from an in-memory key") {
    const TestPki pki;
    TlsServer server({.identity = &pki.server, .client_ca = &pki.ca});

    SUBCASE("configured: the server sees it") {
        Settings settings = trusting(pki);
        settings.client_certificate = ClientCertificate{pki.client.der(), {}, pki.client.key};
        CurlTransport transport(settings);
        const Response response = transport.post(soap_request(server.base_url()));
        CHECK(response.status == 200);
        REQUIRE(server.requests().size() == 1);
        CHECK(contains(server.requests()[0].client_subject, "CN=client.test"));
    }
    SUBCASE("missing: Auth, not a generic TLS failure") {
        CurlTransport transport(trusting(pki));
        const Error error = expect_error([&] { transport.post(soap_request(server.base_url())); });
        INFO(error.message(), " / ", error.hint());
        CHECK(error.kind() == ErrorKind::Auth);
        CHECK(contains(error.message(), "client certificate"));
        CHECK(contains(error.hint(), "--auth certificate"));
        CHECK(server.requests().empty());
    }
    SUBCASE("key that does not match the certificate: Local") {
        Settings settings = trusting(pki);
        settings.client_certificate = ClientCertificate{pki.client.der(), {}, pki.server.key};
        CurlTransport transport(settings);
        const Error error = expect_error([&] { transport.post(soap_request(server.base_url())); });
        INFO(error.message(), " / ", error.hint());
        CHECK(error.kind() == ErrorKind::Local);
        CHECK(contains(error.message(), "client certificate"));
    }
}

TEST_CASE("CurlTransport under TLS 1.2: a client certificate the server refuses is Auth") {
    const TestPki pki;
    TlsServer server({.identity = &pki.server, .client_ca = &pki.ca, .tls12_only = true});
    std::vector<std::string> trace;
    Settings settings = trusting(pki);
    settings.trace = [&](std::string_view line) { trace.emplace_back(line); };

    SUBCASE("accepted certificate") {
        settings.client_certificate = ClientCertificate{pki.client.der(), {}, pki.client.key};
        CurlTransport transport(settings);
        CHECK(transport.post(soap_request(server.base_url())).status == 200);
        CHECK(std::any_of(trace.begin(), trace.end(),
                          [](const std::string& line) { return contains(line, "TLSv1.2"); }));
    }
    SUBCASE("certificate from an unknown issuer") {
        settings.client_certificate =
            ClientCertificate{pki.self_signed.der(), {}, pki.self_signed.key};
        CurlTransport transport(settings);
        const Error error = expect_error([&] { transport.post(soap_request(server.base_url())); });
        INFO(error.message(), " / ", error.hint());
        CHECK(error.kind() == ErrorKind::Auth);
        CHECK(contains(error.hint(), "CA the server trusts"));
    }
    SUBCASE("no certificate: the handshake failure hints at one") {
        CurlTransport transport(settings);
        const Error error = expect_error([&] { transport.post(soap_request(server.base_url())); });
        INFO(error.message(), " / ", error.hint());
        CHECK(error.kind() == ErrorKind::Tls);
        CHECK(contains(error.hint(), "client certificate"));
    }
}

TEST_CASE("CurlTransport rejects bad settings with Usage naming the culprit") {
    const TestPki pki;

    SUBCASE("missing CA bundle file") {
        Settings settings;
        settings.ca_bundle = "/nonexistent/certenroll/ca.pem";
        const Error error = expect_error([&] { CurlTransport transport(settings); });
        CHECK(error.kind() == ErrorKind::Usage);
        CHECK(contains(error.message(), "/nonexistent/certenroll/ca.pem"));
        CHECK(contains(error.hint(), "--ca-bundle"));
    }
    SUBCASE("CA bundle without certificates") {
        TlsServer server({.identity = &pki.server});
        Settings settings;
        settings.ca_bundle = pki.write_file("garbage.pem", "not a certificate\n");
        CurlTransport transport(settings);
        const Error error = expect_error([&] { transport.post(soap_request(server.base_url())); });
        INFO(error.message(), " / ", error.hint());
        CHECK(error.kind() == ErrorKind::Usage);
        CHECK(contains(error.message(), "garbage.pem"));
    }
    SUBCASE("client certificate that is not DER") {
        Settings settings;
        settings.client_certificate = ClientCertificate{{0x30, 0x03, 0x01}, {}, pki.client.key};
        const Error error = expect_error([&] { CurlTransport transport(settings); });
        CHECK(error.kind() == ErrorKind::Usage);
        CHECK(contains(error.message(), "client certificate"));
    }
    SUBCASE("plain http URL") {
        CurlTransport transport(trusting(pki));
        const Error error =
            expect_error([&] { transport.post(soap_request("http://127.0.0.1:1/")); });
        CHECK(error.kind() == ErrorKind::Usage);
        CHECK(contains(error.hint(), "https://"));
    }
}

namespace {

// Sets an environment variable for the scope of a test, restoring the previous value.
struct ScopedEnv {
    std::string name;
    std::optional<std::string> previous;
    ScopedEnv(std::string n, const std::string& value) : name(std::move(n)) {
        if (const char* old = std::getenv(name.c_str()))
            previous = old;
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

// The variables this machine may set that decide the platform's trust, unset for a test.
struct PlatformTrustUnset {
    ScopedEnv cleared[3] = {{"CURL_CA_BUNDLE", ""}, {"SSL_CERT_FILE", ""}, {"SSL_CERT_DIR", ""}};
};

Request issue_request(const std::string& url, std::string body) {
    Request request = soap_request(url, std::move(body));
    request.idempotent = false;
    return request;
}

std::size_t count_bodies(const TlsServer& server, const std::string& body) {
    const auto requests = server.requests();
    return static_cast<std::size_t>(
        std::count_if(requests.begin(), requests.end(),
                      [&](const ReceivedRequest& r) { return r.body == body; }));
}

}  // namespace

TEST_CASE("CurlTransport never sends a request that is not idempotent twice") {
    const TestPki pki;
    // The first request is answered on a kept connection; the server then reads the second one
    // (or only its head) and closes the connection without answering, as if it died. libcurl
    // would send it again on a new connection, since no byte of an answer came back.
    for (const bool before_body : {false, true}) {
        CAPTURE(before_body);
        SUBCASE("an Issue fails instead") {
            TlsServer server(
                {.identity = &pki.server, .drop_request = 2, .drop_before_body = before_body});
            CurlTransport transport(trusting(pki));
            Request policies = soap_request(server.base_url() + "/CEP", "get-policies");
            policies.idempotent = true;
            CHECK(transport.post(policies).status == 200);
            const Error error = expect_error(
                [&] { transport.post(issue_request(server.base_url() + "/CES", "issue-1")); });
            INFO(error.message(), " / ", error.hint());
            CHECK(error.kind() == ErrorKind::Network);
            CHECK(contains(error.message(), "not sent again"));
            // libcurl may open a new connection before it gives up; nothing goes over it.
            REQUIRE(server.requests().size() == 2);
            CHECK(server.requests()[1].request_line == "POST /CES HTTP/1.1");
            if (!before_body) {
                CHECK(count_bodies(server, "issue-1") == 1);
            }
        }
        SUBCASE("an idempotent request is sent again (what the Issue is spared)") {
            TlsServer server(
                {.identity = &pki.server, .drop_request = 2, .drop_before_body = before_body});
            CurlTransport transport(trusting(pki));
            Request policies = soap_request(server.base_url() + "/CEP", "get-policies");
            policies.idempotent = true;
            CHECK(transport.post(policies).status == 200);
            Request status = soap_request(server.base_url() + "/CES", "query-status");
            status.idempotent = true;
            CHECK(transport.post(status).status == 200);
            CHECK(server.requests().size() == 3);
            CHECK(server.connections() == 2);
            CHECK(count_bodies(server, "query-status") == (before_body ? 1U : 2U));
        }
    }
}

// A request written in two parts (head, then body) let a server that also writes its answer in
// two parts, without TCP_NODELAY (Python's http.server, the sandbox), wait for the client's
// delayed ACK: 40 ms more per exchange on Linux. libcurl writes the head and a body under
// 64 KB together when the body is given from memory.
TEST_CASE("CurlTransport writes a small request's head and body at once") {
    const TestPki pki;
    TlsServer server({.identity = &pki.server});
    CurlTransport transport(trusting(pki));
    const std::string body(2500, 'b');  // with the head, under the server's 4 KB read
    CHECK(transport.post(issue_request(server.base_url(), body)).status == 200);
    CHECK(transport.post(issue_request(server.base_url(), body)).status == 200);  // kept
    REQUIRE(server.requests().size() == 2);
    for (const ReceivedRequest& request : server.requests()) {
        CHECK(request.body == body);
        CHECK(request.body_bytes_with_head == body.size());
    }
}

TEST_CASE("CurlTransport never sends Expect: 100-continue, even for a large body") {
    const TestPki pki;
    TlsServer server({.identity = &pki.server});
    CurlTransport transport(trusting(pki));
    const std::string big(3 * 1024 * 1024, 'x');
    CHECK(transport.post(issue_request(server.base_url(), big)).status == 200);
    REQUIRE(server.requests().size() == 1);
    CHECK_FALSE(server.requests()[0].has_header("Expect"));
    CHECK(server.requests()[0].body == big);
}

TEST_CASE("CurlTransport refuses a response head over its caps, and a chunked body over its cap") {
    const TestPki pki;
    SUBCASE("too many header fields") {
        TlsServer server({.identity = &pki.server, .reply = [](const ReceivedRequest&) {
                              Reply reply;
                              for (int i = 0; i < 40; ++i)
                                  reply.headers.emplace_back("X-Field-" + std::to_string(i), "v");
                              return reply;
                          }});
        Settings settings = trusting(pki);
        settings.max_header_fields = 20;
        CurlTransport transport(settings);
        const Error error = expect_error([&] { transport.post(soap_request(server.base_url())); });
        INFO(error.message());
        CHECK(error.kind() == ErrorKind::Protocol);
        CHECK(contains(error.message(), "more than 20 header fields"));
    }
    SUBCASE("a hostile head with the default caps: 100,000 fields") {
        TlsServer server({.identity = &pki.server, .reply = [](const ReceivedRequest&) {
                              Reply reply;
                              reply.headers.assign(100000, {"X", "y"});
                              return reply;
                          }});
        CurlTransport transport(trusting(pki));
        const Error error = expect_error([&] { transport.post(soap_request(server.base_url())); });
        CHECK(error.kind() == ErrorKind::Protocol);
        CHECK(contains(error.message(), "more than 256 header fields"));
    }
    SUBCASE("too many header bytes") {
        TlsServer server({.identity = &pki.server, .reply = [](const ReceivedRequest&) {
                              return Reply{200, {{"X-Big", std::string(8000, 'h')}}, "ok"};
                          }});
        Settings settings = trusting(pki);
        settings.max_header_bytes = 4096;
        CurlTransport transport(settings);
        const Error error = expect_error([&] { transport.post(soap_request(server.base_url())); });
        INFO(error.message());
        CHECK(error.kind() == ErrorKind::Protocol);
        CHECK(contains(error.message(), "exceed 4096 bytes"));
    }
    SUBCASE("a chunked body, whose size is not announced") {
        TlsServer server(
            {.identity = &pki.server, .chunked = true, .reply = [](const ReceivedRequest&) {
                 return Reply{200, {}, std::string(64 * 1024, 'x')};
             }});
        Settings settings = trusting(pki);
        settings.max_response_bytes = 1000;
        CurlTransport transport(settings);
        const Error error = expect_error([&] { transport.post(soap_request(server.base_url())); });
        INFO(error.message());
        CHECK(error.kind() == ErrorKind::Protocol);
        CHECK(contains(error.message(), "exceeds 1000 bytes"));
    }
    SUBCASE("within the caps, chunked") {
        TlsServer server(
            {.identity = &pki.server, .chunked = true, .reply = [](const ReceivedRequest&) {
                 return Reply{200, {{"X-A", "1"}}, std::string(900, 'x')};
             }});
        Settings settings = trusting(pki);
        settings.max_response_bytes = 1000;
        CurlTransport transport(settings);
        const Response response = transport.post(soap_request(server.base_url()));
        CHECK(response.body == std::string(900, 'x'));
        CHECK(response.header("X-A") == "1");
    }
}

TEST_CASE("CurlTransport checks DNS names against the certificate") {
    const TestPki pki;
    SUBCASE("a name the certificate lists") {
        TlsServer server({.identity = &pki.server});
        CurlTransport transport(trusting(pki));
        const std::string url = "https://localhost:" + std::to_string(server.port()) + "/x";
        CHECK(transport.post(soap_request(url)).status == 200);
    }
    SUBCASE("a certificate for another name") {
        TlsServer server({.identity = &pki.wrong_host});
        CurlTransport transport(trusting(pki));
        const std::string url = "https://localhost:" + std::to_string(server.port()) + "/x";
        const Error error = expect_error([&] { transport.post(soap_request(url)); });
        INFO(error.message(), " / ", error.hint());
        CHECK(error.kind() == ErrorKind::Tls);
        CHECK(contains(error.message(), "does not match the name localhost"));
        CHECK(server.requests().empty());
    }
}

TEST_CASE("CurlTransport: an IPv6 zone ID does not weaken the name check") {
    if (!TlsServer::ipv6_available()) {
        MESSAGE("skipped: no IPv6 loopback on this machine");
        return;
    }
    const unsigned loopback = if_nametoindex("lo");
    if (loopback == 0) {
        MESSAGE("skipped: no interface named lo");
        return;
    }
    const TestPki pki;
    for (const std::string& zone :
         {"%" + std::to_string(loopback), "%25" + std::to_string(loopback), std::string("%25lo")}) {
        CAPTURE(zone);
        TlsServer wrong({.identity = &pki.wrong_host, .ipv6 = true});
        CurlTransport transport(trusting(pki));
        const std::string port = std::to_string(wrong.port());
        const Error error = expect_error(
            [&] { transport.post(soap_request("https://[::1" + zone + "]:" + port)); });
        INFO(error.message(), " / ", error.hint());
        CHECK(error.kind() == ErrorKind::Tls);
        CHECK(contains(error.message(), "does not match the name"));
        CHECK(wrong.requests().empty());

        // The same URL form reaches a server whose certificate lists ::1.
        TlsServer right({.identity = &pki.server, .ipv6 = true});
        const std::string good = "https://[::1" + zone + "]:" + std::to_string(right.port()) + "/z";
        CHECK(transport.post(soap_request(good)).status == 200);
    }
}

TEST_CASE("CurlTransport trusts a bundle of the issuing CA alone, and the platform's variables") {
    const TestPki pki;
    const PlatformTrustUnset unset;
    TlsServer server({.identity = &pki.issued});
    SUBCASE("--ca-bundle with the intermediate CA only: a partial chain is enough") {
        Settings settings = trusting(pki);
        settings.ca_bundle = pki.issuing_ca_bundle();
        CurlTransport transport(settings);
        CHECK(transport.post(soap_request(server.base_url())).status == 200);
    }
    SUBCASE("--ca-bundle with the root only: the server does not send the intermediate") {
        CurlTransport transport(trusting(pki));
        const Error error = expect_error([&] { transport.post(soap_request(server.base_url())); });
        CHECK(error.kind() == ErrorKind::Tls);
        CHECK(contains(error.message(), "not trusted"));
    }
    SUBCASE("--ca-bundle replaces the platform's trust") {
        const ScopedEnv file("SSL_CERT_FILE", pki.issuing_ca_bundle());
        CurlTransport transport(trusting(pki));  // the root only
        CHECK(expect_error([&] { transport.post(soap_request(server.base_url())); }).kind() ==
              ErrorKind::Tls);
    }
    for (const char* variable : {"SSL_CERT_FILE", "CURL_CA_BUNDLE"}) {
        CAPTURE(variable);
        const ScopedEnv trust(variable, pki.issuing_ca_bundle());
        Settings settings;
        settings.connect_timeout = std::chrono::seconds(5);
        CurlTransport transport(settings);
        CHECK(transport.post(soap_request(server.base_url())).status == 200);
    }
    SUBCASE("SSL_CERT_FILE naming a file without certificates") {
        const ScopedEnv file("SSL_CERT_FILE", pki.write_file("empty.pem", "nothing\n"));
        CurlTransport transport(Settings{});
        const Error error = expect_error([&] { transport.post(soap_request(server.base_url())); });
        INFO(error.message(), " / ", error.hint());
        CHECK(error.kind() == ErrorKind::Usage);
        CHECK(contains(error.message(), "SSL_CERT_FILE"));
    }
}

TEST_CASE("parse_url reads URLs as libcurl does") {
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
    parts = parse_url("https://[fe80::1%25eth0]/x");  // the zone ID is not part of the host
    REQUIRE(parts);
    CHECK(parts->host == "fe80::1");
    parts = parse_url("https://10.0.0.5:9/x");
    REQUIRE(parts);
    CHECK(parts->ip_literal);
    CHECK(parts->port == 9);
    CHECK_FALSE(parse_url("cep.example.com/x"));
    CHECK_FALSE(parse_url("https://host:99999/"));
    CHECK_FALSE(parse_url("https://[::1/"));
}

namespace {

// No proxy variable of the machine running the tests counts.
struct ProxyEnvironmentUnset {
    ScopedEnv cleared[8] = {{"https_proxy", ""}, {"HTTPS_PROXY", ""}, {"all_proxy", ""},
                            {"ALL_PROXY", ""},   {"no_proxy", ""},    {"NO_PROXY", ""},
                            {"http_proxy", ""},  {"HTTP_PROXY", ""}};
    ProxyEnvironmentUnset() {
        for (const ScopedEnv& variable : cleared)
            ::unsetenv(variable.name.c_str());
    }
};

Settings with_proxy(std::string proxy) {
    Settings settings;
    settings.proxy = std::move(proxy);
    return settings;
}

}  // namespace

TEST_CASE(
    "proxy_route: --proxy, else the environment, unless libcurl's no_proxy excludes the host") {
    const ProxyEnvironmentUnset unset;
    const std::string url = "https://cep.example.com/x";
    CHECK_FALSE(proxy_route(url, Settings{}));

    auto route = proxy_route(url, with_proxy("http://proxy.test:3128"));
    REQUIRE(route);
    CHECK(route->source == "--proxy");
    CHECK(route->scheme == "http");
    CHECK(route->host == "proxy.test");
    CHECK(route->port == 3128);
    CHECK(route->display == "http://proxy.test:3128");
    CHECK(route->describe() == "the proxy http://proxy.test:3128 (from --proxy)");

    route = proxy_route(url, with_proxy("socks5h://[::1]"));
    REQUIRE(route);
    CHECK(route->socks());
    CHECK(route->host == "::1");
    CHECK(route->ip_literal);
    CHECK(route->port == 1080);

    {
        const ScopedEnv proxy("HTTPS_PROXY", "http://u:secret@proxy.corp");
        route = proxy_route(url, Settings{});
        REQUIRE(route);
        CHECK(route->source == "HTTPS_PROXY");
        CHECK(route->port == 1080);  // libcurl's default for an http:// proxy
        CHECK(route->display == "http://***@proxy.corp");
        const ScopedEnv lower("https_proxy", "proxy.lower:8080");  // lower case first, as libcurl
        route = proxy_route(url, Settings{});
        REQUIRE(route);
        CHECK(route->source == "https_proxy");
        CHECK(route->scheme == "http");
        CHECK(route->host == "proxy.lower");
    }
    {
        const ScopedEnv proxy("https_proxy", "http://proxy.corp:3128");
        const ScopedEnv bypass("no_proxy", ".example.com, 10.0.0.0/8");
        CHECK_FALSE(proxy_route(url, Settings{}));
        // no_proxy applies to --proxy too, as libcurl applies it to CURLOPT_PROXY.
        CHECK_FALSE(proxy_route(url, with_proxy("http://other:1")));
        CHECK_FALSE(proxy_route("https://10.1.2.3/x", Settings{}));  // CIDR
        CHECK(proxy_route("https://11.1.2.3/x", Settings{}));
        CHECK(proxy_route("https://cep.example.org/x", Settings{}));
    }
    {
        const ScopedEnv proxy("ALL_PROXY", "socks5h://proxy.corp:1081");
        route = proxy_route(url, Settings{});
        REQUIRE(route);
        CHECK(route->source == "ALL_PROXY");
        CHECK(route->socks());
        CHECK(route->port == 1081);
    }
}

TEST_CASE("checked_proxy_option refuses a password in --proxy and moves a user out of it") {
    std::string user;
    CHECK(checked_proxy_option("", user).empty());
    CHECK(checked_proxy_option("http://proxy:3128", user) == "http://proxy:3128");
    CHECK(user.empty());

    const Error error =
        expect_error([&] { checked_proxy_option("http://bob:s3cret@proxy:3128", user); });
    CHECK(error.kind() == ErrorKind::Usage);
    CHECK_FALSE(contains(error.message(), "s3cret"));
    CHECK_FALSE(contains(error.hint(), "s3cret"));
    CHECK(contains(error.hint(), "--proxy-user"));
    CHECK(contains(error.hint(), "--proxy-password-file"));
    CHECK(contains(error.hint(), "CERTENROLL_PROXY_PASSWORD"));
    CHECK(contains(error.hint(), "http://proxy:3128"));

    const std::string stripped = checked_proxy_option("http://b%40corp@proxy:3128", user);
    CHECK(stripped.find('@') == std::string::npos);
    CHECK(user == "b@corp");
    std::string given = "alice";
    checked_proxy_option("http://bob@proxy:3128", given);
    CHECK(given == "alice");  // --proxy-user wins

    CHECK(expect_error([&] { checked_proxy_option("http://[::1", user); }).kind() ==
          ErrorKind::Usage);
}

TEST_CASE("redact_userinfo hides any user:password in a trace line") {
    CHECK(redact_userinfo("Uses proxy env variable https_proxy == 'http://u:p%40ss@proxy:3128'") ==
          "Uses proxy env variable https_proxy == 'http://***@proxy:3128'");
    CHECK(redact_userinfo("Uses proxy env variable https_proxy == 'u:pw@proxy:3128'") ==
          "Uses proxy env variable https_proxy == '***@proxy:3128'");
    CHECK(redact_userinfo("Connected to proxy (127.0.0.1) port 3128") ==
          "Connected to proxy (127.0.0.1) port 3128");
}

namespace {

TransferFacts failed(CURLcode code, std::string detail = "libcurl's words") {
    TransferFacts facts;
    facts.code = code;
    facts.detail = std::move(detail);
    facts.url = "https://ces.example.test/CES";
    facts.new_connection = true;
    return facts;
}

ProxyRoute route(std::string scheme) {
    ProxyRoute proxy;
    proxy.scheme = scheme;
    proxy.display = scheme + "://proxy.test:3128";
    proxy.source = "https_proxy";
    proxy.host = "proxy.test";
    proxy.port = 3128;
    return proxy;
}

}  // namespace

TEST_CASE("transfer_error: deadlines by phase, in the unit they were given") {
    Settings settings;
    settings.connect_timeout = std::chrono::milliseconds(1500);
    TransferFacts facts = failed(CURLE_OPERATION_TIMEDOUT);
    Error error = transfer_error(facts, settings);
    CHECK(error.kind() == ErrorKind::Network);
    CHECK(error.message() ==
          "ces.example.test did not answer in time: no connection within 1500 ms");
    CHECK(contains(error.hint(), "--connect-timeout"));
    facts.connected = true;
    CHECK(contains(transfer_error(facts, settings).message(), "no TLS handshake within 1500 ms"));
    facts.proxy = route("http");
    CHECK(transfer_error(facts, settings).message() ==
          "the proxy http://proxy.test:3128 (from https_proxy) did not answer in time for a "
          "tunnel to ces.example.test");
    facts.handshaken = true;
    facts.connect_code = 200;
    CHECK(contains(transfer_error(facts, settings).message(), "no complete response within 120 s"));
    facts.proxy.reset();
    facts.connected = false;
    facts.new_connection = false;  // a kept connection: the response is what was late
    CHECK(contains(transfer_error(facts, settings).message(), "no complete response"));
}

TEST_CASE("transfer_error: proxies say what they refused and what to pass") {
    Settings settings;
    TransferFacts facts = failed(CURLE_COULDNT_CONNECT);
    facts.connect_code = 407;
    facts.proxy = route("http");
    facts.proxy_auth_offered = static_cast<long>(CURLAUTH_NTLM);
    Error error = transfer_error(facts, settings);
    CHECK(error.kind() == ErrorKind::Network);
    CHECK(contains(error.message(), "407"));
    CHECK(contains(error.message(), "it asks for NTLM"));
    CHECK(contains(error.hint(), "--proxy-user USER"));
    CHECK(contains(error.hint(), "--proxy-auth ntlm"));
    facts.proxy_auth_offered = static_cast<long>(CURLAUTH_NEGOTIATE | CURLAUTH_NTLM);
    CHECK(contains(transfer_error(facts, settings).hint(), "--proxy-auth negotiate"));
    settings.proxy_user = "bob";
    CHECK(contains(transfer_error(facts, settings).hint(), "check --proxy-user"));
    facts.connect_code = 403;
    CHECK(contains(transfer_error(facts, settings).message(), "refused the tunnel"));
    CHECK(contains(transfer_error(facts, settings).message(), "HTTP 403"));

    facts = failed(CURLE_PROXY, "Can't complete SOCKS5 connection to ces.example.test. (5)");
    facts.proxy = route("socks5h");
    facts.proxy_error = CURLPX_REPLY_CONNECTION_REFUSED;
    error = transfer_error(facts, settings);
    CHECK(error.kind() == ErrorKind::Network);
    CHECK(contains(error.message(), "socks5h://proxy.test:3128"));
    CHECK(contains(error.message(), "the server refused the connection"));
    facts.proxy_error = CURLPX_USER_REJECTED;
    CHECK(contains(transfer_error(facts, settings).hint(), "--proxy-password-file"));

    facts = failed(CURLE_COULDNT_CONNECT);
    facts.os_errno = ECONNREFUSED;
    facts.proxy = route("http");
    CHECK(contains(transfer_error(facts, settings).message(),
                   "cannot connect to the proxy http://proxy.test:3128 (from https_proxy)"));
    facts.proxy.reset();
    facts.primary_ip = "192.0.2.7";
    CHECK(transfer_error(facts, settings).message() ==
          "cannot connect to ces.example.test (192.0.2.7 port 443): Connection refused");

    facts = failed(CURLE_PEER_FAILED_VERIFICATION, "SSL certificate problem: self-signed");
    facts.proxy = route("https");
    error = transfer_error(facts, settings);
    CHECK(error.kind() == ErrorKind::Tls);
    CHECK(contains(error.message(), "the certificate of the proxy https://proxy.test:3128"));
}

TEST_CASE("transfer_error: certificates, client certificates and broken connections") {
    Settings settings;
    TransferFacts facts = failed(CURLE_PEER_FAILED_VERIFICATION);
    facts.verify_result = X509_V_ERR_CERT_HAS_EXPIRED;
    CHECK(contains(transfer_error(facts, settings).message(), "is not valid now"));
    facts.verify_result = X509_V_ERR_UNSPECIFIED;  // libcurl's own name check failed
    facts.detail = "SSL: no alternative certificate subject name matches target host name 'x'";
    CHECK(contains(transfer_error(facts, settings).message(),
                   "does not match the name ces.example.test"));

    facts = failed(CURLE_RECV_ERROR,
                   "OpenSSL SSL_read: error:0A00045C:SSL routines::tlsv13 alert certificate "
                   "required, errno 0");
    Error error = transfer_error(facts, settings);
    CHECK(error.kind() == ErrorKind::Auth);
    CHECK(contains(error.hint(), "--auth certificate"));

    facts = failed(CURLE_RECV_ERROR, "Recv failure: Connection reset by peer");
    CHECK(transfer_error(facts, settings).kind() == ErrorKind::Network);
    settings.client_certificate = ClientCertificate{};
    CHECK(
        contains(transfer_error(facts, settings).message(), "dropped the connection right after"));
    facts.response_started = true;
    CHECK(transfer_error(facts, settings).kind() == ErrorKind::Network);

    facts = failed(CURLE_PARTIAL_FILE, "transfer closed with 100 bytes remaining to read");
    facts.response_started = true;
    CHECK(contains(transfer_error(facts, settings).message(),
                   "the connection to ces.example.test broke: the response ended early"));
    facts = failed(CURLE_WEIRD_SERVER_REPLY);
    CHECK(transfer_error(facts, settings).kind() == ErrorKind::Protocol);
    facts = failed(CURLE_SSL_CONNECT_ERROR,
                   "error:0A000410:SSL routines::sslv3 alert handshake "
                   "failure");
    settings.client_certificate.reset();
    CHECK(contains(transfer_error(facts, settings).hint(), "client certificate"));
}

TEST_CASE("ConnectionPool hands a kept connection to the next transport of the same route") {
    const TestPki pki;
    TlsServer server({.identity = &pki.server, .client_ca = nullptr});
    const std::string url = server.base_url() + "/CEP";
    SUBCASE("same route: one connection for both transports") {
        auto pool = std::make_shared<ConnectionPool>();
        CurlTransport(trusting(pki), pool).post(soap_request(url));
        std::vector<std::string> trace;
        Settings settings = trusting(pki);
        settings.trace = [&](std::string_view line) { trace.emplace_back(line); };
        CurlTransport(settings, pool).post(issue_request(url, "issue"));
        CHECK(server.connections() == 1);
        CHECK(server.requests().size() == 2);
        CHECK(std::any_of(trace.begin(), trace.end(), [](const std::string& line) {
            return contains(line, "Re-using existing connection");
        }));
    }
    SUBCASE("without a pool, or another route: a connection each") {
        CurlTransport(trusting(pki)).post(soap_request(url));
        CurlTransport(trusting(pki)).post(soap_request(url));
        CHECK(server.connections() == 2);
        auto pool = std::make_shared<ConnectionPool>();
        CurlTransport(trusting(pki), pool).post(soap_request(url));
        Settings other = trusting(pki);
        std::ostringstream pem;
        pem << std::ifstream(pki.ca_bundle()).rdbuf();
        other.ca_bundle = pki.write_file("same-ca.pem", pem.str());  // another file: another route
        CurlTransport(other, pool).post(soap_request(url));
        CHECK(server.connections() == 4);
    }
}

TEST_CASE("a kept connection's route key never holds the proxy password") {
    Settings settings;
    settings.proxy = "http://proxy.example:3128";
    settings.proxy_user = "bob";
    settings.proxy_password = "canary-proxy-secret-4711";
    const std::string key = connection_route_key(settings);
    CHECK(key.find("canary-proxy-secret-4711") == std::string::npos);
    CHECK(key.find("bob") != std::string::npos);  // the user still tells routes apart
    Settings other_user = settings;
    other_user.proxy_user = "carol";
    CHECK(connection_route_key(other_user) != key);
    // Another password is the same key: the pool compares the password (a SecretString, cleansed
    // when the pool goes) beside it.
    Settings other_password = settings;
    other_password.proxy_password = "another-secret";
    CHECK(connection_route_key(other_password) == key);
}

TEST_CASE("ConnectionPool keeps no connection that carries a client certificate") {
    const TestPki pki;
    TlsServer server({.identity = &pki.server, .client_ca = &pki.ca});
    auto pool = std::make_shared<ConnectionPool>();
    Settings settings = trusting(pki);
    settings.client_certificate = ClientCertificate{pki.client.der(), {}, pki.client.key};
    CurlTransport(settings, pool).post(soap_request(server.base_url()));
    CurlTransport(settings, pool).post(soap_request(server.base_url()));
    CHECK(server.connections() == 2);
    REQUIRE(server.requests().size() == 2);
    CHECK(contains(server.requests()[1].client_subject, "CN=client.test"));
}

TEST_CASE(
    "CurlTransport asks for connection headers with the server certificate of each "
    "connection the request goes out on") {
    const TestPki pki;
    const std::vector<std::uint8_t> server_der = pki.server.der();
    int calls = 0;
    const auto bound = [&](Request request) {
        request.connection_headers = [&](const Connection& connection) {
            ++calls;
            CHECK(connection.server_certificate_der == server_der);
            return std::vector<Header>{{"X-Bound", "call " + std::to_string(calls)}};
        };
        return request;
    };
    SUBCASE("on a kept connection and on a new one") {
        TlsServer server({.identity = &pki.server});
        CurlTransport transport(trusting(pki));
        CHECK(transport.post(bound(soap_request(server.base_url() + "/a"))).status == 200);
        CHECK(transport.post(bound(soap_request(server.base_url() + "/b"))).status == 200);
        TlsServer other({.identity = &pki.server});
        CHECK(transport.post(bound(soap_request(other.base_url() + "/c"))).status == 200);
        CHECK(calls == 3);
        REQUIRE(server.requests().size() == 2);
        CHECK(server.requests()[0].header("X-Bound") == "call 1");
        CHECK(server.requests()[1].header("X-Bound") == "call 2");
        CHECK(server.requests()[1].header("X-Test") == "value 1");  // the request's own too
        REQUIRE(other.requests().size() == 1);
        CHECK(other.requests()[0].header("X-Bound") == "call 3");
    }
    SUBCASE("again when the request is sent again on a new connection") {
        TlsServer server({.identity = &pki.server, .drop_request = 2, .drop_before_body = true});
        CurlTransport transport(trusting(pki));
        Request first = soap_request(server.base_url() + "/CEP", "get-policies");
        first.idempotent = true;
        CHECK(transport.post(first).status == 200);
        Request status = bound(soap_request(server.base_url() + "/CES", "query-status"));
        status.idempotent = true;
        CHECK(transport.post(status).status == 200);
        CHECK(server.connections() == 2);
        REQUIRE(server.requests().size() == 3);
        CHECK(calls == 2);
        CHECK(server.requests()[2].header("X-Bound") == "call 2");
    }
    SUBCASE("an error it throws ends the post before the request is sent") {
        TlsServer server({.identity = &pki.server});
        CurlTransport transport(trusting(pki));
        Request request = soap_request(server.base_url() + "/a");
        request.connection_headers = [](const Connection&) -> std::vector<Header> {
            throw Error(ErrorKind::Auth, "no ticket for the test", "kinit");
        };
        const Error error = expect_error([&] { transport.post(request); });
        CHECK(error.kind() == ErrorKind::Auth);
        CHECK(error.message() == "no ticket for the test");
        CHECK(server.requests().empty());
    }
}
