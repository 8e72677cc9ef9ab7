#pragma once
/// libcurl for src/http and diagnose's probes: one way to set an easy handle up from Settings
/// (trust, TLS floor, proxy and its credentials, deadlines), so that a diagnosis reaches a server
/// exactly as an enrollment does. The only header outside src/http that includes libcurl's.

#include <curl/curl.h>

#include <memory>
#include <string>

#include "http/transport.hpp"

namespace certenroll::http {

struct EasyDeleter {
    void operator()(CURL* easy) const { curl_easy_cleanup(easy); }
};
using EasyHandle = std::unique_ptr<CURL, EasyDeleter>;

/// A new easy handle (libcurl initialised first); throws Internal when libcurl cannot make one.
EasyHandle new_easy_handle();

/// Where the certificates a server's chain must lead to come from.
struct Trust {
    std::string file;       ///< a PEM bundle; empty for none
    std::string directory;  ///< a hashed certificate directory; empty for none
    /// For messages: "--ca-bundle FILE", "SSL_CERT_FILE=FILE", "the system trust store (FILE)".
    std::string source;
    bool from_ca_bundle = false;
};

/// --ca-bundle alone when given; otherwise CURL_CA_BUNDLE (as the curl tool reads it) or
/// SSL_CERT_FILE for the file and SSL_CERT_DIR for the directory (as OpenSSL reads them), each
/// falling back to libcurl's built-in defaults (on Debian, /etc/ssl/certs/ca-certificates.crt
/// and /etc/ssl/certs).
Trust trust_of(const Settings& settings);

/// Sets on `easy` everything that decides how a server is reached: HTTPS only, HTTP/1.1, TLS 1.2
/// or newer with the chain and host name verified (for an https:// proxy too) against
/// trust_of(settings), the proxy of --proxy (else libcurl reads https_proxy, all_proxy and
/// no_proxy itself) with its credentials, and the connect and overall deadlines. Throws Internal
/// when libcurl refuses an option (one older than 7.86).
void configure(CURL* easy, const Settings& settings);

/// One setopt that must work; throws Internal naming `what` otherwise.
void check_option(CURLcode code, const char* what);

/// "no answer within 15 s", "within 700 ms": a timeout in the unit it was given.
std::string describe_timeout(std::chrono::milliseconds timeout);

/// OpenSSL's error queue as one line (emptying it); "unknown OpenSSL error" when it is empty.
std::string openssl_errors();

/// A line of libcurl's trace with the user:password of any URL in it replaced by ***.
std::string redact_userinfo(std::string_view line);

}  // namespace certenroll::http
