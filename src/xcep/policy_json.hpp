#pragma once
/// The Policy as JSON, for `policy --json` and scripts.

#include <nlohmann/json.hpp>

#include "xcep/policy.hpp"

namespace certenroll::xcep {

/// The full model: policy_id, friendly_name, next_update_hours, policies_not_changed,
/// templates[] (name and every attribute), cas[] (name, enroll_permission, uris[]), oids[].
nlohmann::json to_json(const Policy& policy);

}  // namespace certenroll::xcep
