// `renew`: renew managed certificates that are due; built to run from cron or a systemd timer.

#include "flows/renew.hpp"
#include "common_options.hpp"
#include "encoding/time_text.hpp"
#include "keys/backends.hpp"
#include "keys/key_backend.hpp"
#include "render.hpp"

namespace certenroll::cli {

namespace {

struct RenewCliOptions {
    ConnectionOptions connection;
    std::string key_backend;
    bool store_on_token = false;
    std::string name;
    bool all = false;
    std::string cert_file;
    std::string key_file;
    std::string template_name;
    std::string record_name;
    std::string renew_before;
    bool force = false;
    bool reuse_key = false;
    bool key_based = false;
    std::string key_type;
    std::string key_passphrase_file;
    std::string pfx_password_file;
    std::string deploy_hook;
    std::string random_delay;
    std::string lock_wait = "5m";
    bool refresh_policy = false;
};

const char* status_name(flows::RenewResult::Status status) {
    switch (status) {
        case flows::RenewResult::Status::Renewed:
            return "renewed";
        case flows::RenewResult::Status::Pending:
            return "pending";
        case flows::RenewResult::Status::Skipped:
            return "skipped";
        case flows::RenewResult::Status::Failed:
            return "failed";
    }
    return "failed";
}

// The worst outcome decides the exit code: a failure (the first one, in record order) over a
// pending renewal over success; a failing deploy hook counts as a failure. `renew --all` (cron,
// systemd) exits 0 while requests merely wait for approval: a run that changes nothing must not
// mail or mark the unit failed every hour; --json and the text still show them as pending.
int exit_code_of(const std::vector<flows::RenewResult>& results, bool all) {
    for (const auto& r : results) {
        if (r.error)
            return exit_code(r.error->kind());
    }
    if (all)
        return 0;
    for (const auto& r : results) {
        if (r.status == flows::RenewResult::Status::Pending)
            return exit_code(ErrorKind::Pending);
    }
    return 0;
}

// Adds to a result's object what a renewal that went ahead (renewed, or pending) has to say.
void renewal_json(const flows::RenewResult::Renewal& r, bool renewed, nlohmann::json& j) {
    if (!r.request_id.empty())
        j["request_id"] = r.request_id;
    if (!r.ces_url.empty())
        j["ces_url"] = r.ces_url;
    if (renewed) {
        j["same_key"] = r.same_key;
        nlohmann::json files = nlohmann::json::object();
        auto put = [&files](const char* key, const std::filesystem::path& path) {
            if (!path.empty())
                files[key] = path.string();
        };
        put("key", r.files.key);
        put("cert", r.files.certificate);
        put("chain", r.files.chain);
        put("fullchain", r.files.fullchain);
        put("pfx", r.files.pfx);
        j["files"] = files;
    }
    if (r.certificate) {
        j["certificate"] = {{"subject", r.certificate->subject},
                            {"serial", r.certificate->serial},
                            {"not_before", format_iso8601(r.certificate->not_before)},
                            {"not_after", format_iso8601(r.certificate->not_after)}};
    }
    if (r.hook_status)
        j["deploy_hook_status"] = *r.hook_status;
}

nlohmann::json result_json(const flows::RenewResult& r) {
    nlohmann::json j = {{"name", r.name}, {"status", status_name(r.status)}, {"detail", r.detail}};
    if (r.due_at.time_since_epoch().count() != 0)
        j["due_at"] = format_iso8601(r.due_at);
    if (r.old_not_after.time_since_epoch().count() != 0) {
        j["previous_not_after"] = format_iso8601(r.old_not_after);
    }
    if (r.renewal)
        renewal_json(*r.renewal, r.status == flows::RenewResult::Status::Renewed, j);
    if (!r.warnings.empty())
        j["warnings"] = r.warnings;
    if (!r.collected_request_id.empty())
        j["collected_request_id"] = r.collected_request_id;
    if (r.error)
        j["error"] = error_json(*r.error)["error"];
    return j;
}

// One line per certificate, then the counts; errors and their hints go to stderr (render).
std::string results_text(const std::vector<flows::RenewResult>& results, const int (&counts)[4]) {
    std::string text;
    for (const auto& r : results) {
        text += r.name + ": " + status_name(r.status) + " (" + r.detail + ")\n";
    }
    text += std::to_string(counts[0]) + " renewed, " + std::to_string(counts[1]) + " pending, " +
            std::to_string(counts[2]) + " not due, " + std::to_string(counts[3]) + " failed\n";
    return text;
}

// Builds only the rendering that will be printed: over many records (renew --all from cron) the
// other one would be most of the heap.
Output render(const std::vector<flows::RenewResult>& results,
              const std::filesystem::path& state_root, const GlobalOptions& global, bool all) {
    Output output;
    output.exit_code = exit_code_of(results, all);
    int counts[4] = {0, 0, 0, 0};
    for (const auto& r : results) {
        ++counts[static_cast<int>(r.status)];
        for (const auto& warning : r.warnings)
            output.warnings.push_back(r.name + ": " + warning);
        // A failure is never silenced: not by --quiet, not by --json (which also carries it).
        if (r.error)
            output.errors.push_back(error_text(*r.error, r.name));
        if (r.status == flows::RenewResult::Status::Pending && r.renewal && r.renewal->submitted)
            output.notices.push_back(r.name + ": " + r.detail + " (exit 3)");
    }
    if (prints_json(global)) {
        nlohmann::json list = nlohmann::json::array();
        for (const auto& r : results)
            list.push_back(result_json(r));
        output.json = {{"status", output.exit_code == 0 ? "ok" : "incomplete"},
                       {"exit_code", output.exit_code},
                       {"certificates", std::move(list)},
                       {"summary",
                        {{"renewed", counts[0]},
                         {"pending", counts[1]},
                         {"skipped", counts[2]},
                         {"failed", counts[3]}}}};
    } else if (prints_text(global)) {
        output.text = results.empty() ? "No managed certificates in " + state_root.string() + ".\n"
                                      : results_text(results, counts);
    }
    return output;
}

// The options of `renew`, declared only when it is the subcommand being run (see Command).
void declare_options(CLI::App* sub, const std::shared_ptr<RenewCliOptions>& o) {
    // "NAME", not "name": CLI11 2.4+ (Debian 13) matches a positional's name against the long
    // names, so "name" and --name threw CLI::OptionAlreadyAdded (renew aborted, exit -6).
    sub->add_option("NAME", o->name, "Managed certificate to renew (the --name given at enroll)");
    sub->add_flag("--all", o->all, "Renew every managed certificate that is due");
    sub->add_option("--cert", o->cert_file,
                    "Renew this certificate file (not yet managed) in place; needs --key");
    sub->add_option("--key", o->key_file, "Key of --cert: file, TPM key file or pkcs11: URI");
    sub->add_option("--template", o->template_name,
                    "Template of --cert, when the certificate does not name it");
    sub->add_option("--name", o->record_name,
                    "Name under which --cert becomes a managed certificate (default: file stem)");
    sub->add_option("--renew-before", o->renew_before,
                    "Renew when less than this remains (e.g. 30d); default: the template's "
                    "renewal period, else after 2/3 of the lifetime");
    sub->add_flag("--force", o->force, "Renew even when not due");
    sub->add_flag(
        "--reuse-key", o->reuse_key,
        "Keep the current key (same-key renewal); automatic when the template demands it");
    sub->add_flag("--key-based", o->key_based,
                  "Key-based renewal: the certificate being renewed is the TLS client "
                  "certificate at a CES installed with -AllowKeyBasedRenewal; --url names the "
                  "key-based renewal CEP (remembered for later runs)");
    sub->add_option(
        "--key-type", o->key_type,
        "Algorithm of the new key (default: like the current key): rsa:3072, ec:P-256, ...");
    sub->add_option("--key-passphrase-file", o->key_passphrase_file,
                    "Passphrase of the key files (current and new)");
    sub->add_option("--key-backend", o->key_backend,
                    "Where the new key is generated (default: where the current key is): "
                    "software, pkcs11 or tpm");
    sub->add_flag("--store-on-token", o->store_on_token,
                  "Also store the renewed certificate on the token beside its key");
    sub->add_option("--pfx-password-file", o->pfx_password_file,
                    "File holding the PFX password (else $CERTENROLL_PFX_PASSWORD)");
    sub->add_option("--deploy-hook", o->deploy_hook,
                    "Shell command run after each renewal, with CERTENROLL_* variables; saved "
                    "for later runs");
    sub->add_option("--random-delay", o->random_delay,
                    "Wait a random time up to this (e.g. 30m) before contacting the CA");
    sub->add_option("--lock-wait", o->lock_wait,
                    "How long to wait for another certenroll-cli run to finish")
        ->capture_default_str();
    sub->add_flag("--refresh-policy", o->refresh_policy, "Fetch the policy even if cached");
    add_connection_options(*sub, o->connection);
}

}  // namespace

Command add_renew(CLI::App& app, const GlobalOptions& global) {
    auto o = std::make_shared<RenewCliOptions>();
    auto* sub = app.add_subcommand(
        "renew",
        "Renew managed certificates that are due (safe to run from cron every few minutes)");
    return {
        sub, [sub, o]() { declare_options(sub, o); },
        [o, sub, &global]() {
            const int modes =
                (o->all ? 1 : 0) + (o->name.empty() ? 0 : 1) + (o->cert_file.empty() ? 0 : 1);
            if (modes != 1) {
                throw Error(ErrorKind::Usage, "give one of NAME, --all or --cert FILE --key FILE",
                            "e.g. certenroll-cli renew --all (from cron)");
            }
            if (!o->cert_file.empty() && o->key_file.empty()) {
                throw Error(ErrorKind::Usage, "--cert needs --key",
                            "pass the key file of the certificate with --key");
            }
            flows::RenewOptions options;
            if (!o->renew_before.empty()) {
                options.renew_before = encoding::parse_duration(o->renew_before, "--renew-before");
            }
            if (!o->random_delay.empty()) {
                options.random_delay = encoding::parse_duration(o->random_delay, "--random-delay");
            }
            options.lock_wait = encoding::parse_duration(o->lock_wait, "--lock-wait");
            options.force = o->force;
            options.reuse_key = o->reuse_key;
            if (!o->key_backend.empty())
                options.key_backend = std::string(keys::checked_backend_name(o->key_backend));
            options.store_on_token = o->store_on_token;
            options.key_based = o->key_based;
            options.refresh_policy = o->refresh_policy;
            if (!o->key_type.empty())
                options.key_spec = keys::parse_key_type(o->key_type);
            if (sub->count("--deploy-hook") > 0)
                options.deploy_hook = o->deploy_hook;
            // Settings: what was typed overrides each record's, the profile's fill only what a
            // record lacks (flows/connection_settings.hpp). Secrets are read per record, when
            // needed, from where the winning layer says.
            const auto in_profile = profile_supplied(global);
            const ConnectionOptions typed = without_options(o->connection, in_profile);
            const ConnectionOptions profile = without_options(
                o->connection,
                [&in_profile](const std::string& flag) { return !in_profile(flag); });
            auto& layers = options.settings;
            if (o->cert_file.empty()) {
                layers.command_line = recorded_settings(typed, false);
                layers.defaults = recorded_settings(profile, false);
            } else {
                layers.command_line = recorded_settings(o->connection, true);  // no record yet
            }
            store::Endpoint& pfx_layer =
                in_profile("--pfx-password-file") ? layers.defaults : layers.command_line;
            pfx_layer.pfx_password = secret_source(o->pfx_password_file, "CERTENROLL_PFX_PASSWORD",
                                                   !o->cert_file.empty());
            store::Endpoint& passphrase_layer =
                in_profile("--key-passphrase-file") ? layers.defaults : layers.command_line;
            passphrase_layer.key_passphrase = secret_source(o->key_passphrase_file, nullptr, false);
            // Credentials: explicit --auth applies to every record (with --key-based: to the
            // key-based renewal CEP; the CES always gets the certificate being renewed);
            // otherwise each record's own auth mode is used and a password is read only if one
            // is needed.
            const bool explicit_auth = typed.auth != "auto";
            options.auth_from_record = !explicit_auth && o->cert_file.empty();
            if (!o->cert_file.empty()) {
                options.connection = o->key_based ? make_record_connection(o->connection)
                                                  : make_connection(o->connection);
            } else {
                // --auth typed: its credentials may still come from the profile (a user name);
                // the URLs only from what was typed.
                ConnectionOptions with_auth = o->connection;
                with_auth.cep_url = typed.cep_url;
                with_auth.ces_url = typed.ces_url;
                options.connection =
                    explicit_auth ? make_connection(with_auth) : make_record_connection(typed);
            }
            options.read_secret = secret_reader();

            const auto context = make_context(global, o->connection, "renew");
            std::vector<flows::RenewResult> results;
            if (o->all) {
                results = flows::renew_all(context, options);
            } else if (!o->name.empty()) {
                results.push_back(flows::renew_one(context, o->name, options));
            } else {
                const std::string name = !o->record_name.empty()
                                             ? o->record_name
                                             : std::filesystem::path(o->cert_file).stem().string();
                results.push_back(flows::renew_files(context, name, o->cert_file, o->key_file,
                                                     o->template_name, options));
            }
            return render(results, context.state.root(), global, o->all);
        }};
}

}  // namespace certenroll::cli
