#pragma once
// Flag groups shared by subcommands, and their conversion into the library's settings.

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>

#include "command.hpp"
#include "error.hpp"
#include "flows/connection_settings.hpp"
#include "flows/context.hpp"
#include "secret.hpp"
#include "store/state.hpp"

namespace certenroll::cli {

/// Server, authentication and TLS flags, as typed.
struct ConnectionOptions {
    std::string cep_url;
    std::string ces_url;
    std::string ca_name;
    std::string auth = "auto";
    std::string username;
    std::string password_file;
    std::string client_cert;
    std::string client_key;
    std::string client_key_passphrase_file;
    std::string spn;
    std::string keytab;
    std::string principal;
    bool delegate = false;
    std::string ca_bundle;
    std::string proxy;
    std::string proxy_user;
    std::string proxy_password_file;
    std::string proxy_auth = "basic";
    double timeout_seconds = 120;
    double connect_timeout_seconds = 15;
    // Key devices: how PKCS#11 tokens and the TPM are reached (for new keys, key references
    // and client certificates alike).
    std::string pkcs11_module;
    std::string pkcs11_token;
    std::string pin_file;
    std::string tpm_tcti;
};

/// Adds --url/--ces-url/--ca/--auth/--username/--password-file/--client-cert/--keytab/... to
/// `app`.
void add_connection_options(CLI::App& app, ConnectionOptions& options, bool with_cep = true);

/// Resolves secrets (password file, CERTENROLL_PASSWORD, TTY prompt) and builds the Connection.
flows::Connection make_connection(const ConnectionOptions& options);

/// For commands that act on stored records (renew, retrieve-pending without --auth): the same
/// settings, but the mode, user and Kerberos settings come from each record.
flows::Connection make_record_connection(const ConnectionOptions& options);

/// Whether the configuration profile supplied a flag ("--url") rather than the command line.
std::function<bool(const std::string& flag)> profile_supplied(const GlobalOptions& global);

/// `options` with the settings a record keeps (URLs, auth, user, secret files, client
/// certificate, Kerberos, CA bundle, proxy) reset where `drop(flag)` says so: the typed ones
/// (drop the profile's flags) or the profile's (drop the others).
ConnectionOptions without_options(ConnectionOptions options,
                                  const std::function<bool(const std::string& flag)>& drop);

/// Those settings of `options` by reference, as a record keeps them: files made absolute, "auto"
/// auth left unset. With `name_environment`, a secret without a file that
/// $CERTENROLL_PASSWORD (or $CERTENROLL_PROXY_PASSWORD) supplies is recorded as that variable.
store::Endpoint recorded_settings(const ConnectionOptions& options, bool name_environment);

/// A secret file reference (absolute), or, with `name_environment`, `variable` if it is set.
store::SecretSource secret_source(const std::string& file, const char* variable,
                                  bool name_environment);

/// Reads the secrets records refer to (see flows::SecretReader): a file's first line, an
/// environment variable, else the fallback variable, else a prompt on a terminal.
flows::SecretReader secret_reader();

/// Reads the password for a user (--password-file, $CERTENROLL_PASSWORD, prompt) when called.
std::function<std::string(const std::string& username)> password_source(
    const ConnectionOptions& options);

/// The library context for this run: state directory, curl transport, clock, stderr diagnostics.
flows::Context make_context(const GlobalOptions& global);
/// The same, with the key devices (PKCS#11 module and PIN, TPM) the options name, and for the
/// commands that enroll (`audited_subcommand` set) the audit trail of the global options.
flows::Context make_context(const GlobalOptions& global, const ConnectionOptions& options,
                            const std::string& audited_subcommand = {});

/// How the key devices the options name are reached. With `may_prompt` false the PIN comes
/// only from --pin-file or $CERTENROLL_PKCS11_PIN, and is left unset when neither is given.
keys::DeviceSettings device_settings(const ConnectionOptions& options, bool may_prompt = true);

/// The audit trail --audit-log (else $CERTENROLL_AUDIT_LOG) and --audit-syslog ask for, opened
/// now so that a log that cannot be written stops the run before anything is sent.
audit::Log open_audit_log(const GlobalOptions& global, const std::string& subcommand);

/// A secret from a file (first line), else from the environment variable, else a no-echo prompt
/// on the terminal; without a terminal a usage error names the flag and the variable to use.
SecretString read_secret(const std::string& file, const char* environment_variable,
                         const std::string& prompt, const std::string& flag);

/// "2026-11-25 03:30:00 UTC"
std::string format_time(std::chrono::system_clock::time_point time);
std::string format_iso8601(std::chrono::system_clock::time_point time);

}  // namespace certenroll::cli
