#include "http/transfer_error.hpp"

#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <string_view>
#include <system_error>

#include "http/curl_easy.hpp"

namespace certenroll::http {

namespace {

bool contains(std::string_view text, std::string_view part) {
    return text.find(part) != std::string_view::npos;
}

const char* const proxy_password_options =
    "--proxy-password-file FILE or $CERTENROLL_PROXY_PASSWORD";

Error tls_verification_error(const std::string& host, long verify_result) {
    const std::string reason = X509_verify_cert_error_string(verify_result);
    switch (verify_result) {
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        case X509_V_ERR_CERT_UNTRUSTED:
            return Error(ErrorKind::Tls,
                         "the server certificate of " + host + " is not trusted: " + reason,
                         "pass the issuing CA with --ca-bundle FILE");
        case X509_V_ERR_CERT_HAS_EXPIRED:
        case X509_V_ERR_CERT_NOT_YET_VALID:
            return Error(ErrorKind::Tls,
                         "the server certificate of " + host + " is not valid now: " + reason,
                         "the server needs a current certificate; also check this machine's clock");
        case X509_V_ERR_HOSTNAME_MISMATCH:
        case X509_V_ERR_IP_ADDRESS_MISMATCH:
            return Error(
                ErrorKind::Tls,
                "the server certificate does not match the name " + host + " (" + reason + ")",
                "connect using a name in the certificate");
        case X509_V_ERR_APPLICATION_VERIFICATION:  // curl_transport.cpp: no subjectAltName
            return Error(ErrorKind::Tls,
                         "the server certificate of " + host +
                             " names no host in subjectAltName (a name only in the subject's CN "
                             "is not accepted)",
                         "the server needs a certificate with its DNS name in subjectAltName");
        default:
            return Error(ErrorKind::Tls,
                         "the server certificate of " + host + " was rejected: " + reason,
                         "check the server certificate chain and --ca-bundle");
    }
}

// A TLS alert about our certificate means the server refused the client certificate (or
// wanted one): under TLS 1.3 it only surfaces on the first read after the handshake.
bool is_client_certificate_alert(std::string_view detail) {
    if (!contains(detail, "alert"))
        return false;
    for (std::string_view alert :
         {"certificate required", "bad certificate", "unknown ca", "certificate unknown",
          "certificate revoked", "certificate expired", "unsupported certificate"}) {
        if (contains(detail, alert))
            return true;
    }
    return false;
}

// "Negotiate, NTLM, Basic": the schemes of a CURLINFO_PROXYAUTH_AVAIL mask.
std::string auth_names(long mask) {
    std::string names;
    const auto add = [&](unsigned long bit, const char* name) {
        if ((static_cast<unsigned long>(mask) & bit) != 0)
            names += (names.empty() ? "" : ", ") + std::string(name);
    };
    add(CURLAUTH_NEGOTIATE, "Negotiate");
    add(CURLAUTH_NTLM, "NTLM");
    add(CURLAUTH_DIGEST, "Digest");
    add(CURLAUTH_BASIC, "Basic");
    return names;
}

std::string proxy_name(const TransferFacts& facts) {
    return facts.proxy ? facts.proxy->describe() : std::string("the proxy");
}

// The proxy answered CONNECT with something other than 2xx.
Error proxy_refusal(const TransferFacts& facts, const Settings& settings, const std::string& host) {
    const std::string proxy = proxy_name(facts);
    if (facts.connect_code != 407) {
        return Error(ErrorKind::Network,
                     proxy + " refused the tunnel to " + host + " (HTTP " +
                         std::to_string(facts.connect_code) + ")",
                     "check --proxy, no_proxy and the proxy's rules for this host");
    }
    const unsigned long offered = static_cast<unsigned long>(facts.proxy_auth_offered);
    const std::string wants = auth_names(facts.proxy_auth_offered);
    const bool negotiate = (offered & CURLAUTH_NEGOTIATE) != 0;
    const bool sent =
        !settings.proxy_user.empty() || (facts.proxy && contains(facts.proxy->display, "***@"));
    std::string hint;
    if (settings.proxy_auth == ProxyAuth::Negotiate && negotiate) {
        hint =
            "the proxy refused the Kerberos ticket: check kinit / klist (the ticket for "
            "HTTP/ the proxy's host name)";
    } else if (!sent) {
        hint = negotiate ? std::string(
                               "use --proxy-auth negotiate with a Kerberos ticket (kinit), "
                               "or --proxy-user USER with the password in ") +
                               proxy_password_options
                         : std::string("pass --proxy-user USER with the password in ") +
                               proxy_password_options +
                               (offered == CURLAUTH_NTLM ? ", and --proxy-auth ntlm" : "");
    } else {
        hint = std::string("check --proxy-user and the password in ") + proxy_password_options +
               (wants.empty() ? "" : "; the proxy accepts " + wants + " (--proxy-auth)");
    }
    return Error(ErrorKind::Network,
                 proxy + " refused the tunnel to " + host +
                     " with HTTP 407 (proxy authentication required" +
                     (wants.empty() ? "" : "; it asks for " + wants) + ")",
                 hint);
}

// A SOCKS proxy's refusal, in words (CURLINFO_PROXY_ERROR).
const char* socks_refusal(long reason) {
    switch (reason) {
        case CURLPX_REPLY_CONNECTION_REFUSED:
            return "the server refused the connection";
        case CURLPX_REPLY_HOST_UNREACHABLE:
        case CURLPX_REPLY_NETWORK_UNREACHABLE:
            return "the server is unreachable from the proxy";
        case CURLPX_REPLY_NOT_ALLOWED:
            return "the proxy's rules do not allow it";
        case CURLPX_REPLY_TTL_EXPIRED:
            return "the connection timed out at the proxy";
        case CURLPX_RESOLVE_HOST:
            return "the proxy cannot resolve the name";
        case CURLPX_USER_REJECTED:
            return "the proxy refused the user name and password";
        case CURLPX_NO_AUTH:
            return "the proxy wants an authentication this client did not offer";
        default:
            return nullptr;
    }
}

Error timeout_error(const TransferFacts& facts, const Settings& settings, const std::string& host) {
    const auto connect_limit = std::min(settings.connect_timeout, settings.total_timeout);
    const std::string hint = "retry later, or raise --timeout / --connect-timeout";
    if (facts.new_connection && !facts.connected) {
        return Error(ErrorKind::Network,
                     (facts.proxy ? facts.proxy->describe() : host) +
                         " did not answer in time: no connection within " +
                         describe_timeout(connect_limit),
                     hint);
    }
    if (facts.new_connection && !facts.handshaken) {
        if (facts.proxy && !facts.proxy->socks() && facts.connect_code == 0) {
            return Error(
                ErrorKind::Network,
                facts.proxy->describe() + " did not answer in time for a tunnel to " + host,
                "retry later, or raise --connect-timeout; check the proxy");
        }
        return Error(ErrorKind::Network,
                     host + " did not answer in time: no TLS handshake within " +
                         describe_timeout(connect_limit),
                     hint);
    }
    return Error(ErrorKind::Network,
                 host + " did not answer in time: no complete response within " +
                     describe_timeout(settings.total_timeout),
                 hint);
}

// The TLS handshake failed, or the connection broke: which side, and why.
Error broken_connection(const TransferFacts& facts, const Settings& settings,
                        const std::string& host) {
    const std::string& detail = facts.detail;
    const bool client_certificate = settings.client_certificate.has_value();
    if (is_client_certificate_alert(detail)) {
        return Error(ErrorKind::Auth, host + " refused the TLS client certificate (" + detail + ")",
                     client_certificate
                         ? "use a client certificate issued by a CA the server trusts"
                         : "this endpoint needs a client certificate: use --auth certificate");
    }
    if (facts.code == CURLE_SSL_CONNECT_ERROR) {
        if (facts.proxy && facts.proxy->scheme == "https" && facts.connect_code == 0) {
            return Error(ErrorKind::Tls,
                         "TLS handshake with " + facts.proxy->describe() + " failed: " + detail,
                         "check the proxy URL: an https:// proxy must speak TLS 1.2 or newer on "
                         "its port");
        }
        // Under TLS 1.2 a server that insists on a client certificate ends the handshake with a
        // bare handshake_failure alert, indistinguishable from a cipher mismatch.
        if (contains(detail, "alert handshake failure") && !client_certificate) {
            return Error(ErrorKind::Tls, "TLS handshake with " + host + " failed: " + detail,
                         "the server may require a client certificate (--auth certificate) or "
                         "share no TLS 1.2+ cipher with us");
        }
        if (contains(detail, "tpm2")) {
            return Error(ErrorKind::Tls, "TLS handshake with " + host + " failed: " + detail,
                         "signing a handshake with a TPM key needs a resource manager: use "
                         "--tpm-tcti device:/dev/tpmrm0 or tabrmd (tpm2-abrmd), not a bare TPM "
                         "device or socket");
        }
        return Error(ErrorKind::Tls, "TLS handshake with " + host + " failed: " + detail,
                     "the server must offer TLS 1.2 or newer; check the URL and port");
    }
    if (client_certificate && facts.new_connection && !facts.response_started) {
        // Under TLS 1.3 the client finishes its handshake before the server has judged the
        // client certificate; a server that refuses it may reset the connection before its
        // alert can be read, which leaves only a broken socket as evidence.
        return Error(ErrorKind::Auth,
                     host +
                         " dropped the connection right after the TLS handshake, most likely "
                         "because it refused the TLS client certificate (" +
                         detail + ")",
                     "use a client certificate issued by a CA the server trusts");
    }
    if (facts.code == CURLE_GOT_NOTHING) {
        return Error(ErrorKind::Network, host + " closed the connection without a response",
                     "retry later; check the URL and the server logs");
    }
    return Error(ErrorKind::Network,
                 "the connection to " + host + " broke: " +
                     (facts.code == CURLE_PARTIAL_FILE ? "the response ended early (" + detail + ")"
                                                       : detail),
                 "retry later; check proxies and the network");
}

}  // namespace

TransferFacts facts_of(CURL* easy, CURLcode code, const char* error_buffer,
                       const std::string& url) {
    TransferFacts facts;
    facts.code = code;
    facts.detail = error_buffer != nullptr && *error_buffer != '\0' ? std::string(error_buffer)
                                                                    : curl_easy_strerror(code);
    facts.url = url;
    long connects = 0;
    long header_size = 0;
    curl_off_t connected = 0;
    curl_off_t handshaken = 0;
    char* address = nullptr;
    curl_easy_getinfo(easy, CURLINFO_SSL_VERIFYRESULT, &facts.verify_result);
    curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &facts.os_errno);
    curl_easy_getinfo(easy, CURLINFO_HTTP_CONNECTCODE, &facts.connect_code);
    curl_easy_getinfo(easy, CURLINFO_PROXYAUTH_AVAIL, &facts.proxy_auth_offered);
    curl_easy_getinfo(easy, CURLINFO_PROXY_ERROR, &facts.proxy_error);
    curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &connects);
    curl_easy_getinfo(easy, CURLINFO_HEADER_SIZE, &header_size);
    curl_easy_getinfo(easy, CURLINFO_CONNECT_TIME_T, &connected);
    curl_easy_getinfo(easy, CURLINFO_APPCONNECT_TIME_T, &handshaken);
    curl_easy_getinfo(easy, CURLINFO_PRIMARY_IP, &address);
    facts.new_connection = connects > 0;
    facts.connected = connected > 0;
    facts.handshaken = handshaken > 0;
    facts.response_started = header_size > 0;
    facts.primary_ip = address != nullptr ? address : "";
    return facts;
}

Error transfer_error(const TransferFacts& facts, const Settings& settings) {
    const std::string host = url_host(facts.url);
    const std::string& detail = facts.detail;
    if (facts.connect_code != 0 && (facts.connect_code < 200 || facts.connect_code > 299))
        return proxy_refusal(facts, settings, host);

    switch (facts.code) {
        case CURLE_OPERATION_TIMEDOUT:
            return timeout_error(facts, settings, host);
        case CURLE_COULDNT_RESOLVE_PROXY:
            return Error(ErrorKind::Network,
                         "cannot resolve " + proxy_name(facts) + " for " + host + ": " + detail,
                         "check --proxy or the https_proxy environment variable");
        case CURLE_COULDNT_RESOLVE_HOST:
            return Error(ErrorKind::Network, "cannot resolve the host name " + host,
                         "check the URL and DNS");
        case CURLE_COULDNT_CONNECT: {
            if (contains(detail, "proxy")) {  // "Unsupported proxy scheme for '...'"
                return Error(ErrorKind::Usage, "cannot use the proxy: " + redact_userinfo(detail),
                             "use an http://, https://, socks5h://, socks5:// or socks4a:// proxy "
                             "URL in --proxy or https_proxy");
            }
            const std::string why =
                facts.os_errno != 0
                    ? std::system_category().message(static_cast<int>(facts.os_errno))
                    : detail;
            if (facts.proxy) {
                return Error(
                    ErrorKind::Network,
                    "cannot connect to " + facts.proxy->describe() + " for " + host + ": " + why,
                    "check --proxy or the https_proxy environment variable, and that the "
                    "proxy is running");
            }
            const auto target = parse_url(facts.url);
            const std::string port = target ? std::to_string(target->port) : std::string("?");
            const bool other_address = !facts.primary_ip.empty() && facts.primary_ip != host;
            return Error(ErrorKind::Network,
                         "cannot connect to " + host + " (" +
                             (other_address ? facts.primary_ip + " " : std::string()) + "port " +
                             port + "): " + why,
                         "check the URL, the port, firewalls and the proxy settings");
        }
        case CURLE_PROXY: {
            const long reason = facts.proxy_error;
            const bool credentials = reason == CURLPX_USER_REJECTED || reason == CURLPX_NO_AUTH ||
                                     reason == CURLPX_RECV_AUTH || reason == CURLPX_SEND_AUTH;
            const char* why = socks_refusal(reason);
            return Error(ErrorKind::Network,
                         (facts.proxy ? facts.proxy->describe() : std::string("the SOCKS proxy")) +
                             " did not open a connection to " + host + ": " +
                             (why != nullptr ? std::string(why) + " (" + detail + ")" : detail),
                         credentials
                             ? std::string("check --proxy-user and the password in ") +
                                   proxy_password_options
                             : "check the proxy's rules for this host, and that it can reach the "
                               "server");
        }
        case CURLE_PEER_FAILED_VERIFICATION: {
            if (facts.proxy && facts.proxy->scheme == "https" && facts.connect_code == 0) {
                return Error(
                    ErrorKind::Tls,
                    "the certificate of " + facts.proxy->describe() + " was rejected: " + detail,
                    "trust the proxy's issuing CA too (add it to --ca-bundle)");
            }
            // libcurl checks the name itself once OpenSSL accepted the chain, and then leaves
            // the verification result unset (X509_V_ERR_UNSPECIFIED).
            if (facts.verify_result != X509_V_OK && facts.verify_result != X509_V_ERR_UNSPECIFIED)
                return tls_verification_error(host, facts.verify_result);
            if (contains(detail, "name")) {
                return Error(
                    ErrorKind::Tls,
                    "the server certificate does not match the name " + host + " (" + detail + ")",
                    "connect using a name in the certificate");
            }
            return Error(ErrorKind::Tls,
                         "the server certificate of " + host + " was rejected: " + detail,
                         "check the server certificate chain and --ca-bundle");
        }
        case CURLE_SSL_CACERT_BADFILE: {
            const Trust trust = trust_of(settings);
            if (trust.from_ca_bundle) {
                return Error(
                    ErrorKind::Usage,
                    "the CA bundle " + settings.ca_bundle + " could not be loaded (" + detail + ")",
                    "pass a PEM file of CA certificates with --ca-bundle");
            }
            return Error(ErrorKind::Usage,
                         "the trusted certificates of " + trust.source + " could not be loaded (" +
                             detail + ")",
                         "fix SSL_CERT_FILE, SSL_CERT_DIR or CURL_CA_BUNDLE, or pass --ca-bundle "
                         "FILE");
        }
        case CURLE_SSL_CERTPROBLEM:
            return Error(ErrorKind::Local,
                         "the TLS client certificate could not be used: " + detail,
                         "check that --client-cert matches --client-key");
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
            return broken_connection(facts, settings, host);
        case CURLE_WEIRD_SERVER_REPLY:
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_BAD_CONTENT_ENCODING:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
            return Error(ErrorKind::Protocol, host + " sent a malformed HTTP response: " + detail,
                         "check that the URL points at the CEP/CES service (not a proxy or another "
                         "server)");
        case CURLE_URL_MALFORMAT:
            return Error(ErrorKind::Usage,
                         "cannot use the URL " + redact_userinfo(facts.url) + ": " + detail,
                         "use an https:// URL");
        case CURLE_AUTH_ERROR:
        case CURLE_LOGIN_DENIED:
            return Error(ErrorKind::Network,
                         "authentication to " + proxy_name(facts) + " failed: " + detail,
                         "for --proxy-auth negotiate get a Kerberos ticket first (kinit; check "
                         "klist); otherwise check --proxy-user and the proxy password");
        case CURLE_OUT_OF_MEMORY:
            return Error(ErrorKind::Internal, "out of memory talking to " + host, "");
        default:
            return Error(ErrorKind::Network, "the request to " + host + " failed: " + detail,
                         "retry later; check proxies and the network");
    }
}

}  // namespace certenroll::http
