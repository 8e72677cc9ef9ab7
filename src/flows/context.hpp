#pragma once
/// What every flow is given: where state lives, how to reach the network, what time it is, and
/// where diagnostics go. Passed down explicitly; the library keeps no globals.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "audit/log.hpp"
#include "encoding/terminal_text.hpp"
#include "flows/deploy_hook.hpp"
#include "http/transport.hpp"
#include "keys/backends.hpp"
#include "secret.hpp"
#include "soap/call.hpp"
#include "store/state.hpp"
#include "xcep/policy.hpp"

namespace certenroll::flows {

using TimePoint = std::chrono::system_clock::time_point;

/// How the client proves who it is to CEP and CES.
struct Credentials {
    xcep::AuthMode mode = xcep::AuthMode::UsernamePassword;
    std::string username;
    SecretString password;           ///< resolved secret: never logged, never in errors; cleansed
    std::string client_certificate;  ///< PEM file of the TLS client certificate
    std::string client_key;          ///< key reference: PEM file (later pkcs11: URI, TPM blob)
    SecretString client_key_passphrase;
    std::string spn;        ///< Kerberos service principal; empty = HTTP@<host of the URL>
    std::string keytab;     ///< Kerberos: acquire from this keytab into a private cache
    std::string principal;  ///< Kerberos: the client principal (with --keytab, or from a cache)
    bool delegate_credentials = false;
};

/// One server pair and how to talk to it.
struct Connection {
    std::string cep_url;  ///< may be empty when ces_url is given directly
    std::string ces_url;  ///< overrides the CES URLs from the policy
    std::string ca_name;  ///< restrict to this CA (from the policy)
    Credentials credentials;
    http::Settings http;  ///< CA bundle, timeouts, proxy; auth fields are filled by the flows
};

using TransportFactory = std::function<std::unique_ptr<http::Transport>(const http::Settings&)>;

/// Receives progress lines (-v) and, at verbosity 2, redacted SOAP traffic. Both may carry what a
/// server sent (a certificate subject, a whole response): control characters are escaped and
/// each is cut ("... N more bytes") before it reaches the sink, i.e. the terminal.
struct Diagnostics {
    static constexpr std::size_t kMaxStepBytes = 4096;
    static constexpr std::size_t kMaxTrafficBytes = 65536;

    int verbosity = 0;
    std::function<void(std::string_view)> sink;

    void step(std::string_view line) const {
        if (verbosity >= 1 && sink) {
            sink(encoding::terminal_safe(line, kMaxStepBytes));
        }
    }
    void traffic(std::string_view text) const {
        if (verbosity >= 2 && sink) {
            sink(encoding::terminal_safe(text, kMaxTrafficBytes));
        }
    }
};

struct Context {
    store::StateDirectory state;
    TransportFactory make_transport;
    std::function<TimePoint()> clock = [] { return std::chrono::system_clock::now(); };
    Diagnostics diagnostics;
    /// Where keys are generated and loaded: software files, PKCS#11 tokens, the TPM.
    std::shared_ptr<keys::KeyBackends> keys = std::make_shared<keys::KeyBackends>();
    /// Deploy hooks and waits go through here so tests can observe them.
    std::function<int(const std::string&, const Environment&)> run_hook = run_shell_hook;
    std::function<void(std::chrono::milliseconds)> sleep = [](std::chrono::milliseconds d) {
        std::this_thread::sleep_for(d);
    };
    /// The audit trail (--audit-log, --audit-syslog); records nothing unless set.
    audit::Log audit{};
};

/// Message-level settings of every SOAP call: the UsernameToken for password auth, and the
/// (redacted) traffic dump for -vv.
soap::CallOptions call_options(const Context& context, const Credentials& credentials);

/// Takes the authentication recorded at enroll (mode, user name, Kerberos settings) for what the
/// caller left unset, so that renew and retrieve-pending work unattended.
void apply_recorded_auth(Credentials& credentials, const store::Endpoint& endpoint);

/// Copies the authentication that should be remembered with a certificate into `endpoint`.
void record_auth(const Credentials& credentials, store::Endpoint& endpoint);

/// The production transport: HTTPS through libcurl (http::CurlTransport); the transports it makes
/// share their kept connection (http::ConnectionPool).
TransportFactory https_transport_factory();

/// A transport for `connection` with its credentials applied at the HTTP/TLS layer
/// (SPNEGO, client certificate); message-level credentials are added per SOAP call.
std::unique_ptr<http::Transport> open_transport(const Context& context,
                                                const Connection& connection);

}  // namespace certenroll::flows
