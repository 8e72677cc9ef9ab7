#include "flows/issuance.hpp"

#include <openssl/evp.h>

#include <chrono>
#include <filesystem>

#include "crypto/pkcs12.hpp"
#include "crypto/pkcs7.hpp"
#include "error.hpp"
#include "flows/audit_events.hpp"
#include "flows/template_rules.hpp"
#include "http/url.hpp"
#include "soap/call.hpp"
#include "soap/namespaces.hpp"
#include "store/atomic_file.hpp"
#include "store/replacement.hpp"
#include "wstep/client.hpp"
#include "wstep/server_fault.hpp"
#include "xcep/endpoints.hpp"

namespace certenroll::flows {

namespace fs = std::filesystem;

namespace {

std::string pem_of(const std::vector<crypto::Certificate>& certificates) {
    std::string pem;
    for (const auto& certificate : certificates) {
        pem += certificate.to_pem();
    }
    return pem;
}

}  // namespace

namespace {

Submission submit_in_order(const Context& context, const Connection& connection,
                           const std::vector<CesTarget>& targets,
                           const wstep::IssueRequest& request, audit::Event& about) {
    if (targets.empty()) {
        throw Error(ErrorKind::Usage, "no CES URL to submit to",
                    "pass --ces-url, or check with 'certenroll-cli policy --template NAME' which "
                    "CES endpoints the policy offers for your --auth mode");
    }
    const auto transport = open_transport(context, connection);
    std::optional<Error> last_network_error;
    for (const auto& target : targets) {
        context.diagnostics.step("submitting to " + target.url +
                                 (target.ca_name.empty() ? "" : " (CA " + target.ca_name + ")"));
        about.ces_url = target.url;
        about.ca_name = target.ca_name;
        audit_require(context, audit::EventType::RequestSubmitted, about);
        const auto sent = std::chrono::steady_clock::now();
        try {
            return {wstep::submit(*transport, target.url, request, context.clock(),
                                  call_options(context, connection.credentials)),
                    target};
        } catch (const Error& fault) {
            wstep::FaultContext facts;
            facts.answer_time = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - sent);
            facts.key_based_renewal = target.key_based_renewal;
            facts.policy_lists_template_at_ca = target.policy_lists_template_at_ca;
            facts.policy_grants_enroll = target.policy_grants_enroll;
            facts.template_name = target.template_name;
            facts.ca_name = target.ca_name;
            const Error error = wstep::explain_ces_fault(fault, facts);
            if (error.kind() != ErrorKind::Network) {
                throw error;
            }
            context.diagnostics.step("  " + error.message() + "; trying the next CES URL");
            last_network_error = error;
        }
    }
    throw *last_network_error;
}

}  // namespace

std::vector<CesTarget> ces_targets(const Connection& connection, const xcep::Policy* policy,
                                   const xcep::Template* tmpl) {
    if (!connection.ces_url.empty()) {
        CesTarget given{connection.ces_url, connection.ca_name};
        if (tmpl != nullptr) {
            given.policy_grants_enroll = tmpl->permission_enroll;
            given.template_name = tmpl->common_name;
        }
        return {given};
    }
    std::vector<CesTarget> targets;
    for (const auto& endpoint :
         xcep::select_ces_endpoints(*policy, *tmpl, connection.credentials.mode, false)) {
        if (connection.ca_name.empty() || endpoint.ca_name == connection.ca_name) {
            targets.push_back({endpoint.uri, endpoint.ca_name});
            targets.back().policy_lists_template_at_ca = true;
            targets.back().policy_grants_enroll = tmpl->permission_enroll;
            targets.back().template_name = tmpl->common_name;
        }
    }
    return targets;
}

// Remembered so that a later key-based renewal needs nothing but the certificate.
std::string key_based_renewal_url(const xcep::Policy& policy, const xcep::Template& tmpl,
                                  const std::string& ca_name) {
    for (const auto& endpoint : xcep::select_key_based_renewal_endpoints(policy, tmpl)) {
        // A certificate CES that is not renewal-only is most likely the ordinary one, which wants
        // a certificate mapped to an account.
        if (endpoint.ca_name == ca_name &&
            (endpoint.renewal_only || endpoint.auth == xcep::AuthMode::Anonymous))
            return endpoint.uri;
    }
    return {};
}

Submission submit_with_failover(const Context& context, const Connection& connection,
                                const std::vector<CesTarget>& targets,
                                const wstep::IssueRequest& request, audit::Event& about) {
    try {
        auto submission = submit_in_order(context, connection, targets, request, about);
        about.request_id = submission.result.request_id;
        return submission;
    } catch (const Error& error) {
        audit_error(context, about, error);
        throw;
    }
}

wstep::SubmitResult query_pending(const Context& context, const Connection& connection,
                                  const std::string& ces_url, const std::string& request_id) {
    const auto transport = open_transport(context, connection);
    context.diagnostics.step("asking " + ces_url + " about request " + request_id);
    const auto sent = std::chrono::steady_clock::now();
    try {
        return wstep::query_token_status(*transport, ces_url, request_id, context.clock(),
                                         call_options(context, connection.credentials));
    } catch (const Error& fault) {
        wstep::FaultContext facts;
        facts.call = wstep::CesCall::QueryTokenStatus;
        facts.answer_time = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - sent);
        facts.request_id = request_id;
        throw wstep::explain_ces_fault(fault, facts);
    }
}

IssuedChain verify_issued(const wstep::SubmitResult& result, evp_pkey_st* key,
                          const std::vector<crypto::Certificate>& trusted_cas) {
    IssuedChain issued{crypto::Certificate::from_der(result.certificate_der), {}};
    if (!issued.leaf.matches_key(key)) {
        // The CA did issue it: the request ID is what its administrators look it up by.
        const std::string request =
            result.request_id.empty() ? "" : " for request " + result.request_id;
        throw Error(ErrorKind::Protocol,
                    "the certificate issued" + request + " (serial " + issued.leaf.serial_hex() +
                        ") is not for our key",
                    "the CES returned someone else's certificate; report request " +
                        (result.request_id.empty() ? std::string("(no ID)") : result.request_id) +
                        " and the serial to the CA admins")
            .with_request_id(result.request_id);
    }
    std::vector<crypto::Certificate> pool;
    if (!result.pkcs7_der.empty()) {
        pool = crypto::certificates_from_pkcs7(result.pkcs7_der);
    }
    pool.insert(pool.end(), trusted_cas.begin(), trusted_cas.end());
    auto chain = crypto::build_chain(issued.leaf, pool);
    chain.erase(chain.begin());  // build_chain starts with the leaf itself
    if (chain.empty()) {
        throw Error(ErrorKind::Protocol,
                    "no issuer of the certificate '" + issued.leaf.subject() + "' in the response",
                    "the CES response lacks the CA chain; report it to the CA admins");
    }
    if (!trusted_cas.empty()) {
        const bool anchored = std::any_of(chain.begin(), chain.end(), [&](const auto& ca) {
            return std::any_of(trusted_cas.begin(), trusted_cas.end(), [&](const auto& trusted) {
                return trusted.sha256_thumbprint() == ca.sha256_thumbprint();
            });
        });
        if (!anchored) {
            throw Error(ErrorKind::Protocol,
                        "the chain of '" + issued.leaf.subject() +
                            "' does not lead to a CA named in the enrollment policy",
                        "the CES and CEP disagree about the CA; report it to the CA admins");
        }
    }
    issued.chain = std::move(chain);
    return issued;
}

namespace {

// The chain checked against --ca-bundle, else the platform's trust.
void check_trusted_chain(const IssuedChain& issued, const std::string& ca_bundle, TimePoint now) {
    if (ca_bundle.empty()) {
        crypto::verify_chain_to_platform_trust(issued.leaf, issued.chain, now);
        return;
    }
    const auto pem = store::read_file(ca_bundle);
    if (!pem) {
        throw Error(ErrorKind::Usage, "the CA bundle " + ca_bundle + " does not exist",
                    "pass the PEM file of your CA certificates to --ca-bundle");
    }
    crypto::verify_chain(issued.leaf, issued.chain, crypto::Certificate::all_from_pem(*pem), now);
}

// Certificate, chain, fullchain, DER and PFX written beside their targets, then switched in
// together with `staged_key` (a new key already on disk) over outputs.key and with the managed
// record describing them: a crash leaves the old set and record or, rolled forward, the new ones.
void install_certificate(const store::StateDirectory& state,
                         const store::ManagedCertificate& managed, const IssuedChain& issued,
                         evp_pkey_st* key, const std::string& pfx_password,
                         const fs::path& staged_key) {
    const std::string& name = managed.name;
    const store::OutputPaths& outputs = managed.outputs;
    constexpr auto public_mode = fs::perms::owner_read | fs::perms::owner_write |
                                 fs::perms::group_read | fs::perms::others_read;
    store::FileSetReplacement replacement(state.journal_dir(), name);
    // Everything is written before anything is switched in.
    replacement.stage(outputs.chain, pem_of(issued.chain), public_mode);
    replacement.stage(outputs.fullchain, issued.leaf.to_pem() + pem_of(issued.chain), public_mode);
    if (!outputs.p7b.empty() || !outputs.p7b_der.empty()) {
        std::vector<crypto::Certificate> bundle{issued.leaf};
        bundle.insert(bundle.end(), issued.chain.begin(), issued.chain.end());
        if (!outputs.p7b.empty())
            replacement.stage(outputs.p7b, crypto::certs_only_pkcs7_pem(bundle), public_mode);
        if (!outputs.p7b_der.empty()) {
            const auto der = crypto::certs_only_pkcs7_der(bundle);
            replacement.stage(outputs.p7b_der, std::string(der.begin(), der.end()), public_mode);
        }
    }
    if (!outputs.pfx.empty()) {
        const auto pfx = crypto::build_pfx(
            key, issued.leaf, issued.chain, pfx_password, name,
            outputs.pfx_legacy ? crypto::PfxEncryption::Legacy3Des : crypto::PfxEncryption::Aes256);
        replacement.stage(outputs.pfx, std::string(pfx.begin(), pfx.end()),
                          fs::perms::owner_read | fs::perms::owner_write);
    }
    if (!outputs.certificate_der.empty()) {
        const auto der = issued.leaf.to_der();
        replacement.stage(outputs.certificate_der, std::string(der.begin(), der.end()),
                          public_mode);
    }
    replacement.stage(outputs.certificate, issued.leaf.to_pem(), public_mode);
    replacement.stage_existing(staged_key, outputs.key);
    state.save_certificate(managed, &replacement);
    replacement.commit();
}

}  // namespace

IssuedCertificate describe(const crypto::Certificate& certificate) {
    return {certificate.subject(),           certificate.issuer(),     certificate.serial_hex(),
            certificate.sha256_thumbprint(), certificate.not_before(), certificate.not_after()};
}

store::OutputPaths default_outputs(const store::StateDirectory& state, const std::string& name,
                                   store::OutputPaths outputs, const fs::path& out_dir,
                                   const OutputFormats& formats) {
    // In the state directory each certificate has its own folder; in a user's --out-dir the
    // files carry the name instead, so several certificates can share the directory.
    const bool own_dir = out_dir.empty();
    const fs::path dir = own_dir ? state.live_dir(name) : out_dir;
    auto fill = [&](fs::path& path, const char* live_name, const std::string& suffix) {
        if (path.empty())
            path = dir / (own_dir ? std::string(live_name) : name + suffix);
    };
    fill(outputs.key, "key.pem", ".key.pem");  // always: the key is on disk before the request
    if (formats.pem) {
        fill(outputs.certificate, "cert.pem", ".cert.pem");
        fill(outputs.chain, "chain.pem", ".chain.pem");
        fill(outputs.fullchain, "fullchain.pem", ".fullchain.pem");
    }
    if (formats.der)
        fill(outputs.certificate_der, "cert.der", ".cert.der");
    if (formats.pfx)
        fill(outputs.pfx, "cert.pfx", ".pfx");
    if (formats.p7b)
        fill(outputs.p7b, "cert.p7b", ".p7b");
    if (formats.p7b_der)
        fill(outputs.p7b_der, "cert.der.p7b", ".der.p7b");
    if (outputs.certificate.empty() && outputs.certificate_der.empty() && outputs.pfx.empty() &&
        outputs.p7b.empty() && outputs.p7b_der.empty()) {
        throw Error(ErrorKind::Usage, "no output file for the certificate",
                    "use --format pem|der|pfx|p7b|p7b-der or --cert-out/--pfx-out");
    }
    return outputs;
}

std::string pending_query_url(const wstep::SubmitResult& result, const std::string& sent_to,
                              std::vector<std::string>* warnings) {
    const std::string& reference = result.reference_uri;
    if (reference.empty())
        return sent_to;
    // Servers have been seen to put the bare request ID ("61") there; saving that made the
    // request unretrievable.
    if (const auto parts = http::parse_url(reference);
        parts && parts->scheme == "https" && reference.starts_with("https://")) {
        return reference;
    }
    if (warnings != nullptr) {
        warnings->push_back("the CES named '" + reference.substr(0, 200) +
                            "' as the place to ask about request " + result.request_id +
                            ", which is not an https:// URL; " + sent_to +
                            " will be asked instead");
    }
    return sent_to;
}

namespace {

store::ManagedCertificate managed_record(const RequestRecord& request,
                                         const crypto::Certificate& leaf, TimePoint now,
                                         const std::string& noted_result) {
    store::ManagedCertificate record;
    record.name = request.name;
    record.template_name = request.template_name;
    record.endpoint = request.endpoint;
    record.key_backend = request.key_backend;
    record.key_reference = request.key_reference;
    record.outputs = request.outputs;
    record.serial = leaf.serial_hex();
    record.not_before = leaf.not_before();
    record.not_after = leaf.not_after();
    record.renewal_period_seconds = request.renewal_period_seconds;
    record.updated_at = now;
    record.deploy_hook = request.deploy_hook;
    record.renewable = request.renewable;
    record.subject = leaf.subject();
    if (!noted_result.empty())
        record.last_outcome = store::Outcome{now, noted_result, "serial " + record.serial};
    return record;
}

void save_pending(const Context& context, const Submission& submission,
                  const RequestRecord& request, std::vector<std::string>* warnings,
                  audit::Event event) {
    store::PendingRequest pending;
    pending.name = request.name;
    pending.request_id = submission.result.request_id;
    pending.template_name = request.template_name;
    pending.endpoint = request.endpoint;
    pending.endpoint.ces_url =
        pending_query_url(submission.result, submission.target.url, warnings);
    pending.key_backend = request.key_backend;
    pending.key_reference =
        request.staged_key.empty() ? request.key_reference : request.staged_key.string();
    pending.outputs = request.outputs;
    pending.renewal_period_seconds = request.renewal_period_seconds;
    pending.submitted_at = context.clock();
    pending.deploy_hook = request.deploy_hook;
    pending.renewal = request.renewal;
    pending.public_key = request.public_key;
    pending.renewable = request.renewable;
    pending.key_generated = request.key_generated;
    context.state.save_pending(pending);
    audit_record(context, audit::EventType::Pending, std::move(event));
}

}  // namespace

IssuedChain install_issued(const Context& context, const wstep::SubmitResult& result,
                           const RequestRecord& record, const keys::Key& key,
                           const Installation& installation, audit::Event event) {
    std::optional<IssuedChain> issued;
    try {
        const auto trusted = installation.policy != nullptr && installation.tmpl != nullptr
                                 ? policy_ca_certificates(*installation.policy, *installation.tmpl)
                                 : std::vector<crypto::Certificate>{};
        issued.emplace(verify_issued(result, key.get(), trusted));
        if (result.mismatched_request_id) {
            // Not the request asked about: installed only because it carries our key (checked
            // above) and chains to a CA we trust.
            check_trusted_chain(*issued, installation.ca_bundle, context.clock());
            if (installation.warnings != nullptr) {
                installation.warnings->push_back(
                    "the CES answered request " + result.request_id + " with RequestID " +
                    *result.mismatched_request_id +
                    "; the certificate carries this request's key and chains to a trusted CA, "
                    "so it was installed");
            }
        }
        install_certificate(
            context.state,
            managed_record(record, issued->leaf, context.clock(), installation.noted_result),
            *issued, key.get(), installation.pfx_password, record.staged_key);
        if (installation.store_on_token)
            context.keys->store_on_token(key, issued->leaf.x509());
        if (installation.answered != nullptr)
            context.state.remove_pending(*installation.answered);
    } catch (const Error& error) {
        audit_not_installed(context, std::move(event), result.certificate_der, error);
        throw;
    }
    event.certificate = audit_certificate(issued->leaf);
    audit_record(context, installation.event, std::move(event));
    return std::move(*issued);
}

std::optional<IssuedChain> complete_request(const Context& context, const Submission& submission,
                                            const RequestRecord& record, const keys::Key& key,
                                            const Installation& installation, audit::Event event) {
    if (submission.result.disposition == wstep::Disposition::Pending) {
        save_pending(context, submission, record, installation.warnings, std::move(event));
        return std::nullopt;
    }
    return install_issued(context, submission.result, record, key, installation, std::move(event));
}

}  // namespace certenroll::flows
