#include "http/curl_transport.hpp"

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <utility>

#include "error.hpp"
#include "http/curl_api.hpp"

namespace certenroll::http {

namespace {

struct CurlEasyDeleter {
    void operator()(CURL* curl) const { curl_api().easy_cleanup(curl); }
};
using CurlEasyPtr = std::unique_ptr<CURL, CurlEasyDeleter>;

struct SlistDeleter {
    void operator()(curl_slist* list) const { curl_api().slist_free_all(list); }
};
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

struct X509Deleter {
    void operator()(X509* cert) const { X509_free(cert); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;

// libcurl requires one process-wide initialisation before any handle exists.
void global_init() {
    static std::once_flag once;
    std::call_once(once, [] {
        if (const CURLcode code = curl_api().global_init(CURL_GLOBAL_DEFAULT); code != CURLE_OK) {
            throw Error(
                ErrorKind::Internal,
                std::string("libcurl initialisation failed: ") + curl_api().easy_strerror(code),
                "check the libcurl and OpenSSL installation");
        }
    });
}

X509Ptr parse_certificate(const std::vector<std::uint8_t>& der, const std::string& what) {
    const unsigned char* cursor = der.data();
    X509Ptr cert(d2i_X509(nullptr, &cursor, static_cast<long>(der.size())));
    if (!cert || cursor != der.data() + der.size()) {
        throw Error(ErrorKind::Usage, "the " + what + " is not a DER X.509 certificate",
                    "check the file given to --client-cert");
    }
    return cert;
}

std::string openssl_errors() {
    std::string text;
    while (const unsigned long code = ERR_get_error()) {
        std::array<char, 256> buffer{};
        ERR_error_string_n(code, buffer.data(), buffer.size());
        text += (text.empty() ? "" : "; ") + std::string(buffer.data());
    }
    return text.empty() ? "unknown OpenSSL error" : text;
}

bool contains(std::string_view text, std::string_view part) {
    return text.find(part) != std::string_view::npos;
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.back() == '\r' || text.back() == '\n' || text.back() == ' ' ||
                             text.back() == '\t')) {
        text.remove_suffix(1);
    }
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
        text.remove_prefix(1);
    }
    return text;
}

// libcurl's verbose text can echo a proxy URL from the environment: hide any user:password.
std::string redact_userinfo(std::string_view line) {
    std::string out(line);
    std::size_t pos = 0;
    while ((pos = out.find("://", pos)) != std::string::npos) {
        const std::size_t start = pos + 3;
        const std::size_t end = out.find_first_of("/ '\"", start);
        const std::size_t at = out.find('@', start);
        if (at != std::string::npos && (end == std::string::npos || at < end)) {
            out.replace(start, at - start, "***");
        }
        pos = start;
    }
    return out;
}

}  // namespace

struct CurlTransport::Impl {
    Settings settings;
    CurlEasyPtr curl;
    X509Ptr client_cert;
    std::vector<X509Ptr> client_chain;
    std::string ssl_ctx_error;  // why the client certificate could not be installed
};

namespace {

// Per-post state shared with libcurl's callbacks.
struct Transfer {
    CurlTransport::Impl* impl = nullptr;
    Response response;
    std::size_t header_bytes = 0;
    bool too_large = false;
};

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
    auto& transfer = *static_cast<Transfer*>(user);
    const std::size_t bytes = size * count;
    if (transfer.response.body.size() + bytes > transfer.impl->settings.max_response_bytes) {
        transfer.too_large = true;
        return 0;  // anything but `bytes` aborts the transfer with CURLE_WRITE_ERROR
    }
    transfer.response.body.append(data, bytes);
    return bytes;
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
    auto& transfer = *static_cast<Transfer*>(user);
    const std::size_t bytes = size * count;
    transfer.header_bytes += bytes;
    if (transfer.header_bytes > transfer.impl->settings.max_response_bytes) {
        transfer.too_large = true;
        return 0;
    }
    const std::string_view line = trim(std::string_view(data, bytes));
    if (line.starts_with("HTTP/")) {
        transfer.response.headers.clear();  // a new response (after 100, 401 rounds): start over
    } else if (const std::size_t colon = line.find(':'); colon != std::string_view::npos) {
        transfer.response.headers.push_back(Header{std::string(trim(line.substr(0, colon))),
                                                   std::string(trim(line.substr(colon + 1)))});
    }
    return bytes;
}

// Only libcurl's informational text reaches the trace: never headers or payloads, which may
// carry Authorization tokens or passwords.
int on_debug(CURL*, curl_infotype type, char* data, std::size_t size, void* user) {
    if (type != CURLINFO_TEXT) {
        return 0;
    }
    const auto& trace = *static_cast<const std::function<void(std::string_view)>*>(user);
    std::string_view text(data, size);
    while (!text.empty()) {
        const std::size_t end = text.find('\n');
        const std::string_view line = trim(text.substr(0, end));
        if (!line.empty()) {
            trace("* " + redact_userinfo(line));
        }
        text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    }
    return 0;
}

// Installs the client certificate and key on each new TLS context, so a key held by a provider
// (PKCS#11, TPM) only signs the handshake and is never exported to a file.
CURLcode on_ssl_ctx(CURL*, void* ssl_ctx, void* user) {
    auto& impl = *static_cast<CurlTransport::Impl*>(user);
    auto* ctx = static_cast<SSL_CTX*>(ssl_ctx);
    const ClientCertificate& client = *impl.settings.client_certificate;
    ERR_clear_error();
    bool ok = SSL_CTX_use_certificate(ctx, impl.client_cert.get()) == 1 &&
              SSL_CTX_use_PrivateKey(ctx, client.key.get()) == 1 &&
              SSL_CTX_check_private_key(ctx) == 1;
    for (const X509Ptr& cert : impl.client_chain) {
        ok = ok && SSL_CTX_add1_chain_cert(ctx, cert.get()) == 1;
    }
    if (!ok) {
        impl.ssl_ctx_error = openssl_errors();
        return CURLE_SSL_CERTPROBLEM;
    }
    return CURLE_OK;
}

template <typename T>
void set_option(CURL* curl, CURLoption option, T value) {
    if (const CURLcode code = curl_api().easy_setopt(curl, option, value); code != CURLE_OK) {
        throw Error(ErrorKind::Internal,
                    "libcurl rejected option " + std::to_string(static_cast<int>(option)) + ": " +
                        curl_api().easy_strerror(code),
                    "check that libcurl is built with OpenSSL");
    }
}

Error tls_verification_error(const std::string& host, long verify_result,
                             const std::string& detail) {
    // libcurl checks the host name itself, after the chain, and reports it only in the text.
    const bool name_mismatch = contains(detail, "does not match") ||
                               contains(detail, "subject name matches") ||
                               contains(detail, "no alternative certificate subject name");
    const auto result =
        name_mismatch ? X509_V_ERR_HOSTNAME_MISMATCH : static_cast<int>(verify_result);
    switch (result) {
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        case X509_V_ERR_CERT_UNTRUSTED:
            return Error(ErrorKind::Tls,
                         "the server certificate of " + host +
                             " is not trusted: " + X509_verify_cert_error_string(verify_result),
                         "pass the issuing CA with --ca-bundle FILE");
        case X509_V_ERR_CERT_HAS_EXPIRED:
        case X509_V_ERR_CERT_NOT_YET_VALID:
            return Error(ErrorKind::Tls,
                         "the server certificate of " + host +
                             " is not valid now: " + X509_verify_cert_error_string(verify_result),
                         "the server needs a current certificate; also check this machine's clock");
        case X509_V_ERR_HOSTNAME_MISMATCH:
        case X509_V_ERR_IP_ADDRESS_MISMATCH:
            break;
        default:
            return Error(ErrorKind::Tls,
                         "the server certificate of " + host + " was rejected: " + detail,
                         "check the server certificate chain and --ca-bundle");
    }
    return Error(ErrorKind::Tls,
                 "the server certificate does not match the name " + host + " (" + detail + ")",
                 "connect using a name in the certificate");
}

// A TLS alert about our certificate means the server refused the client certificate (or
// wanted one): under TLS 1.3 it only surfaces on the first read after the handshake.
bool is_client_certificate_alert(std::string_view detail) {
    if (!contains(detail, "alert")) {
        return false;
    }
    for (std::string_view alert :
         {"certificate required", "bad certificate", "unknown ca", "certificate unknown",
          "certificate revoked", "certificate expired", "unsupported certificate"}) {
        if (contains(detail, alert)) {
            return true;
        }
    }
    return false;
}

bool peer_dropped_after_handshake(CURLcode code, const CurlTransport::Impl& impl,
                                  const Transfer& transfer) {
    if (transfer.header_bytes != 0 || !transfer.response.body.empty()) {
        return false;
    }
    if (code != CURLE_RECV_ERROR && code != CURLE_SEND_ERROR && code != CURLE_GOT_NOTHING &&
        code != CURLE_COULDNT_CONNECT) {
        return false;
    }
    curl_off_t tls_done_us = 0;
    curl_api().easy_getinfo(impl.curl.get(), CURLINFO_APPCONNECT_TIME_T, &tls_done_us);
    return tls_done_us > 0;
}

Error transfer_error(CURLcode code, const CurlTransport::Impl& impl, const Transfer& transfer,
                     const std::string& url, const std::string& errbuf) {
    const Settings& settings = impl.settings;
    const std::string host = url_host(url);
    const std::string detail = errbuf.empty() ? curl_api().easy_strerror(code) : errbuf;
    if (transfer.too_large) {
        return Error(ErrorKind::Protocol,
                     "response from " + host + " exceeds " +
                         std::to_string(settings.max_response_bytes) + " bytes",
                     "check that the URL points at the CEP/CES service");
    }
    if (is_client_certificate_alert(detail)) {
        return Error(ErrorKind::Auth, host + " refused the TLS client certificate (" + detail + ")",
                     settings.client_certificate
                         ? "use a client certificate issued by a CA the server trusts"
                         : "this endpoint needs a client certificate: use --auth certificate");
    }
    if (settings.client_certificate && peer_dropped_after_handshake(code, impl, transfer)) {
        // Under TLS 1.3 the client finishes its handshake before the server has judged the
        // client certificate; a server that refuses it may reset the connection before its
        // alert can be read, which leaves only a broken socket as evidence.
        return Error(ErrorKind::Auth,
                     host +
                         " dropped the connection right after the TLS handshake, most "
                         "likely because it refused the TLS client certificate (" +
                         detail + ")",
                     "use a client certificate issued by a CA the server trusts");
    }
    switch (code) {
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        case CURLE_SSL_INVALIDCERTSTATUS: {
            long verify_result = X509_V_OK;
            curl_api().easy_getinfo(impl.curl.get(), CURLINFO_SSL_VERIFYRESULT, &verify_result);
            return tls_verification_error(host, verify_result, detail);
        }
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_SSL_CIPHER:
        case CURLE_USE_SSL_FAILED:
            // Under TLS 1.2 a server that insists on a client certificate ends the handshake
            // with a bare handshake_failure alert, indistinguishable from a cipher mismatch.
            if (contains(detail, "alert handshake failure") && !settings.client_certificate) {
                return Error(ErrorKind::Tls, "TLS handshake with " + host + " failed: " + detail,
                             "the server may require a client certificate (--auth certificate) "
                             "or share no TLS 1.2+ cipher with us");
            }
            if (contains(detail, "tpm2")) {
                return Error(ErrorKind::Tls, "TLS handshake with " + host + " failed: " + detail,
                             "signing a handshake with a TPM key needs a resource manager: use "
                             "--tpm-tcti device:/dev/tpmrm0 or tabrmd (tpm2-abrmd), not a bare "
                             "TPM device or socket");
            }
            return Error(ErrorKind::Tls, "TLS handshake with " + host + " failed: " + detail,
                         "the server must offer TLS 1.2 or newer; check the URL and port");
        case CURLE_SSL_CACERT_BADFILE:
            return Error(ErrorKind::Usage,
                         "the CA bundle " + settings.ca_bundle + " could not be loaded: " + detail,
                         "pass a PEM file of CA certificates with --ca-bundle");
        case CURLE_SSL_CERTPROBLEM:
            return Error(ErrorKind::Local,
                         "the TLS client certificate could not be used: " +
                             (impl.ssl_ctx_error.empty() ? detail : impl.ssl_ctx_error),
                         "check that --client-cert matches --client-key");
        case CURLE_URL_MALFORMAT:
        case CURLE_UNSUPPORTED_PROTOCOL:
            return Error(ErrorKind::Usage, "cannot use the URL " + url + ": " + detail,
                         "use an https:// URL");
        case CURLE_COULDNT_RESOLVE_HOST:
            return Error(ErrorKind::Network, "cannot resolve the host name " + host,
                         "check the URL and DNS");
        case CURLE_COULDNT_RESOLVE_PROXY:
            return Error(ErrorKind::Network, "cannot resolve the proxy for " + host + ": " + detail,
                         "check --proxy or the https_proxy environment variable");
        case CURLE_COULDNT_CONNECT:
            return Error(ErrorKind::Network, "cannot connect to " + host + ": " + detail,
                         "check the URL, the port, firewalls and the proxy settings");
        case CURLE_OPERATION_TIMEDOUT:
            return Error(ErrorKind::Network, host + " did not answer in time: " + detail,
                         "retry later, or raise --timeout / --connect-timeout");
        case CURLE_GOT_NOTHING:
            return Error(ErrorKind::Network, host + " closed the connection without a response",
                         "retry later; check the URL and the server logs");
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_PARTIAL_FILE:
            return Error(ErrorKind::Network, "the connection to " + host + " broke: " + detail,
                         "retry later; check proxies and the network");
        case CURLE_LOGIN_DENIED:
        case CURLE_AUTH_ERROR:
            return Error(ErrorKind::Auth, host + " rejected the authentication: " + detail,
                         "check --auth and the credentials (klist for Kerberos)");
        default:
            return Error(ErrorKind::Network, "request to " + host + " failed: " + detail,
                         "retry later; run with --verbose for details");
    }
}

}  // namespace

CurlTransport::CurlTransport(Settings settings) : impl_(std::make_unique<Impl>()) {
    global_init();
    impl_->settings = std::move(settings);
    const Settings& s = impl_->settings;
    if (!s.ca_bundle.empty()) {
        std::error_code ignored;
        if (!std::filesystem::is_regular_file(s.ca_bundle, ignored) ||
            !std::ifstream(s.ca_bundle)) {
            throw Error(ErrorKind::Usage, "cannot read the CA bundle " + s.ca_bundle,
                        "check the path given to --ca-bundle");
        }
    }
    if (s.client_certificate) {
        if (!s.client_certificate->key) {
            throw Error(ErrorKind::Usage, "the TLS client certificate has no private key",
                        "pass the key with --client-key");
        }
        impl_->client_cert =
            parse_certificate(s.client_certificate->certificate_der, "client certificate");
        for (const auto& der : s.client_certificate->chain_der) {
            impl_->client_chain.push_back(parse_certificate(der, "client certificate chain entry"));
        }
    }
    impl_->curl.reset(curl_api().easy_init());
    if (!impl_->curl) {
        throw Error(ErrorKind::Internal, "libcurl could not create a handle",
                    "check available memory");
    }
}

CurlTransport::~CurlTransport() = default;

Response CurlTransport::post(const Request& request) {
    Impl& impl = *impl_;
    const Settings& s = impl.settings;
    CURL* curl = impl.curl.get();
    // reset() keeps the connection cache, so the next post reuses the TLS connection.
    curl_api().easy_reset(curl);
    impl.ssl_ctx_error.clear();

    SlistPtr headers;
    auto add_header = [&headers](const std::string& line) {
        curl_slist* head = curl_api().slist_append(headers.get(), line.c_str());
        if (head == nullptr) {
            throw Error(ErrorKind::Internal, "out of memory building HTTP headers", "");
        }
        static_cast<void>(headers.release());
        headers.reset(head);
    };
    for (const Header& header : request.headers) {
        if (header.name.find_first_of("\r\n:") != std::string::npos ||
            header.value.find_first_of("\r\n") != std::string::npos) {
            throw Error(ErrorKind::Internal, "HTTP header '" + header.name + "' has a line break",
                        "report this bug");
        }
        add_header(header.name + ": " + header.value);
    }
    add_header("Expect:");  // no 100-continue round trip; IIS answers at once

    Transfer transfer;
    transfer.impl = &impl;
    std::array<char, CURL_ERROR_SIZE> errbuf{};

    set_option(curl, CURLOPT_URL, request.url.c_str());
    set_option(curl, CURLOPT_PROTOCOLS_STR, "https");
    set_option(curl, CURLOPT_POST, 1L);
    set_option(curl, CURLOPT_POSTFIELDS, request.body.data());
    set_option(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    set_option(curl, CURLOPT_HTTPHEADER, headers.get());
    set_option(curl, CURLOPT_USERAGENT, "certenroll-cli/" CERTENROLL_VERSION);
    set_option(curl, CURLOPT_NOSIGNAL, 1L);
    set_option(curl, CURLOPT_ERRORBUFFER, errbuf.data());
    set_option(curl, CURLOPT_WRITEFUNCTION, &on_body);
    set_option(curl, CURLOPT_WRITEDATA, &transfer);
    set_option(curl, CURLOPT_HEADERFUNCTION, &on_header);
    set_option(curl, CURLOPT_HEADERDATA, &transfer);
    set_option(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(s.connect_timeout.count()));
    set_option(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(s.total_timeout.count()));

    set_option(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    set_option(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    set_option(curl, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
    if (!s.ca_bundle.empty()) {
        set_option(curl, CURLOPT_CAINFO, s.ca_bundle.c_str());
    }
    if (s.client_certificate) {
        set_option(curl, CURLOPT_SSL_CTX_FUNCTION, &on_ssl_ctx);
        set_option(curl, CURLOPT_SSL_CTX_DATA, &impl);
    }
    if (!s.proxy.empty()) {
        set_option(curl, CURLOPT_PROXY, s.proxy.c_str());
    }
    if (s.trace) {
        set_option(curl, CURLOPT_VERBOSE, 1L);
        set_option(curl, CURLOPT_DEBUGFUNCTION, &on_debug);
        set_option(curl, CURLOPT_DEBUGDATA, &s.trace);
        s.trace("> POST " + redact_userinfo(request.url));
    }

    const CURLcode code = curl_api().easy_perform(curl);
    // The handle must not keep pointers into this frame once post() returns.
    curl_api().easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
    curl_api().easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
    if (code != CURLE_OK) {
        const std::string detail(trim(std::string_view(errbuf.data())));
        if (s.trace) {
            s.trace("! " + std::string(curl_api().easy_strerror(code)) + ": " + detail);
        }
        throw transfer_error(code, impl, transfer, request.url, detail);
    }

    long status = 0;
    curl_api().easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    transfer.response.status = status;
    if (s.trace) {
        s.trace("< HTTP " + std::to_string(status));
    }
    if (status == 401 && request.credential == Credential::None && s.client_certificate) {
        Request described = request;
        described.credential = Credential::ClientCertificate;
        throw_if_unauthorized(transfer.response, described);
    }
    throw_if_unauthorized(transfer.response, request);
    if (status == 407) {
        throw Error(ErrorKind::Network,
                    "the proxy refused the request to " + url_host(request.url) +
                        " with HTTP 407 (proxy authentication required)",
                    "put the proxy credentials in --proxy http://user:password@proxy:port");
    }
    return std::move(transfer.response);
}

}  // namespace certenroll::http
