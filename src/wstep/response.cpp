#include "wstep/response.hpp"

#include <string_view>
#include <vector>

#include "error.hpp"
#include "soap/namespaces.hpp"
#include "wstep/messages.hpp"

namespace certenroll::wstep {

namespace {

namespace ns = soap::ns;
namespace uri = soap::uri;

constexpr std::size_t kMaxUriLength = 2048;

Error protocol_error(std::string message) {
    return Error(ErrorKind::Protocol, std::move(message),
                 "the CES server sent a response this client cannot use; retry with --verbose "
                 "and report it");
}

// At most one child with this name: a duplicate means we cannot know which one the server meant.
const xml::Element* single(const xml::Element& parent, std::string_view ns, std::string_view name) {
    const auto all = parent.find_all(ns, name);
    if (all.size() > 1) {
        throw protocol_error("duplicated <" + std::string(name) + "> in <" + parent.name() + ">");
    }
    return all.empty() ? nullptr : all.front();
}

// Shows an untrusted value in a message without letting it flood or garble the terminal.
std::string excerpt(std::string_view text) {
    std::string out;
    for (const char c : text.substr(0, 40)) {
        out += (c >= 0x20 && c < 0x7f) ? c : '?';
    }
    if (text.size() > 40)
        out += "...";
    return out;
}

// A BinarySecurityToken: checks the (unqualified) ValueType and EncodingType it declares.
encoding::Bytes decode_token(const xml::Element& token, std::string_view expected_value_type,
                             std::string_view what) {
    const auto value_type = token.attribute("", "ValueType");
    if (value_type && !expected_value_type.empty() && *value_type != expected_value_type) {
        throw protocol_error(std::string(what) + " has ValueType '" + excerpt(*value_type) +
                             "', expected '" + std::string(expected_value_type) + "'");
    }
    const auto encoding_type = token.attribute("", "EncodingType");
    if (encoding_type && *encoding_type != uri::encoding_base64) {
        throw protocol_error(std::string(what) + " has EncodingType '" + excerpt(*encoding_type) +
                             "', expected base64binary");
    }
    auto bytes = encoding::base64_decode(token.text(), what);
    if (bytes.empty())
        throw protocol_error(std::string(what) + " is empty");
    return bytes;
}

std::string parse_request_id(const xml::Element& response) {
    const auto* element = single(response, ns::wstep, "RequestID");
    if (element == nullptr || element->is_nil())
        return {};
    const auto id = element->trimmed_text();
    if (id.empty())
        return {};
    if (!valid_request_id(id)) {
        throw protocol_error("the RequestID '" + excerpt(id) +
                             "' is not a plausible request id (1-64 printable characters)");
    }
    return std::string(id);
}

std::string parse_reference_uri(const xml::Element& reference_parent) {
    const auto* reference = single(reference_parent, ns::wsse, "Reference");
    if (reference == nullptr) {
        throw protocol_error("missing <Reference> in <SecurityTokenReference>");
    }
    const auto uri_attribute = reference->attribute("", "URI");
    if (!uri_attribute || uri_attribute->empty()) {
        throw protocol_error("the pending response's <Reference> has no URI");
    }
    for (const char c : *uri_attribute) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
            throw protocol_error(
                "the pending response's Reference URI contains control characters");
        }
    }
    if (uri_attribute->size() > kMaxUriLength) {
        throw protocol_error("the pending response's Reference URI is longer than " +
                             std::to_string(kMaxUriLength) + " characters");
    }
    return std::string(*uri_attribute);
}

}  // namespace

SubmitResult parse_submit_response(const xml::Element& payload) {
    if (payload.ns() != ns::wst || payload.name() != "RequestSecurityTokenResponseCollection") {
        throw protocol_error(
            "expected <RequestSecurityTokenResponseCollection> in the CES response, got <" +
            payload.name() + ">");
    }
    const auto responses = payload.find_all(ns::wst, "RequestSecurityTokenResponse");
    if (responses.size() != 1) {
        throw protocol_error("the CES response carries " + std::to_string(responses.size()) +
                             " RequestSecurityTokenResponse elements, expected exactly one");
    }
    const auto& response = *responses.front();

    if (const auto* token_type = single(response, ns::wst, "TokenType");
        token_type != nullptr && token_type->trimmed_text() != uri::token_x509v3) {
        throw protocol_error("the CES response has TokenType '" +
                             excerpt(token_type->trimmed_text()) + "', expected X509v3");
    }

    SubmitResult result;
    if (const auto* message = single(response, ns::wstep, "DispositionMessage");
        message != nullptr && !message->is_nil()) {
        result.disposition_message = std::string(message->trimmed_text());
    }
    if (const auto* pkcs7 = single(response, ns::wsse, "BinarySecurityToken"); pkcs7 != nullptr) {
        // Any ValueType: Windows labels the CMC response wsse #PKCS7, other servers vary.
        result.pkcs7_der = decode_token(*pkcs7, {}, "BinarySecurityToken (PKCS7)");
    }
    result.request_id = parse_request_id(response);

    const auto* requested = single(response, ns::wst, "RequestedSecurityToken");
    const auto* certificate =
        requested != nullptr ? single(*requested, ns::wsse, "BinarySecurityToken") : nullptr;
    const auto* reference =
        requested != nullptr ? single(*requested, ns::wsse, "SecurityTokenReference") : nullptr;
    if (certificate != nullptr && reference != nullptr) {
        throw protocol_error(
            "response carries both a certificate and a pending reference in "
            "<RequestedSecurityToken>");
    }
    if (certificate != nullptr) {
        result.disposition = Disposition::Issued;
        result.certificate_der = decode_token(*certificate, uri::token_x509v3,
                                              "RequestedSecurityToken/BinarySecurityToken");
    } else if (reference != nullptr) {
        result.disposition = Disposition::Pending;
        result.reference_uri = parse_reference_uri(*reference);
        // Without the id there is nothing to retrieve the certificate with later.
        if (result.request_id.empty()) {
            throw protocol_error("the pending response has no RequestID");
        }
    } else {
        throw protocol_error("response carries neither a certificate nor a pending reference");
    }
    return result;
}

}  // namespace certenroll::wstep
