#pragma once
/// The steps that need the server's answers with credentials: policy (GetPolicies), the cached
/// policy, the --template (exists, may be enrolled, has CES URLs for the auth mode) and each CES
/// URL (a QueryTokenStatus for an unused request ID) and whether the CA behind it answered.

#include <optional>
#include <string>
#include <vector>

#include "diagnose/checklist.hpp"
#include "xcep/endpoints.hpp"
#include "xcep/policy.hpp"

namespace certenroll::diagnose {

/// A class rather than a function: the key-backend step, which runs after these, reads the
/// template they found (owned by the policy they fetched).
class PolicyChecks : Steps {
  public:
    /// `kerberos_principal`: the identity the Kerberos steps found, to name it in messages.
    PolicyChecks(Checklist& checklist, std::string kerberos_principal);

    /// Adds policy, policy-cache, template, template-permission, template-auth, ces and ces-ca.
    void run();

    /// The --template in the live policy; nullptr when it was not given or not found.
    const xcep::Template* checked_template() const { return template_; }

  private:
    std::string kerberos_principal_;
    std::optional<xcep::Policy> live_policy_;
    const xcep::Template* template_ = nullptr;
    std::vector<xcep::CesEndpoint> template_endpoints_;

    std::string credential_blocker() const;
    void policy();
    void policy_cache();
    void template_checks();
    std::vector<xcep::CesEndpoint> ces_endpoints(std::string& reason) const;
    void ces();
};

}  // namespace certenroll::diagnose
