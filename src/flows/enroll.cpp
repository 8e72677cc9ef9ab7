#include "flows/enroll.hpp"

#include <algorithm>
#include <filesystem>

#include "encoding/base64.hpp"
#include "error.hpp"
#include "flows/audit_events.hpp"
#include "flows/issuance.hpp"
#include "flows/outcome.hpp"
#include "flows/policy.hpp"
#include "flows/template_rules.hpp"
#include "keys/pkcs11_uri.hpp"
#include "keys/software_key.hpp"
#include "soap/envelope.hpp"
#include "soap/fault.hpp"
#include "soap/namespaces.hpp"
#include "soap/redact.hpp"
#include "store/atomic_file.hpp"
#include "wstep/messages.hpp"
#include "xcep/endpoints.hpp"

namespace certenroll::flows {

namespace fs = std::filesystem;

namespace {

// The key is generated (or reused) and on disk before any request leaves, so that a pending or
// failed request can always be completed or retried with the same key.
// A token key stays on the token: its reference is its URI, and no key file is written.
// A key file this tool generated for a request the CA has not accepted yet is noted in the state
// directory first (a crash leaves the note, never a key nobody owns): the next enroll of the
// same name reuses it if it fits, or replaces it. Any other existing file is never overwritten.
keys::Key prepare_key(const Context& context, const EnrollRequest& request, keys::KeySpec spec,
                      const std::string& name, const fs::path& key_path) {
    if (!request.existing_key.empty()) {
        context.diagnostics.step("reusing key " + request.existing_key);
        return context.keys->load(request.existing_key, request.key_passphrase);
    }
    const bool on_token = request.key_backend == "pkcs11";
    std::error_code ec;
    if (!on_token && fs::exists(key_path, ec)) {
        const auto attempt = context.state.find_key_attempt(name);
        if (!attempt || *attempt != key_path) {
            throw Error(ErrorKind::Usage, "key file " + key_path.string() + " already exists",
                        "pass --key " + key_path.string() +
                            " to reuse it, or choose another --name or --key-out");
        }
        try {
            auto key = context.keys->load(key_path.string(), request.key_passphrase);
            if (keys::describe(keys::spec_of(key.get())) == keys::describe(spec) &&
                key.backend() == request.key_backend) {
                context.diagnostics.step("reusing the key of the unanswered attempt " +
                                         key_path.string());
                return key;
            }
        } catch (const Error&) {
            // Unreadable with this passphrase: certified for nothing, so replaced below.
        }
        context.diagnostics.step("replacing the key of the unanswered attempt " +
                                 key_path.string());
    }
    if (!on_token)
        context.state.save_key_attempt(name, key_path);
    context.diagnostics.step("generating " + keys::describe(spec) + " key (" + request.key_backend +
                             ")");
    spec.label = name;
    auto key = context.keys->generate(request.key_backend, spec);
    const auto content = context.keys->key_file_content(key, request.key_passphrase);
    if (!content)
        return key;
    store::write_file_atomic(key_path, *content);
    return key.with_reference(key_path.string());
}

// A key the CA refused (too small, wrong algorithm or curve) can never be used for the template,
// nor one of a request it denied: it goes, and so does its folder in the state directory when
// nothing else is in it, so that the next attempt starts clean.
void discard_new_key(const fs::path& key_path, bool own_dir) {
    std::error_code ec;
    fs::remove(key_path, ec);
    if (own_dir && fs::is_empty(key_path.parent_path(), ec) && !ec)
        fs::remove(key_path.parent_path(), ec);
}

std::string pem_block(const encoding::Bytes& der, const char* label) {
    const std::string b64 = encoding::base64_encode(der);
    std::string pem = std::string("-----BEGIN ") + label + "-----\n";
    for (std::size_t i = 0; i < b64.size(); i += 64)
        pem += b64.substr(i, 64) + "\n";
    return pem + "-----END " + label + "-----\n";
}

// Everything up to the point where the request would leave, without side effects.
EnrollOutcome dry_run(const Context& context, const EnrollRequest& request, const RequestPlan& plan,
                      const std::vector<CesTarget>& targets, EnrollOutcome outcome) {
    // The preview key is made in memory even for hardware backends: nothing is created.
    const keys::Key key = request.existing_key.empty()
                              ? keys::SoftwareKeyBackend().generate(plan.key_spec)
                              : context.keys->load(request.existing_key, request.key_passphrase);
    outcome.key_description = keys::describe(keys::spec_of(key.get()));
    check_signature_request(request.rsa_pss, key);
    const auto csr = crypto::build_csr(plan.csr, key.get());
    outcome.csr_pem = pem_block(csr, "CERTIFICATE REQUEST");
    soap::RequestHeaders headers;
    headers.action = std::string(soap::action::request_security_token);
    headers.to = targets.front().url;
    headers.message_id = soap::new_message_id();
    if (request.connection.credentials.mode == xcep::AuthMode::UsernamePassword) {
        headers.username_token =
            soap::UsernameToken{request.connection.credentials.username, "***"};
    }
    headers.now = context.clock();
    outcome.request_xml = soap::redact(soap::build_request(
        headers, wstep::build_issue_request({csr, wstep::TokenFormat::Pkcs10, {}})));
    for (const auto& target : targets)
        outcome.ces_urls.push_back(target.url);
    outcome.ces_url = targets.front().url;
    outcome.ca_name = targets.front().ca_name;
    outcome.status = EnrollOutcome::Status::DryRun;
    return outcome;
}

EnrollOutcome enroll_attempt(const Context& context, const EnrollRequest& request) {
    EnrollOutcome outcome;
    outcome.template_name = request.template_name;
    outcome.name = request.name.empty() ? request.template_name : request.name;
    store::check_record_name(outcome.name);
    context.state.require_trusted();  // before a key is written below it or a request is sent
    if (request.template_name.empty()) {
        throw Error(ErrorKind::Usage, "no template given",
                    "pass --template NAME (see 'certenroll-cli policy')");
    }

    auto event = audit_event(context, request.connection, outcome.name, request.template_name);

    // 1. What the policy allows: the template's key, hash and subject rules, and where to send.
    std::optional<PolicyResult> policy;
    const xcep::Template* tmpl = nullptr;
    if (!request.connection.cep_url.empty()) {
        policy = load_policy(context, request.connection, request.refresh_policy);
        tmpl = find_template_or_throw(policy->policy, request.template_name);
        try {
            check_enroll_permission(*tmpl, request.force, outcome.warnings);
        } catch (const Error& error) {
            // Refused here, from the policy: still an attempt a SIEM wants to see.
            if (!request.dry_run)
                audit_error(context, event, error, true);
            throw;
        }
    }
    RequestPlan plan = plan_request(tmpl, request.template_name, request.key_spec, request.subject,
                                    request.sans, outcome.warnings);
    plan.csr.rsa_pss = plan.csr.rsa_pss || request.rsa_pss;
    const auto targets = ces_targets(request.connection, policy ? &policy->policy : nullptr, tmpl);
    if (targets.empty()) {
        throw Error(ErrorKind::Usage,
                    "the policy offers no CES URL for template '" + request.template_name +
                        "' with --auth " +
                        std::string(xcep::auth_mode_name(request.connection.credentials.mode)),
                    "pick the --auth mode the policy lists ('certenroll-cli policy --template " +
                        request.template_name + "'), or pass --ces-url");
    }

    if (request.dry_run) {
        return dry_run(context, request, plan, targets, std::move(outcome));
    }

    // 2. The key, on disk before the request leaves.
    const auto outputs = default_outputs(context.state, outcome.name, request.outputs,
                                         request.out_dir, request.formats);
    outcome.files = outputs;
    // Device keys cannot be exported into a PFX: say so before a key or a request is made.
    const bool pfx = request.formats.pfx || !request.outputs.pfx.empty();
    if (pfx && (keys::is_hardware_backend(request.key_backend) ||
                keys::is_pkcs11_uri(request.existing_key))) {
        throw Error(ErrorKind::Usage,
                    "a PFX needs an exportable key, and a " + request.key_backend +
                        " key never leaves its device",
                    "use --format pem (key reference plus certificate files)");
    }
    if (request.store_on_token && request.key_backend != "pkcs11" &&
        !keys::is_pkcs11_uri(request.existing_key)) {
        throw Error(ErrorKind::Usage, "--store-on-token needs a key on a PKCS#11 token",
                    "use --key-backend pkcs11");
    }
    keys::Key key = prepare_key(context, request, plan.key_spec, outcome.name, outputs.key);
    const bool generated_file =
        request.existing_key.empty() && key.reference() == outputs.key.string();
    if (!request.existing_key.empty())
        check_key_against_template(key, tmpl);
    if (key.reference() != outputs.key.string())
        outcome.files.key = keys::is_pkcs11_uri(key.reference()) ? "" : key.reference();
    outcome.key_reference = key.reference();
    outcome.key_description = keys::describe(keys::spec_of(key.get()));

    // 3. The CSR, signed with the template's hash (RSASSA-PSS when asked for).
    check_signature_request(request.rsa_pss, key);
    const auto csr = crypto::build_csr(plan.csr, key.get());

    // 4. Submit, failing over between CES URLs on network errors only.
    audit_key(event, key);
    audit_request(event, plan.csr);
    const auto submission = [&] {
        try {
            return submit_with_failover(context, request.connection, targets,
                                        {csr, wstep::TokenFormat::Pkcs10, {}}, event);
        } catch (const Error& error) {
            // Any other failure (authentication, TLS, network, ...) keeps the key and its
            // attempt note: the CA has not certified it, and the retry reuses it.
            const bool refused = error.kind() == ErrorKind::Denied ||
                                 (error.hresult() && soap::refuses_the_key(*error.hresult()));
            if (refused && generated_file) {
                discard_new_key(outputs.key,
                                request.out_dir.empty() && request.outputs.key.empty());
                context.state.remove_key_attempt(outcome.name);
            }
            throw;
        }
    }();
    // The CA has the request: the key now belongs to it (pending or issued), never removed. (A
    // note left by an earlier attempt goes too, also when this one reused its key with --key.)
    context.state.remove_key_attempt(outcome.name);
    outcome.request_id = submission.result.request_id;
    outcome.ces_url = submission.target.url;
    outcome.ca_name = submission.target.ca_name;
    store::Endpoint endpoint = request.settings;
    endpoint.cep_url = request.connection.cep_url;
    endpoint.ces_url = submission.target.url;
    endpoint.ca_name = submission.target.ca_name;
    if (request.rsa_pss)
        endpoint.signature = "rsa-pss";  // renew signs the same way (flows/renew.cpp)
    record_auth(request.connection.credentials, endpoint);
    if (policy && xcep::allows_key_based_renewal(*tmpl)) {
        endpoint.renewal_url =
            key_based_renewal_url(policy->policy, *tmpl, submission.target.ca_name);
    }

    // 5. Pending: saved for retrieve-pending. Issued: checked to be ours and to chain to the
    // policy's CA, then written out and recorded as a managed certificate.
    const RequestRecord record{.name = outcome.name,
                               .template_name = request.template_name,
                               .endpoint = endpoint,
                               .key_backend = std::string(key.backend()),
                               .key_reference = key.reference(),
                               .staged_key = {},  // the key was written in its place
                               .outputs = outcome.files,
                               .renewal_period_seconds = tmpl ? tmpl->renewal_seconds : 0,
                               .deploy_hook = {},
                               .renewal = false,
                               .key_generated = request.existing_key.empty()};
    const Installation installation{.event = audit::EventType::Issued,
                                    .policy = policy ? &policy->policy : nullptr,
                                    .tmpl = tmpl,
                                    .pfx_password = request.pfx_password,
                                    .store_on_token = request.store_on_token,
                                    .answered = nullptr,
                                    .warnings = &outcome.warnings,
                                    .ca_bundle = request.connection.http.ca_bundle,
                                    .noted_result = "issued"};
    const auto issued =
        complete_request(context, submission, record, key, installation, std::move(event));
    if (!issued) {
        outcome.status = EnrollOutcome::Status::Pending;
        return outcome;
    }
    outcome.certificate = describe(issued->leaf);
    return outcome;
}

}  // namespace

EnrollOutcome enroll(const Context& context, const EnrollRequest& request) {
    // The outcome goes into the records it concerns (list shows it); a first enrollment that
    // fails has none yet, a re-enrollment of a managed name does.
    const std::string name = request.name.empty() ? request.template_name : request.name;
    try {
        auto outcome = enroll_attempt(context, request);
        // An issued certificate's record was written with its outcome (Installation's
        // noted_result): no second write of it.
        if (outcome.status == EnrollOutcome::Status::Pending) {
            note_outcome(context, name, outcome.request_id, "pending",
                         "request " + outcome.request_id + " is pending CA manager approval");
        }
        return outcome;
    } catch (const Error& error) {
        if (!request.dry_run)
            note_failure(context, name, "", error);
        throw;
    }
}

}  // namespace certenroll::flows
