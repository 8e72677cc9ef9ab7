#pragma once
/// Steps shared by enroll, retrieve-pending and renew: submit with failover, check what the CA
/// issued, and put the files in place without ever leaving a half-written set.

#include <filesystem>
#include <string>
#include <vector>

#include "audit/event.hpp"
#include "crypto/certificate.hpp"
#include "flows/context.hpp"
#include "flows/enroll.hpp"
#include "store/state.hpp"
#include "wstep/messages.hpp"
#include "wstep/response.hpp"

namespace certenroll::flows {

/// One CES URL and the CA behind it.
struct CesTarget {
    std::string url;
    std::string ca_name;
};

struct Submission {
    wstep::SubmitResult result;
    CesTarget target;
};

/// Sends the request to each target in order. Moves to the next only on network errors: a denial
/// or an authentication failure would be the same at the next URL, and resubmitting could
/// create duplicate requests at the CA. Each attempt is first recorded in the audit log as
/// `request_submitted`: the facts of `about`, which is updated with the URL and CA of each
/// target tried (so an error's event names where the request went), then with the request ID.
/// A request that ends in an error is recorded as `denied` or `failed` before the Error
/// propagates.
Submission submit_with_failover(const Context& context, const Connection& connection,
                                const std::vector<CesTarget>& targets,
                                const wstep::IssueRequest& request, audit::Event& about);

/// Polls a pending request (QueryTokenStatus) at its CES URL.
wstep::SubmitResult query_pending(const Context& context, const Connection& connection,
                                  const std::string& ces_url, const std::string& request_id);

/// The leaf and its issuing chain (leaf excluded, nearest issuer first).
struct IssuedChain {
    crypto::Certificate leaf;
    std::vector<crypto::Certificate> chain;
};

/// Checks an issued result: the certificate carries our public key, and its chain builds by
/// issuer/subject from the PKCS#7 certificates, ending at one of `trusted_cas` when given.
IssuedChain verify_issued(const wstep::SubmitResult& result, evp_pkey_st* key,
                          const std::vector<crypto::Certificate>& trusted_cas);

/// Writes certificate, chain, fullchain and PFX (and switches in `staged_key`, a new key already
/// on disk, over outputs.key) as one crash-safe replacement: the previous versions stay usable
/// until the new set is complete and are kept as `<file>.prev`.
void install_certificate(const store::StateDirectory& state, const std::string& name,
                         const store::OutputPaths& outputs, const IssuedChain& issued,
                         evp_pkey_st* key, const std::string& pfx_password,
                         const std::filesystem::path& staged_key = {});

/// The facts rendered for an issued certificate.
IssuedCertificate describe(const crypto::Certificate& certificate);

/// Fills empty output paths for the requested formats: under the state directory's live/<name>/
/// (key.pem, cert.pem, ...), or in `out_dir` as <name>.key.pem, <name>.cert.pem, ... when given.
store::OutputPaths default_outputs(const store::StateDirectory& state, const std::string& name,
                                   store::OutputPaths outputs,
                                   const std::filesystem::path& out_dir = {},
                                   const OutputFormats& formats = {});

/// The pending record becomes a managed certificate once issued.
store::ManagedCertificate managed_record(const std::string& name, const std::string& template_name,
                                         const store::Endpoint& endpoint,
                                         const std::string& key_backend,
                                         const std::string& key_reference,
                                         const store::OutputPaths& outputs,
                                         const crypto::Certificate& leaf,
                                         long long renewal_period_seconds, TimePoint now);

}  // namespace certenroll::flows
