#pragma once
/// Kerberos for HTTP (SPNEGO, RFC 4559): a Transport decorator that puts
/// "Authorization: Negotiate <token>" on every request. The token is built here with GSS-API
/// so that the whole SPN can be chosen (--spn), a keytab can be used
/// without touching the user's credential cache, and every GSS-API failure becomes a precise
/// error (no ticket, KDC unreachable, clock skew, unknown SPN, ...).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "error.hpp"
#include "http/transport.hpp"

namespace certenroll::auth {

struct KerberosSettings {
    /// Service principal: "HTTP@host" (host-based) or "HTTP/host[@REALM]" (a Kerberos principal
    /// name). Empty: HTTP@<host of each request's URL>.
    std::string spn;
    /// Acquire the client's credentials from this keytab into a private in-memory cache instead
    /// of using the user's credential cache (KRB5CCNAME).
    std::string keytab;
    /// The client principal to take from `keytab` (default: the keytab's first principal) or to
    /// pick from a cache collection.
    std::string principal;
    /// Let the server act as the client towards other services (GSS_C_DELEG_FLAG).
    bool delegate = false;
    /// Bind each token to its TLS connection (RFC 5929 tls-server-end-point), as Extended
    /// Protection for Authentication demands. Off only for diagnose's probe of whether the
    /// server demands it.
    bool channel_binding = true;
};

/// The SPN used for `url` when none is configured: "HTTP@<host>" without brackets or port.
std::string default_spn(std::string_view url);

/// What went wrong while obtaining a token, named for a human: pure, so it can be tested with
/// the status codes alone. `minor` is the Kerberos mechanism's code (a krb5 com_err value).
Error kerberos_failure(std::uint32_t major, std::int32_t minor, std::string_view gss_text,
                       const std::string& spn, const KerberosSettings& settings);

/// SPNEGO over a transport that reports its TLS connection (Request::connection_headers): the
/// token is made once the connection the request goes out on is up, bound to that connection's
/// server certificate, and made again should the request go out on another connection. The
/// server's answer token (mutual authentication) is verified; a token that does not verify is
/// an Auth error. Failures to get a ticket are found before anything is sent.
class NegotiateTransport : public http::Transport {
  public:
    /// Throws ErrorKind::Auth when `settings.keytab` cannot be read or its credentials cannot be
    /// acquired.
    NegotiateTransport(std::unique_ptr<http::Transport> inner, KerberosSettings settings,
                       std::function<void(std::string_view)> trace = {});
    ~NegotiateTransport() override;
    NegotiateTransport(const NegotiateTransport&) = delete;
    NegotiateTransport& operator=(const NegotiateTransport&) = delete;

    http::Response post(const http::Request& request) override;

  private:
    struct Credentials;
    std::unique_ptr<http::Transport> inner_;
    KerberosSettings settings_;
    std::function<void(std::string_view)> trace_;
    std::unique_ptr<Credentials> credentials_;
};

}  // namespace certenroll::auth
