#include "common_options.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <utility>

#include "encoding/time_text.hpp"
#include "error.hpp"
#include "http/curl_transport.hpp"
#include "http/url.hpp"
#include "platform/platform.hpp"
#include "store/state.hpp"
#include "xcep/endpoints.hpp"

namespace certenroll::cli {

namespace {

// --auth auto: the mode a standard endpoint path names (..._CEP_Kerberos), else the one the
// given credentials imply, else Kerberos, the Windows default. An explicit mode that the URL's
// path contradicts is refused before anything is sent.
xcep::AuthMode resolve_auth(const ConnectionOptions& o) {
    std::optional<xcep::AuthMode> from_url;
    std::string url;
    for (const std::string* candidate : {&o.cep_url, &o.ces_url}) {
        if (!candidate->empty() && !from_url) {
            from_url = xcep::auth_mode_from_url(*candidate);
            url = *candidate;
        }
    }
    if (o.auth == "auto") {
        if (from_url && *from_url != xcep::AuthMode::Anonymous)
            return *from_url;
        if (!o.username.empty())
            return xcep::AuthMode::UsernamePassword;
        if (!o.client_cert.empty())
            return xcep::AuthMode::Certificate;
        return xcep::AuthMode::Kerberos;
    }
    const auto mode = xcep::auth_mode_from_name(o.auth);
    if (!mode) {
        throw Error(ErrorKind::Usage, "unknown --auth '" + o.auth + "'",
                    "use auto, kerberos, password, certificate or anonymous");
    }
    // Key-based renewal (anonymous) is served by _Certificate and _KeyBasedRenewal paths alike.
    if (from_url && *from_url != *mode && *mode != xcep::AuthMode::Anonymous &&
        *from_url != xcep::AuthMode::Anonymous) {
        const std::string offered(xcep::auth_mode_name(*from_url));
        throw Error(ErrorKind::Usage,
                    "--auth " + o.auth + " does not fit " + url + ": that endpoint accepts " +
                        offered + " only",
                    "use --auth " + offered + " (or leave --auth out), or the URL of the " +
                        o.auth + " endpoint");
    }
    return *mode;
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
    app.add_option("--auth", o.auth,
                   "Authentication: auto (from the URL), kerberos, password, certificate, "
                   "anonymous")
        ->group(group)
        ->capture_default_str();
    app.add_option("--username", o.username, "User name for --auth password (DOMAIN\\user or UPN)")
        ->group(group);
    app.add_option("--password-file", o.password_file,
                   "File holding the password (else $CERTENROLL_PASSWORD, else a prompt)")
        ->group(group);
    app.add_option("--client-cert", o.client_cert,
                   "TLS client certificate for --auth certificate: PEM or DER (with "
                   "--client-key) or a .pfx/.p12 holding the key")
        ->group(group);
    app.add_option("--client-key", o.client_key,
                   "Private key of --client-cert: PEM file, TPM key file or pkcs11: URI")
        ->group(group);
    app.add_option("--client-key-passphrase-file", o.client_key_passphrase_file,
                   "File holding the passphrase of --client-key or of a PFX --client-cert")
        ->group(group);
    app.add_option("--keytab", o.keytab,
                   "Kerberos: get a ticket from this keytab into a private in-memory cache")
        ->group(group);
    app.add_option("--principal", o.principal,
                   "Kerberos client principal (user@REALM) to take from --keytab or the cache")
        ->group(group);
    app.add_option("--spn", o.spn,
                   "Kerberos service principal: HTTP@host or HTTP/host@REALM (default: HTTP@ the "
                   "URL's host)")
        ->group(group);
    app.add_flag("--delegate", o.delegate, "Allow Kerberos credential delegation")->group(group);
    const std::string devices = "Key devices";
    app.add_option("--pkcs11-module", o.pkcs11_module,
                   "PKCS#11 module of the token (default: p11-kit's proxy)")
        ->group(devices);
    app.add_option("--pkcs11-token", o.pkcs11_token,
                   "Token for new keys, as a URI: pkcs11:token=LABEL")
        ->group(devices);
    app.add_option("--pin-file", o.pin_file,
                   "File holding the token's user PIN (else $CERTENROLL_PKCS11_PIN, else a prompt)")
        ->group(devices);
    app.add_option("--tpm-tcti", o.tpm_tcti,
                   "TPM interface, e.g. device:/dev/tpmrm0 (default: $TPM2OPENSSL_TCTI)")
        ->group(devices);
    const std::string tls = "TLS and network";
    app.add_option("--ca-bundle", o.ca_bundle,
                   "PEM file of CA certificates to trust for the servers (default: system store)")
        ->group(tls);
    app.add_option("--proxy", o.proxy,
                   "Proxy URL: http://, https://, socks5h://HOST:PORT, no password (default: "
                   "https_proxy, all_proxy and no_proxy environment)")
        ->group(tls);
    app.add_option("--proxy-user", o.proxy_user,
                   "User name for the proxy (password: --proxy-password-file or "
                   "$CERTENROLL_PROXY_PASSWORD, else a prompt)")
        ->group(tls);
    app.add_option("--proxy-password-file", o.proxy_password_file,
                   "File holding the proxy password (else $CERTENROLL_PROXY_PASSWORD)")
        ->group(tls);
    app.add_option("--proxy-auth", o.proxy_auth,
                   "Proxy authentication: basic, ntlm, negotiate (Kerberos ticket) or any")
        ->group(tls)
        ->check(CLI::IsMember({"basic", "ntlm", "negotiate", "any"}))
        ->capture_default_str();
    app.add_option("--timeout", o.timeout_seconds, "Whole-request timeout in seconds")
        ->group(tls)
        ->capture_default_str();
    app.add_option("--connect-timeout", o.connect_timeout_seconds, "Connect timeout in seconds")
        ->group(tls)
        ->capture_default_str();
}

namespace {

// --proxy and its credentials. A password never comes from argv: --proxy holding one is refused.
void apply_proxy_options(const ConnectionOptions& o, http::Settings& settings) {
    settings.proxy_user = o.proxy_user;
    settings.proxy = http::checked_proxy_option(o.proxy, settings.proxy_user);
    settings.proxy_auth = o.proxy_auth == "ntlm"        ? http::ProxyAuth::Ntlm
                          : o.proxy_auth == "negotiate" ? http::ProxyAuth::Negotiate
                          : o.proxy_auth == "any"       ? http::ProxyAuth::Any
                                                        : http::ProxyAuth::Basic;
    if (settings.proxy_user.empty()) {
        if (!o.proxy_password_file.empty()) {
            throw Error(ErrorKind::Usage, "--proxy-password-file needs --proxy-user",
                        "pass the proxy's user name with --proxy-user USER");
        }
        return;
    }
    // Negotiate proves the Kerberos ticket of the credential cache; it has no password.
    if (settings.proxy_auth != http::ProxyAuth::Negotiate) {
        settings.proxy_password = read_secret(o.proxy_password_file, "CERTENROLL_PROXY_PASSWORD",
                                              "Proxy password for " + settings.proxy_user + ": ",
                                              "--proxy-password-file");
    }
}

// Everything but the mode and the secrets it needs.
flows::Connection connection_without_mode(const ConnectionOptions& o) {
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
    credentials.delegate_credentials = o.delegate;
    if (!o.client_key_passphrase_file.empty()) {
        credentials.client_key_passphrase =
            read_secret(o.client_key_passphrase_file, nullptr, "", "--client-key-passphrase-file");
    }
    connection.http.ca_bundle = o.ca_bundle;
    apply_proxy_options(o, connection.http);
    connection.http.total_timeout =
        std::chrono::milliseconds(static_cast<long long>(o.timeout_seconds * 1000));
    connection.http.connect_timeout =
        std::chrono::milliseconds(static_cast<long long>(o.connect_timeout_seconds * 1000));
    return connection;
}

}  // namespace

flows::Connection make_connection(const ConnectionOptions& o) {
    flows::Connection connection = connection_without_mode(o);
    auto& credentials = connection.credentials;
    credentials.mode = resolve_auth(o);
    if (!o.keytab.empty() && credentials.mode != xcep::AuthMode::Kerberos) {
        throw Error(ErrorKind::Usage,
                    "--keytab applies to Kerberos, but the authentication is " +
                        std::string(xcep::auth_mode_name(credentials.mode)),
                    "use a _Kerberos endpoint URL or --auth kerberos");
    }
    switch (credentials.mode) {
        case xcep::AuthMode::UsernamePassword:
            if (o.username.empty()) {
                throw Error(ErrorKind::Usage, "--auth password needs --username",
                            "pass --username DOMAIN\\user (the password comes from "
                            "--password-file, $CERTENROLL_PASSWORD or a prompt)");
            }
            credentials.password = password_source(o)(o.username);
            break;
        case xcep::AuthMode::Certificate:
            if (o.client_cert.empty()) {
                throw Error(ErrorKind::Usage, "--auth certificate needs --client-cert",
                            "pass a PEM certificate with --client-key, or a .pfx/.p12 file");
            }
            break;
        case xcep::AuthMode::Kerberos:
        case xcep::AuthMode::Anonymous:
            break;
    }
    return connection;
}

flows::Connection make_record_connection(const ConnectionOptions& o) {
    flows::Connection connection = connection_without_mode(o);
    connection.credentials.mode = xcep::AuthMode::Anonymous;  // until a record says otherwise
    return connection;
}

namespace {

// The settings a record keeps, by flag.
const std::pair<const char*, std::string ConnectionOptions::*> kRecordedOptions[] = {
    {"--url", &ConnectionOptions::cep_url},
    {"--ces-url", &ConnectionOptions::ces_url},
    {"--ca", &ConnectionOptions::ca_name},
    {"--username", &ConnectionOptions::username},
    {"--password-file", &ConnectionOptions::password_file},
    {"--client-cert", &ConnectionOptions::client_cert},
    {"--client-key", &ConnectionOptions::client_key},
    {"--client-key-passphrase-file", &ConnectionOptions::client_key_passphrase_file},
    {"--spn", &ConnectionOptions::spn},
    {"--keytab", &ConnectionOptions::keytab},
    {"--principal", &ConnectionOptions::principal},
    {"--ca-bundle", &ConnectionOptions::ca_bundle},
    {"--proxy", &ConnectionOptions::proxy},
    {"--proxy-user", &ConnectionOptions::proxy_user},
    {"--proxy-password-file", &ConnectionOptions::proxy_password_file},
};

// Relative paths would mean another file when cron runs from another directory.
std::string absolute_path(const std::string& path) {
    if (path.empty() || path.rfind("pkcs11:", 0) == 0)
        return path;
    std::error_code ec;
    const auto absolute = std::filesystem::absolute(path, ec);
    return ec ? path : absolute.lexically_normal().string();
}

}  // namespace

std::function<bool(const std::string&)> profile_supplied(const GlobalOptions& global) {
    return [&added = global.profile_options](const std::string& flag) {
        return std::find(added.begin(), added.end(), flag) != added.end();
    };
}

ConnectionOptions without_options(ConnectionOptions options,
                                  const std::function<bool(const std::string&)>& drop) {
    for (const auto& [flag, member] : kRecordedOptions) {
        if (drop(flag))
            (options.*member).clear();
    }
    if (drop("--auth"))
        options.auth = "auto";
    if (drop("--proxy-auth"))
        options.proxy_auth = "basic";
    return options;
}

store::SecretSource secret_source(const std::string& file, const char* variable,
                                  bool name_environment) {
    if (!file.empty())
        return {absolute_path(file), {}};
    if (name_environment && variable) {
        if (const char* value = std::getenv(variable); value && *value)
            return {{}, variable};
    }
    return {};
}

store::Endpoint recorded_settings(const ConnectionOptions& o, bool name_environment) {
    store::Endpoint e;
    e.cep_url = o.cep_url;
    e.ces_url = o.ces_url;
    e.ca_name = o.ca_name;
    e.auth = o.auth == "auto" ? "" : o.auth;
    e.username = o.username;
    e.password = secret_source(o.password_file, "CERTENROLL_PASSWORD", name_environment);
    e.client_certificate = absolute_path(o.client_cert);
    e.client_key = absolute_path(o.client_key);
    e.client_key_passphrase = secret_source(o.client_key_passphrase_file, nullptr, false);
    e.spn = o.spn;
    e.keytab = absolute_path(o.keytab);
    e.principal = o.principal;
    e.ca_bundle = absolute_path(o.ca_bundle);
    e.proxy = o.proxy;
    e.proxy_user = o.proxy_user;
    if (!o.proxy.empty() || !o.proxy_user.empty())
        e.proxy_auth = o.proxy_auth;
    if (!o.proxy_user.empty())
        e.proxy_password =
            secret_source(o.proxy_password_file, "CERTENROLL_PROXY_PASSWORD", name_environment);
    return e;
}

flows::SecretReader secret_reader() {
    return [](const store::SecretSource& source, const char* fallback_variable,
              const std::string& prompt, const std::string& flag) -> std::string {
        if (!source.file.empty())
            return read_secret(source.file, nullptr, "", flag);
        if (!source.environment.empty()) {
            if (const char* value = std::getenv(source.environment.c_str()); value && *value)
                return value;
            throw Error(ErrorKind::Usage,
                        "the environment variable " + source.environment +
                            " named for this certificate is not set",
                        "set it, or pass " + flag + " FILE");
        }
        return read_secret({}, fallback_variable, prompt, flag);
    };
}

std::function<std::string(const std::string&)> password_source(const ConnectionOptions& o) {
    return [file = o.password_file](const std::string& username) {
        return read_secret(file, "CERTENROLL_PASSWORD", "Password for " + username + ": ",
                           "--password-file");
    };
}

flows::Context make_context(const GlobalOptions& global, const ConnectionOptions& options,
                            const std::string& audited_subcommand) {
    flows::Context context = make_context(global);
    if (!audited_subcommand.empty())
        context.audit = open_audit_log(global, audited_subcommand);
    context.keys = std::make_shared<keys::KeyBackends>(device_settings(options));
    return context;
}

keys::DeviceSettings device_settings(const ConnectionOptions& options, bool may_prompt) {
    keys::DeviceSettings devices;
    devices.pkcs11.module = options.pkcs11_module;
    devices.pkcs11.token_uri = options.pkcs11_token;
    const char* pin_variable = "CERTENROLL_PKCS11_PIN";
    const char* from_environment = std::getenv(pin_variable);
    if (may_prompt || !options.pin_file.empty() || (from_environment && *from_environment)) {
        devices.pkcs11.pin = [file = options.pin_file, pin_variable,
                              may_prompt](const std::string& token) {
            return read_secret(file, pin_variable,
                               may_prompt ? "PIN for token " + token + ": " : "", "--pin-file");
        };
    }
    devices.tpm.tcti = options.tpm_tcti;
    return devices;
}

flows::Context make_context(const GlobalOptions& global) {
    // libcurl (and OpenSSL through it) initialised once, before anything can start a thread.
    http::global_init();
    flows::Context context{
        store::StateDirectory(global.state_dir.empty() ? store::default_state_dir()
                                                       : std::filesystem::path(global.state_dir)),
        flows::https_transport_factory(),
        [] { return std::chrono::system_clock::now(); },
        {}};
    context.diagnostics.verbosity = global.verbose;
    context.diagnostics.sink = [](std::string_view line) { std::cerr << line << "\n"; };
    return context;
}

audit::Log open_audit_log(const GlobalOptions& global, const std::string& subcommand) {
    std::string path = global.audit_log;
    if (const char* from_env = std::getenv("CERTENROLL_AUDIT_LOG"); path.empty() && from_env)
        path = from_env;
    std::vector<std::shared_ptr<audit::Sink>> sinks;
    if (!path.empty()) {
        try {
            sinks.push_back(std::make_shared<audit::FileSink>(path));
        } catch (const Error& error) {
            // The cause's own fix first (the chown/chmod of a refused log), then the way out.
            throw Error(ErrorKind::Local, "cannot open the audit log: " + error.message(),
                        (error.hint().empty() ? "fix the path or permissions" : error.hint()) +
                            "; or point --audit-log (or \"audit-log\" in the configuration, or "
                            "$CERTENROLL_AUDIT_LOG) elsewhere");
        }
    }
    if (global.audit_syslog)
        sinks.push_back(std::make_shared<audit::SyslogSink>());
    if (sinks.empty())
        return {};
    auto sink = sinks.size() == 1 ? sinks.front() : std::make_shared<audit::FanOutSink>(sinks);
    return audit::Log(std::move(sink), audit::Origin::current(subcommand),
                      [](std::string_view message) {
                          std::cerr << "certenroll-cli: warning: " << message << "\n";
                      });
}

SecretString read_secret(const std::string& file, const char* environment_variable,
                         const std::string& prompt, const std::string& flag) {
    if (!file.empty()) {
        std::ifstream in(file);
        if (!in) {
            throw Error(ErrorKind::Usage, "cannot read " + file, "check the path given to " + flag);
        }
        SecretString secret;
        secret.reserve(256);  // grows in place: no shorter buffer left behind uncleansed
        std::getline(in, static_cast<std::string&>(secret));
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
            SecretString secret(std::move(*line));
            cleanse(*line);  // a short line's bytes stay in its inline buffer after the move
            return secret;
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
