#pragma once
/// Why a libcurl transfer failed, in the user's terms: the one Error (category and exit code,
/// a message naming the cause, a hint naming the fix) for what libcurl reported. A pure
/// function of the facts, so every mapping is tested without a network.

#include <curl/curl.h>

#include <optional>
#include <string>

#include "error.hpp"
#include "http/transport.hpp"
#include "http/url.hpp"

namespace certenroll::http {

/// What libcurl said about a failed transfer (curl_easy_perform's code and CURLINFO_*).
struct TransferFacts {
    CURLcode code = CURLE_OK;
    std::string detail;               ///< libcurl's error buffer (else curl_easy_strerror)
    std::string url;                  ///< the server URL
    long verify_result = 0;           ///< CURLINFO_SSL_VERIFYRESULT: an X509_V_ERR_* code
    long os_errno = 0;                ///< CURLINFO_OS_ERRNO
    long connect_code = 0;            ///< CURLINFO_HTTP_CONNECTCODE: the proxy's answer to CONNECT
    long proxy_auth_offered = 0;      ///< CURLINFO_PROXYAUTH_AVAIL: CURLAUTH_* bits
    long proxy_error = 0;             ///< CURLINFO_PROXY_ERROR: a CURLPX_* code (SOCKS)
    bool new_connection = false;      ///< CURLINFO_NUM_CONNECTS > 0
    bool connected = false;           ///< CURLINFO_CONNECT_TIME_T > 0: TCP to the first hop
    bool handshaken = false;          ///< CURLINFO_APPCONNECT_TIME_T > 0: TLS with the server
    bool response_started = false;    ///< CURLINFO_HEADER_SIZE > 0
    std::string primary_ip;           ///< CURLINFO_PRIMARY_IP
    std::optional<ProxyRoute> proxy;  ///< proxy_route() of the request
};

/// What `easy` says about its failed transfer of `url` (all but `proxy`, which the caller looks
/// up only when it needs it). `error_buffer`: the handle's CURLOPT_ERRORBUFFER.
TransferFacts facts_of(CURL* easy, CURLcode code, const char* error_buffer, const std::string& url);

/// The Error for `facts`, given the `settings` the transfer ran with (deadlines, trust, client
/// certificate, proxy credentials).
Error transfer_error(const TransferFacts& facts, const Settings& settings);

}  // namespace certenroll::http
