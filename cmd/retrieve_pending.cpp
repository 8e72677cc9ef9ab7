// `retrieve-pending`: collect certificates the CA manager has approved since enroll.

#include "flows/retrieve_pending.hpp"
#include "common_options.hpp"
#include "render.hpp"
#include "render_outcome.hpp"

namespace certenroll::cli {

namespace {

struct RetrieveOptions {
    ConnectionOptions connection;
    std::string request_id;
    bool all = false;
    std::string key_passphrase_file;
    std::string pfx_password_file;
};

// The exit code of a batch: the most actionable failure wins, pending only if nothing failed.
int batch_exit_code(const std::vector<flows::RetrieveResult>& results) {
    const ErrorKind order[] = {ErrorKind::Auth,   ErrorKind::Tls,      ErrorKind::Network,
                               ErrorKind::Denied, ErrorKind::Protocol, ErrorKind::Local,
                               ErrorKind::Usage,  ErrorKind::Internal};
    for (const auto kind : order) {
        for (const auto& r : results) {
            if (r.error && r.error->kind() == kind) {
                return exit_code(kind);
            }
        }
    }
    for (const auto& r : results) {
        if (r.outcome.status == flows::EnrollOutcome::Status::Pending) {
            return exit_code(ErrorKind::Pending);
        }
    }
    return 0;
}

Output render_batch(const std::vector<flows::RetrieveResult>& results) {
    Output output;
    output.exit_code = batch_exit_code(results);
    nlohmann::json list = nlohmann::json::array();
    std::string text;
    for (const auto& r : results) {
        if (r.error) {
            auto j = error_json(*r.error);
            j["request_id"] = r.outcome.request_id;
            j["name"] = r.outcome.name;
            list.push_back(j);
            output.errors.push_back(error_text(*r.error, "request " + r.outcome.request_id));
            text += "request " + r.outcome.request_id + " (" + r.outcome.name +
                    "): " + std::string(kind_name(r.error->kind())) + ": " + r.error->message() +
                    "\n";
            continue;
        }
        list.push_back(outcome_json(r.outcome));
        text += "request " + r.outcome.request_id + " (" + r.outcome.name + "): " +
                (r.outcome.status == flows::EnrollOutcome::Status::Issued
                     ? "issued, saved to " + r.outcome.files.certificate.string()
                     : std::string("still pending")) +
                "\n";
    }
    if (results.empty()) {
        text = "No pending requests.\n";
    }
    output.json = {{"status", output.exit_code == 0 ? "ok" : "incomplete"},
                   {"requests", list},
                   {"exit_code", output.exit_code}};
    output.text = text;
    return output;
}

// The options of `retrieve-pending`, declared only when it is the subcommand being run (see
// Command).
void declare_options(CLI::App* sub, const std::shared_ptr<RetrieveOptions>& o) {
    sub->add_option("request_id", o->request_id, "Request ID printed by enroll");
    sub->add_flag("--all", o->all, "Poll every pending request recorded in the state directory");
    add_connection_options(*sub, o->connection, false);
    sub->add_option("--key-passphrase-file", o->key_passphrase_file,
                    "Passphrase of the key file, if it was encrypted at enroll");
    sub->add_option("--pfx-password-file", o->pfx_password_file,
                    "File holding the PFX password, when a PFX was requested at enroll");
}

}  // namespace

Command add_retrieve_pending(CLI::App& app, const GlobalOptions& global) {
    auto o = std::make_shared<RetrieveOptions>();
    auto* sub =
        app.add_subcommand("retrieve-pending",
                           "Retrieve certificates whose requests were pending CA manager approval");
    return {sub, [sub, o]() { declare_options(sub, o); },
            [o, &global]() {
                if (o->all == !o->request_id.empty()) {
                    throw Error(ErrorKind::Usage, "give either a request ID or --all",
                                "e.g. certenroll-cli retrieve-pending 42");
                }
                const auto context = make_context(global, o->connection, "retrieve-pending");
                flows::RetrieveRequest request;
                // Typed settings override each pending request's, the profile's fill only what a
                // request lacks; without --auth, each is asked about the way it was submitted.
                const auto in_profile = profile_supplied(global);
                const ConnectionOptions typed = without_options(o->connection, in_profile);
                request.settings.command_line = recorded_settings(typed, false);
                request.settings.defaults = recorded_settings(
                    without_options(
                        o->connection,
                        [&in_profile](const std::string& flag) { return !in_profile(flag); }),
                    false);
                request.auth_from_record = typed.auth == "auto";
                // --auth typed: its credentials may still come from the profile (a user name).
                ConnectionOptions with_auth = o->connection;
                with_auth.ces_url = typed.ces_url;
                request.connection = request.auth_from_record ? make_record_connection(typed)
                                                              : make_connection(with_auth);
                request.read_secret = secret_reader();
                request.request_id = o->request_id;
                request.all = o->all;
                // A typed file wins; else each request's reference, else the profile's.
                auto& passphrase_layer = in_profile("--key-passphrase-file")
                                             ? request.settings.defaults
                                             : request.settings.command_line;
                passphrase_layer.key_passphrase =
                    secret_source(o->key_passphrase_file, nullptr, false);
                auto& pfx_layer = in_profile("--pfx-password-file") ? request.settings.defaults
                                                                    : request.settings.command_line;
                pfx_layer.pfx_password = secret_source(o->pfx_password_file, nullptr, false);
                const auto results = flows::retrieve_pending(context, request);
                if (!o->all) {
                    return render_enroll_outcome(results.front().outcome, false);
                }
                return render_batch(results);
            }};
}

}  // namespace certenroll::cli
