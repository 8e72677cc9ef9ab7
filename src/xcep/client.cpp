#include "xcep/client.hpp"

#include "error.hpp"
#include "soap/namespaces.hpp"

namespace certenroll::xcep {

FetchResult fetch_policy_response(http::Transport& transport, const std::string& cep_url,
                                  const GetPoliciesOptions& options,
                                  std::chrono::system_clock::time_point now,
                                  const soap::CallOptions& call_options) {
    auto response = soap::call(transport, cep_url, soap::action::get_policies,
                               build_get_policies(options), now, call_options);
    // An absent Action is tolerated (some minimal servers omit it); a different one is not.
    if (!response.action.empty() && response.action != soap::action::get_policies_response) {
        throw Error(ErrorKind::Protocol,
                    "the CEP server answered GetPolicies with action '" + response.action + "'",
                    "check that --url points to a CEP (…/service.svc/CEP), not a CES endpoint");
    }
    Policy policy = parse_get_policies_response(response.payload);
    return {std::move(policy), std::move(response.payload)};
}

Policy fetch_policy(http::Transport& transport, const std::string& cep_url,
                    const GetPoliciesOptions& options, std::chrono::system_clock::time_point now,
                    const soap::CallOptions& call_options) {
    return fetch_policy_response(transport, cep_url, options, now, call_options).policy;
}

}  // namespace certenroll::xcep
