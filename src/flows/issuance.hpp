#pragma once
/// Steps shared by enroll, retrieve-pending and renew: submit with failover, then, once the CA
/// has answered, save the pending request or check what it issued, put the files in place
/// without ever leaving a half-written set, record the managed certificate and audit it.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "audit/event.hpp"
#include "crypto/certificate.hpp"
#include "flows/context.hpp"
#include "flows/enroll.hpp"
#include "keys/key_backend.hpp"
#include "secret.hpp"
#include "store/state.hpp"
#include "wstep/messages.hpp"
#include "wstep/response.hpp"
#include "xcep/policy.hpp"

namespace certenroll::flows {

/// One CES URL and the CA behind it.
struct CesTarget {
    std::string url;
    std::string ca_name;
    /// What the policy says about this CA and the template, to tell the CA's refusals of the
    /// server side from the client's own (wstep::explain_ces_fault); unknown with --ces-url.
    bool policy_lists_template_at_ca = false;
    std::optional<bool> policy_grants_enroll = std::nullopt;
    /// A key-based renewal CES: the client certificate maps to no account.
    bool key_based_renewal = false;
    std::string template_name = {};  ///< the policy's template, when there is one
    bool renewal_only = false;       ///< listed for renewals only (renewalOnly in the policy)
};

struct Submission {
    wstep::SubmitResult result;
    CesTarget target;
};

/// Where a request for `tmpl` goes: --ces-url when given, else the policy's CES URLs for the
/// connection's auth mode (narrowed to --ca when given), in the policy's order.
std::vector<CesTarget> ces_targets(const Connection& connection, const xcep::Policy* policy,
                                   const xcep::Template* tmpl);

/// The CA's key-based renewal CES URL for `tmpl`, remembered so that a later key-based renewal
/// needs nothing but the certificate; "" when the policy offers none.
std::string key_based_renewal_url(const xcep::Policy& policy, const xcep::Template& tmpl,
                                  const std::string& ca_name);

/// Sends the request to each target in order. Moves to the next only on network errors: a denial
/// or an authentication failure would be the same at the next URL, and resubmitting could
/// create duplicate requests at the CA. Each attempt is first recorded in the audit log as
/// `request_submitted`: the facts of `about`, which is updated with the URL and CA of each
/// target tried (so an error's event names where the request went), then with the request ID.
/// A request that ends in an error is recorded as `denied` or `failed` before the Error
/// propagates. A CES fault is explained first (wstep::explain_ces_fault, with the answer time
/// measured here): a failure behind CES (it cannot reach the CA) is a network error and so also
/// moves on to the next URL, whose CES may reach the CA.
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

/// Checks an issued result: the certificate carries our public key (else a protocol Error naming
/// the request ID, for the CA's administrators), and its chain builds by issuer/subject from the
/// PKCS#7 certificates, ending at one of `trusted_cas` when given.
IssuedChain verify_issued(const wstep::SubmitResult& result, evp_pkey_st* key,
                          const std::vector<crypto::Certificate>& trusted_cas);

/// The facts rendered for an issued certificate.
IssuedCertificate describe(const crypto::Certificate& certificate);

/// Fills empty output paths for the requested formats: under the state directory's live/<name>/
/// (key.pem, cert.pem, ...), or in `out_dir` as <name>.key.pem, <name>.cert.pem, ... when given.
store::OutputPaths default_outputs(const store::StateDirectory& state, const std::string& name,
                                   store::OutputPaths outputs,
                                   const std::filesystem::path& out_dir = {},
                                   const OutputFormats& formats = {});

/// What is recorded about a request whichever way the CA answers it: the pending record that
/// retrieve-pending completes, or, once issued, the managed certificate that renew keeps fresh.
struct RequestRecord {
    std::string name;
    std::string template_name;
    /// Kept with the certificate. A pending record polls the CES URL the CA named instead (else
    /// the one that answered).
    store::Endpoint endpoint;
    std::string key_backend;
    std::string key_reference;  ///< the key once its certificate is in place
    /// A new key file written beside `outputs.key` before the request left (a renewal's
    /// key.pem.new): a pending record names it, an issued certificate switches it in with the
    /// other files. Empty when the key already is where it stays.
    std::filesystem::path staged_key;
    store::OutputPaths outputs;
    long long renewal_period_seconds = 0;
    std::string deploy_hook;
    bool renewal = false;  ///< a renewal of the managed certificate `name`
    /// A CSR made elsewhere (flows/external_csr.hpp): its public key (PEM) when no key
    /// certenroll-cli can load goes with it, and whether renew can renew it.
    std::string public_key{};
    bool renewable = true;
    /// The key was generated for this request (enroll without --key): removed if it is denied.
    bool key_generated = false;
};

/// How an issued certificate is checked, put in place and recorded.
struct Installation {
    audit::EventType event = audit::EventType::Issued;  ///< issued, renewed or retrieved
    /// When a policy was read: the chain must end at one of the template's CAs in it.
    const xcep::Policy* policy = nullptr;
    const xcep::Template* tmpl = nullptr;
    SecretString pfx_password;
    bool store_on_token = false;  ///< also put the certificate on the key's token
    /// The pending record the certificate answers (retrieve-pending): removed once the
    /// certificate is recorded.
    const store::PendingRequest* answered = nullptr;
    /// Where warnings about the answer go (a pending reference that cannot be used, a reply
    /// about another request ID); may be null.
    std::vector<std::string>* warnings = nullptr;
    /// The CA bundle (--ca-bundle; empty = the platform's trust): an issued certificate whose
    /// reply names another request than the one asked about must chain to it.
    std::string ca_bundle;
    /// When set ("issued"), the record is written with this last outcome and "serial N" as its
    /// message, in the same commit as the files, so that the caller need not write it again.
    std::string noted_result{};
};

/// Where to ask about a pending request later: the reply's Reference URI when it is an absolute
/// https:// URL, else (a bare request ID, a relative path, another scheme) the URL the request
/// went to, with a warning in `warnings`.
std::string pending_query_url(const wstep::SubmitResult& result, const std::string& sent_to,
                              std::vector<std::string>* warnings);

/// The tail of enroll and renew once the CA has answered `submission` for `key`. Pending: the
/// record is saved for retrieve-pending, with the key where it is now (`staged_key`, else
/// `key_reference`), the `pending` event is recorded, and nothing is returned. Issued: see
/// install_issued.
std::optional<IssuedChain> complete_request(const Context& context, const Submission& submission,
                                            const RequestRecord& record, const keys::Key& key,
                                            const Installation& installation, audit::Event event);

/// An issued certificate put in place: checked (verify_issued), written with the staged key as
/// one crash-safe replacement (the previous files stay usable until the new set is complete,
/// and are kept as `<file>.prev`), stored on the token when asked, saved as the managed
/// certificate, and `installation.event` recorded. An error on the way is recorded as `failed`
/// with the facts of the certificate, which the CA did issue, and rethrown; a staged key then
/// stays beside the current one.
IssuedChain install_issued(const Context& context, const wstep::SubmitResult& result,
                           const RequestRecord& record, const keys::Key& key,
                           const Installation& installation, audit::Event event);

}  // namespace certenroll::flows
