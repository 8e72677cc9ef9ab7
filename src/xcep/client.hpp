#pragma once
/// Fetching the policy from a CEP server: one GetPolicies call.

#include <chrono>
#include <string>

#include "http/transport.hpp"
#include "soap/call.hpp"
#include "xcep/get_policies.hpp"
#include "xcep/policy.hpp"

namespace certenroll::xcep {

/// A fetched policy and the response element it came from (for the cache).
struct FetchResult {
    Policy policy;
    xml::Element payload;
};

/// Sends GetPolicies to `cep_url` and parses the reply; a reply with another action is a protocol
/// Error. Transport and SOAP faults propagate as their Errors.
FetchResult fetch_policy_response(http::Transport& transport, const std::string& cep_url,
                                  const GetPoliciesOptions& options,
                                  std::chrono::system_clock::time_point now,
                                  const soap::CallOptions& call_options = {});

/// fetch_policy_response() without the raw payload.
Policy fetch_policy(http::Transport& transport, const std::string& cep_url,
                    const GetPoliciesOptions& options, std::chrono::system_clock::time_point now,
                    const soap::CallOptions& call_options = {});

}  // namespace certenroll::xcep
