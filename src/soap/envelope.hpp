#pragma once
/// SOAP 1.2 request envelopes with WS-Addressing (and optional WS-Security) headers, and the
/// parsing of responses, faults included.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "secret.hpp"
#include "xml/xml.hpp"

namespace certenroll::soap {

/// WS-Security UsernameToken credentials; the password is never logged (see redact()).
struct UsernameToken {
    std::string username;
    SecretString password;
};

/// The header values of one request.
struct RequestHeaders {
    std::string action;      ///< a:Action, mustUnderstand
    std::string to;          ///< a:To, mustUnderstand: the endpoint URL
    std::string message_id;  ///< "urn:uuid:…", see new_message_id()
    std::optional<UsernameToken> username_token;
    std::chrono::system_clock::time_point now;  ///< wsu:Timestamp Created; Expires is 5 min later
};

/// A fresh `urn:uuid:` RFC 4122 version 4 identifier from the OpenSSL CSPRNG.
std::string new_message_id();

/// The complete request document.
std::string build_request(const RequestHeaders& headers, const xml::Element& body_payload);

/// A successful response: its addressing headers and the first element inside s:Body.
struct Response {
    std::string action;
    std::string relates_to;
    xml::Element payload;
};

/// Parses a response received with `http_status`. A SOAP fault throws the matching Error whatever
/// the status; a non-2xx status without a SOAP body throws a network Error; anything else that is
/// not a SOAP 1.2 envelope with a non-empty Body throws a protocol Error.
Response parse_response(long http_status, std::string_view body, const xml::Limits& limits = {});

/// UTC xs:dateTime with milliseconds, as WS-Security timestamps are written.
std::string format_utc_timestamp(std::chrono::system_clock::time_point time);

}  // namespace certenroll::soap
