#pragma once
/// MS-WSTEP responses: the RequestSecurityTokenResponseCollection of an Issue or a
/// QueryTokenStatus, decoded into issued or pending (protocol.md §2.4). Denials arrive as SOAP
/// faults and are errors thrown by the soap layer, not values here.

#include <optional>
#include <string>

#include "encoding/base64.hpp"
#include "xml/xml.hpp"

namespace certenroll::wstep {

/// The server's decision for a request that was not refused.
enum class Disposition { Issued, Pending };

/// A decoded RequestSecurityTokenResponse.
struct SubmitResult {
    Disposition disposition = Disposition::Pending;
    std::string request_id;           ///< opaque CA request id; always set when pending
    std::string disposition_message;  ///< the CA's text: "Issued", "Taken Under Submission", …
    encoding::Bytes certificate_der;  ///< the issued end-entity certificate (issued only)
    encoding::Bytes pkcs7_der;        ///< the CMC response (#PKCS7); empty if the server sent none
    std::string reference_uri;        ///< where to send QueryTokenStatus (pending only)
    /// Set by query_token_status when an issued reply names another request than the one asked
    /// about (servers have answered with RequestID 0): what it named. `request_id` stays the
    /// one asked about; the caller decides whether the certificate is still ours.
    std::optional<std::string> mismatched_request_id;
};

/// Decodes `payload`, the wst:RequestSecurityTokenResponseCollection element; anything that is
/// not exactly one well-formed issued or pending response throws a protocol Error.
SubmitResult parse_submit_response(const xml::Element& payload);

}  // namespace certenroll::wstep
