// diagnose: how findings add up to a status and an exit code, how they are rendered, and the
// pure judgments (TLS chains, authentication challenges, clocks, cached policies).

#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "diagnose/assess.hpp"
#include "diagnose/diagnose.hpp"
#include "diagnose/report.hpp"
#include "encoding/time_text.hpp"
#include "temp_dir.hpp"

using namespace certenroll;
using namespace certenroll::diagnose;
using namespace std::chrono_literals;

namespace {

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

TimePoint at(int year, unsigned month, unsigned day, int hour = 0, int minute = 0) {
    using namespace std::chrono;
    return sys_days{std::chrono::year{year} / std::chrono::month{month} / std::chrono::day{day}} +
           hours{hour} + minutes{minute};
}

CertificateSummary certificate(std::string subject, std::string issuer, TimePoint not_after,
                               bool self_signed = false) {
    CertificateSummary cert;
    cert.subject = std::move(subject);
    cert.issuer = std::move(issuer);
    cert.not_before = at(2025, 1, 1);
    cert.not_after = not_after;
    cert.key = "RSA 2048";
    cert.key_bits = 2048;
    cert.security_bits = 112;
    cert.self_signed = self_signed;
    return cert;
}

// A handshake with the sandbox's shape: leaf and issuing CA sent, root not sent.
TlsResult sandbox_handshake() {
    TlsResult tls;
    tls.handshake = true;
    tls.protocol = "TLSv1.3";
    tls.cipher = "TLS_AES_256_GCM_SHA384";
    tls.presented = {certificate("CN=localhost", "CN=Sandbox-RSA-CA", at(2027, 11, 25)),
                     certificate("CN=Sandbox-RSA-CA", "CN=Sandbox Root CA", at(2046, 1, 1))};
    tls.presented.front().names = {"localhost", "127.0.0.1", "::1"};
    tls.trust_store = "the system trust store (/etc/ssl/certs/ca-certificates.crt)";
    return tls;
}

const TimePoint now = at(2026, 11, 25, 12, 0);

// A context for the local checks only: no transport, the real clock.
flows::Context local_context(const std::filesystem::path& state) {
    return flows::Context{
        store::StateDirectory(state), {}, [] { return std::chrono::system_clock::now(); }, {}};
}

}  // namespace

TEST_CASE("the report's status and exit code come from its findings") {
    Report report;
    CHECK(report.status() == Status::Pass);
    CHECK(report.exit_code() == 0);
    report.findings.push_back(passed("dns", "DNS resolution", "localhost: 127.0.0.1"));
    report.findings.push_back(skipped("kerberos-ticket", "Kerberos ticket", "not used"));
    CHECK(report.status() == Status::Pass);
    report.findings.push_back(warned("policy-cache", "Cached policy", "stale", "refresh"));
    CHECK(report.status() == Status::Warn);
    CHECK(report.exit_code() == 0);  // warnings do not fail
    report.findings.push_back(failed("tls", "TLS handshake", ErrorKind::Tls, "untrusted", "fix"));
    report.findings.push_back(
        failed("template-permission", "Enroll permission", ErrorKind::Denied, "no", "ask"));
    CHECK(report.status() == Status::Fail);
    // The first failure is the root cause: its category decides.
    CHECK(report.exit_code() == 6);
    REQUIRE(report.first_failure() != nullptr);
    CHECK(report.first_failure()->id == "tls");
    CHECK(report.count(Status::Fail) == 2);
    CHECK(report.count(Status::Skip) == 1);
    CHECK(report.find("policy-cache")->fix == "refresh");
    CHECK(report.find("nothing") == nullptr);

    const Finding from_error = failed(
        "policy", "Policy", Error(ErrorKind::Denied, "refused", "ask").with_hresult(0x80094012));
    CHECK(from_error.kind == ErrorKind::Denied);
    CHECK(from_error.evidence == "refused [0x80094012]");
    CHECK(from_error.fix == "ask");
}

TEST_CASE("the table has one line per step, the fix below, and a summary") {
    Report report;
    report.findings.push_back(passed("dns", "DNS resolution", "localhost: 127.0.0.1"));
    report.findings.push_back(failed("tls", "TLS handshake", ErrorKind::Tls,
                                     "verify: unable to get local issuer certificate",
                                     "pass the issuing CA with --ca-bundle FILE"));
    report.findings.push_back(skipped("policy", "Policy", "skipped: TLS handshake failed"));
    const std::string text = render_text(report);
    CHECK(contains(text, "PASS  DNS resolution  localhost: 127.0.0.1\n"));
    CHECK(contains(text,
                   "FAIL  TLS handshake   verify: unable to get local issuer certificate\n"
                   "      fix: pass the issuing CA with --ca-bundle FILE\n"));
    CHECK(contains(text, "SKIP  Policy          skipped: TLS handshake failed\n"));
    CHECK(contains(text,
                   "Result: FAIL (1 failure, 0 warnings, 1 passed, 1 skipped); exit 6 "
                   "(tls, from tls)"));
}

TEST_CASE("the JSON document carries the same content") {
    Report report;
    report.findings.push_back(passed("dns", "DNS resolution", "ok"));
    report.findings.push_back(warned("clock", "Clock", "2 min ahead", "use NTP"));
    auto json = to_json(report);
    CHECK(json["status"] == "warn");
    CHECK(json["exit_code"] == 0);
    CHECK_FALSE(json.contains("category"));
    CHECK(json["checks"].size() == 2);
    CHECK(json["checks"][0] ==
          nlohmann::json{
              {"id", "dns"}, {"title", "DNS resolution"}, {"status", "pass"}, {"evidence", "ok"}});
    CHECK(json["checks"][1]["fix"] == "use NTP");

    report.findings.push_back(
        failed("ces", "CES endpoint", ErrorKind::Network, "refused", "start"));
    json = to_json(report);
    CHECK(json["status"] == "fail");
    CHECK(json["exit_code"] == 7);
    CHECK(json["category"] == "network");
    CHECK(json["first_failure"] == "ces");
    CHECK(json["checks"][2]["category"] == "network");
    CHECK(json["summary"]["warn"] == 1);
}

TEST_CASE("a failed finding names the HRESULT once") {
    // A CES fault's message already ends with its HRESULT (soap::to_error).
    Error named(ErrorKind::Denied, "Denied by policy (CERTSRV_E_TEMPLATE_DENIED 0x80094012)");
    named.with_hresult(0x80094012);
    const auto once = failed("ces", "CES", named);
    CHECK(once.evidence == named.message());
    Error bare(ErrorKind::Protocol, "the CA failed");
    bare.with_hresult(0x80094012);
    CHECK(failed("ces", "CES", bare).evidence == "the CA failed [0x80094012]");
}

TEST_CASE("durations and HTTP dates") {
    CHECK(describe_duration(0s) == "0 s");
    CHECK(describe_duration(45s) == "45 s");
    CHECK(describe_duration(-90s) == "1 min 30 s");
    CHECK(describe_duration(2h + 5min) == "2 h 5 min");
    CHECK(describe_duration(9h) == "9 h");
    CHECK(describe_duration(std::chrono::hours(76)) == "3 d 4 h");

    const auto date = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT");
    REQUIRE(date);
    CHECK(encoding::format_iso8601(*date) == "1994-11-06T08:49:37Z");
    CHECK_FALSE(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"));
    CHECK_FALSE(parse_http_date("Sun, 31 Feb 2026 08:49:37 GMT"));
    CHECK_FALSE(parse_http_date("Sun, 06 Xyz 1994 08:49:37 GMT"));
    CHECK_FALSE(parse_http_date(""));
}

TEST_CASE("a trusted chain passes; one close to expiry warns") {
    auto tls = sandbox_handshake();
    tls.path = tls.presented;
    tls.path.push_back(
        certificate("CN=Sandbox Root CA", "CN=Sandbox Root CA", at(2045, 1, 1), true));
    auto finding = assess_tls(tls, "localhost:8443", "", now);
    CHECK(finding.status == Status::Pass);
    CHECK(contains(finding.evidence,
                   "TLSv1.3, TLS_AES_256_GCM_SHA384; chain: CN=localhost "
                   "(RSA 2048, to 2027-11-25) \u2190 CN=Sandbox-RSA-CA"));
    CHECK(contains(finding.evidence, "CN=Sandbox Root CA (trusted root)"));
    CHECK(contains(finding.evidence, "verify: ok"));

    tls.presented.front().not_after = now + 10 * 24h;
    finding = assess_tls(tls, "localhost:8443", "", now);
    CHECK(finding.status == Status::Warn);
    CHECK(contains(finding.evidence, "expires in 10 d"));
    CHECK(contains(finding.fix, "renew CN=localhost before 2026-12-05"));
}

TEST_CASE("an untrusted chain names its root and the flag that trusts it") {
    auto tls = sandbox_handshake();
    tls.path = tls.presented;
    tls.problems = {{TrustIssue::UnknownIssuer, 1, "unable to get local issuer certificate",
                     "CN=Sandbox-RSA-CA"}};
    auto finding = assess_tls(tls, "localhost:8443", "", now);
    CHECK(finding.status == Status::Fail);
    CHECK(finding.kind == ErrorKind::Tls);
    CHECK(contains(finding.evidence, "CN=Sandbox Root CA (not sent, not trusted)"));
    CHECK(contains(finding.evidence,
                   "verify: unable to get local issuer certificate (CN=Sandbox-RSA-CA)"));
    CHECK(finding.fix ==
          "pass the issuing CA with --ca-bundle FILE (the chain's root is CN=Sandbox Root CA)");

    // A bundle that lacks the root, while the system store has it.
    tls.trusted_by_system_store = true;
    finding = assess_tls(tls, "localhost:8443", "/etc/corp.pem", now);
    CHECK(contains(finding.fix, "the system trust store accepts this chain"));
    tls.trusted_by_system_store = false;
    finding = assess_tls(tls, "localhost:8443", "/etc/corp.pem", now);
    CHECK(contains(finding.fix, "/etc/corp.pem does not hold the chain's root CN=Sandbox Root CA"));
}

TEST_CASE("wrong host, expiry, weak keys each get their own fix") {
    auto tls = sandbox_handshake();
    tls.problems = {{TrustIssue::HostnameMismatch, 0, "hostname mismatch", "CN=localhost"}};
    auto finding = assess_tls(tls, "127.0.0.2:8443", "", now);
    CHECK(finding.status == Status::Fail);
    CHECK(contains(finding.evidence, "verify: hostname mismatch"));
    CHECK(finding.fix ==
          "use a host name the certificate holds in the URL: localhost, 127.0.0.1, ::1");

    tls.presented.front().not_after = at(2026, 1, 2);
    tls.problems = {{TrustIssue::Expired, 0, "certificate has expired", "CN=localhost"},
                    {TrustIssue::HostnameMismatch, 0, "hostname mismatch", "CN=localhost"}};
    finding = assess_tls(tls, "127.0.0.2:8443", "", now);
    // Trust and validity come before the name: fixing the name would not be enough.
    CHECK(contains(finding.fix, "the server certificate CN=localhost expired on 2026-01-02"));
    CHECK(contains(finding.evidence, "certificate has expired; hostname mismatch"));

    tls.presented.back().key = "RSA 1024";
    tls.problems = {{TrustIssue::WeakKey, 1, "CA certificate key too weak", "CN=x"}};
    finding = assess_tls(tls, "h:1", "", now);
    CHECK(contains(finding.fix, "the CA certificate CN=Sandbox-RSA-CA has a RSA 1024 key"));

    tls.presented = {certificate("CN=self", "CN=self", at(2030, 1, 1), true)};
    tls.presented.front().sha256 = "abcd";
    tls.problems = {{TrustIssue::SelfSigned, 0, "self-signed certificate", "CN=self"}};
    finding = assess_tls(tls, "h:1", "", now);
    CHECK(contains(finding.fix, "self-signed: trust it with --ca-bundle FILE (SHA-256 abcd)"));
}

TEST_CASE("a failed handshake is explained by its cause") {
    TlsResult tls;
    tls.error = "error:0A00010B:SSL routines::wrong version number";
    auto finding = assess_tls(tls, "h:80", "", now);
    CHECK(finding.status == Status::Fail);
    CHECK(finding.kind == ErrorKind::Tls);
    CHECK(contains(finding.fix, "does not speak TLS"));
    tls.error =
        "the proxy http://proxy.test:3128 (from https_proxy) refused the tunnel to "
        "ces.test with HTTP 407 (proxy authentication required)";
    finding = assess_tls(tls, "h:443", "", now);
    CHECK(finding.kind == ErrorKind::Network);
    CHECK(contains(finding.fix, "--proxy-user USER"));
    CHECK(contains(finding.fix, "--proxy-password-file"));
    CHECK_FALSE(contains(finding.fix, "user:password@"));

    tls = sandbox_handshake();
    tls.trust_store = "--ca-bundle x.pem";
    tls.trust_store_error = "no certificate found";
    finding = assess_tls(tls, "h:443", "x.pem", now);
    CHECK(finding.kind == ErrorKind::Usage);
}

TEST_CASE("the challenge of an unauthenticated request names the mode the endpoint wants") {
    http::Response negotiate;
    negotiate.status = 401;
    negotiate.headers = {{"WWW-Authenticate", "Negotiate"}, {"WWW-Authenticate", "NTLM"}};
    const auto kerberos = observe_offer(negotiate, false);
    CHECK(kerberos.offer == Offer::Kerberos);
    CHECK(kerberos.evidence == "HTTP 401 with WWW-Authenticate: Negotiate, NTLM");

    auto finding = assess_offer(kerberos, xcep::AuthMode::UsernamePassword, "cep.example.com");
    CHECK(finding.status == Status::Fail);
    CHECK(finding.kind == ErrorKind::Auth);
    CHECK(contains(finding.evidence, "cep.example.com is Kerberos-only, but --auth password"));
    CHECK(contains(finding.fix, "use --auth kerberos"));
    CHECK(contains(finding.fix, "_UsernamePassword URL"));
    CHECK(assess_offer(kerberos, xcep::AuthMode::Kerberos, "h").status == Status::Pass);

    // A real GetPolicies decides for a password or certificate: some servers challenge every
    // request without credentials, yet take the password inside the message.
    CredentialTrial accepted{true, std::nullopt, "GetPolicies with --auth password succeeded"};
    finding = assess_offer(kerberos, xcep::AuthMode::UsernamePassword, "h", accepted);
    CHECK(finding.status == Status::Pass);
    CHECK(contains(finding.evidence, "GetPolicies with --auth password succeeded"));
    CHECK_FALSE(contains(finding.evidence, "Kerberos-only"));
    CredentialTrial refused{false, ErrorKind::Auth, "GetPolicies with --auth certificate: 401"};
    finding = assess_offer(kerberos, xcep::AuthMode::Certificate, "h", refused);
    CHECK(finding.status == Status::Fail);
    CHECK(finding.kind == ErrorKind::Auth);
    CHECK(contains(finding.evidence, "h is Kerberos-only, but --auth certificate is configured"));
    CHECK(contains(finding.evidence, "(GetPolicies with --auth certificate: 401)"));
    CredentialTrial unreachable{false, ErrorKind::Network, "GetPolicies: connection reset"};
    finding = assess_offer(kerberos, xcep::AuthMode::UsernamePassword, "h", unreachable);
    CHECK(finding.status == Status::Warn);
    CHECK_FALSE(contains(finding.evidence, "Kerberos-only"));

    http::Response ntlm;
    ntlm.status = 401;
    ntlm.headers = {{"www-authenticate", "NTLM"}};
    CHECK(observe_offer(ntlm, false).offer == Offer::NtlmOnly);
    CHECK(assess_offer(observe_offer(ntlm, false), xcep::AuthMode::Kerberos, "h").status ==
          Status::Fail);

    http::Response security;
    security.status = 401;
    security.body =
        R"(<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing">)"
        R"(<s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>a:InvalidSecurity</s:Value>)"
        R"(</s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">An error occurred when verifying security for the message.</s:Text>)"
        R"(</s:Reason></s:Fault></s:Body></s:Envelope>)";
    const auto message = observe_offer(security, true);
    CHECK(message.offer == Offer::MessageSecurity);
    CHECK(contains(message.evidence, "HTTP 401 with a SOAP fault a:InvalidSecurity"));
    CHECK(assess_offer(message, xcep::AuthMode::UsernamePassword, "h").status == Status::Pass);
    finding = assess_offer(message, xcep::AuthMode::Kerberos, "h");
    CHECK(finding.status == Status::Fail);
    CHECK(contains(finding.fix, "--password-file"));

    http::Response certificate_page;
    certificate_page.status = 401;
    certificate_page.body = "<html><body>401 - Unauthorized</body></html>";
    CHECK(observe_offer(certificate_page, true).offer == Offer::ClientCertificate);
    CHECK(observe_offer(certificate_page, false).offer == Offer::Unknown);
    finding = assess_offer(observe_offer(certificate_page, true), xcep::AuthMode::Kerberos, "h");
    CHECK(finding.status == Status::Fail);
    CHECK(contains(finding.fix, "--auth certificate"));
    CHECK(assess_offer(observe_offer(certificate_page, false), std::nullopt, "h").status ==
          Status::Warn);

    http::Response missing;
    missing.status = 404;
    missing.body = "<html>404</html>";
    finding = assess_offer(observe_offer(missing, false), xcep::AuthMode::Kerberos, "h");
    CHECK(finding.kind == ErrorKind::Network);
    CHECK(contains(finding.fix, "service.svc/CEP"));
}

TEST_CASE("clocks: within a minute passes, within five warns, beyond fails") {
    const TimePoint server = at(2026, 11, 25, 12, 0);
    auto finding = assess_clock("clock", "Clock", server + 3s, server, "the server h", false);
    CHECK(finding.status == Status::Pass);
    CHECK(contains(finding.evidence, "is 3 s ahead of the server h"));
    finding = assess_clock("clock", "Clock", server - 2min, server, "the server h", false);
    CHECK(finding.status == Status::Warn);
    CHECK(contains(finding.evidence, "2 min behind the server h"));
    finding = assess_clock("clock", "Clock", server + 2h, server, "the server h", false);
    CHECK(finding.status == Status::Fail);
    CHECK(finding.kind == ErrorKind::Auth);
    CHECK(contains(finding.fix, "NTP"));
    finding = assess_clock("kerberos-clock", "Clock", server + 2h, server, "the KDC", true);
    CHECK(finding.status == Status::Warn);
    CHECK(contains(finding.evidence, "kdc_timesync"));
}

TEST_CASE("the cached policy against nextUpdateHours and the server's current policy") {
    CacheFacts facts;
    facts.fetched_at = now - 2h;
    facts.next_update_hours = 8;
    auto finding = assess_cache(facts, now);
    CHECK(finding.status == Status::Pass);
    CHECK(contains(finding.evidence, "(2 h ago), nextUpdateHours 8; fresh for another 6 h"));

    // Fresh, but the server has a template the cache lacks: the "not visible yet" case.
    xcep::Policy cached;
    cached.templates.resize(2);
    cached.templates[0].common_name = "WebServer";
    cached.templates[0].revision_major = 100;
    cached.templates[0].revision_minor = 4;
    cached.templates[1].common_name = "Retired";
    xcep::Policy live;
    live.templates.resize(2);
    live.templates[0].common_name = "webserver";
    live.templates[0].revision_major = 100;
    live.templates[0].revision_minor = 5;
    live.templates[1].common_name = "NewTemplate";
    facts.template_name = "newtemplate";
    compare_policies(cached, live, facts);
    CHECK(facts.only_live == std::vector<std::string>{"NewTemplate"});
    CHECK(facts.only_cached == std::vector<std::string>{"Retired"});
    CHECK(facts.changed == std::vector<std::string>{"webserver revision 100.4 -> 100.5"});
    finding = assess_cache(facts, now);
    CHECK(finding.status == Status::Warn);
    CHECK(contains(finding.evidence, "for another 6 h (until 2026-11-25 18:00:00 UTC)"));
    CHECK(contains(finding.evidence, "including template newtemplate"));
    CHECK(contains(finding.evidence, "new on the server: NewTemplate"));
    CHECK(contains(finding.fix, "policy --refresh"));

    // Older than nextUpdateHours: stale.
    CacheFacts stale;
    stale.fetched_at = now - 9h - 30min;
    stale.next_update_hours = 8;
    finding = assess_cache(stale, now);
    CHECK(finding.status == Status::Warn);
    CHECK(contains(finding.evidence, "(9 h 30 min ago), nextUpdateHours 8; stale for 1 h 30 min"));

    // Written "in the future": the clock went back.
    CacheFacts future;
    future.fetched_at = now + 1h;
    finding = assess_cache(future, now);
    CHECK(finding.status == Status::Warn);
    CHECK(contains(finding.evidence, "in the future"));
}

TEST_CASE("without a URL only the local checks run; a state directory that cannot exist fails") {
    test::TempDir tmp;
    const auto file = tmp.write("file", "not a directory\n");
    diagnose::Request request;  // no --url: nothing goes to the network

    // Under a regular file: creating it fails whoever runs this (root included).
    const auto under_file = local_context(file / "state");
    auto report = diagnose::run(under_file, request);
    CHECK(report.find("configuration")->status == Status::Warn);
    CHECK(report.find("dns")->status == Status::Skip);
    CHECK(report.find("key-backend")->status == Status::Pass);
    const Finding* state = report.find("state-dir");
    REQUIRE(state != nullptr);
    CHECK(state->status == Status::Fail);
    CHECK(state->kind == ErrorKind::Local);
    CHECK(contains(state->evidence, (file / "state").string() +
                                        " does not exist and cannot be "
                                        "created: " +
                                        file.string() + " is not a directory"));
    CHECK(contains(state->fix, "--state-dir"));
    CHECK(report.exit_code() == 9);

    // The state directory itself is a file.
    const auto is_file = local_context(file);
    report = diagnose::run(is_file, request);
    state = report.find("state-dir");
    CHECK(state->status == Status::Fail);
    CHECK(contains(state->evidence, "exists but is not a directory"));
    CHECK_FALSE(contains(state->fix, "permissions"));

    // Not there yet, under a writable directory: created on first use.
    const auto fresh = local_context(tmp.path / "new" / "state");
    report = diagnose::run(fresh, request);
    CHECK(report.find("state-dir")->status == Status::Pass);
    CHECK(contains(report.find("state-dir")->evidence, "does not exist yet"));
    CHECK(report.exit_code() == 0);
    CHECK_FALSE(std::filesystem::exists(tmp.path / "new"));  // diagnose creates nothing
}

TEST_CASE(
    "CES reaches the CA: the CA's 'no such request' passes; RPC unavailable and access "
    "denied fail as server-side network failures") {
    const std::string where = "https://ces.test/CES (CA Contoso-CA)";
    const auto fault = [](std::uint32_t hresult) {
        return Error(ErrorKind::Usage, "injected", "").with_hresult(hresult);
    };
    // A status reply, or CERTSRV_E_PROPERTY_EMPTY ([MS-WCCE] 3.2.1.4.3.1.2): the CA answered.
    CHECK(assess_ca_reach(where, std::nullopt, 40ms, "Contoso-CA").status == Status::Pass);
    const auto reached = assess_ca_reach(where, fault(0x80094004), 40ms, "Contoso-CA");
    CHECK(reached.id == "ces-ca");
    CHECK(reached.status == Status::Pass);
    CHECK(contains(reached.evidence, "CERTSRV_E_PROPERTY_EMPTY 0x80094004"));
    CHECK(contains(reached.evidence, std::string("no request ") + probe_request_id));

    // RPC_S_SERVER_UNAVAILABLE: fast points to delegation, slow to the CA service or firewall.
    const auto fast = assess_ca_reach(where, fault(0x800706BA), 150ms, "Contoso-CA");
    CHECK(fast.status == Status::Fail);
    CHECK(fast.kind == ErrorKind::Network);
    CHECK(fast.evidence.starts_with(where + ": "));
    CHECK(contains(fast.evidence, "could not reach the CA Contoso-CA"));
    CHECK(fast.fix.find("HOST and RPCSS") < fast.fix.find("certsvc"));
    const auto slow = assess_ca_reach(where, fault(0x800706BA), 30s, "Contoso-CA");
    CHECK(slow.fix.find("certsvc") < slow.fix.find("HOST and RPCSS"));

    const auto denied = assess_ca_reach(where, fault(0x80070005), 150ms, "Contoso-CA");
    CHECK(denied.status == Status::Fail);
    CHECK(denied.kind == ErrorKind::Network);
    CHECK(contains(denied.evidence, "on the server side"));

    // Anything else: CES answered, whether it reached the CA is unknown.
    const auto other = assess_ca_reach(where, fault(0x80070057), 150ms, "Contoso-CA");
    CHECK(other.status == Status::Warn);
    CHECK(contains(other.evidence, "E_INVALIDARG 0x80070057"));
}
