#pragma once
/// The HTTP seam: protocol code posts SOAP messages through a Transport and never sees a socket.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "secret.hpp"

// OpenSSL's key type, forward-declared so this header stays free of OpenSSL includes.
struct evp_pkey_st;

namespace certenroll::http {

struct Header {
    std::string name;
    std::string value;
};

/// The credential a request carries, so that a 401 can be explained in its terms.
enum class Credential { None, UsernameToken, Negotiate, ClientCertificate };

/// The TLS connection a request is about to go out on.
struct Connection {
    /// The server's end-entity certificate (DER) as this connection's handshake presented it
    /// (through a CONNECT tunnel: the server's, not the proxy's); empty if the transport has none.
    std::vector<std::uint8_t> server_certificate_der;
};

struct Request {
    std::string url;
    std::string body;
    std::vector<Header> headers;  ///< in addition to the transport's own (Content-Type, ...)
    Credential credential = Credential::None;
    std::string credential_detail;  ///< user name, SPN or certificate subject; never a secret
    /// Hand an HTTP 401 back like any other status instead of throwing, so that a caller probing
    /// the server (diagnose) can read its WWW-Authenticate challenge.
    bool return_unauthorized = false;
    /// Safe to send again (GetPolicies, QueryTokenStatus): a RetryTransport may repeat it when the
    /// server answers "come back later". Never set for an Issue, which the CA may have processed.
    bool idempotent = false;
    /// Headers that depend on the connection (Kerberos with channel binding): called once the
    /// connection the request goes out on is up, new or kept, right before the request is sent
    /// on it, and again if it is sent again on another one; what it returns is sent with
    /// `headers`. An exception it throws ends the post with that exception.
    std::function<std::vector<Header>(const Connection&)> connection_headers;
};

struct Response {
    long status = 0;
    std::vector<Header> headers;
    std::string body;
    /// How often the request was sent to get this answer: more than 1 when a RetryTransport
    /// repeated it after 503/429.
    int attempts = 1;

    /// Case-insensitive header lookup; the first match.
    std::optional<std::string_view> header(std::string_view name) const;
    /// The authentication schemes of every WWW-Authenticate header ("Negotiate", "NTLM",
    /// "Basic"), in order, without duplicates.
    std::vector<std::string> authentication_schemes() const;
};

/// TLS client authentication: a certificate and a key that may live in any key backend
/// (software, PKCS#11, TPM); the transport only signs with it, never reads it out.
struct ClientCertificate {
    std::vector<std::uint8_t> certificate_der;
    std::vector<std::vector<std::uint8_t>> chain_der;  ///< intermediates to send, may be empty
    std::shared_ptr<evp_pkey_st> key;
};

/// How a proxy that asks for credentials (HTTP 407) is answered, as curl's --proxy-basic,
/// --proxy-ntlm, --proxy-negotiate and --proxy-anyauth.
enum class ProxyAuth { Basic, Ntlm, Negotiate, Any };

/// Everything a transport needs to know about the connection. TLS verification is always on;
/// `ca_bundle` replaces the platform's trust (SSL_CERT_FILE, SSL_CERT_DIR, CURL_CA_BUNDLE, the
/// system store) with its own certificates.
struct Settings {
    std::string ca_bundle;  ///< PEM file; empty = the platform's trust
    std::chrono::milliseconds connect_timeout{std::chrono::seconds(15)};
    std::chrono::milliseconds total_timeout{std::chrono::seconds(120)};
    std::size_t max_response_bytes = 16 * 1024 * 1024;  ///< the body
    /// The response head: a server sending more header fields, or more bytes of them, is
    /// refused as soon as it passes either bound (IIS sends about ten fields, 1 KB).
    std::size_t max_header_fields = 256;
    std::size_t max_header_bytes = 64 * 1024;
    /// --proxy: http://, https://, socks5h://, socks5://, socks4a:// URL without a password;
    /// empty = what the environment says (https_proxy, all_proxy, no_proxy ...), as for curl.
    std::string proxy;
    std::string proxy_user;       ///< empty = none, or the user in the environment's proxy URL
    SecretString proxy_password;  ///< from a file or the environment, never argv
    ProxyAuth proxy_auth = ProxyAuth::Basic;
    std::optional<ClientCertificate> client_certificate;
    /// Receives diagnostic lines (connection, TLS, status) for --verbose; never message bodies
    /// with secrets, because callers redact before logging bodies themselves.
    std::function<void(std::string_view)> trace;
};

/// Sends one POST and returns the response whatever its HTTP status, because SOAP 1.2 faults
/// arrive with HTTP 500. Throws certenroll::Error only for failures of the transport itself:
/// TLS (ErrorKind::Tls), DNS/connect/timeout/proxy (ErrorKind::Network), HTTP 401
/// (ErrorKind::Auth) and a response over the size cap (ErrorKind::Protocol).
class Transport {
  public:
    virtual ~Transport() = default;
    virtual Response post(const Request& request) = 0;
};

/// When to send an idempotent request again after HTTP 503 (Service Unavailable) or 429 (Too Many
/// Requests): after the server's Retry-After (delta-seconds), else after `first_delay`, doubled
/// for each further attempt.
struct RetryPolicy {
    int max_attempts = 3;  ///< the first one included
    std::chrono::milliseconds first_delay{std::chrono::seconds(1)};
    /// The longest wait; a server asking for longer is not waited for (its answer is returned).
    std::chrono::milliseconds max_delay{std::chrono::seconds(30)};
};

/// How long to wait before attempt `attempt + 1` (`attempt` counts from 1) after `response` to
/// `request`, or nothing: not idempotent, not a 503/429, attempts used up, or a Retry-After over
/// `policy.max_delay`.
std::optional<std::chrono::milliseconds> retry_delay(const RetryPolicy& policy,
                                                     const Request& request,
                                                     const Response& response, int attempt);

/// Wraps a transport and re-sends idempotent requests as retry_delay() says, sleeping through
/// `sleep`; anything else (and the last answer) is returned unchanged. Transport failures are not
/// retried: an Issue is never re-sent, and the callers decide about failover.
class RetryTransport : public Transport {
  public:
    using Sleep = std::function<void(std::chrono::milliseconds)>;
    RetryTransport(std::unique_ptr<Transport> inner, RetryPolicy policy, Sleep sleep,
                   std::function<void(std::string_view)> trace = {});
    Response post(const Request& request) override;

  private:
    std::unique_ptr<Transport> inner_;
    RetryPolicy policy_;
    Sleep sleep_;
    std::function<void(std::string_view)> trace_;
};

/// The host part of `url` ("ca.example.com", "[::1]"), for error messages; the whole url if
/// it has no recognisable authority.
std::string url_host(std::string_view url);

/// The 401 rule shared by every transport: throws ErrorKind::Auth, in terms of the credential
/// `request` carried and the schemes the server offers (WWW-Authenticate), when `response` is
/// HTTP 401 and the request did not ask for it back (Request::return_unauthorized); does nothing
/// otherwise.
void throw_if_unauthorized(const Response& response, const Request& request);

}  // namespace certenroll::http
