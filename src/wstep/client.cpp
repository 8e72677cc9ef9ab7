#include "wstep/client.hpp"

#include "error.hpp"
#include "soap/namespaces.hpp"

namespace certenroll::wstep {

namespace {

// Both Issue and QueryTokenStatus use the RST/wstep action and expect RSTRC/wstep back.
SubmitResult call_ces(http::Transport& transport, const std::string& ces_url,
                      const xml::Element& payload, std::chrono::system_clock::time_point now,
                      const soap::CallOptions& options) {
    const auto response =
        soap::call(transport, ces_url, soap::action::request_security_token, payload, now, options);
    // An absent Action is tolerated (minimal servers omit it); a different one is not.
    if (!response.action.empty() &&
        response.action != soap::action::request_security_token_response) {
        throw Error(
            ErrorKind::Protocol,
            "the CES server answered RequestSecurityToken with action '" + response.action + "'",
            "check that the URL points to a CES (…/service.svc/CES), not a CEP endpoint");
    }
    return parse_submit_response(response.payload);
}

}  // namespace

SubmitResult submit(http::Transport& transport, const std::string& ces_url,
                    const IssueRequest& request, std::chrono::system_clock::time_point now,
                    const soap::CallOptions& options) {
    return call_ces(transport, ces_url, build_issue_request(request), now, options);
}

SubmitResult query_token_status(http::Transport& transport, const std::string& ces_url,
                                std::string_view request_id,
                                std::chrono::system_clock::time_point now,
                                const soap::CallOptions& options) {
    soap::CallOptions idempotent = options;
    idempotent.idempotent = true;  // asking about a request changes nothing; Issue is not retried
    auto result =
        call_ces(transport, ces_url, build_query_token_status(request_id), now, idempotent);
    // Some servers leave the id out of an issued reply; it can only be the one we asked about.
    if (result.request_id.empty()) {
        result.request_id = std::string(request_id);
    } else if (result.request_id != request_id && result.disposition == Disposition::Issued) {
        // A certificate may still be ours (the server may forget the request once it has
        // answered): the caller checks its key and chain before installing it.
        result.mismatched_request_id = std::move(result.request_id);
        result.request_id = std::string(request_id);
    } else if (result.request_id != request_id) {
        throw Error(ErrorKind::Protocol,
                    "asked for request " + std::string(request_id) +
                        " but the CES server answered about request " + result.request_id,
                    "retry; if it persists, the server or a proxy is mixing up requests");
    }
    return result;
}

}  // namespace certenroll::wstep
