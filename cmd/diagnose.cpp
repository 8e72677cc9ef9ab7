// `diagnose`: the checklist of what stands between this machine and an enrollment, one line per
// step. The checks live in src/diagnose; this file reads the flags and hands back the report.

#include "diagnose/diagnose.hpp"
#include "common_options.hpp"
#include "render.hpp"
#include "xcep/endpoints.hpp"

namespace certenroll::cli {

namespace {

struct DiagnoseOptions {
    ConnectionOptions connection;
    std::string template_name;
    std::string key_backend = "software";
};

// How --auth auto (or an explicit --auth) arrives at the mode, for the report.
std::string auth_origin(const ConnectionOptions& o) {
    if (o.auth != "auto")
        return "--auth " + o.auth;
    for (const std::string* url : {&o.cep_url, &o.ces_url}) {
        if (url->empty())
            continue;
        if (const auto mode = xcep::auth_mode_from_url(*url);
            mode && *mode != xcep::AuthMode::Anonymous)
            return "named by the URL's path";
        break;
    }
    if (!o.username.empty())
        return "--username given";
    if (!o.client_cert.empty())
        return "--client-cert given";
    return "the default";
}

// The connection when make_connection() refused the flags: the same servers and TLS settings,
// the mode it would most likely have chosen, and no secrets, so the network steps still run.
flows::Connection connection_without_secrets(const ConnectionOptions& o) {
    flows::Connection connection;
    connection.cep_url = o.cep_url;
    connection.ces_url = o.ces_url;
    connection.ca_name = o.ca_name;
    auto& credentials = connection.credentials;
    credentials.username = o.username;
    credentials.client_certificate = o.client_cert;
    credentials.client_key = o.client_key;
    credentials.spn = o.spn;
    credentials.keytab = o.keytab;
    credentials.principal = o.principal;
    if (const auto mode = xcep::auth_mode_from_name(o.auth)) {
        credentials.mode = *mode;
    } else if (const auto from_url =
                   xcep::auth_mode_from_url(o.cep_url.empty() ? o.ces_url : o.cep_url)) {
        credentials.mode = *from_url;
    } else {
        credentials.mode = !o.username.empty()      ? xcep::AuthMode::UsernamePassword
                           : !o.client_cert.empty() ? xcep::AuthMode::Certificate
                                                    : xcep::AuthMode::Kerberos;
    }
    connection.http.ca_bundle = o.ca_bundle;
    connection.http.proxy = o.proxy;
    connection.http.total_timeout =
        std::chrono::milliseconds(static_cast<long long>(o.timeout_seconds * 1000));
    connection.http.connect_timeout =
        std::chrono::milliseconds(static_cast<long long>(o.connect_timeout_seconds * 1000));
    return connection;
}

// The options of `diagnose`, declared only when it is the subcommand being run (see Command).
void declare_options(CLI::App* sub, const std::shared_ptr<DiagnoseOptions>& options) {
    add_connection_options(*sub, options->connection, true);
    sub->add_option("--template", options->template_name,
                    "Also check this template: offered, enrollable by this identity and auth "
                    "mode, its CES URLs and key type");
    sub->add_option("--key-backend", options->key_backend,
                    "Key backend to check: software (generate and discard a key), pkcs11 (the "
                    "token and its PIN; nothing is created on it) or tpm (a transient key)")
        ->group("Key devices")
        ->capture_default_str();
}

}  // namespace

Command add_diagnose(CLI::App& app, const GlobalOptions& global) {
    auto options = std::make_shared<DiagnoseOptions>();
    auto* sub = app.add_subcommand(
        "diagnose",
        "Check step by step what stands between this machine and an enrollment: DNS, TCP, TLS, "
        "authentication, Kerberos, policy, template, CES, key backend, state directory");
    return {sub, [sub, options]() { declare_options(sub, options); },
            [options, &global]() {
                auto context = make_context(global);
                // Never a PIN prompt: diagnose says that enroll would ask instead.
                context.keys = std::make_shared<keys::KeyBackends>(
                    device_settings(options->connection, false));
                diagnose::Request request;
                request.template_name = options->template_name;
                request.key_backend = std::string(keys::checked_backend_name(options->key_backend));
                request.auth_origin = auth_origin(options->connection);
                request.config_file = global.config_file_use.path;
                request.config_file_refusal = global.config_file_use.refusal;
                try {
                    request.connection = make_connection(options->connection);
                } catch (const Error& error) {
                    request.configuration_error = error;
                    request.connection = connection_without_secrets(options->connection);
                }
                const auto report = diagnose::run(context, request);
                Output output;
                output.text = diagnose::render_text(report);
                output.json = diagnose::to_json(report);
                output.exit_code = report.exit_code();
                // The root cause also reaches stderr, so that --quiet runs are heard.
                if (const auto* failure = report.first_failure(); failure && failure->kind) {
                    output.errors.push_back(error_text(Error(
                        *failure->kind, failure->title + ": " + failure->evidence, failure->fix)));
                }
                return output;
            }};
}

}  // namespace certenroll::cli
