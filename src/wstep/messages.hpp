#pragma once
/// MS-WSTEP requests: the wst:RequestSecurityToken bodies for Issue and QueryTokenStatus
/// (protocol.md §2.1–2.3). Pure builders: no I/O.

#include <string>
#include <string_view>
#include <vector>

#include "encoding/base64.hpp"
#include "xml/xml.hpp"

namespace certenroll::wstep {

/// What the BinarySecurityToken carries; it selects the ValueType URI.
enum class TokenFormat {
    Pkcs10,  ///< a bare PKCS#10: ValueType enrollment#PKCS10
    Cms,     ///< CMS/CMC SignedData (renewal): ValueType wsse …#PKCS7
};

/// One auth:ContextItem (request attribute for the CA), e.g. {"ccm", "host.example.com"}.
struct ContextItem {
    std::string name;
    std::string value;
};

/// An Issue request: a new certificate or a renewal (renewal is an Issue with a CMS token).
struct IssueRequest {
    encoding::Bytes token;  ///< the DER request
    TokenFormat format = TokenFormat::Pkcs10;
    std::vector<ContextItem> context;  ///< sent as AdditionalContext, in this order
};

/// The ValueType URI written for `format`.
std::string_view value_type_uri(TokenFormat format);

/// wst:RequestSecurityToken for an Issue, in schema order; throws an internal Error for an empty
/// token and a usage Error for a context item without a name.
xml::Element build_issue_request(const IssueRequest& request);

/// wst:RequestSecurityToken for QueryTokenStatus (retrieve pending); throws a usage Error for a
/// request id that could not have come from a server (see valid_request_id()).
xml::Element build_query_token_status(std::string_view request_id);

/// True for a plausible CA request id: 1–64 printable ASCII characters, no spaces.
bool valid_request_id(std::string_view request_id);

}  // namespace certenroll::wstep
