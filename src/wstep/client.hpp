#pragma once
/// Talking to one CES URL: submit an Issue request, or ask for the status of a pending one.
/// Failover between URLs belongs to the flow, not here.

#include <chrono>
#include <string>
#include <string_view>

#include "http/transport.hpp"
#include "soap/call.hpp"
#include "wstep/messages.hpp"
#include "wstep/response.hpp"

namespace certenroll::wstep {

/// Settings for CES calls.
struct CesClientOptions {
    soap::CallOptions call;
};

/// Sends an Issue RequestSecurityToken to `ces_url`. Returns issued or pending; a denial (SOAP
/// fault) throws the soap layer's Error, a reply with another action a protocol Error.
SubmitResult submit(http::Transport& transport, const std::string& ces_url,
                    const IssueRequest& request, std::chrono::system_clock::time_point now,
                    const soap::CallOptions& options = {});

/// Sends QueryTokenStatus for `request_id` to `ces_url` (the pending response's reference URI).
/// A pending reply about another request id is a protocol Error; an issued one is returned with
/// `mismatched_request_id` set, for the caller to check the certificate itself.
SubmitResult query_token_status(http::Transport& transport, const std::string& ces_url,
                                std::string_view request_id,
                                std::chrono::system_clock::time_point now,
                                const soap::CallOptions& options = {});

}  // namespace certenroll::wstep
