// The HTTP transports: HttpsTransport against a real TLS server on the loopback interface, and
// MemoryTransport with the shared 401 rule. (HTTP framing alone: http1_test.cpp.)

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "../support/memory_transport.hpp"
#include "../support/tls_server.hpp"
#include "error.hpp"
#include "http/https_transport.hpp"

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

TEST_CASE("HttpsTransport posts over verified TLS and reuses the connection") {
    const TestPki pki;
    TlsServer server({.identity = &pki.server, .reply = [](const ReceivedRequest& request) {
                          return Reply{200,
                                       {{"X-Echo", request.header("X-Test")}},
                                       "<ok>" + request.body + "</ok>"};
                      }});
    std::vector<std::string> trace;
    Settings settings = trusting(pki);
    settings.trace = [&](std::string_view line) { trace.emplace_back(line); };
    HttpsTransport transport(settings);

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

TEST_CASE("HttpsTransport opens a new connection, resuming the TLS session, when one is closed") {
    const TestPki pki;
    SUBCASE("closed by the server after each reply, without a word") {
        TlsServer server({.identity = &pki.server, .close_after_reply = true});
        std::vector<std::string> trace;
        Settings settings = trusting(pki);
        settings.trace = [&](std::string_view line) { trace.emplace_back(line); };
        HttpsTransport transport(settings);
        for (int i = 0; i < 3; ++i) {
            CHECK(transport.post(soap_request(server.base_url() + "/x", "b")).body == "ok");
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
        HttpsTransport transport(trusting(pki));
        CHECK(transport.post(soap_request(server.base_url())).body == "bye");
        CHECK(transport.post(soap_request(server.base_url())).body == "bye");
        CHECK(server.connections() == 2);
    }
}

TEST_CASE("HttpsTransport keeps one connection per server") {
    const TestPki pki;
    TlsServer first({.identity = &pki.server});
    TlsServer second({.identity = &pki.server});
    HttpsTransport transport(trusting(pki));
    transport.post(soap_request(first.base_url() + "/cep"));
    transport.post(soap_request(second.base_url() + "/ces"));
    transport.post(soap_request(second.base_url() + "/ces"));
    CHECK(first.requests().size() == 1);
    CHECK(second.requests().size() == 2);
    CHECK(second.connections() == 1);
}

TEST_CASE("HttpsTransport returns HTTP errors other than 401 instead of throwing") {
    const TestPki pki;
    TlsServer server({.identity = &pki.server, .reply = [](const ReceivedRequest&) {
                          return Reply{500, {}, "<s:Fault>boom</s:Fault>"};
                      }});
    HttpsTransport transport(trusting(pki));
    const Response response = transport.post(soap_request(server.base_url() + "/"));
    CHECK(response.status == 500);
    CHECK(response.body == "<s:Fault>boom</s:Fault>");
}

TEST_CASE("HttpsTransport maps HTTP 401 to Auth naming the offered scheme, 407 to Network") {
    const TestPki pki;
    int status = 401;
    TlsServer server({.identity = &pki.server, .reply = [&](const ReceivedRequest&) {
                          return Reply{status, {{"WWW-Authenticate", "Negotiate"}}, "denied"};
                      }});
    HttpsTransport transport(trusting(pki));
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

TEST_CASE("HttpsTransport says why a server certificate is rejected") {
    const TestPki pki;

    SUBCASE("untrusted issuer") {
        TlsServer server({.identity = &pki.self_signed});
        HttpsTransport transport(trusting(pki));
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
        HttpsTransport transport(settings);
        const Error error = expect_error([&] { transport.post(soap_request(server.base_url())); });
        INFO(error.message(), " / ", error.hint());
        CHECK(error.kind() == ErrorKind::Tls);
        CHECK(contains(error.message(), "not trusted"));
        CHECK(contains(error.message(), "local issuer"));
    }
    SUBCASE("certificate for another host") {
        TlsServer server({.identity = &pki.wrong_host});
        HttpsTransport transport(trusting(pki));
        const Error error = expect_error([&] { transport.post(soap_request(server.base_url())); });
        INFO(error.message(), " / ", error.hint());
        CHECK(error.kind() == ErrorKind::Tls);
        CHECK(contains(error.message(), "does not match the name 127.0.0.1"));
        CHECK(contains(error.hint(), "name in the certificate"));
    }
    SUBCASE("expired certificate") {
        TlsServer server({.identity = &pki.expired});
        HttpsTransport transport(trusting(pki));
        const Error error = expect_error([&] { transport.post(soap_request(server.base_url())); });
        INFO(error.message(), " / ", error.hint());
        CHECK(error.kind() == ErrorKind::Tls);
        CHECK(contains(error.message(), "expired"));
    }
}

TEST_CASE("HttpsTransport maps transport failures to Network and Protocol") {
    const TestPki pki;

    SUBCASE("server that never answers times out") {
        TlsServer server({.identity = &pki.server, .hang = true});
        Settings settings = trusting(pki);
        settings.total_timeout = std::chrono::milliseconds(700);
        HttpsTransport transport(settings);
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
        HttpsTransport transport(settings);
        const Error error = expect_error([&] { transport.post(soap_request(server.base_url())); });
        INFO(error.message(), " / ", error.hint());
        CHECK(error.kind() == ErrorKind::Protocol);
        CHECK(contains(error.message(), "response from 127.0.0.1 exceeds 1000 bytes"));
    }
    SUBCASE("connection refused") {
        const RefusingPort refusing;
        HttpsTransport transport(trusting(pki));
        const Error error = expect_error([&] {
            transport.post(soap_request("https://127.0.0.1:" + std::to_string(refusing.port())));
        });
        CHECK(error.kind() == ErrorKind::Network);
        CHECK(contains(error.message(), "cannot connect to 127.0.0.1"));
    }
}

TEST_CASE("HttpsTransport reaches an IPv6 literal URL") {
    if (!TlsServer::ipv6_available()) {
        MESSAGE("skipped: no IPv6 loopback on this machine");
        return;
    }
    const TestPki pki;
    TlsServer server({.identity = &pki.server, .ipv6 = true});
    HttpsTransport transport(trusting(pki));
    REQUIRE(contains(server.base_url(), "https://[::1]:"));
    const Response response = transport.post(soap_request(server.base_url() + "/v6"));
    CHECK(response.status == 200);
    CHECK(response.body == "ok");
    REQUIRE(server.requests().size() == 1);
    CHECK(server.requests()[0].request_line == "POST /v6 HTTP/1.1");
}

TEST_CASE("HttpsTransport presents a client certificate from an in-memory key") {
    const TestPki pki;
    TlsServer server({.identity = &pki.server, .client_ca = &pki.ca});

    SUBCASE("configured: the server sees it") {
        Settings settings = trusting(pki);
        settings.client_certificate = ClientCertificate{pki.client.der(), {}, pki.client.key};
        HttpsTransport transport(settings);
        const Response response = transport.post(soap_request(server.base_url()));
        CHECK(response.status == 200);
        REQUIRE(server.requests().size() == 1);
        CHECK(contains(server.requests()[0].client_subject, "CN=client.test"));
    }
    SUBCASE("missing: Auth, not a generic TLS failure") {
        HttpsTransport transport(trusting(pki));
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
        HttpsTransport transport(settings);
        const Error error = expect_error([&] { transport.post(soap_request(server.base_url())); });
        INFO(error.message(), " / ", error.hint());
        CHECK(error.kind() == ErrorKind::Local);
        CHECK(contains(error.message(), "client certificate"));
    }
}

TEST_CASE("HttpsTransport under TLS 1.2: a client certificate the server refuses is Auth") {
    const TestPki pki;
    TlsServer server({.identity = &pki.server, .client_ca = &pki.ca, .tls12_only = true});
    std::vector<std::string> trace;
    Settings settings = trusting(pki);
    settings.trace = [&](std::string_view line) { trace.emplace_back(line); };

    SUBCASE("accepted certificate") {
        settings.client_certificate = ClientCertificate{pki.client.der(), {}, pki.client.key};
        HttpsTransport transport(settings);
        CHECK(transport.post(soap_request(server.base_url())).status == 200);
        CHECK(std::any_of(trace.begin(), trace.end(),
                          [](const std::string& line) { return contains(line, "TLSv1.2"); }));
    }
    SUBCASE("certificate from an unknown issuer") {
        settings.client_certificate =
            ClientCertificate{pki.self_signed.der(), {}, pki.self_signed.key};
        HttpsTransport transport(settings);
        const Error error = expect_error([&] { transport.post(soap_request(server.base_url())); });
        INFO(error.message(), " / ", error.hint());
        CHECK(error.kind() == ErrorKind::Auth);
        CHECK(contains(error.hint(), "CA the server trusts"));
    }
    SUBCASE("no certificate: the handshake failure hints at one") {
        HttpsTransport transport(settings);
        const Error error = expect_error([&] { transport.post(soap_request(server.base_url())); });
        INFO(error.message(), " / ", error.hint());
        CHECK(error.kind() == ErrorKind::Tls);
        CHECK(contains(error.hint(), "client certificate"));
    }
}

TEST_CASE("HttpsTransport rejects bad settings with Usage naming the culprit") {
    const TestPki pki;

    SUBCASE("missing CA bundle file") {
        Settings settings;
        settings.ca_bundle = "/nonexistent/certenroll/ca.pem";
        const Error error = expect_error([&] { HttpsTransport transport(settings); });
        CHECK(error.kind() == ErrorKind::Usage);
        CHECK(contains(error.message(), "/nonexistent/certenroll/ca.pem"));
        CHECK(contains(error.hint(), "--ca-bundle"));
    }
    SUBCASE("CA bundle without certificates") {
        TlsServer server({.identity = &pki.server});
        Settings settings;
        settings.ca_bundle = pki.write_file("garbage.pem", "not a certificate\n");
        HttpsTransport transport(settings);
        const Error error = expect_error([&] { transport.post(soap_request(server.base_url())); });
        INFO(error.message(), " / ", error.hint());
        CHECK(error.kind() == ErrorKind::Usage);
        CHECK(contains(error.message(), "garbage.pem"));
    }
    SUBCASE("client certificate that is not DER") {
        Settings settings;
        settings.client_certificate = ClientCertificate{{0x30, 0x03, 0x01}, {}, pki.client.key};
        const Error error = expect_error([&] { HttpsTransport transport(settings); });
        CHECK(error.kind() == ErrorKind::Usage);
        CHECK(contains(error.message(), "client certificate"));
    }
    SUBCASE("plain http URL") {
        HttpsTransport transport(trusting(pki));
        const Error error =
            expect_error([&] { transport.post(soap_request("http://127.0.0.1:1/")); });
        CHECK(error.kind() == ErrorKind::Usage);
        CHECK(contains(error.hint(), "https://"));
    }
}
