#include <doctest/doctest.h>

#include <regex>
#include <set>
#include <string>

#include "error.hpp"
#include "soap/call.hpp"
#include "soap/envelope.hpp"
#include "soap/fault.hpp"
#include "soap/namespaces.hpp"
#include "soap/redact.hpp"

using namespace certenroll;
namespace ns = soap::ns;

namespace {

xml::Element sample_payload() {
    xml::Element payload(std::string(ns::xcep), "GetPolicies");
    payload.add(std::string(ns::xcep), "client").add(std::string(ns::xcep), "lastUpdate").set_nil();
    return payload;
}

const std::chrono::system_clock::time_point kNow =
    std::chrono::system_clock::time_point(std::chrono::milliseconds(1764028800123));  // 2025-11-25

Error expect_error(long status, std::string_view body) {
    try {
        (void)soap::parse_response(status, body);
    } catch (const Error& e) {
        return e;
    }
    FAIL("parse_response accepted " << std::string(body.substr(0, 60)));
    return Error(ErrorKind::Internal, "unreachable");
}

const char* kDeniedFault =
    R"(<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing">
<s:Header><a:Action s:mustUnderstand="1">http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RequestSecurityTokenCertificateEnrollmentWSDetailFault</a:Action></s:Header>
<s:Body><s:Fault>
  <s:Code><s:Value>s:Receiver</s:Value></s:Code>
  <s:Reason><s:Text xml:lang="de-DE">Verweigert</s:Text><s:Text xml:lang="en-US">Denied by Policy Module</s:Text></s:Reason>
  <s:Detail>
    <CertificateEnrollmentWSDetail xmlns="http://schemas.microsoft.com/windows/pki/2009/01/enrollment"
        xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
      <BinaryResponse xsi:nil="true"/>
      <ErrorCode>-2146877422</ErrorCode>
      <InvalidRequest>true</InvalidRequest>
      <RequestID>42</RequestID>
    </CertificateEnrollmentWSDetail>
  </s:Detail>
</s:Fault></s:Body></s:Envelope>)";

class RecordingTransport : public http::Transport {
  public:
    http::Response post(const http::Request& request) override {
        requests.push_back(request);
        const auto sent = xml::parse(request.body);
        const auto id = sent.get(ns::soap12, "Header").get(ns::addressing, "MessageID").text();
        http::Response response;
        response.status = 200;
        response.body =
            R"(<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing"><s:Header>)"
            R"(<a:Action s:mustUnderstand="1">urn:reply</a:Action><a:RelatesTo>)" +
            (wrong_relates_to ? std::string("urn:uuid:00000000-0000-4000-8000-000000000000") : id) +
            R"(</a:RelatesTo></s:Header><s:Body><Reply xmlns="urn:r">ok</Reply></s:Body></s:Envelope>)";
        return response;
    }
    std::vector<http::Request> requests;
    bool wrong_relates_to = false;
};

}  // namespace

TEST_CASE("message ids are random version-4 UUIDs") {
    const std::regex format(
        "urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
    std::set<std::string> seen;
    for (int i = 0; i < 200; ++i) {
        const auto id = soap::new_message_id();
        CHECK(std::regex_match(id, format));
        seen.insert(id);
    }
    CHECK(seen.size() == 200);
}

TEST_CASE("timestamps are UTC with milliseconds") {
    CHECK(soap::format_utc_timestamp(kNow) == "2025-11-25T00:00:00.123Z");
}

TEST_CASE("a request envelope has the whole WS-Addressing and WS-Security structure") {
    soap::RequestHeaders headers;
    headers.action = std::string(soap::action::get_policies);
    headers.to = "https://cep.example.test/ADPolicyProvider_CEP_UsernamePassword/service.svc/CEP";
    headers.message_id = soap::new_message_id();
    headers.username_token = soap::UsernameToken{"EXAMPLE\\alice", "s3cret&<pw>"};
    headers.now = kNow;
    const auto text = soap::build_request(headers, sample_payload());
    CHECK(text.find("<s:Envelope") != std::string::npos);

    const auto envelope = xml::parse(text);
    CHECK(envelope.ns() == ns::soap12);
    CHECK(envelope.name() == "Envelope");
    REQUIRE(envelope.children().size() == 2);
    const auto& header = envelope.children()[0];
    const auto& body = envelope.children()[1];
    CHECK(header.name() == "Header");
    CHECK(body.name() == "Body");

    const auto& action = header.get(ns::addressing, "Action");
    CHECK(action.text() == soap::action::get_policies);
    CHECK(action.attribute(ns::soap12, "mustUnderstand") == "1");
    CHECK(header.get(ns::addressing, "MessageID").text() == headers.message_id);
    CHECK(header.get(ns::addressing, "ReplyTo").get(ns::addressing, "Address").text() ==
          soap::uri::anonymous);
    const auto& to = header.get(ns::addressing, "To");
    CHECK(to.text() == headers.to);
    CHECK(to.attribute(ns::soap12, "mustUnderstand") == "1");

    const auto& security = header.get(ns::wsse, "Security");
    CHECK(security.attribute(ns::soap12, "mustUnderstand") == "1");
    const auto& timestamp = security.get(ns::wsu, "Timestamp");
    CHECK(timestamp.get(ns::wsu, "Created").text() == "2025-11-25T00:00:00.123Z");
    CHECK(timestamp.get(ns::wsu, "Expires").text() == "2025-11-25T00:05:00.123Z");
    const auto& token = security.get(ns::wsse, "UsernameToken");
    CHECK(token.attribute(ns::wsu, "Id").has_value());
    CHECK(token.get(ns::wsse, "Username").text() == "EXAMPLE\\alice");
    const auto& password = token.get(ns::wsse, "Password");
    CHECK(password.text() == "s3cret&<pw>");
    CHECK(password.attribute("", "Type") == soap::uri::password_text);
    CHECK_FALSE(password.attribute(ns::wsse, "Type").has_value());

    REQUIRE(body.children().size() == 1);
    const auto& payload = body.children()[0];
    CHECK(payload.ns() == ns::xcep);
    CHECK(payload.name() == "GetPolicies");
    CHECK(payload.get(ns::xcep, "client").get(ns::xcep, "lastUpdate").is_nil());
}

TEST_CASE("without credentials there is no Security header") {
    soap::RequestHeaders headers;
    headers.action = "urn:a";
    headers.to = "https://x/";
    headers.message_id = soap::new_message_id();
    const auto envelope = xml::parse(soap::build_request(headers, sample_payload()));
    CHECK(envelope.get(ns::soap12, "Header").find(ns::wsse, "Security") == nullptr);
}

TEST_CASE("WCF-style responses parse, unknown headers ignored") {
    const char* body =
        R"(<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing">
  <s:Header>
    <a:Action s:mustUnderstand="1">http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy/IPolicy/GetPoliciesResponse</a:Action>
    <ActivityId CorrelationId="8b7f" xmlns="http://schemas.microsoft.com/2004/09/ServiceModel/Diagnostics">1234</ActivityId>
    <a:RelatesTo>urn:uuid:1</a:RelatesTo>
  </s:Header>
  <s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
    <GetPoliciesResponse xmlns="http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy"><response/></GetPoliciesResponse>
  </s:Body></s:Envelope>)";
    const auto response = soap::parse_response(200, body);
    CHECK(response.action == soap::action::get_policies_response);
    CHECK(response.relates_to == "urn:uuid:1");
    CHECK(response.payload.ns() == ns::xcep);
    CHECK(response.payload.name() == "GetPoliciesResponse");
    CHECK(response.payload.find(ns::xcep, "response") != nullptr);
}

TEST_CASE("the protocol.md denial fault decodes to a denial with HRESULT and request id") {
    const auto error = expect_error(500, kDeniedFault);
    CHECK(error.kind() == ErrorKind::Denied);
    REQUIRE(error.hresult().has_value());
    CHECK(*error.hresult() == 0x80094012u);
    CHECK(error.request_id() == "42");
    const std::string message = error.what();
    CHECK(message.find("Denied by Policy Module") != std::string::npos);
    CHECK(message.find("CERTSRV_E_TEMPLATE_DENIED 0x80094012") != std::string::npos);
    CHECK_FALSE(error.hint().empty());

    const auto envelope = xml::parse(kDeniedFault);
    const auto fault = soap::parse_fault(envelope.get(ns::soap12, "Body").get(ns::soap12, "Fault"));
    CHECK(fault.code == "s:Receiver");
    CHECK(fault.reason == "Denied by Policy Module");  // English preferred
    REQUIRE(fault.detail.has_value());
    CHECK(fault.detail->invalid_request == true);
    CHECK(fault.detail->binary_response.empty());
}

TEST_CASE("a CA refusal of the key is a denial naming its HRESULT once") {
    // AD CS repeats the HRESULT in the reason text, with its signed decimal form.
    std::string body = kDeniedFault;
    body.replace(body.find("Denied by Policy Module"), 23,
                 "The public key does not meet the minimum size required by the specified "
                 "certificate template. 0x80094811 (-2146875375 CERTSRV_E_KEY_LENGTH)");
    body.replace(body.find("-2146877422"), 11, "-2146875375");
    const auto error = expect_error(500, body);
    CHECK(error.kind() == ErrorKind::Denied);
    CHECK(*error.hresult() == 0x80094811u);
    CHECK(error.message() ==
          "The public key does not meet the minimum size required by the specified certificate "
          "template. (CERTSRV_E_KEY_LENGTH 0x80094811)");
    CHECK(soap::refuses_the_key(0x80094811));
    CHECK(soap::refuses_the_key(0x80090008));
    CHECK_FALSE(soap::refuses_the_key(0x80094012));  // a refusal of the requester, not the key
    REQUIRE(soap::find_hresult(0x80090008) != nullptr);
    CHECK(soap::find_hresult(0x80090008)->kind == ErrorKind::Denied);
}

TEST_CASE("a fault with HTTP 200 is still a fault") {
    CHECK(expect_error(200, kDeniedFault).kind() == ErrorKind::Denied);
}

TEST_CASE("WCF InternalServiceFault without detail is a protocol error") {
    const char* body =
        R"(<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing"><s:Body><s:Fault>
<s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value xmlns:a="http://schemas.microsoft.com/net/2005/12/windowscommunicationfoundation/dispatcher">a:InternalServiceFault</s:Value></s:Subcode></s:Code>
<s:Reason><s:Text xml:lang="en-US">The server was unable to process the request due to an internal error.</s:Text></s:Reason>
</s:Fault></s:Body></s:Envelope>)";
    const auto error = expect_error(500, body);
    CHECK(error.kind() == ErrorKind::Protocol);
    CHECK_FALSE(error.hresult().has_value());
    CHECK(std::string(error.what()).find("InternalServiceFault") != std::string::npos);
}

TEST_CASE("E_INVALIDARG and unknown HRESULTs") {
    std::string body = kDeniedFault;
    body.replace(body.find("-2146877422"), 11, "-2147024809");
    auto error = expect_error(500, body);
    CHECK(error.kind() == ErrorKind::Protocol);
    CHECK(*error.hresult() == 0x80070057u);
    CHECK(std::string(error.what()).find("E_INVALIDARG") != std::string::npos);

    body = kDeniedFault;
    body.replace(body.find("-2146877422"), 11, "-1");
    error = expect_error(500, body);
    CHECK(error.kind() == ErrorKind::Protocol);
    CHECK(*error.hresult() == 0xFFFFFFFFu);

    REQUIRE(soap::find_hresult(0x80070005) != nullptr);
    CHECK(soap::find_hresult(0x80070005)->kind == ErrorKind::Auth);
    CHECK(soap::find_hresult(0x80094014)->kind == ErrorKind::Denied);
    CHECK(soap::find_hresult(0x12345678) == nullptr);
}

TEST_CASE("non-SOAP responses") {
    auto error = expect_error(503, "<html><body>Service Unavailable</body></html>");
    CHECK(error.kind() == ErrorKind::Network);
    CHECK(std::string(error.what()).find("HTTP 503") != std::string::npos);
    CHECK(expect_error(502, "").kind() == ErrorKind::Network);
    CHECK(expect_error(200, "not xml").kind() == ErrorKind::Protocol);
    CHECK(expect_error(200, "<html/>").kind() == ErrorKind::Protocol);
    error = expect_error(
        200,
        R"(<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body/></e:Envelope>)");
    CHECK(error.kind() == ErrorKind::Protocol);
    CHECK(std::string(error.what()).find("SOAP 1.1") != std::string::npos);
    error = expect_error(
        200,
        R"(<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>  </s:Body></s:Envelope>)");
    CHECK(std::string(error.what()).find("empty Body") != std::string::npos);
}

TEST_CASE("an envelope has exactly one Header, one Body and one element in the Body") {
    const std::string open =
        R"(<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing">)";
    const std::string header = R"(<s:Header><a:Action>urn:reply</a:Action></s:Header>)";
    const std::string body = R"(<s:Body><Reply xmlns="urn:r">ok</Reply></s:Body>)";
    const std::string close = "</s:Envelope>";
    CHECK(soap::parse_response(200, open + header + body + close).payload.name() == "Reply");
    const auto refused = [](const std::string& text, const std::string& words) {
        const auto error = expect_error(200, text);
        CHECK(error.kind() == ErrorKind::Protocol);
        CHECK_MESSAGE(error.message().find(words) != std::string::npos, error.message());
    };
    refused(open + header + body + body + close, "a second SOAP Body");
    refused(open + header + header + body + close, "a second SOAP Header");
    refused(open + header + body + header + close, "a second SOAP Header");
    refused(open + body + close, "no SOAP Header");
    refused(open + header + close, "no SOAP Body");
    refused(open + header + R"(<Extra xmlns="urn:x"/>)" + body + close, "an unexpected <Extra>");
    refused(
        open + header +
            R"(<s:Body><Reply xmlns="urn:r">first</Reply><Reply xmlns="urn:r">second</Reply></s:Body>)" +
            close,
        "a second <Reply> in the SOAP Body");
    refused(open +
                R"(<s:Header><a:Action>urn:one</a:Action><a:Action>urn:two</a:Action></s:Header>)" +
                body + close,
            "a second WS-Addressing Action");
    refused(
        open +
            R"(<s:Header><a:RelatesTo>urn:one</a:RelatesTo><a:RelatesTo>urn:two</a:RelatesTo></s:Header>)" +
            body + close,
        "a second WS-Addressing RelatesTo");
    // A fault followed by a payload is not "a fault": the Body holds two elements.
    refused(
        open + header +
            R"(<s:Body><s:Fault><s:Code><s:Value>s:Receiver</s:Value></s:Code></s:Fault><Reply xmlns="urn:r"/></s:Body>)" +
            close,
        "a second <Reply>");
}

TEST_CASE("redact hides passwords whatever the prefix, also in truncated text") {
    const std::string message =
        R"(<o:Username>alice</o:Username><o:Password Type="x">hunter2</o:Password><Password>pw2</Password><wsse:Password>tail-secret)";
    const auto redacted = soap::redact(message);
    CHECK(redacted.find("hunter2") == std::string::npos);
    CHECK(redacted.find("pw2") == std::string::npos);
    CHECK(redacted.find("tail-secret") == std::string::npos);
    CHECK(redacted.find("alice") != std::string::npos);
    CHECK(redacted.find(R"(<o:Password Type="x">***</o:Password>)") != std::string::npos);
    CHECK(soap::redact("<PasswordHint>kept</PasswordHint>").find("kept") != std::string::npos);
    CHECK(soap::redact("no markup") == "no markup");
}

TEST_CASE("call posts one SOAP 1.2 request and checks RelatesTo") {
    RecordingTransport transport;
    std::string traced;
    soap::CallOptions options;
    options.username_token = soap::UsernameToken{"alice", "topsecret"};
    options.trace = [&](std::string_view line) { traced += std::string(line) + "\n"; };
    const auto response = soap::call(transport, "https://127.0.0.1:8443/CEP",
                                     soap::action::get_policies, sample_payload(), kNow, options);
    CHECK(response.action == "urn:reply");
    CHECK(response.payload.text() == "ok");
    REQUIRE(transport.requests.size() == 1);
    const auto& request = transport.requests[0];
    CHECK(request.url == "https://127.0.0.1:8443/CEP");
    REQUIRE(request.headers.size() == 1);
    CHECK(request.headers[0].name == "Content-Type");
    CHECK(request.headers[0].value == "application/soap+xml; charset=utf-8; action=\"" +
                                          std::string(soap::action::get_policies) + "\"");
    CHECK(request.body.find("topsecret") != std::string::npos);
    CHECK(traced.find("topsecret") == std::string::npos);
    CHECK(traced.find("GetPolicies") != std::string::npos);
    CHECK(request.idempotent);  // GetPolicies only reads: a RetryTransport may repeat it

    // Any other action is repeatable only when the caller says so.
    (void)soap::call(transport, "https://x/", soap::action::request_security_token,
                     sample_payload(), kNow);
    CHECK_FALSE(transport.requests.back().idempotent);
    soap::CallOptions repeatable;
    repeatable.idempotent = true;
    (void)soap::call(transport, "https://x/", soap::action::request_security_token,
                     sample_payload(), kNow, repeatable);
    CHECK(transport.requests.back().idempotent);

    transport.wrong_relates_to = true;
    CHECK_THROWS_AS(soap::call(transport, "https://x/", "urn:a", sample_payload(), kNow), Error);
}

TEST_CASE("a 503 answered to every retry names the number of attempts") {
    class Busy : public http::Transport {
      public:
        explicit Busy(int attempts) : attempts_(attempts) {}
        http::Response post(const http::Request&) override {
            http::Response response;
            response.status = 503;
            response.body = "<html>Service Unavailable</html>";
            response.attempts = attempts_;  // as a RetryTransport reports it
            return response;
        }

      private:
        int attempts_;
    };
    Busy retried(3);
    try {
        (void)soap::call(retried, "https://x/", soap::action::get_policies, sample_payload(), kNow);
        FAIL("no Error");
    } catch (const Error& error) {
        CHECK(error.kind() == ErrorKind::Network);
        CHECK(error.message().starts_with("HTTP 503 without a SOAP body"));
        CHECK(error.message().ends_with(" after 3 attempts"));
    }
    Busy once(1);
    try {
        (void)soap::call(once, "https://x/", soap::action::get_policies, sample_payload(), kNow);
        FAIL("no Error");
    } catch (const Error& error) {
        CHECK(error.message().find("attempts") == std::string::npos);
    }
}
