#include "soap/call.hpp"

#include "error.hpp"
#include "soap/namespaces.hpp"
#include "soap/redact.hpp"

namespace certenroll::soap {

Response call(http::Transport& transport, const std::string& url, std::string_view action,
              const xml::Element& payload, std::chrono::system_clock::time_point now,
              const CallOptions& options) {
    RequestHeaders headers;
    headers.action = std::string(action);
    headers.to = url;
    headers.message_id = new_message_id();
    headers.username_token = options.username_token;
    headers.now = now;

    http::Request request;
    request.url = url;
    request.body = build_request(headers, payload);
    // GetPolicies only reads the policy, whoever sends it; RST (Issue or QueryTokenStatus) is
    // idempotent only when the caller says so.
    request.idempotent = options.idempotent || action == action::get_policies;
    request.headers.push_back(
        {"Content-Type", "application/soap+xml; charset=utf-8; action=\"" + headers.action + "\""});
    if (options.username_token) {
        request.credential = http::Credential::UsernameToken;
        request.credential_detail = options.username_token->username;
    }
    if (options.trace)
        options.trace("request to " + url + ":\n" + redact(request.body));

    const auto reply = transport.post(request);
    if (options.trace) {
        options.trace("response HTTP " + std::to_string(reply.status) + ":\n" + redact(reply.body));
    }
    auto response = [&] {
        try {
            return parse_response(reply.status, reply.body, options.limits);
        } catch (const Error& error) {
            // "Come back later" answered to every retry: say that it was not the first try.
            if (reply.attempts <= 1 || (reply.status != 503 && reply.status != 429))
                throw;
            Error retried(
                error.kind(),
                error.message() + " after " + std::to_string(reply.attempts) + " attempts",
                error.hint());
            if (error.hresult())
                retried.with_hresult(*error.hresult());
            throw retried;
        }
    }();
    if (!response.relates_to.empty() && response.relates_to != headers.message_id) {
        throw Error(ErrorKind::Protocol,
                    "the response's RelatesTo (" + response.relates_to +
                        ") does not match the request's MessageID",
                    "a proxy or load balancer may be mixing up responses; retry, and report it "
                    "if it persists");
    }
    return response;
}

}  // namespace certenroll::soap
