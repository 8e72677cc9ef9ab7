#include "flows/renew.hpp"

#include <algorithm>
#include <filesystem>
#include <random>

#include "crypto/cms.hpp"
#include "crypto/csr.hpp"
#include "crypto/pkcs12.hpp"
#include "encoding/time_text.hpp"
#include "flows/audit_events.hpp"
#include "flows/issuance.hpp"
#include "flows/outcome.hpp"
#include "flows/pending_pickup.hpp"
#include "flows/policy.hpp"
#include "flows/renewal_connections.hpp"
#include "flows/template_rules.hpp"
#include "keys/pkcs11_uri.hpp"
#include "store/atomic_file.hpp"
#include "store/lock.hpp"
#include "store/replacement.hpp"
#include "xcep/endpoints.hpp"

namespace certenroll::flows {

namespace fs = std::filesystem;
using encoding::format_time_utc;
using std::chrono::seconds;

namespace {

// The current certificate; from a PFX only with its password.
crypto::Certificate load_certificate(const store::ManagedCertificate& record,
                                     const std::string& pfx_password) {
    const auto& outputs = record.outputs;
    const fs::path path = certificate_file(outputs);
    if (path.empty()) {
        throw Error(ErrorKind::Local,
                    "the record of '" + record.name + "' names no certificate file",
                    "enroll again");
    }
    const auto data = store::read_file(path);
    if (!data) {
        throw Error(
            ErrorKind::Local,
            "the certificate file " + path.string() + " of '" + record.name + "' is missing",
            "restore it from " + path.string() + ".prev, or enroll again");
    }
    if (path == outputs.certificate)
        return crypto::Certificate::from_pem(*data, path.string());
    const encoding::Bytes der(data->begin(), data->end());
    if (path == outputs.certificate_der)
        return crypto::Certificate::from_der(der);
    if (pfx_password.empty()) {
        throw Error(ErrorKind::Usage,
                    "'" + record.name + "' is written as a PFX, which needs a password",
                    "pass --pfx-password-file FILE or set CERTENROLL_PFX_PASSWORD");
    }
    auto contents = crypto::read_pfx(der, pfx_password);
    if (!contents.certificate) {
        throw Error(ErrorKind::Local,
                    path.string() + " of '" + record.name + "' holds no certificate",
                    "restore it from " + path.string() + ".prev, or enroll again");
    }
    return std::move(*contents.certificate);
}

// Removes a file when it goes out of scope, unless keep() was called.
class StagedFile {
  public:
    StagedFile() = default;
    StagedFile(const StagedFile&) = delete;
    StagedFile& operator=(const StagedFile&) = delete;
    ~StagedFile() {
        if (!path.empty()) {
            std::error_code ignored;
            fs::remove(path, ignored);
        }
    }
    void keep() { path.clear(); }
    fs::path path;
};

// What renew needs to know about one certificate, gathered without any network traffic.
struct Subject {
    store::ManagedCertificate record;
    crypto::Certificate certificate;
    TimePoint due_at;
};

Subject examine(const store::ManagedCertificate& record, const RenewOptions& options) {
    auto certificate = load_certificate(record, options.pfx_password);
    const auto due = renewal_due_at(certificate.not_before(), certificate.not_after(),
                                    record.renewal_period_seconds, options.renew_before);
    return {record, std::move(certificate), due};
}

std::optional<store::PendingRequest> pending_renewal(const Context& context,
                                                     const std::string& name) {
    for (auto& pending : context.state.list_pending()) {
        if (pending.renewal && pending.name == name && pending.denied.empty())
            return pending;
    }
    return std::nullopt;
}

void run_deploy_hook(const Context& context, const store::ManagedCertificate& record,
                     const crypto::Certificate& certificate, const std::string& previous_serial,
                     RenewResult& result) {
    if (record.deploy_hook.empty())
        return;
    context.diagnostics.step("running deploy hook for " + record.name);
    const int status = context.run_hook(record.deploy_hook,
                                        hook_environment(record, certificate, previous_serial));
    result.renewal->hook_status = status;
    if (status != 0) {
        result.error = Error(
            ErrorKind::Local,
            "the deploy hook of '" + record.name + "' exited with status " + std::to_string(status),
            "the new certificate is in place; fix the hook and run it by hand");
    }
}

// The renewal itself: policy, key, CMS-wrapped request, submission, installation.
RenewResult renew_subject(const Context& context, Subject subject, const RenewOptions& options) {
    auto& record = subject.record;
    const auto& old_cert = subject.certificate;
    RenewResult result;
    result.name = record.name;
    result.due_at = subject.due_at;
    result.old_not_after = old_cert.not_after();
    result.renewal = std::make_unique<RenewResult::Renewal>();
    auto& renewal = *result.renewal;
    renewal.files = record.outputs;
    const auto now = context.clock();
    if (now >= old_cert.not_after()) {
        throw Error(ErrorKind::Usage,
                    "the certificate of '" + record.name + "' expired on " +
                        format_time_utc(old_cert.not_after()) + " and can no longer be renewed",
                    "enroll again: certenroll-cli enroll --template " + record.template_name +
                        " --name " + record.name);
    }
    if (!record.outputs.pfx.empty() && options.pfx_password.empty()) {
        throw Error(ErrorKind::Usage,
                    "'" + record.name + "' is written as a PFX, which needs a password",
                    "pass --pfx-password-file FILE or set CERTENROLL_PFX_PASSWORD");
    }
    if (options.deploy_hook)
        record.deploy_hook = *options.deploy_hook;

    const keys::Key old_key = context.keys->load(record.key_reference, options.key_passphrase);
    if (!old_cert.matches_key(old_key.get())) {
        throw Error(
            ErrorKind::Local,
            record.key_reference + " is not the key of " +
                certificate_file(record.outputs).string(),
            "restore the matching key (see " + record.key_reference + ".prev) or enroll again");
    }

    const RenewalConnections connections = connections_for(record, options);
    const Connection& connection = connections.submit;
    auto event = audit_event(context, connection, record.name, record.template_name);
    event.cep_url = connections.policy.cep_url;
    event.renewal = true;
    event.previous_serial = old_cert.serial_hex();
    std::optional<PolicyResult> policy;
    const xcep::Template* tmpl = nullptr;
    if (!connections.policy.cep_url.empty()) {
        policy = load_policy(context, connections.policy, options.refresh_policy);
        tmpl = find_template_or_throw(policy->policy, record.template_name);
    }
    const bool same_key =
        options.reuse_key || (tmpl != nullptr && xcep::requires_same_key_renewal(*tmpl));
    renewal.same_key = same_key;

    // The old subject and SANs go into the request only where the template lets the enrollee
    // supply them; otherwise the CA builds them again from the directory.
    std::string subject_text;
    crypto::SubjectAltNames sans;
    if (tmpl == nullptr || xcep::enrollee_supplies_subject(*tmpl))
        subject_text = old_cert.subject();
    if (tmpl == nullptr || xcep::enrollee_supplies_subject_alt_name(*tmpl)) {
        sans.dns = old_cert.dns_names();
        sans.ip = old_cert.ip_addresses();
        sans.email = old_cert.emails();
        sans.upn = old_cert.upns();
        sans.uri = old_cert.uris();
    }
    const auto requested_spec = options.key_spec ? options.key_spec : keys::spec_of(old_key.get());
    RequestPlan plan = plan_request(tmpl, record.template_name, requested_spec, subject_text, sans,
                                    result.warnings);
    plan.csr.renewal_certificate = old_cert.to_der();
    // enroll --signature rsa-pss is kept in the record: the renewal is PSS-signed too (RSA keys).
    plan.csr.rsa_pss = plan.csr.rsa_pss || record.endpoint.signature == "rsa-pss";

    // The new key is on disk (beside the old one), or on the token, before the request leaves.
    std::optional<keys::Key> fresh_key;
    fs::path staged_key;
    // A renewal that fails or is denied no longer needs that key file; a pending one keeps it
    // for retrieve-pending, and an issued one moves it into place.
    StagedFile discard_staged_key;
    std::string new_reference = record.key_reference;
    if (!same_key) {
        const std::string backend = options.key_backend.value_or(
            record.key_backend.empty() ? std::string(old_key.backend()) : record.key_backend);
        if (keys::is_hardware_backend(backend) && !record.outputs.pfx.empty()) {
            throw Error(ErrorKind::Usage,
                        "'" + record.name + "' is written as a PFX, which a " + backend +
                            " key cannot be exported into",
                        "keep the software backend for PFX outputs");
        }
        context.diagnostics.step("generating " + keys::describe(plan.key_spec) + " key (" +
                                 backend + ") for " + record.name);
        keys::KeySpec spec = plan.key_spec;
        spec.label = record.name;
        fresh_key = context.keys->generate(backend, spec);
        new_reference = fresh_key->reference();
        if (const auto content =
                context.keys->key_file_content(*fresh_key, options.key_passphrase)) {
            if (record.outputs.key.empty()) {
                throw Error(ErrorKind::Usage,
                            "'" + record.name + "' has no key file to put a " + backend + " key in",
                            "renew with --key-backend pkcs11 (its key lives on the token)");
            }
            staged_key = fs::path(record.outputs.key).concat(".new");
            store::write_file_atomic(staged_key, *content);
            discard_staged_key.path = staged_key;
            new_reference = record.outputs.key.string();
        }
    }
    const keys::Key& new_key = same_key ? old_key : *fresh_key;

    const auto csr = crypto::build_csr(plan.csr, new_key.get());
    // The template's alternate-signature flag applies to the old key's CMS signature too.
    const auto token = crypto::sign_renewal_request(
        csr, old_cert, old_key.get(), plan.csr.hash,
        plan.csr.rsa_pss && old_key.algorithm() == keys::KeyAlgorithm::Rsa);
    const auto targets = renewal_targets(connections, policy ? &policy->policy : nullptr, tmpl,
                                         record.endpoint.ces_url);
    if (targets.empty() && connections.key_based) {
        throw Error(ErrorKind::Usage,
                    "no CES URL accepts a key-based renewal of '" + record.name + "'" +
                        (policy ? ": the policy lists no certificate-authenticated CES for it"
                                : ": no key-based renewal CES was recorded at enroll"),
                    "pass --url with the key-based renewal CEP "
                    "(.../KeyBasedRenewal_ADPolicyProvider_CEP_Certificate/service.svc/CEP), or "
                    "--ces-url with the CES installed with -AllowKeyBasedRenewal");
    }
    if (targets.empty()) {
        // Without a CEP there was no policy to list the CES URLs (renew --cert without --url).
        throw Error(ErrorKind::Usage,
                    "no CES URL accepts a renewal of '" + record.name + "' with auth " +
                        std::string(xcep::auth_mode_name(connection.credentials.mode)),
                    connections.policy.cep_url.empty()
                        ? "pass --url with the CEP (its policy names the CES), or --ces-url"
                        : "pass --ces-url, or --key-based for a key-based renewal endpoint");
    }
    audit_key(event, new_key);
    audit_request(event, plan.csr);
    const auto submission = submit_with_failover(context, connection, targets,
                                                 {token, wstep::TokenFormat::Cms, {}}, event);
    renewal.request_id = submission.result.request_id;
    renewal.ces_url = submission.target.url;
    renewal.submitted = true;

    // The CA has answered: the new key belongs to that request now. A pending one keeps it for
    // retrieve-pending; an issued one switches it in (or, after a crash, the replacement's
    // journal does), and if the certificate fails verification the key stays beside it for
    // whoever investigates.
    discard_staged_key.keep();

    // The records name the new key; a replaced token key stays on the token (like key.pem.prev
    // on disk) until removed by hand.
    // A key-based renewal is remembered, so that cron runs renew the same way: from the same
    // key-based renewal CEP, or (none) straight at the same CES.
    store::Endpoint endpoint = record.endpoint;
    if (connections.key_based) {
        endpoint.key_based = true;
        endpoint.renewal_url = submission.target.url;
        endpoint.cep_url = connections.policy.cep_url;
        if (!submission.target.ca_name.empty())
            endpoint.ca_name = submission.target.ca_name;
    }
    const RequestRecord answered{
        .name = record.name,
        .template_name = record.template_name,
        .endpoint = endpoint,
        .key_backend = same_key ? record.key_backend : std::string(fresh_key->backend()),
        .key_reference = new_reference,
        .staged_key = staged_key,
        .outputs = record.outputs,
        .renewal_period_seconds =
            tmpl != nullptr ? tmpl->renewal_seconds : record.renewal_period_seconds,
        .deploy_hook = record.deploy_hook,
        .renewal = true};
    const Installation installation{.event = audit::EventType::Renewed,
                                    .policy = policy ? &policy->policy : nullptr,
                                    .tmpl = tmpl,
                                    .pfx_password = options.pfx_password,
                                    .store_on_token = options.store_on_token,
                                    .answered = nullptr,
                                    .warnings = &result.warnings,
                                    .ca_bundle = connection.http.ca_bundle};
    const auto issued =
        complete_request(context, submission, answered, new_key, installation, std::move(event));
    if (!issued) {
        result.status = RenewResult::Status::Pending;
        result.detail = "renewal request " + renewal.request_id + " is pending CA manager approval";
        return result;
    }
    result.status = RenewResult::Status::Renewed;
    renewal.certificate = describe(issued->leaf);
    result.detail = "renewed, serial " + issued->leaf.serial_hex();
    run_deploy_hook(context, record, issued->leaf, old_cert.serial_hex(), result);
    return result;
}

RenewResult failed(const std::string& name, const Error& error) {
    RenewResult result;
    result.name = name;
    result.status = RenewResult::Status::Failed;
    result.detail = error.message();
    result.error = error;
    return result;
}

// What a killed run left beside the outputs goes first, whether or not the certificate is due:
// temporaries of write_file_atomic, and `.new` files staged for a replacement that never got its
// journal (interrupted journals are completed before this). A copy of a key may be among them.
// While a request for the certificate is pending, its staged files wait for retrieve-pending.
void remove_leftovers(const Context& context, const store::ManagedCertificate& record) {
    const auto& outputs = record.outputs;
    std::vector<fs::path> dirs;
    bool pending = false;
    for (const auto& request : context.state.list_pending())
        pending = pending || request.name == record.name;
    for (const fs::path& file : {outputs.key, outputs.certificate, outputs.chain, outputs.fullchain,
                                 outputs.pfx, outputs.certificate_der}) {
        if (file.empty())
            continue;
        std::error_code ignored;
        if (!pending)
            fs::remove(fs::path(file).concat(".new"), ignored);
        const fs::path dir = file.has_parent_path() ? file.parent_path() : fs::path(".");
        if (std::find(dirs.begin(), dirs.end(), dir) == dirs.end()) {
            dirs.push_back(dir);
            store::remove_stale_temporaries(dir);
        }
    }
}

// The run's options with this record's key passphrase and PFX password, where the command line
// gave none: from the record's references, else the profile's, else the environment.
RenewOptions with_record_secrets(const RenewOptions& options,
                                 const store::ManagedCertificate& record) {
    RenewOptions own = options;
    const store::Endpoint settings =
        merge_settings(options.settings.command_line, record.endpoint, options.settings.defaults);
    if (own.key_passphrase.empty())
        own.key_passphrase = optional_secret(options.read_secret, settings.key_passphrase, nullptr,
                                             "--key-passphrase-file");
    if (own.pfx_password.empty() && !record.outputs.pfx.empty())
        own.pfx_password = optional_secret(options.read_secret, settings.pfx_password,
                                           "CERTENROLL_PFX_PASSWORD", "--pfx-password-file");
    return own;
}

// Due check first (no traffic), then the renewal; errors are isolated into the result.
constexpr std::string_view kNotRenewable =
    "not renewable by certenroll-cli: enrolled from a CSR made elsewhere, without its key";

RenewResult renew_record(const Context& context, const store::ManagedCertificate& record,
                         const RenewOptions& run_options, bool delay_first) {
    const auto skipped = [&](TimePoint due_at, TimePoint not_after) {
        RenewResult result;
        result.name = record.name;
        result.status = RenewResult::Status::Skipped;
        result.due_at = due_at;
        result.old_not_after = not_after;
        // No files: renew --all keeps one result per record, and only renewals show them.
        result.detail = "not due until " + format_time_utc(due_at);
        return result;
    };
    if (!record.renewable) {
        RenewResult result;
        result.name = record.name;
        result.status = RenewResult::Status::Skipped;
        result.old_not_after = record.not_after;
        result.detail = std::string(kNotRenewable);
        return result;
    }
    try {
        remove_leftovers(context, record);
        const RenewOptions options = with_record_secrets(run_options, record);
        // A certificate kept only in a PFX cannot be read without its password; until it is due,
        // the validity the record saved at install time is enough to say so, so cron runs
        // without the password stay quiet.
        const bool pfx_only =
            record.outputs.certificate.empty() && record.outputs.certificate_der.empty();
        if (!options.force && pfx_only && options.pfx_password.empty() &&
            record.not_after != TimePoint{}) {
            const auto due_at = renewal_due_at(record.not_before, record.not_after,
                                               record.renewal_period_seconds, options.renew_before);
            if (context.clock() < due_at)
                return skipped(due_at, record.not_after);
        }
        Subject subject = examine(record, options);
        if (!options.force && context.clock() < subject.due_at)
            return skipped(subject.due_at, subject.certificate.not_after());
        // Never a second renewal while one waits. renew NAME and renew --all have asked about
        // it already; renewing files (--cert) names the command that does.
        if (const auto pending = pending_renewal(context, record.name)) {
            RenewResult waiting;
            waiting.name = record.name;
            waiting.status = RenewResult::Status::Pending;
            waiting.renewal = std::make_unique<RenewResult::Renewal>();
            waiting.renewal->request_id = pending->request_id;
            waiting.renewal->ces_url = pending->endpoint.ces_url;
            waiting.renewal->files = record.outputs;
            waiting.detail = "renewal request " + pending->request_id +
                             " is still pending; run 'certenroll-cli retrieve-pending " +
                             pending->request_id + "'";
            return waiting;
        }
        if (delay_first && options.random_delay.count() > 0) {
            std::random_device seed;
            std::uniform_int_distribution<long long> pick(0, options.random_delay.count());
            const std::chrono::milliseconds delay(pick(seed));
            context.diagnostics.step("waiting " + std::to_string(delay.count()) +
                                     " ms (--random-delay) before contacting the CA");
            context.sleep(delay);
        }
        return renew_subject(context, std::move(subject), options);
    } catch (const Error& error) {
        return failed(record.name, error);
    }
}

// A renewal that went ahead, or failed, is noted in the records for `list`; "not due" is no
// attempt (cron would rewrite every record every few minutes).
RenewResult noted(const Context& context, RenewResult result) {
    if (result.status == RenewResult::Status::Skipped)
        return result;
    const std::string request_id = result.renewal ? result.renewal->request_id : "";
    if (result.error) {
        note_failure(context, result.name, request_id, *result.error);
    } else {
        note_outcome(context, result.name, request_id,
                     result.status == RenewResult::Status::Renewed ? "renewed" : "pending",
                     result.detail);
    }
    return result;
}

}  // namespace

TimePoint renewal_due_at(TimePoint not_before, TimePoint not_after,
                         long long renewal_period_seconds,
                         const std::optional<seconds>& renew_before) {
    // In whole seconds: a lifetime of more than 146 years (a far-off or "no expiry" 9999 end,
    // saturated at the clock's range) doubled in nanoseconds would overflow.
    using std::chrono::sys_seconds;
    using std::chrono::time_point_cast;
    const sys_seconds start = time_point_cast<seconds>(not_before);
    const sys_seconds end = time_point_cast<seconds>(not_after);
    sys_seconds due;
    if (renew_before) {
        due = end - *renew_before;
    } else if (const seconds lifetime = end - start;
               renewal_period_seconds > 0 && seconds(renewal_period_seconds) < lifetime) {
        due = end - seconds(renewal_period_seconds);
    } else {
        due = start + lifetime * 2 / 3;
    }
    return encoding::saturating_time_point(due);
}

RenewResult renew_one(const Context& context, const std::string& name,
                      const RenewOptions& options) {
    context.state.require_trusted();  // before its lock or journal is touched
    store::DirectoryLock lock(context.state.root(), options.lock_wait);
    store::complete_interrupted_replacements(context.state.journal_dir());
    const auto record = context.state.find_certificate(name);
    if (!record) {
        throw Error(
            ErrorKind::Usage,
            "no managed certificate named '" + name + "' in " + context.state.root().string(),
            "see the managed certificates with 'certenroll-cli list', or renew files with "
            "--cert FILE --key FILE");
    }
    if (!record->renewable) {
        throw Error(ErrorKind::Usage, "'" + name + "' is " + std::string(kNotRenewable),
                    "make a new CSR where its key is and run 'certenroll-cli enroll --csr FILE' "
                    "again, or pass --key with the CSR's key to have it renewed");
    }
    // Its renewal waiting for approval is asked about first, as renew --all does, so that a cron
    // job renewing one certificate installs it once approved.
    std::optional<store::PendingRequest> pending;
    try {
        pending = pending_renewal(context, name);
    } catch (const Error& error) {
        return noted(context, failed(name, error));
    }
    if (pending)
        return collect_pending_request(context, options, *pending);
    return noted(context, renew_record(context, *record, options, true));
}

std::vector<RenewResult> renew_all(const Context& context, const RenewOptions& options) {
    context.state.require_trusted();  // before its lock or journal is touched
    store::DirectoryLock lock(context.state.root(), options.lock_wait);
    store::complete_interrupted_replacements(context.state.journal_dir());
    std::vector<RenewResult> results = collect_pending(context, options);
    const auto collected = [&results, count = results.size()](const std::string& name) {
        return std::any_of(results.begin(), results.begin() + static_cast<std::ptrdiff_t>(count),
                           [&name](const RenewResult& r) { return r.name == name; });
    };
    const auto names = context.state.certificate_names();
    results.reserve(results.size() + names.size());  // one per record: no copies while growing
    bool delayed = false;
    for (const auto& name : names) {
        // Its pending renewal was just asked about: that is this run's news about it.
        if (collected(name))
            continue;
        std::optional<store::ManagedCertificate> record;
        try {
            record = context.state.find_certificate(name);
        } catch (const Error& error) {
            results.push_back(noted(context, failed(name, error)));
            continue;
        }
        if (!record)
            continue;  // removed meanwhile
        auto result = noted(context, renew_record(context, *record, options, !delayed));
        // The delay happens once, before the first renewal that reaches the network.
        if (result.status != RenewResult::Status::Skipped)
            delayed = true;
        results.push_back(std::move(result));
    }
    return results;
}

RenewResult renew_files(const Context& context, const std::string& name,
                        const std::string& certificate_file, const std::string& key_reference,
                        const std::string& template_name, const RenewOptions& options) {
    store::check_record_name(name);
    context.state.require_trusted();  // before its lock or journal is touched
    store::DirectoryLock lock(context.state.root(), options.lock_wait);
    store::complete_interrupted_replacements(context.state.journal_dir());
    store::ManagedCertificate record;
    record.name = name;
    record.outputs.certificate = certificate_file;
    const auto certificate = load_certificate(record, {});
    record.template_name = template_name.empty() ? certificate.template_name() : template_name;
    if (record.template_name.empty() && !certificate.template_oid().empty() &&
        !options.connection.cep_url.empty()) {
        // Schema 2+ certificates name their template by OID only; the policy maps it back.
        const auto policy = load_policy(context, options.connection, options.refresh_policy);
        for (const auto& tmpl : policy.policy.templates) {
            if (xcep::template_oid(tmpl) == certificate.template_oid()) {
                record.template_name = tmpl.common_name;
            }
        }
    }
    if (record.template_name.empty()) {
        // A template OID alone is mapped to its name by the policy: --url is the fix then.
        const bool by_oid = !certificate.template_oid().empty();
        throw Error(
            ErrorKind::Usage,
            "cannot tell the template of " + certificate_file +
                (by_oid ? " (it names its template by OID " + certificate.template_oid() + " only" +
                              (options.connection.cep_url.empty()
                                   ? ", and no --url names a policy to look it up in)"
                                   : ", which the policy does not list)")
                        : " (it has no template extension)"),
            by_oid && options.connection.cep_url.empty()
                ? "pass --url with the CEP (or --template NAME)"
                : "pass --template NAME");
    }
    // Kept with the new record (by reference), so that later runs need no options.
    record.endpoint = merge_settings(options.settings.command_line, {}, options.settings.defaults);
    record.endpoint.cep_url = options.connection.cep_url;
    record.endpoint.ces_url = options.connection.ces_url;
    record.endpoint.ca_name = options.connection.ca_name;
    record_auth(options.connection.credentials, record.endpoint);
    record.key_backend = "";  // from the key itself: a file, a TSS2 blob or a pkcs11: URI
    record.key_reference = key_reference;
    if (!keys::is_pkcs11_uri(key_reference))
        record.outputs.key = key_reference;
    record.outputs.certificate = certificate_file;
    record.serial = certificate.serial_hex();
    record.not_before = certificate.not_before();
    record.not_after = certificate.not_after();
    RenewOptions file_options = options;
    file_options.auth_from_record = false;
    return noted(context, renew_record(context, record, file_options, true));
}

}  // namespace certenroll::flows
