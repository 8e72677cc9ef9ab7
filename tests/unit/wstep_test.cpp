#include <doctest/doctest.h>

#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <vector>

#include "error.hpp"
#include "soap/envelope.hpp"
#include "soap/fault.hpp"
#include "soap/namespaces.hpp"
#include "wstep/client.hpp"
#include "wstep/messages.hpp"
#include "wstep/response.hpp"
#include "wstep/server_fault.hpp"

using namespace certenroll;
namespace ns = soap::ns;
namespace uri = soap::uri;

namespace {

const std::chrono::system_clock::time_point kNow =
    std::chrono::system_clock::time_point(std::chrono::milliseconds(1764028800123));  // 2025-11-25
const std::string kCesUrl = "https://ca.contoso.com/Contoso-CA_CES_Kerberos/service.svc/CES";

std::string read_data(const std::string& name) {
    const std::string path = std::string(CERTENROLL_TEST_DATA_DIR) + "/wstep/" + name;
    std::ifstream in(path, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "cannot open " << path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

encoding::Bytes read_bytes(const std::string& name) {
    const auto text = read_data(name);
    return {text.begin(), text.end()};
}

xml::Element payload_of(const std::string& fixture) {
    return soap::parse_response(200, read_data(fixture)).payload;
}

std::vector<std::string> child_names(const xml::Element& element) {
    std::vector<std::string> names;
    for (const auto& child : element.children())
        names.push_back(child.name());
    return names;
}

// The RequestSecurityToken as the server sees it: built, wrapped in the real envelope, parsed.
xml::Element sent_rst(const xml::Element& payload) {
    soap::RequestHeaders headers;
    headers.action = std::string(soap::action::request_security_token);
    headers.to = kCesUrl;
    headers.message_id = soap::new_message_id();
    headers.now = kNow;
    const auto document = xml::parse(soap::build_request(headers, payload));
    const auto& body = document.get(ns::soap12, "Body");
    REQUIRE(body.children().size() == 1);
    return body.children().front();
}

Error protocol_error_of(const std::string& fixture) {
    const auto payload = payload_of(fixture);
    try {
        (void)wstep::parse_submit_response(payload);
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::Protocol);
        return e;
    }
    FAIL("parse_submit_response accepted " << fixture);
    return Error(ErrorKind::Internal, "unreachable");
}

// A CES stand-in: records every request and answers with a fixture whose RelatesTo is rewritten
// to the request's MessageID, as a real server would.
class FakeCes : public http::Transport {
  public:
    http::Response post(const http::Request& request) override {
        requests.push_back(request);
        const auto sent = xml::parse(request.body);
        const auto id = sent.get(ns::soap12, "Header").get(ns::addressing, "MessageID").text();
        static const std::regex relates_to("(<a:RelatesTo>)[^<]*");
        http::Response response;
        response.status = status;
        response.body = std::regex_replace(reply, relates_to, "$1" + id);
        return response;
    }
    std::vector<http::Request> requests;
    std::string reply;
    long status = 200;
};

Error call_error(FakeCes& ces, const wstep::IssueRequest& request) {
    try {
        (void)wstep::submit(ces, kCesUrl, request, kNow);
    } catch (const Error& e) {
        return e;
    }
    FAIL("submit did not throw");
    return Error(ErrorKind::Internal, "unreachable");
}

wstep::IssueRequest sample_request() {
    wstep::IssueRequest request;
    request.token = {0x30, 0x82, 0x01, 0x0a, 0x02, 0x01, 0x00, 0xff, 0x10, 0x3e};
    return request;
}

}  // namespace

TEST_CASE("issue request: schema order, unqualified attributes, token, nil RequestID") {
    auto request = sample_request();
    request.context = {{"CertificateTemplate", "WebServer"},
                       {"ccm", "host.example.com"},
                       {"san", "dns=a.example.com&dns=<b>"}};
    const auto rst = sent_rst(wstep::build_issue_request(request));

    CHECK(rst.ns() == ns::wst);
    CHECK(rst.name() == "RequestSecurityToken");
    CHECK(child_names(rst) == std::vector<std::string>{"TokenType", "RequestType",
                                                       "BinarySecurityToken", "AdditionalContext",
                                                       "RequestID"});
    CHECK(rst.get(ns::wst, "TokenType").text() == uri::token_x509v3);
    CHECK(rst.get(ns::wst, "RequestType").text() == uri::request_issue);

    const auto& token = rst.get(ns::wsse, "BinarySecurityToken");
    CHECK(encoding::base64_decode(token.text()) == request.token);
    REQUIRE(token.attributes().size() == 2);
    for (const auto& attribute : token.attributes())
        CHECK(attribute.ns.empty());
    CHECK(token.attribute("", "ValueType") == uri::value_pkcs10);
    CHECK(token.attribute("", "EncodingType") == uri::encoding_base64);

    const auto& context = rst.get(ns::auth, "AdditionalContext");
    const auto items = context.find_all(ns::auth, "ContextItem");
    REQUIRE(items.size() == 3);
    CHECK(context.children().size() == 3);
    for (std::size_t i = 0; i < items.size(); ++i) {
        CHECK(items[i]->attribute("", "Name") == request.context[i].name);
        REQUIRE(items[i]->children().size() == 1);
        CHECK(items[i]->get(ns::auth, "Value").text() == request.context[i].value);
    }

    const auto& request_id = rst.get(ns::wstep, "RequestID");
    CHECK(request_id.is_nil());
    CHECK(request_id.text().empty());
}

TEST_CASE("issue request: CMS renewal token and no AdditionalContext when empty") {
    auto request = sample_request();
    request.format = wstep::TokenFormat::Cms;
    const auto payload = wstep::build_issue_request(request);
    const auto rst = sent_rst(payload);
    CHECK(child_names(rst) ==
          std::vector<std::string>{"TokenType", "RequestType", "BinarySecurityToken", "RequestID"});
    CHECK(rst.get(ns::wsse, "BinarySecurityToken").attribute("", "ValueType") == uri::value_pkcs7);
    CHECK(wstep::value_type_uri(wstep::TokenFormat::Cms) == uri::value_pkcs7);
    CHECK(wstep::value_type_uri(wstep::TokenFormat::Pkcs10) == uri::value_pkcs10);

    // On the wire the attributes carry no prefix (a prefixed EncodingType is refused by AD CS).
    soap::RequestHeaders headers;
    headers.action = std::string(soap::action::request_security_token);
    headers.to = kCesUrl;
    headers.message_id = soap::new_message_id();
    headers.now = kNow;
    const auto text = soap::build_request(headers, payload);
    CHECK(text.find(" ValueType=\"") != std::string::npos);
    CHECK(text.find(" EncodingType=\"") != std::string::npos);
    CHECK(text.find(":ValueType=") == std::string::npos);
    CHECK(text.find(":EncodingType=") == std::string::npos);
}

TEST_CASE("issue request: refuses an empty token or a nameless attribute") {
    wstep::IssueRequest empty;
    try {
        (void)wstep::build_issue_request(empty);
        FAIL("empty token accepted");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::Internal);
    }
    auto request = sample_request();
    request.context = {{"", "x"}};
    try {
        (void)wstep::build_issue_request(request);
        FAIL("nameless context item accepted");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::Usage);
    }
}

TEST_CASE("QueryTokenStatus request shape") {
    const auto rst = sent_rst(wstep::build_query_token_status("63"));
    CHECK(rst.name() == "RequestSecurityToken");
    CHECK(child_names(rst) == std::vector<std::string>{"TokenType", "RequestType", "RequestID"});
    CHECK(rst.find(ns::wsse, "BinarySecurityToken") == nullptr);
    CHECK(rst.get(ns::wst, "RequestType").text() == uri::request_query_token_status);
    const auto& id = rst.get(ns::wstep, "RequestID");
    CHECK(id.text() == "63");
    CHECK_FALSE(id.is_nil());
    CHECK(id.attributes().empty());

    for (const std::string& bad : {std::string(), std::string(65, '7'), std::string("6 3"),
                                   std::string("6\n3"), std::string("6\xc3\xa9")}) {
        CAPTURE(bad);
        try {
            (void)wstep::build_query_token_status(bad);
            FAIL("accepted a bad request id");
        } catch (const Error& e) {
            CHECK(e.kind() == ErrorKind::Usage);
        }
    }
    CHECK(wstep::valid_request_id(std::string(64, '7')));
    CHECK(wstep::valid_request_id("{A1-b2}"));
}

TEST_CASE("issued responses: spec shapes, WCF prefixes with CRLF base64") {
    const auto leaf = read_bytes("leaf.der");
    const auto pkcs7 = read_bytes("pkcs7.der");
    REQUIRE(leaf.size() > 100);
    REQUIRE(pkcs7.size() > leaf.size());
    const std::vector<std::pair<std::string, std::string>> cases = {{"issued.xml", "60"},
                                                                    {"query_issued.xml", "61"},
                                                                    {"renewal_issued.xml", "62"},
                                                                    {"wcf_issued.xml", "64"}};
    for (const auto& [fixture, id] : cases) {
        CAPTURE(fixture);
        const auto result = wstep::parse_submit_response(payload_of(fixture));
        CHECK(result.disposition == wstep::Disposition::Issued);
        CHECK(result.request_id == id);
        CHECK(result.disposition_message == "Issued");
        CHECK(result.certificate_der == leaf);
        CHECK(result.pkcs7_der == pkcs7);
        CHECK(result.reference_uri.empty());
    }
}

TEST_CASE("pending responses: request id and reference, default namespaces and ns0 prefixes") {
    const auto pending = wstep::parse_submit_response(payload_of("pending.xml"));
    CHECK(pending.disposition == wstep::Disposition::Pending);
    CHECK(pending.request_id == "63");
    CHECK(pending.reference_uri == kCesUrl);
    CHECK(pending.disposition_message == "Taken Under Submission");
    CHECK(pending.certificate_der.empty());
    CHECK(pending.pkcs7_der == read_bytes("pkcs7.der"));

    // Nil DispositionMessage, no CMC token, whitespace around the id.
    const auto ns0 = wstep::parse_submit_response(payload_of("ns0_pending.xml"));
    CHECK(ns0.disposition == wstep::Disposition::Pending);
    CHECK(ns0.request_id == "65");
    CHECK(ns0.reference_uri == kCesUrl);
    CHECK(ns0.disposition_message.empty());
    CHECK(ns0.pkcs7_der.empty());
}

TEST_CASE("broken responses are protocol errors naming the fault") {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"broken_two_rstr.xml", "2 RequestSecurityTokenResponse"},
        {"broken_no_rstr.xml", "0 RequestSecurityTokenResponse"},
        {"broken_neither.xml", "neither a certificate nor a pending reference"},
        {"broken_both.xml", "both a certificate and a pending reference"},
        {"broken_absurd_request_id.xml", "RequestID"},
        {"broken_request_id_spaces.xml", "RequestID"},
        {"broken_garbage_base64.xml", "BinarySecurityToken"},
        {"broken_duplicate_request_id.xml", "duplicated <RequestID>"},
        {"broken_pending_without_id.xml", "no RequestID"},
        {"broken_reference_without_uri.xml", "no URI"},
        {"broken_wrong_value_type.xml", "ValueType"},
        {"broken_empty_certificate.xml", "BinarySecurityToken"},
    };
    for (const auto& [fixture, needle] : cases) {
        CAPTURE(fixture);
        const auto error = protocol_error_of(fixture);
        CHECK_MESSAGE(error.message().find(needle) != std::string::npos, error.message());
    }
}

TEST_CASE("a payload that is not a RequestSecurityTokenResponseCollection is refused") {
    xml::Element other(std::string(ns::xcep), "GetPoliciesResponse");
    try {
        (void)wstep::parse_submit_response(other);
        FAIL("accepted GetPoliciesResponse");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::Protocol);
        CHECK(e.message().find("GetPoliciesResponse") != std::string::npos);
    }
}

TEST_CASE("submit posts one Issue to the CES URL and decodes the reply") {
    FakeCes ces;
    ces.reply = read_data("issued.xml");
    auto request = sample_request();
    request.context = {{"CertificateTemplate", "WebServer"}};
    const auto result = wstep::submit(ces, kCesUrl, request, kNow);
    CHECK(result.disposition == wstep::Disposition::Issued);
    CHECK(result.certificate_der == read_bytes("leaf.der"));

    REQUIRE(ces.requests.size() == 1);
    CHECK(ces.requests[0].url == kCesUrl);
    CHECK_FALSE(ces.requests[0].idempotent);  // an Issue is never sent twice
    const auto sent = xml::parse(ces.requests[0].body);
    CHECK(sent.get(ns::soap12, "Header").get(ns::addressing, "Action").text() ==
          soap::action::request_security_token);
    const auto& rst = sent.get(ns::soap12, "Body").get(ns::wst, "RequestSecurityToken");
    CHECK(rst.get(ns::wst, "RequestType").text() == uri::request_issue);
    CHECK(encoding::base64_decode(rst.get(ns::wsse, "BinarySecurityToken").text()) ==
          request.token);
    CHECK(
        rst.get(ns::auth, "AdditionalContext").get(ns::auth, "ContextItem").attribute("", "Name") ==
        "CertificateTemplate");
}

TEST_CASE("submit: faults become the soap layer's errors") {
    FakeCes ces;
    ces.status = 500;

    ces.reply = read_data("fault_denied.xml");
    const auto denied = call_error(ces, sample_request());
    CHECK(denied.kind() == ErrorKind::Denied);
    CHECK(denied.hresult() == 0x80094012u);
    CHECK(denied.request_id() == "42");

    ces.reply = read_data("fault_invalidarg.xml");
    const auto invalid = call_error(ces, sample_request());
    CHECK(invalid.kind() == ErrorKind::Protocol);
    CHECK(invalid.hresult() == 0x80070057u);
    CHECK(invalid.request_id().empty());
    CHECK(invalid.message().find("EncodingType") != std::string::npos);

    ces.reply = read_data("fault_internal.xml");
    const auto internal = call_error(ces, sample_request());
    CHECK(internal.kind() == ErrorKind::Protocol);
    CHECK_FALSE(internal.hresult().has_value());

    ces.reply = "<html><body>Service Unavailable</body></html>";
    ces.status = 503;
    CHECK(call_error(ces, sample_request()).kind() == ErrorKind::Network);
}

TEST_CASE("submit: a reply with another action is a protocol error") {
    FakeCes ces;
    ces.reply =
        std::regex_replace(read_data("issued.xml"), std::regex("RSTRC/wstep"), "RSTR/KETFinal");
    const auto error = call_error(ces, sample_request());
    CHECK(error.kind() == ErrorKind::Protocol);
    CHECK(error.message().find("RSTR/KETFinal") != std::string::npos);

    // A missing Action is tolerated.
    ces.reply = std::regex_replace(read_data("issued.xml"),
                                   std::regex("<a:Action[^>]*>[^<]*</a:Action>"), "");
    REQUIRE(ces.reply.find("a:Action") == std::string::npos);
    CHECK(wstep::submit(ces, kCesUrl, sample_request(), kNow).disposition ==
          wstep::Disposition::Issued);
}

TEST_CASE("query_token_status asks about one request id and checks the answer") {
    FakeCes ces;
    ces.reply = read_data("pending.xml");
    const auto pending = wstep::query_token_status(ces, kCesUrl, "63", kNow);
    CHECK(pending.disposition == wstep::Disposition::Pending);
    CHECK(pending.reference_uri == kCesUrl);
    REQUIRE(ces.requests.size() == 1);
    CHECK(ces.requests[0].idempotent);  // asking again after HTTP 503 changes nothing
    const auto sent = xml::parse(ces.requests[0].body);
    const auto& rst = sent.get(ns::soap12, "Body").get(ns::wst, "RequestSecurityToken");
    CHECK(rst.get(ns::wst, "RequestType").text() == uri::request_query_token_status);
    CHECK(rst.get(ns::wstep, "RequestID").text() == "63");

    // An answer about another request must not be taken for ours.
    try {
        (void)wstep::query_token_status(ces, kCesUrl, "99", kNow);
        FAIL("accepted an answer about request 63 for request 99");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::Protocol);
        CHECK(e.message().find("99") != std::string::npos);
    }

    // An issued answer without a RequestID is about the id we asked for.
    ces.reply = std::regex_replace(read_data("query_issued.xml"),
                                   std::regex("<RequestID [^>]*>61</RequestID>"), "");
    REQUIRE(ces.reply.find("RequestID") == std::string::npos);
    const auto issued = wstep::query_token_status(ces, kCesUrl, "61", kNow);
    CHECK(issued.disposition == wstep::Disposition::Issued);
    CHECK(issued.request_id == "61");
    CHECK(issued.certificate_der == read_bytes("leaf.der"));
    CHECK_FALSE(issued.mismatched_request_id.has_value());

    // An issued answer about another id (a server said RequestID 0) is handed back marked, for
    // the flow to check the certificate itself; the id stays the one asked about.
    ces.reply = std::regex_replace(read_data("query_issued.xml"),
                                   std::regex("(<RequestID [^>]*>)61(</RequestID>)"), "$010$2");
    REQUIRE(ces.reply.find(">0</RequestID>") != std::string::npos);
    const auto zero = wstep::query_token_status(ces, kCesUrl, "61", kNow);
    CHECK(zero.disposition == wstep::Disposition::Issued);
    CHECK(zero.request_id == "61");
    CHECK(zero.mismatched_request_id == std::optional<std::string>("0"));

    // A bad id never reaches the network.
    const auto before = ces.requests.size();
    CHECK_THROWS_AS(wstep::query_token_status(ces, kCesUrl, "", kNow), Error);
    CHECK(ces.requests.size() == before);
}

// ---- server-side faults (issue 28) --------------------------------------------------------

namespace {

// The Error a CES fault with this HRESULT becomes, as soap::to_error makes it.
Error ces_fault(std::uint32_t hresult, std::string reason, std::string request_id = {}) {
    soap::Fault fault;
    fault.code = "s:Receiver";
    fault.reason = std::move(reason);
    soap::EnrollmentFaultDetail detail;
    detail.hresult = hresult;
    detail.request_id = std::move(request_id);
    fault.detail = std::move(detail);
    return soap::to_error(fault);
}

wstep::FaultContext issue_at(std::string ca, std::string tmpl = "WebServer") {
    wstep::FaultContext context;
    context.ca_name = std::move(ca);
    context.template_name = std::move(tmpl);
    return context;
}

std::size_t position(const std::string& text, std::string_view word) {
    const auto at = text.find(word);
    REQUIRE_MESSAGE(at != std::string::npos, "'" << word << "' not in: " << text);
    return at;
}

}  // namespace

TEST_CASE(
    "RPC_S_SERVER_UNAVAILABLE is CES failing to reach the CA; the answer time orders "
    "the causes") {
    const auto fault = ces_fault(0x800706BA,
                                 "The RPC server is unavailable. 0x800706ba (WIN32: 1722 "
                                 "RPC_S_SERVER_UNAVAILABLE)");
    // Without the table's refinement it is already no auth error.
    CHECK(fault.kind() == ErrorKind::Network);

    auto context = issue_at("Contoso-CA");
    context.answer_time = std::chrono::milliseconds(180);
    const auto fast = wstep::explain_ces_fault(fault, context);
    CHECK(fast.kind() == ErrorKind::Network);
    CHECK(fast.hresult() == std::optional<std::uint32_t>(0x800706BA));
    CHECK(fast.diagnosis() == "ces-cannot-reach-ca");
    CHECK(fast.likely_causes() ==
          std::vector<std::string>{"ces-delegation", "ca-service-or-firewall", "ces-permissions"});
    CHECK(fast.message().find("could not reach the CA Contoso-CA") != std::string::npos);
    CHECK(fast.message().find("within 0.2 s") != std::string::npos);
    CHECK(fast.message().find("accepted this client's credentials") != std::string::npos);
    CHECK(position(fast.hint(), "HOST and RPCSS") < position(fast.hint(), "certsvc"));
    CHECK(position(fast.hint(), "certsvc") < position(fast.hint(), "Enroll on template WebServer"));
    CHECK(fast.hint().find("not your credentials") == 0);

    context.answer_time = std::chrono::milliseconds(21500);
    const auto slow = wstep::explain_ces_fault(fault, context);
    CHECK(slow.kind() == ErrorKind::Network);
    CHECK(slow.likely_causes().front() == "ca-service-or-firewall");
    CHECK(slow.message().find("after 21.5 s") != std::string::npos);
    CHECK(position(slow.hint(), "certsvc") < position(slow.hint(), "HOST and RPCSS"));

    // The boundary belongs to "slow"; just below it is "fast".
    context.answer_time = wstep::slow_ca_answer;
    CHECK(wstep::explain_ces_fault(fault, context).likely_causes().front() ==
          "ca-service-or-firewall");
    context.answer_time = wstep::slow_ca_answer - std::chrono::milliseconds(1);
    CHECK(wstep::explain_ces_fault(fault, context).likely_causes().front() == "ces-delegation");

    // Not measured: the order of the usual frequency, delegation first; no timing claimed.
    context.answer_time.reset();
    const auto unmeasured = wstep::explain_ces_fault(fault, context);
    CHECK(unmeasured.likely_causes().front() == "ces-delegation");
    CHECK(unmeasured.message().find(" s ") == std::string::npos);

    // The same for retrieve-pending and for diagnose's probe.
    context.call = wstep::CesCall::QueryTokenStatus;
    CHECK(wstep::explain_ces_fault(fault, context).diagnosis() == "ces-cannot-reach-ca");
}

TEST_CASE("E_ACCESSDENIED after the client authenticated is the server side, not a password") {
    const auto fault = ces_fault(0x80070005, "Access is denied. 0x80070005 (WIN32: 5)");
    CHECK(fault.kind() == ErrorKind::Auth);  // the bare table, where nothing more is known

    const auto issue = wstep::explain_ces_fault(fault, issue_at("Contoso-CA"));
    CHECK(issue.kind() == ErrorKind::Network);
    CHECK(issue.diagnosis() == "server-side-access-denied");
    CHECK(issue.likely_causes().front() == "ces-delegation");
    CHECK(issue.message().find("refused the request on the server side") != std::string::npos);
    CHECK(issue.hint().find("not your password") == 0);
    CHECK(issue.hint().find("Request Certificates on the CA Contoso-CA") != std::string::npos);

    // Asking about a request: first that it is another identity's.
    auto query = issue_at("Contoso-CA");
    query.call = wstep::CesCall::QueryTokenStatus;
    query.request_id = "61";
    const auto about =
        wstep::explain_ces_fault(ces_fault(0x80070005, "Access is denied.", "61"), query);
    CHECK(about.kind() == ErrorKind::Denied);
    CHECK(about.diagnosis() == "request-access-denied");
    CHECK(about.likely_causes().front() == "other-requester");
    CHECK(about.request_id() == "61");
    CHECK(about.message().find("request 61") != std::string::npos);

    // On a key-based renewal endpoint the certificate is the credential: unchanged.
    auto key_based = issue_at("Contoso-CA");
    key_based.key_based_renewal = true;
    const auto kbr = wstep::explain_ces_fault(fault, key_based);
    CHECK(kbr.kind() == ErrorKind::Auth);
    CHECK(kbr.diagnosis().empty());
}

TEST_CASE("a template the CA does not issue although the policy lists it there") {
    const auto fault = ces_fault(0x80094800,
                                 "The requested certificate template is not supported by this "
                                 "CA. 0x80094800 (-2146875392 CERTSRV_E_UNSUPPORTED_CERT_TYPE)");
    CHECK(fault.kind() == ErrorKind::Usage);

    auto listed = issue_at("Contoso-CA");
    listed.policy_lists_template_at_ca = true;
    const auto error = wstep::explain_ces_fault(fault, listed);
    CHECK(error.kind() == ErrorKind::Denied);
    CHECK(error.diagnosis() == "template-not-on-ca");
    CHECK(error.message().find("the CA Contoso-CA does not issue template WebServer although the "
                               "policy lists it there") == 0);
    CHECK(error.hint().find("certutil -CATemplates") != std::string::npos);

    // Without a policy (--ces-url) it is the user's choice of CA or template, as before.
    const auto unlisted = wstep::explain_ces_fault(fault, issue_at("Contoso-CA"));
    CHECK(unlisted.kind() == ErrorKind::Usage);
    CHECK(unlisted.diagnosis().empty());
    CHECK(unlisted.message() == fault.message());
}

TEST_CASE("a template refusal is told apart from the client's own missing permission") {
    const auto fault = ces_fault(0x80094012,
                                 "Denied by Policy Module 0x80094012, The "
                                 "permissions on the certificate template do not "
                                 "allow the current user to enroll");
    CHECK(fault.kind() == ErrorKind::Denied);

    // The policy grants this identity Enroll: the CA judged someone else.
    auto granted = issue_at("Contoso-CA");
    granted.policy_grants_enroll = true;
    const auto ces = wstep::explain_ces_fault(fault, granted);
    CHECK(ces.kind() == ErrorKind::Denied);
    CHECK(ces.diagnosis() == "template-denied-to-ces");
    CHECK(ces.message().find("although the policy grants this identity Enroll") !=
          std::string::npos);
    CHECK(ces.likely_causes() == std::vector<std::string>{"ces-delegation", "ces-permissions",
                                                          "template-permission-changed"});

    // The policy says no as well: the client's own permission.
    auto refused = issue_at("Contoso-CA");
    refused.policy_grants_enroll = false;
    const auto own = wstep::explain_ces_fault(fault, refused);
    CHECK(own.diagnosis() == "template-denied-to-client");
    CHECK(own.hint().find("Enroll permission on template WebServer for this identity") !=
          std::string::npos);

    // Key-based renewal: no account of the client is involved.
    auto key_based = issue_at("Contoso-CA");
    key_based.key_based_renewal = true;
    const auto kbr = wstep::explain_ces_fault(fault, key_based);
    CHECK(kbr.diagnosis() == "template-denied-to-ces");
    CHECK(kbr.likely_causes().front() == "template-key-based-renewal");

    // Nothing known (no policy): unchanged.
    const auto unknown = wstep::explain_ces_fault(fault, issue_at("Contoso-CA"));
    CHECK(unknown.diagnosis().empty());
    CHECK(unknown.message() == fault.message());
    CHECK(unknown.hint() == fault.hint());
}

TEST_CASE("faults without an HRESULT, and other HRESULTs, are left as they are") {
    soap::Fault security;
    security.code = "s:Sender";
    security.subcode = "a:InvalidSecurity";
    security.reason = "An error occurred when verifying security for the message.";
    const auto wcf = soap::to_error(security);
    auto context = issue_at("Contoso-CA");
    context.policy_grants_enroll = true;
    context.policy_lists_template_at_ca = true;
    const auto same = wstep::explain_ces_fault(wcf, context);
    CHECK(same.kind() == wcf.kind());
    CHECK(same.message() == wcf.message());
    CHECK(same.diagnosis().empty());

    const auto key = ces_fault(0x80094811, "The public key does not meet the minimum size");
    const auto kept = wstep::explain_ces_fault(key, context);
    CHECK(kept.kind() == ErrorKind::Denied);
    CHECK(kept.message() == key.message());
    CHECK(kept.diagnosis().empty());
}
