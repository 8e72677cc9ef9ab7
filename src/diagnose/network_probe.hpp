#pragma once
/// Connection diagnostics below the SOAP layer, for `diagnose`: whether a TCP connection opens,
/// and what the TLS handshake shows (protocol, cipher, the server's
/// certificate chain, every reason it is not trusted, and what would make it trusted). No request
/// is ever sent over a connection whose certificate was not verified: the TLS probe only
/// completes the handshake and reads the certificates.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/transport.hpp"

namespace certenroll::diagnose {

using TimePoint = std::chrono::system_clock::time_point;

/// One TCP connection attempt.
struct TcpResult {
    bool connected = false;
    std::string error;  ///< "Connection refused", "no answer within 15 s", ...
    std::chrono::microseconds elapsed{0};
};

/// Opens (and closes) a TCP connection to the numeric `address` on `port`, bypassing proxies.
TcpResult probe_tcp(const std::string& address, int port, std::chrono::milliseconds timeout);

/// What `diagnose` shows of one certificate.
struct CertificateSummary {
    std::string subject;  ///< RFC 2253 order, e.g. "CN=localhost"
    std::string issuer;
    TimePoint not_before{};
    TimePoint not_after{};
    std::string key;  ///< "RSA 2048", "EC P-384", "ED25519"
    int key_bits = 0;
    int security_bits = 0;           ///< NIST-equivalent strength of the key
    std::string signature;           ///< "sha256WithRSAEncryption"
    std::vector<std::string> names;  ///< subject alternative names (DNS, IP)
    bool self_signed = false;
    std::string sha256;  ///< fingerprint, lower-case hex
};

/// Why a chain is not accepted, by what the user can do about it.
enum class TrustIssue {
    UnknownIssuer,     ///< no path to a trusted CA (issuer missing or not trusted)
    SelfSigned,        ///< the chain ends in a self-signed certificate that is not trusted
    Expired,           ///< a certificate's notAfter has passed
    NotYetValid,       ///< a certificate's notBefore is in the future (or this clock is wrong)
    HostnameMismatch,  ///< the leaf is not issued for the URL's host
    WeakKey,           ///< a key below the TLS security level
    WeakSignature,     ///< a signature digest below the security level (SHA-1, MD5)
    WrongPurpose,      ///< the leaf is not for TLS server authentication
    Other,
};

/// One verification failure, as OpenSSL reported it.
struct VerifyProblem {
    TrustIssue issue = TrustIssue::Other;
    int depth = 0;        ///< 0 = the server's own certificate
    std::string text;     ///< OpenSSL's reason: "unable to get local issuer certificate"
    std::string subject;  ///< the certificate at `depth`
};

/// The result of a TLS handshake with a server.
struct TlsResult {
    bool handshake = false;
    std::string error;                          ///< why the handshake failed (OpenSSL text)
    std::string protocol;                       ///< "TLSv1.3"
    std::string cipher;                         ///< "TLS_AES_256_GCM_SHA384"
    bool client_certificate_requested = false;  ///< the server asked for a client certificate
    std::vector<CertificateSummary> presented;  ///< as the server sent them, leaf first
    std::vector<CertificateSummary> path;       ///< the chain verification built, leaf to anchor
    std::vector<VerifyProblem> problems;        ///< empty: trusted and issued for the host
    std::string trust_store;        ///< what was trusted: the bundle or the system store
    std::string trust_store_error;  ///< the CA bundle could not be loaded
    /// Set when the chain is untrusted and ends in a self-signed root the server sends itself:
    /// whether trusting that root would make the chain valid (host name aside).
    std::optional<bool> trusted_with_sent_root;
    /// Set when a CA bundle was configured and the chain is untrusted: whether the system trust
    /// store would accept it instead.
    std::optional<bool> trusted_by_system_store;
};

/// Connects to `url` (through the proxy `settings` or the environment name), completes a TLS
/// 1.2+ handshake without sending anything, and verifies the server's chain against
/// `settings.ca_bundle` (else the system store) and the URL's host, collecting every problem.
TlsResult probe_tls(const std::string& url, const http::Settings& settings);

/// "::1", "10.0.0.5": the text of an iPAddress SAN (4 or 16 bytes); hex for other lengths.
std::string format_ip_address(const unsigned char* bytes, std::size_t length);

}  // namespace certenroll::diagnose
