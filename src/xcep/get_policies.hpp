#pragma once
/// The MS-XCEP GetPolicies request and the parsing of its response into a Policy.

#include <chrono>
#include <optional>
#include <string>

#include "xcep/policy.hpp"
#include "xml/xml.hpp"

namespace certenroll::xcep {

/// What the client tells the server in GetPolicies.
struct GetPoliciesOptions {
    /// Time of the last successful full retrieval (sent in GMT); nullopt sends nil = "send all".
    std::optional<std::chrono::system_clock::time_point> last_update;
    /// xs:language such as "en-US"; empty sends nil.
    std::string preferred_language;
    /// requestFilter versions; nullopt sends nil. 0/0 by default: with nil some servers return no
    /// templates, while 0 means "the server's maximum" (MS-XCEP §3.1.4.1.3.22, cepces #74).
    std::optional<int> client_version = 0;
    std::optional<int> server_version = 0;
};

/// The GetPolicies body element (client, requestFilter with policyOIDs nil).
xml::Element build_get_policies(const GetPoliciesOptions& options);

/// Reads a GetPoliciesResponse element. Every reference (policyOIDReference, cAReference,
/// oIDReference, algorithm and hash references) must resolve and every field must be well-formed,
/// else a protocol Error names the policy and element. Nil collections mean no templates.
Policy parse_get_policies_response(const xml::Element& payload);

}  // namespace certenroll::xcep
