#pragma once
/// The policy use case: what may be requested, from CEP, through the per-identity cache.

#include "flows/context.hpp"
#include "xcep/policy.hpp"

namespace certenroll::flows {

struct PolicyResult {
    xcep::Policy policy;
    bool from_cache = false;
    TimePoint fetched_at{};
};

/// The policy of `connection.cep_url` for this identity: from the cache while it is fresh
/// (nextUpdateHours), else fetched with lastUpdate so an unchanged policy costs one small reply.
/// `refresh` forces a fetch.
PolicyResult load_policy(const Context& context, const Connection& connection, bool refresh);

/// The identity a cached policy belongs to (policies differ per user).
std::string policy_identity(const Credentials& credentials);

}  // namespace certenroll::flows
