#include "soap/envelope.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>

#include "error.hpp"
#include "soap/fault.hpp"
#include "soap/namespaces.hpp"

namespace certenroll::soap {
namespace {

constexpr auto kTimestampLifetime = std::chrono::minutes(5);

std::string str(std::string_view view) {
    return std::string(view);
}

/// A short, printable excerpt of a non-SOAP body for error messages.
std::string excerpt(std::string_view body) {
    std::string out;
    for (char c : body.substr(0, 120)) {
        const auto u = static_cast<unsigned char>(c);
        out += (u >= 0x20 && u < 0x7F) ? c : ' ';
    }
    if (body.size() > 120)
        out += "...";
    return out;
}

}  // namespace

std::string new_message_id() {
    std::array<unsigned char, 16> bytes{};
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
        throw Error(ErrorKind::Internal, "the OpenSSL random generator failed",
                    "check the OpenSSL installation and entropy source");
    }
    bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0F) | 0x40);  // version 4
    bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3F) | 0x80);  // RFC 4122 variant
    char text[37];
    std::snprintf(text, sizeof text,
                  "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", bytes[0],
                  bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8],
                  bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]);
    return "urn:uuid:" + std::string(text);
}

std::string format_utc_timestamp(std::chrono::system_clock::time_point time) {
    const auto millis =
        std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
    auto seconds = static_cast<std::time_t>(millis / 1000);
    auto fraction = millis % 1000;
    if (fraction < 0)
        fraction += 1000, --seconds;
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char text[64];
    std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                  utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                  static_cast<int>(fraction));
    return text;
}

std::string build_request(const RequestHeaders& headers, const xml::Element& body_payload) {
    xml::Element envelope(str(ns::soap12), "Envelope");
    auto& header = envelope.add(str(ns::soap12), "Header");
    header.add(str(ns::addressing), "Action", headers.action)
        .set_attribute(str(ns::soap12), "mustUnderstand", "1");
    header.add(str(ns::addressing), "MessageID", headers.message_id);
    header.add(str(ns::addressing), "ReplyTo")
        .add(str(ns::addressing), "Address", str(uri::anonymous));
    header.add(str(ns::addressing), "To", headers.to)
        .set_attribute(str(ns::soap12), "mustUnderstand", "1");
    if (headers.username_token) {
        auto& security = header.add(str(ns::wsse), "Security");
        security.set_attribute(str(ns::soap12), "mustUnderstand", "1");
        auto& timestamp = security.add(str(ns::wsu), "Timestamp");
        timestamp.set_attribute(str(ns::wsu), "Id", "_0");
        timestamp.add(str(ns::wsu), "Created", format_utc_timestamp(headers.now));
        timestamp.add(str(ns::wsu), "Expires",
                      format_utc_timestamp(headers.now + kTimestampLifetime));
        auto& token = security.add(str(ns::wsse), "UsernameToken");
        // Tie the token id to the message id so it is unique per message.
        token.set_attribute(
            str(ns::wsu), "Id",
            "uuid-" + headers.message_id.substr(headers.message_id.rfind(':') + 1) + "-1");
        token.add(str(ns::wsse), "Username", headers.username_token->username);
        token.add(str(ns::wsse), "Password", headers.username_token->password)
            .set_attribute("", "Type", str(uri::password_text));
    }
    envelope.add(str(ns::soap12), "Body").append(body_payload);
    const xml::Prefix prefixes[] = {{"s", str(ns::soap12)},
                                    {"a", str(ns::addressing)},
                                    {"o", str(ns::wsse)},
                                    {"u", str(ns::wsu)},
                                    {"xsi", str(ns::xsi)}};
    return xml::serialize(envelope, prefixes);
}

namespace {

// The nodes of one response, at most (issue 23). xml::Limits' 200,000 let a tree peak at 72 MB
// of RSS (199,000 empty elements, 796 KB; 149,000: 66 MB; tests/bench/hostile_scaling): a flat
// document's children vector doubles past 131,072 entries, old and new copies alive at once.
// 120,000 stays below that step and 64 MB, and is 2.1 times the bench's GetPolicies response of
// 1,000 templates and 20 CAs (56,193 nodes).
constexpr std::size_t kMaxResponseNodes = 120'000;

Error malformed_envelope(const std::string& what) {
    return Error(ErrorKind::Protocol, "malformed response: " + what,
                 "report this to the server's administrator; --verbose shows the response");
}

// The text of a WS-Addressing header given at most once; "" when absent.
std::string single_header_text(const xml::Element& header, std::string_view name) {
    const auto found = header.find_all(ns::addressing, name);
    if (found.size() > 1)
        throw malformed_envelope("a second WS-Addressing " + std::string(name) +
                                 " in the SOAP Header");
    return found.empty() ? std::string() : std::string(found.front()->trimmed_text());
}

}  // namespace

Response parse_response(long http_status, std::string_view body, const xml::Limits& limits) {
    const bool success = http_status >= 200 && http_status < 300;
    xml::Limits capped = limits;
    capped.max_nodes = std::min(capped.max_nodes, kMaxResponseNodes);
    xml::Element envelope;
    try {
        envelope = xml::parse(body, capped);
    } catch (const Error& e) {
        if (!success) {
            throw Error(ErrorKind::Network,
                        "HTTP " + std::to_string(http_status) + " without a SOAP body" +
                            (body.empty() ? std::string() : ": " + excerpt(body)),
                        "check the URL and that the enrollment service is running; --verbose "
                        "shows the full response");
        }
        throw;
    }
    if (envelope.ns() == ns::soap11 && envelope.name() == "Envelope") {
        throw Error(ErrorKind::Protocol, "the server answered with a SOAP 1.1 envelope",
                    "CEP and CES speak SOAP 1.2; check that the URL points at a CEP/CES endpoint");
    }
    if (envelope.ns() != ns::soap12 || envelope.name() != "Envelope") {
        if (!success) {
            throw Error(
                ErrorKind::Network,
                "HTTP " + std::to_string(http_status) + " without a SOAP body: " + excerpt(body),
                "check the URL and that the enrollment service is running");
        }
        throw Error(ErrorKind::Protocol,
                    "the response is <" + envelope.name() + ">, not a SOAP 1.2 envelope",
                    "check that the URL points at a CEP/CES endpoint");
    }
    // Exactly one Header and one Body, nothing else: a second of either is not "the first wins"
    // (an intermediary and the client could each read a different one).
    const xml::Element* header = nullptr;
    const xml::Element* body_element = nullptr;
    for (const auto& child : envelope.children()) {
        const bool soap = child.ns() == ns::soap12;
        const xml::Element** slot = soap && child.name() == "Header" ? &header
                                    : soap && child.name() == "Body" ? &body_element
                                                                     : nullptr;
        if (slot == nullptr)
            throw malformed_envelope("an unexpected <" + child.name() + "> in the SOAP Envelope");
        if (*slot != nullptr)
            throw malformed_envelope("a second SOAP " + child.name() + " in the Envelope");
        *slot = &child;
    }
    if (body_element == nullptr)
        throw malformed_envelope("no SOAP Body in the Envelope");
    const auto& soap_body = *body_element;
    if (soap_body.children().size() > 1) {
        throw malformed_envelope("a second <" + soap_body.children()[1].name() +
                                 "> in the SOAP Body (after <" + soap_body.children()[0].name() +
                                 ">): a Body holds exactly one element");
    }
    if (const auto* fault = soap_body.find(ns::soap12, "Fault")) {
        throw to_error(parse_fault(*fault));
    }
    if (!success) {
        throw Error(ErrorKind::Protocol,
                    "HTTP " + std::to_string(http_status) + " with a SOAP body that is not a fault",
                    "report this to the server's administrator; --verbose shows the response");
    }
    if (soap_body.children().empty()) {
        throw Error(ErrorKind::Protocol, "the SOAP response has an empty Body",
                    "report this to the server's administrator; --verbose shows the response");
    }
    // A fault may come from something in front of the service that writes no addressing
    // headers; an answer from the service itself always has them.
    if (header == nullptr)
        throw malformed_envelope("no SOAP Header in the Envelope");
    Response response;
    response.action = single_header_text(*header, "Action");
    response.relates_to = single_header_text(*header, "RelatesTo");
    // The payload is moved out of the parsed tree, not copied: a GetPolicies response can hold
    // thousands of elements, an RSTR a long base64 chain.
    const auto& children = envelope.children();
    const auto body_index = static_cast<std::size_t>(&soap_body - children.data());
    response.payload = envelope.take_child(body_index).take_child(0);
    return response;
}

}  // namespace certenroll::soap
