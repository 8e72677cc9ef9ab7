#include "flows/certmonger_submit.hpp"

#include "crypto/external_csr.hpp"
#include "error.hpp"
#include "flows/audit_events.hpp"
#include "flows/policy.hpp"
#include "flows/template_rules.hpp"
#include "xcep/endpoints.hpp"

namespace certenroll::flows {

namespace {

std::vector<CesTarget> external_targets(const Connection& connection, const xcep::Policy* policy,
                                        const xcep::Template* tmpl, bool renewal, bool key_based) {
    if (!connection.ces_url.empty())
        return {{connection.ces_url, connection.ca_name}};
    if (policy == nullptr)
        return {};
    const auto endpoints = key_based ? xcep::select_key_based_renewal_endpoints(*policy, *tmpl)
                                     : xcep::select_ces_endpoints(
                                           *policy, *tmpl, connection.credentials.mode, renewal);
    std::vector<CesTarget> targets;
    for (const auto& endpoint : endpoints) {
        if (connection.ca_name.empty() || endpoint.ca_name == connection.ca_name)
            targets.push_back({endpoint.uri, endpoint.ca_name});
    }
    return targets;
}

}  // namespace

ExternalCsrOutcome submit_external_csr(const Context& context, const ExternalCsrRequest& request) {
    if (request.template_name.empty()) {
        throw Error(ErrorKind::Usage, "no template given for the certificate request",
                    "name the template to request (see 'certenroll-cli policy')");
    }
    const auto csr = crypto::read_external_csr(request.csr, "the certificate request");
    ExternalCsrOutcome outcome;
    const Connection& submit_connection =
        request.key_based_submit ? *request.key_based_submit : request.connection;
    auto event = audit_event(context, submit_connection,
                             request.name.empty() ? request.template_name : request.name,
                             request.template_name);
    event.cep_url = request.connection.cep_url;
    event.renewal = !request.signed_renewal.empty();

    std::optional<PolicyResult> policy;
    const xcep::Template* tmpl = nullptr;
    if (!request.connection.cep_url.empty()) {
        policy = load_policy(context, request.connection, request.refresh_policy);
        tmpl = find_template_or_throw(policy->policy, request.template_name);
        if (!request.key_based_submit) {  // the key-based CES checks the certificate instead
            try {
                check_enroll_permission(*tmpl, request.force, outcome.warnings);
            } catch (const Error& error) {
                audit_error(context, event, error, true);
                throw;
            }
        }
    }
    const auto targets =
        external_targets(submit_connection, policy ? &policy->policy : nullptr, tmpl,
                         !request.signed_renewal.empty(), request.key_based_submit.has_value());
    if (targets.empty()) {
        throw Error(ErrorKind::Usage,
                    "no CES URL for template '" + request.template_name + "' with auth " +
                        std::string(xcep::auth_mode_name(submit_connection.credentials.mode)),
                    "pick an auth mode the policy lists for it ('certenroll-cli policy "
                    "--template " +
                        request.template_name + "'), or give the CES URL");
    }

    const wstep::IssueRequest issue =
        request.signed_renewal.empty()
            ? wstep::IssueRequest{csr.der,
                                  wstep::TokenFormat::Pkcs10,
                                  {{"CertificateTemplate", request.template_name}}}
            : wstep::IssueRequest{request.signed_renewal,
                                  wstep::TokenFormat::Cms,
                                  {{"CertificateTemplate", request.template_name}}};
    const auto submission = submit_with_failover(context, submit_connection, targets, issue, event);
    outcome.request_id = submission.result.request_id;
    outcome.ca_name = submission.target.ca_name;
    if (submission.result.disposition == wstep::Disposition::Pending) {
        outcome.status = ExternalCsrOutcome::Status::Pending;
        outcome.ces_url =
            pending_query_url(submission.result, submission.target.url, &outcome.warnings);
        audit_record(context, audit::EventType::Pending, std::move(event));
        return outcome;
    }
    outcome.ces_url = submission.target.url;
    try {
        const auto trusted = policy ? policy_ca_certificates(policy->policy, *tmpl)
                                    : std::vector<crypto::Certificate>{};
        outcome.issued = verify_issued(submission.result, csr.public_key.get(), trusted);
    } catch (const Error& error) {
        audit_not_installed(context, std::move(event), submission.result.certificate_der, error);
        throw;
    }
    outcome.status = ExternalCsrOutcome::Status::Issued;
    event.certificate = audit_certificate(outcome.issued->leaf);
    audit_record(
        context,
        request.signed_renewal.empty() ? audit::EventType::Issued : audit::EventType::Renewed,
        std::move(event));
    return outcome;
}

}  // namespace certenroll::flows
