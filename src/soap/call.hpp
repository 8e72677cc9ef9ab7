#pragma once
/// Sending one SOAP request over a Transport: the only place requests leave the protocol layer.

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "http/transport.hpp"
#include "soap/envelope.hpp"
#include "xml/xml.hpp"

namespace certenroll::soap {

/// Per-call options.
struct CallOptions {
    std::optional<UsernameToken> username_token;
    /// Receives the redacted request and the response body, for --verbose.
    std::function<void(std::string_view)> trace;
    xml::Limits limits;
    /// The request may be sent again unchanged (QueryTokenStatus; never Issue). GetPolicies always
    /// may.
    bool idempotent = false;
};

/// Posts `payload` to `url` with `action` and returns the parsed response (faults throw).
Response call(http::Transport& transport, const std::string& url, std::string_view action,
              const xml::Element& payload, std::chrono::system_clock::time_point now,
              const CallOptions& options = {});

}  // namespace certenroll::soap
