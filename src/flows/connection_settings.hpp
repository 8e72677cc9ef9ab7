#pragma once
/// Per-certificate connection settings (issue 24): each record keeps how to reach and
/// authenticate to its CEP/CES by reference (URLs, auth mode, user, where its secrets are, CA
/// bundle, proxy). A run combines three layers: what the command line says overrides the
/// record, and the configuration profile fills only what the record lacks.

#include <functional>
#include <string>

#include "flows/context.hpp"
#include "store/state.hpp"

namespace certenroll::flows {

/// Reads a secret from where `source` says; with no source, from the environment variable
/// `fallback_variable` (may be null), else from a no-echo prompt on a terminal when `prompt` is
/// not empty. Throws a usage Error naming `flag` when there is none. The CLI supplies it.
using SecretReader =
    std::function<std::string(const store::SecretSource& source, const char* fallback_variable,
                              const std::string& prompt, const std::string& flag)>;

/// The layers a run brings; the record is the one in between.
struct SettingsLayers {
    store::Endpoint command_line;  ///< typed for this run: overrides every record
    store::Endpoint defaults;      ///< from the configuration profile: fills what a record lacks
};

/// Field by field: the command line's, else the record's, else the defaults'. Fields that belong
/// together come from one layer: the URLs (a --url or --ces-url replaces both), the proxy with
/// its user, authentication and password, and the password only with its user name.
store::Endpoint merge_settings(const store::Endpoint& command_line, const store::Endpoint& record,
                               const store::Endpoint& defaults);

/// `base` (the run's timeouts, delegation, ...) with the CA bundle and proxy of `settings`;
/// the proxy password is read (`read`) when a proxy user needs one.
Connection with_transport_settings(Connection base, const store::Endpoint& settings,
                                   const SecretReader& read);

/// Also the URLs, the authentication mode (where `settings` names one), the user, Kerberos
/// settings and client certificate; the password and client-key passphrase are read when the
/// mode needs them and `base` does not hold them already.
Connection with_settings(Connection base, const store::Endpoint& settings,
                         const SecretReader& read);

/// Reads the password of `credentials` (password mode, none yet) from `source`, else
/// $CERTENROLL_PASSWORD, else a prompt.
void read_password(Credentials& credentials, const store::SecretSource& source,
                   const SecretReader& read);

/// A secret that is optional: read from `source`, else `fallback_variable`; empty when neither
/// is given (nothing is prompted).
std::string optional_secret(const SecretReader& read, const store::SecretSource& source,
                            const char* fallback_variable, const std::string& flag);

}  // namespace certenroll::flows
