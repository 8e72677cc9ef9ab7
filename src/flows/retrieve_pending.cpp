#include "flows/retrieve_pending.hpp"

#include <filesystem>
#include <optional>

#include "crypto/external_csr.hpp"
#include "error.hpp"
#include "flows/audit_events.hpp"
#include "flows/deploy_hook.hpp"
#include "flows/issuance.hpp"
#include "flows/outcome.hpp"
#include "keys/pkcs11_uri.hpp"

namespace certenroll::flows {

namespace {

// A denial is final: a key made for the request can never be used (no certificate will come for
// it), so it goes. A renewal's staged key (key.pem.new) beside the current one, and an
// enrollment's generated key file; never a key given with --key, a token key or the current key.
void remove_denied_key(const store::PendingRequest& pending) {
    if (keys::is_pkcs11_uri(pending.key_reference) || pending.key_reference.empty())
        return;
    const bool staged = pending.renewal && pending.key_reference != pending.outputs.key.string();
    const bool generated = !pending.renewal && pending.key_generated;
    if (staged || generated) {
        std::error_code ignored;
        std::filesystem::remove(pending.key_reference, ignored);
    }
}

// The deploy hook a renewal recorded, run once its certificate is in place.
void run_recorded_hook(const Context& context, const store::PendingRequest& pending,
                       const crypto::Certificate& leaf, const std::string& previous_serial) {
    if (pending.deploy_hook.empty())
        return;
    store::ManagedCertificate record;
    record.name = pending.name;
    record.template_name = pending.template_name;
    record.outputs = pending.outputs;
    context.diagnostics.step("running deploy hook for " + pending.name);
    const int status =
        context.run_hook(pending.deploy_hook, hook_environment(record, leaf, previous_serial));
    if (status != 0) {
        throw Error(ErrorKind::Local,
                    "the deploy hook of '" + pending.name + "' exited with status " +
                        std::to_string(status),
                    "the new certificate is in place; fix the hook and run it by hand");
    }
}

EnrollOutcome ask_and_install(const Context& context, const RetrieveRequest& request,
                              const store::PendingRequest& pending) {
    EnrollOutcome outcome;
    outcome.name = pending.name;
    outcome.template_name = pending.template_name;
    outcome.request_id = pending.request_id;
    outcome.ces_url = pending.endpoint.ces_url;
    outcome.ca_name = pending.endpoint.ca_name;
    outcome.files = pending.outputs;

    if (!pending.denied.empty()) {
        throw Error(ErrorKind::Denied,
                    "request " + pending.request_id + " was denied: " + pending.denied,
                    "submit a new request with 'certenroll-cli enroll'")
            .with_request_id(pending.request_id);
    }
    // --ces-url: the request is asked about there instead of at the URL recorded with it (a
    // moved server, or a reference the CES got wrong).
    const std::string ces_url =
        request.connection.ces_url.empty() ? pending.endpoint.ces_url : request.connection.ces_url;
    outcome.ces_url = ces_url;
    const store::Endpoint settings =
        merge_settings(request.settings.command_line, pending.endpoint, request.settings.defaults);
    Connection connection =
        request.auth_from_record
            ? with_settings(request.connection, settings, request.read_secret)
            : with_transport_settings(request.connection, settings, request.read_secret);
    connection.ces_url = ces_url;
    const SecretString key_passphrase =
        !request.key_passphrase.empty()
            ? request.key_passphrase
            : SecretString(optional_secret(request.read_secret, settings.key_passphrase, nullptr,
                                           "--key-passphrase-file"));
    const SecretString pfx_password =
        !request.pfx_password.empty() || pending.outputs.pfx.empty()
            ? request.pfx_password
            : SecretString(optional_secret(request.read_secret, settings.pfx_password,
                                           "CERTENROLL_PFX_PASSWORD", "--pfx-password-file"));
    auto event = audit_event(context, connection, pending.name, pending.template_name);
    event.cep_url = pending.endpoint.cep_url;
    event.ces_url = ces_url;
    event.ca_name = pending.endpoint.ca_name;
    event.request_id = pending.request_id;
    event.renewal = pending.renewal;
    event.key_backend = pending.key_backend;
    wstep::SubmitResult result;
    try {
        result = query_pending(context, connection, ces_url, pending.request_id);
    } catch (const Error& error) {
        // A denial is final: remember it so later runs do not ask again. An enrollment's key
        // stays on disk (enroll --key can reuse it); a renewal's staged key beside the current
        // one (key.pem.new) will never be switched in, so it goes.
        if (error.kind() == ErrorKind::Denied) {
            auto denied = pending;
            denied.denied = error.message();
            context.state.save_pending(denied);
            remove_denied_key(pending);
            audit_error(context, event, error);
        }
        throw;
    }
    // Still pending is no event: cron polls every few minutes, and nothing changed.
    if (result.disposition == wstep::Disposition::Pending) {
        outcome.status = EnrollOutcome::Status::Pending;
        return outcome;
    }

    // From here on the CA has issued a certificate: a failure is recorded with its facts.
    std::optional<keys::Key> key;
    try {
        // A CSR made elsewhere (enroll --csr without --key) has only its public key here,
        // which is all it takes to check that the certificate is for that request.
        key = pending.key_reference.empty() && !pending.public_key.empty()
                  ? keys::Key(crypto::public_key_from_pem(
                                  pending.public_key,
                                  "the pending record of request " + pending.request_id),
                              "none", "")
                  : context.keys->load(pending.key_reference, key_passphrase);
        audit_key(event, *key);
        outcome.key_description = keys::describe(keys::spec_of(key->get()));
    } catch (const Error& error) {
        audit_not_installed(context, event, result.certificate_der, error);
        throw;
    }
    outcome.key_reference = pending.key_reference;
    // A renewal's new key file waits beside the old one until its certificate arrives; a token
    // key is already where it stays.
    const bool key_file = !keys::is_pkcs11_uri(pending.key_reference);
    const RequestRecord record{
        .name = pending.name,
        .template_name = pending.template_name,
        .endpoint = pending.endpoint,
        .key_backend = pending.key_backend,
        .key_reference = key_file ? pending.outputs.key.string() : pending.key_reference,
        .staged_key = key_file && pending.key_reference != pending.outputs.key.string()
                          ? pending.key_reference
                          : "",
        .outputs = pending.outputs,
        .renewal_period_seconds = pending.renewal_period_seconds,
        .deploy_hook = pending.deploy_hook,
        .renewal = pending.renewal,
        .public_key = pending.public_key,
        .renewable = pending.renewable};
    const Installation installation{.event = audit::EventType::Retrieved,
                                    .policy = nullptr,
                                    .tmpl = nullptr,
                                    .pfx_password = pfx_password,
                                    .store_on_token = false,
                                    .answered = &pending,
                                    .warnings = &outcome.warnings,
                                    .ca_bundle = connection.http.ca_bundle};
    std::string previous_serial;
    if (pending.renewal) {
        if (const auto current = context.state.find_certificate(pending.name))
            previous_serial = current->serial;
    }
    const auto issued =
        install_issued(context, result, record, *key, installation, std::move(event));
    outcome.status = EnrollOutcome::Status::Issued;
    outcome.certificate = describe(issued.leaf);
    run_recorded_hook(context, pending, issued.leaf, previous_serial);
    return outcome;
}

}  // namespace

EnrollOutcome retrieve_recorded(const Context& context, const RetrieveRequest& request,
                                const store::PendingRequest& pending) {
    try {
        auto outcome = ask_and_install(context, request, pending);
        if (outcome.status == EnrollOutcome::Status::Issued) {
            note_outcome(
                context, pending.name, "", "issued",
                "request " + pending.request_id + " issued, serial " + outcome.certificate->serial);
        } else {
            note_outcome(context, pending.name, pending.request_id, "pending",
                         "request " + pending.request_id + " is pending CA manager approval");
        }
        return outcome;
    } catch (const Error& error) {
        note_failure(context, pending.name, pending.request_id, error);
        throw;
    }
}

std::vector<RetrieveResult> retrieve_pending(const Context& context,
                                             const RetrieveRequest& request) {
    if (!request.all) {
        const auto pending = context.state.find_pending(request.request_id);
        if (!pending) {
            throw Error(
                ErrorKind::Usage,
                "no pending request " + request.request_id + " in " + context.state.root().string(),
                "see the recorded requests with 'certenroll-cli list', or pass the "
                "--state-dir used for enroll");
        }
        return {{retrieve_recorded(context, request, *pending), std::nullopt}};
    }
    std::vector<RetrieveResult> results;
    // One failing request must not stop the others (cron runs this unattended).
    for (const auto& pending : context.state.list_pending()) {
        if (!pending.denied.empty()) {
            continue;  // final; shown by 'retrieve-pending ID'
        }
        try {
            results.push_back({retrieve_recorded(context, request, pending), std::nullopt});
        } catch (const Error& error) {
            EnrollOutcome outcome;
            outcome.name = pending.name;
            outcome.template_name = pending.template_name;
            outcome.request_id = pending.request_id;
            outcome.ces_url = pending.endpoint.ces_url;
            results.push_back({outcome, error});
        }
    }
    return results;
}

}  // namespace certenroll::flows
