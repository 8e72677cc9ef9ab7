#include "flows/external_csr.hpp"

#include <openssl/evp.h>

#include "crypto/cms.hpp"
#include "error.hpp"
#include "flows/audit_events.hpp"
#include "flows/renewal_connections.hpp"
#include "flows/template_rules.hpp"
#include "keys/pkcs11_uri.hpp"
#include "wstep/messages.hpp"

namespace certenroll::flows {

namespace {

// A request whose private key is elsewhere is handled through its public key alone: that is all
// verify_issued and the records need. Keys other than RSA and EC are refused before sending,
// as they are for keys certenroll-cli makes.
keys::Key public_key_only(const crypto::ExternalCsr& csr) {
    try {
        return keys::Key(csr.public_key, "none", "");
    } catch (const Error& error) {
        throw Error(ErrorKind::Usage, "the CSR's key: " + error.message(), error.hint());
    }
}

crypto::CsrSpec requested(const crypto::ExternalCsr& csr) {
    crypto::CsrSpec spec;
    spec.subject = csr.subject;
    spec.sans = csr.sans;
    return spec;
}

}  // namespace

encoding::Bytes signed_renewal_request(const crypto::ExternalCsr& csr, const SignedRenewal& renewal,
                                       const xcep::Template* tmpl) {
    // The template's hash and signature format apply to both signatures, as in renew.
    const std::string hash = csr_hash_name(tmpl);
    const bool rsa_pss = tmpl != nullptr && xcep::requires_alternate_signature(*tmpl);
    const auto renewal_csr = crypto::add_renewal_certificate(
        csr.der, renewal.certificate, renewal.request_key.get(), hash,
        rsa_pss && renewal.request_key.algorithm() == keys::KeyAlgorithm::Rsa);
    return crypto::sign_renewal_request(
        renewal_csr, renewal.certificate, renewal.certificate_key.get(), hash,
        rsa_pss && renewal.certificate_key.algorithm() == keys::KeyAlgorithm::Rsa);
}

CsrSubmission submit_csr(const Context& context, const CsrSubmitRequest& request,
                         audit::Event& event) {
    if (request.template_name.empty()) {
        throw Error(ErrorKind::Usage, "no template given",
                    "pass --template NAME (see 'certenroll-cli policy')");
    }
    const keys::Key key = public_key_only(request.csr);
    const bool key_based = request.renewal && request.key_based_submit;
    const Connection& submit_connection =
        key_based ? *request.key_based_submit : request.connection;
    event.renewal = request.renewal.has_value();
    CsrSubmission out;
    if (!request.connection.cep_url.empty()) {
        out.policy = load_policy(context, request.connection, request.refresh_policy);
        out.tmpl = find_template_or_throw(out.policy->policy, request.template_name);
        if (!key_based) {  // the key-based renewal CES checks the certificate instead
            try {
                check_enroll_permission(*out.tmpl, request.force, out.warnings);
            } catch (const Error& error) {
                audit_error(context, event, error, true);
                throw;
            }
        }
        check_csr_against_template(request.csr, *out.tmpl, out.warnings);
    }
    const xcep::Policy* policy = out.policy ? &out.policy->policy : nullptr;
    const auto targets = request.renewal
                             ? renewal_targets({request.connection, submit_connection, key_based},
                                               policy, out.tmpl, "")
                             : ces_targets(request.connection, policy, out.tmpl);
    if (targets.empty()) {
        throw Error(ErrorKind::Usage,
                    "the policy offers no CES URL for template '" + request.template_name +
                        "' with --auth " +
                        std::string(xcep::auth_mode_name(submit_connection.credentials.mode)),
                    "pick the --auth mode the policy lists ('certenroll-cli policy --template " +
                        request.template_name + "'), or pass --ces-url");
    }
    wstep::IssueRequest issue =
        request.renewal
            ? wstep::IssueRequest{signed_renewal_request(request.csr, *request.renewal, out.tmpl),
                                  wstep::TokenFormat::Cms,
                                  {}}
            : wstep::IssueRequest{request.csr.der, wstep::TokenFormat::Pkcs10, {}};
    if (request.csr.template_name.empty() && request.csr.template_id.oid.empty()) {
        // The request names no template and cannot be changed: the CA reads the template from
        // this request attribute instead (MS-WCCE "CertificateTemplate", as certreq -attrib).
        const std::string name = out.tmpl ? out.tmpl->common_name : request.template_name;
        context.diagnostics.step("the CSR names no template; naming '" + name +
                                 "' in the CertificateTemplate request attribute");
        issue.context.push_back({"CertificateTemplate", name});
    }
    audit_key(event, key);
    audit_request(event, requested(request.csr));
    out.submission = submit_with_failover(context, submit_connection, targets, issue, event);
    if (out.submission.result.disposition == wstep::Disposition::Issued) {
        try {
            const auto trusted = out.tmpl ? policy_ca_certificates(out.policy->policy, *out.tmpl)
                                          : std::vector<crypto::Certificate>{};
            out.issued.emplace(verify_issued(out.submission.result, key.get(), trusted));
        } catch (const Error& error) {
            audit_not_installed(context, event, out.submission.result.certificate_der, error);
            throw;
        }
    }
    return out;
}

EnrollOutcome enroll_csr(const Context& context, const CsrEnrollRequest& request) {
    const auto& submit = request.submit;
    EnrollOutcome outcome;
    outcome.template_name = submit.template_name;
    outcome.name = request.name.empty() ? submit.template_name : request.name;
    store::check_record_name(outcome.name);
    context.state.require_trusted();
    if (request.formats.pfx || !request.outputs.pfx.empty()) {
        throw Error(ErrorKind::Usage, "no PFX from --csr: the private key is not ours to export",
                    "use --format pem, der, p7b or p7b-der; build the PFX where the key is");
    }
    // The key, when given, must be the CSR's own: it is what a renewal will sign with.
    std::optional<keys::Key> key;
    if (!request.key_reference.empty()) {
        key = context.keys->load(request.key_reference, request.key_passphrase);
        if (EVP_PKEY_eq(key->get(), submit.csr.public_key.get()) != 1) {
            throw Error(ErrorKind::Usage,
                        "the key " + request.key_reference + " is not the CSR's key",
                        "pass the private key the CSR was made with, or leave --key out");
        }
    }
    auto outputs = default_outputs(context.state, outcome.name, request.outputs, request.out_dir,
                                   request.formats);
    // No key file is ever written: the key (if any) stays where it is.
    outputs.key = key && !keys::is_pkcs11_uri(key->reference()) ? key->reference() : "";
    outcome.files = outputs;
    outcome.key_reference = key ? key->reference() : "";
    const keys::Key used = key ? *key : public_key_only(submit.csr);
    outcome.key_description = keys::describe(keys::spec_of(used.get()));

    auto event = audit_event(context, submit.connection, outcome.name, submit.template_name);
    auto submitted = submit_csr(context, submit, event);
    outcome.warnings = std::move(submitted.warnings);
    const auto& submission = submitted.submission;
    outcome.request_id = submission.result.request_id;
    outcome.ces_url = submission.target.url;
    outcome.ca_name = submission.target.ca_name;

    store::Endpoint endpoint;
    endpoint.cep_url = submit.connection.cep_url;
    endpoint.ces_url = submission.target.url;
    endpoint.ca_name = submission.target.ca_name;
    record_auth(submit.connection.credentials, endpoint);
    if (key && submitted.tmpl && xcep::allows_key_based_renewal(*submitted.tmpl)) {
        endpoint.renewal_url = key_based_renewal_url(submitted.policy->policy, *submitted.tmpl,
                                                     submission.target.ca_name);
    }
    const RequestRecord record{
        .name = outcome.name,
        .template_name = submitted.tmpl ? submitted.tmpl->common_name : submit.template_name,
        .endpoint = endpoint,
        .key_backend = key ? std::string(key->backend()) : std::string(),
        .key_reference = outcome.key_reference,
        .staged_key = {},
        .outputs = outputs,
        .renewal_period_seconds = submitted.tmpl ? submitted.tmpl->renewal_seconds : 0,
        .deploy_hook = {},
        .renewal = false,
        .public_key = key ? std::string() : crypto::public_key_pem(submit.csr.public_key.get()),
        .renewable = key.has_value()};
    const Installation installation{
        .event = audit::EventType::Issued,
        .policy = submitted.policy ? &submitted.policy->policy : nullptr,
        .tmpl = submitted.tmpl,
        .pfx_password = {},
        .store_on_token = false,
        .answered = nullptr,
        .warnings = &outcome.warnings,
        .ca_bundle = submit.connection.http.ca_bundle};
    const auto issued =
        complete_request(context, submission, record, used, installation, std::move(event));
    if (!issued) {
        outcome.status = EnrollOutcome::Status::Pending;
        return outcome;
    }
    outcome.certificate = describe(issued->leaf);
    return outcome;
}

}  // namespace certenroll::flows
