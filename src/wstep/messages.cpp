#include "wstep/messages.hpp"

#include "error.hpp"
#include "soap/namespaces.hpp"

namespace certenroll::wstep {

namespace {

namespace ns = soap::ns;
namespace uri = soap::uri;

std::string str(std::string_view text) {
    return std::string(text);
}

// TokenType and RequestType open both request kinds (schema order of §3.1.4.1.3.3).
xml::Element request_security_token(std::string_view request_type) {
    xml::Element rst(str(ns::wst), "RequestSecurityToken");
    rst.add(str(ns::wst), "TokenType", str(uri::token_x509v3));
    rst.add(str(ns::wst), "RequestType", str(request_type));
    return rst;
}

}  // namespace

std::string_view value_type_uri(TokenFormat format) {
    switch (format) {
        case TokenFormat::Pkcs10:
            return uri::value_pkcs10;
        case TokenFormat::Cms:
            return uri::value_pkcs7;
    }
    throw Error(ErrorKind::Internal, "unknown TokenFormat");
}

bool valid_request_id(std::string_view request_id) {
    if (request_id.empty() || request_id.size() > 64)
        return false;
    for (const char c : request_id) {
        if (c <= 0x20 || c >= 0x7f)
            return false;
    }
    return true;
}

xml::Element build_issue_request(const IssueRequest& request) {
    if (request.token.empty()) {
        throw Error(ErrorKind::Internal, "the RequestSecurityToken has an empty token",
                    "build the certificate request before submitting it");
    }
    auto rst = request_security_token(uri::request_issue);

    // ValueType and EncodingType must stay unqualified: a namespaced EncodingType is rejected by
    // AD CS with "The EncodingType is invalid." (protocol.md §5 item 2).
    auto& token =
        rst.add(str(ns::wsse), "BinarySecurityToken", encoding::base64_encode(request.token));
    token.set_attribute("", "ValueType", str(value_type_uri(request.format)));
    token.set_attribute("", "EncodingType", str(uri::encoding_base64));

    // Omitted when empty, as the spec asks (SHOULD be omitted if empty).
    if (!request.context.empty()) {
        auto& context = rst.add(str(ns::auth), "AdditionalContext");
        for (const auto& item : request.context) {
            if (item.name.empty()) {
                throw Error(ErrorKind::Usage, "a request attribute has an empty name",
                            "write request attributes as NAME=VALUE");
            }
            auto& element = context.add(str(ns::auth), "ContextItem");
            element.set_attribute("", "Name", item.name);
            element.add(str(ns::auth), "Value", item.value);
        }
    }

    // Ignored by the server for an Issue, but present (nil) in every spec example.
    rst.add(str(ns::wstep), "RequestID").set_nil();
    return rst;
}

xml::Element build_query_token_status(std::string_view request_id) {
    if (!valid_request_id(request_id)) {
        throw Error(ErrorKind::Usage,
                    "the request id is empty, longer than 64 characters or not printable ASCII",
                    "pass the request id printed when the request was left pending");
    }
    auto rst = request_security_token(uri::request_query_token_status);
    rst.add(str(ns::wstep), "RequestID", std::string(request_id));
    return rst;
}

}  // namespace certenroll::wstep
