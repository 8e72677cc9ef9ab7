#pragma once
// Where a renewal reads its policy and where it submits: the recorded endpoints, the command
// line's, or, for key-based renewal, AD CS's certificate-authenticated CES and key-based renewal
// CEP (see key_based_connections in the .cpp).

#include <filesystem>
#include <string>
#include <vector>

#include "flows/context.hpp"
#include "flows/issuance.hpp"
#include "flows/renew.hpp"
#include "store/state.hpp"
#include "xcep/policy.hpp"

namespace certenroll::flows {

// Where a renewal fetches its policy and where it submits; the same for all but key-based
// renewal.
struct RenewalConnections {
    Connection policy;  ///< cep_url empty: no policy is read
    Connection submit;  ///< ces_url set: the one URL to submit to
    bool key_based = false;
};

/// Where the current certificate is, in whichever format enroll wrote it (the record knows): the
/// PEM file, else the DER file, else the PFX.
std::filesystem::path certificate_file(const store::OutputPaths& outputs);

bool renews_key_based(const store::ManagedCertificate& record, const RenewOptions& options);

RenewalConnections connections_for(const store::ManagedCertificate& record,
                                   const RenewOptions& options);

/// The CES URLs to try, in order: the one given, else the policy's for the template (the
/// key-based renewal endpoints for a key-based renewal), else the recorded one.
std::vector<CesTarget> renewal_targets(const RenewalConnections& connections,
                                       const xcep::Policy* policy, const xcep::Template* tmpl,
                                       const std::string& recorded_url);

}  // namespace certenroll::flows
