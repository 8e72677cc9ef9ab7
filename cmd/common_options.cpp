#include "common_options.hpp"

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>

#include "encoding/time_text.hpp"
#include "error.hpp"
#include "platform/platform.hpp"
#include "store/state.hpp"

namespace certenroll::cli {

namespace {

xcep::AuthMode parse_auth(const std::string& text) {
    if (text == "password") {
        return xcep::AuthMode::UsernamePassword;
    }
    if (text == "kerberos") {
        return xcep::AuthMode::Kerberos;
    }
    if (text == "certificate") {
        return xcep::AuthMode::Certificate;
    }
    if (text == "anonymous") {
        return xcep::AuthMode::Anonymous;
    }
    throw Error(ErrorKind::Usage, "unknown --auth '" + text + "'",
                "use password, kerberos, certificate or anonymous");
}

}  // namespace

void add_connection_options(CLI::App& app, ConnectionOptions& o, bool with_cep) {
    const std::string group = "Server and authentication";
    if (with_cep) {
        app.add_option("--url", o.cep_url, "CEP (enrollment policy) URL")->group(group);
    }
    app.add_option("--ces-url", o.ces_url,
                   "CES (enrollment service) URL; skips choosing one from the policy")
        ->group(group);
    app.add_option("--ca", o.ca_name, "Only use this CA's CES endpoints (name from the policy)")
        ->group(group);
    app.add_option("--auth", o.auth, "Authentication: password, kerberos, certificate, anonymous")
        ->group(group)
        ->capture_default_str();
    app.add_option("--username", o.username, "User name for --auth password (DOMAIN\\user or UPN)")
        ->group(group);
    app.add_option("--password-file", o.password_file,
                   "File holding the password (else $CERTENROLL_PASSWORD, else a prompt)")
        ->group(group);
    app.add_option("--client-cert", o.client_cert,
                   "TLS client certificate (PEM) for --auth certificate")
        ->group(group);
    app.add_option("--client-key", o.client_key, "Private key (PEM file) of --client-cert")
        ->group(group);
    app.add_option("--client-key-passphrase-file", o.client_key_passphrase_file,
                   "File holding the passphrase of --client-key")
        ->group(group);
    app.add_option("--spn-service", o.spn_service,
                   "Kerberos service name of the SPN (SERVICE@host)")
        ->group(group)
        ->capture_default_str();
    app.add_flag("--delegate", o.delegate, "Allow Kerberos credential delegation")->group(group);
    const std::string tls = "TLS and network";
    app.add_option("--ca-bundle", o.ca_bundle,
                   "PEM file of CA certificates to trust for the servers (default: system store)")
        ->group(tls);
    app.add_option("--proxy", o.proxy, "HTTP(S) proxy URL (default: https_proxy environment)")
        ->group(tls);
    app.add_option("--timeout", o.timeout_seconds, "Whole-request timeout in seconds")
        ->group(tls)
        ->capture_default_str();
    app.add_option("--connect-timeout", o.connect_timeout_seconds, "Connect timeout in seconds")
        ->group(tls)
        ->capture_default_str();
}

flows::Connection make_connection(const ConnectionOptions& o) {
    flows::Connection connection;
    connection.cep_url = o.cep_url;
    connection.ces_url = o.ces_url;
    connection.ca_name = o.ca_name;
    auto& credentials = connection.credentials;
    credentials.mode = parse_auth(o.auth);
    credentials.username = o.username;
    credentials.negotiate_service = o.spn_service;
    credentials.delegate_credentials = o.delegate;
    switch (credentials.mode) {
        case xcep::AuthMode::UsernamePassword:
            if (o.username.empty()) {
                throw Error(ErrorKind::Usage, "--auth password needs --username",
                            "pass --username DOMAIN\\user (the password comes from "
                            "--password-file, $CERTENROLL_PASSWORD or a prompt)");
            }
            credentials.password =
                read_secret(o.password_file, "CERTENROLL_PASSWORD",
                            "Password for " + o.username + ": ", "--password-file");
            break;
        case xcep::AuthMode::Certificate:
            if (o.client_cert.empty() || o.client_key.empty()) {
                throw Error(ErrorKind::Usage,
                            "--auth certificate needs --client-cert and --client-key",
                            "pass the PEM certificate and its key");
            }
            credentials.client_certificate = o.client_cert;
            credentials.client_key = o.client_key;
            if (!o.client_key_passphrase_file.empty()) {
                credentials.client_key_passphrase = read_secret(
                    o.client_key_passphrase_file, nullptr, "", "--client-key-passphrase-file");
            }
            break;
        case xcep::AuthMode::Kerberos:
        case xcep::AuthMode::Anonymous:
            break;
    }
    connection.http.ca_bundle = o.ca_bundle;
    connection.http.proxy = o.proxy;
    connection.http.total_timeout =
        std::chrono::milliseconds(static_cast<long long>(o.timeout_seconds * 1000));
    connection.http.connect_timeout =
        std::chrono::milliseconds(static_cast<long long>(o.connect_timeout_seconds * 1000));
    return connection;
}

flows::Context make_context(const GlobalOptions& global) {
    flows::Context context{
        store::StateDirectory(global.state_dir.empty() ? store::default_state_dir()
                                                       : std::filesystem::path(global.state_dir)),
        flows::curl_transport_factory(),
        [] { return std::chrono::system_clock::now(); },
        {}};
    context.diagnostics.verbosity = global.verbose;
    context.diagnostics.sink = [](std::string_view line) { std::cerr << line << "\n"; };
    return context;
}

std::string read_secret(const std::string& file, const char* environment_variable,
                        const std::string& prompt, const std::string& flag) {
    if (!file.empty()) {
        std::ifstream in(file);
        if (!in) {
            throw Error(ErrorKind::Usage, "cannot read " + file, "check the path given to " + flag);
        }
        std::string secret;
        std::getline(in, secret);
        if (!secret.empty() && secret.back() == '\r') {
            secret.pop_back();
        }
        return secret;
    }
    if (environment_variable) {
        if (const char* value = std::getenv(environment_variable); value && *value) {
            return value;
        }
    }
    if (!prompt.empty() && platform::stdin_is_terminal()) {
        if (auto line = platform::read_hidden_line(prompt)) {
            return *line;
        }
    }
    throw Error(ErrorKind::Usage, "no password available and no terminal to ask on",
                "pass " + flag + " FILE" +
                    (environment_variable ? " or set " + std::string(environment_variable) : ""));
}

std::string format_time(std::chrono::system_clock::time_point time) {
    return encoding::format_time_utc(time);
}

std::string format_iso8601(std::chrono::system_clock::time_point time) {
    return encoding::format_iso8601(time);
}

}  // namespace certenroll::cli
