#include "http/https_transport.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <utility>

#include "error.hpp"
#include "http/connection.hpp"
#include "http/http1.hpp"
#include "http/url.hpp"

namespace certenroll::http {

namespace {

using Clock = std::chrono::steady_clock;

struct X509Deleter {
    void operator()(X509* cert) const { X509_free(cert); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;

struct SslCtxDeleter {
    void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;

struct SessionDeleter {
    void operator()(SSL_SESSION* session) const { SSL_SESSION_free(session); }
};
using SessionPtr = std::unique_ptr<SSL_SESSION, SessionDeleter>;

struct SslDeleter {
    void operator()(SSL* ssl) const { SSL_free(ssl); }
};
using SslPtr = std::unique_ptr<SSL, SslDeleter>;

X509Ptr parse_certificate(const std::vector<std::uint8_t>& der, const std::string& what) {
    const unsigned char* cursor = der.data();
    X509Ptr cert(d2i_X509(nullptr, &cursor, static_cast<long>(der.size())));
    if (!cert || cursor != der.data() + der.size()) {
        throw Error(ErrorKind::Usage, "the " + what + " is not a DER X.509 certificate",
                    "check the file given to --client-cert");
    }
    return cert;
}

bool contains(std::string_view text, std::string_view part) {
    return text.find(part) != std::string_view::npos;
}

// A URL in a trace line may carry user:password (a proxy's): hide it.
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

Error tls_verification_error(const std::string& host, long verify_result,
                             const std::string& detail) {
    switch (verify_result) {
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

std::string name_text(const X509_NAME* name) {
    BIO* bio = BIO_new(BIO_s_mem());
    if (bio == nullptr)
        return "?";
    X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
    char* data = nullptr;
    const long length = BIO_get_mem_data(bio, &data);
    std::string text(data, length > 0 ? static_cast<std::size_t>(length) : 0);
    BIO_free(bio);
    return text;
}

// One server connection: where it goes, and the TLS session on it.
struct Connection {
    std::string route;  // "host:port via proxy": a connection serves only the same route
    std::unique_ptr<TlsChannel> channel;
};

}  // namespace

struct HttpsTransport::Impl {
    Settings settings;
    X509Ptr client_cert;
    std::vector<X509Ptr> client_chain;
    SslCtxPtr ctx;  // made on the first post: a run that never posts never loads the trust store
    std::optional<Connection> connection;
    // The last TLS session per route, offered again on a new connection (an abbreviated
    // handshake) when the server closed the previous one.
    std::string session_route;
    SessionPtr session;

    SSL_CTX* context();
    Connection open(const UrlParts& target, const std::optional<ProxyChoice>& proxy,
                    const std::string& route, Deadline total_deadline);
    Error handshake_error(const std::string& host, SSL* ssl, const TlsChannel::Result& result);
    Error exchange_error(const std::string& host, const TlsChannel::Result& result,
                         bool fresh_connection, bool response_started);
    void trace(const std::string& line) const {
        if (settings.trace)
            settings.trace(line);
    }
};

SSL_CTX* HttpsTransport::Impl::context() {
    if (ctx)
        return ctx.get();
    SslCtxPtr made(SSL_CTX_new(TLS_client_method()));
    if (!made) {
        throw Error(ErrorKind::Internal,
                    "OpenSSL could not create a TLS context: " + openssl_errors(),
                    "check the OpenSSL installation");
    }
    SSL_CTX_set_min_proto_version(made.get(), TLS1_2_VERSION);
    SSL_CTX_set_verify(made.get(), SSL_VERIFY_PEER, nullptr);
    // A server that closes without close_notify ends a read like any other end of stream; the
    // HTTP framing (length, chunks) tells whether the response was whole.
    SSL_CTX_set_options(made.get(), SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(made.get(), SSL_MODE_AUTO_RETRY | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                     SSL_MODE_ENABLE_PARTIAL_WRITE);
    SSL_CTX_set_session_cache_mode(made.get(), SSL_SESS_CACHE_CLIENT);
    ERR_clear_error();
    if (!settings.ca_bundle.empty()) {
        if (SSL_CTX_load_verify_file(made.get(), settings.ca_bundle.c_str()) != 1) {
            throw Error(
                ErrorKind::Usage,
                "the CA bundle " + settings.ca_bundle + " could not be loaded: " + openssl_errors(),
                "pass a PEM file of CA certificates with --ca-bundle");
        }
        // An intermediate CA in the bundle is an anchor of its own, as in libcurl and browsers:
        // a bundle holding only the issuing CA is enough.
        X509_STORE_set_flags(SSL_CTX_get_cert_store(made.get()), X509_V_FLAG_PARTIAL_CHAIN);
    } else {
        // OpenSSL's default file and directory (on Debian the ca-certificates bundle), or
        // SSL_CERT_FILE / SSL_CERT_DIR when set.
        SSL_CTX_set_default_verify_paths(made.get());
        ERR_clear_error();
    }
    if (settings.client_certificate) {
        // The key may be held by a provider (PKCS#11, TPM): it only signs the handshake.
        bool ok = SSL_CTX_use_certificate(made.get(), client_cert.get()) == 1 &&
                  SSL_CTX_use_PrivateKey(made.get(), settings.client_certificate->key.get()) == 1 &&
                  SSL_CTX_check_private_key(made.get()) == 1;
        for (const X509Ptr& cert : client_chain)
            ok = ok && SSL_CTX_add1_chain_cert(made.get(), cert.get()) == 1;
        if (!ok) {
            throw Error(ErrorKind::Local,
                        "the TLS client certificate could not be used: " + openssl_errors(),
                        "check that --client-cert matches --client-key");
        }
    }
    ctx = std::move(made);
    return ctx.get();
}

Error HttpsTransport::Impl::handshake_error(const std::string& host, SSL* ssl,
                                            const TlsChannel::Result& result) {
    if (result.status == TlsChannel::Status::Timeout) {
        return Error(ErrorKind::Network,
                     host + " did not answer in time: no TLS handshake within " +
                         describe_timeout(settings.connect_timeout),
                     "retry later, or raise --timeout / --connect-timeout");
    }
    if (const long verify = SSL_get_verify_result(ssl); verify != X509_V_OK) {
        return tls_verification_error(host, verify, X509_verify_cert_error_string(verify));
    }
    const std::string detail = result.status == TlsChannel::Status::Closed
                                   ? "the server closed the connection"
                                   : result.detail;
    if (is_client_certificate_alert(detail)) {
        return Error(ErrorKind::Auth, host + " refused the TLS client certificate (" + detail + ")",
                     settings.client_certificate
                         ? "use a client certificate issued by a CA the server trusts"
                         : "this endpoint needs a client certificate: use --auth certificate");
    }
    // Under TLS 1.2 a server that insists on a client certificate ends the handshake with a
    // bare handshake_failure alert, indistinguishable from a cipher mismatch.
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
}

Error HttpsTransport::Impl::exchange_error(const std::string& host,
                                           const TlsChannel::Result& result, bool fresh_connection,
                                           bool response_started) {
    if (result.status == TlsChannel::Status::Timeout) {
        return Error(ErrorKind::Network,
                     host + " did not answer in time: no complete response within " +
                         describe_timeout(settings.total_timeout),
                     "retry later, or raise --timeout / --connect-timeout");
    }
    if (is_client_certificate_alert(result.detail)) {
        return Error(ErrorKind::Auth,
                     host + " refused the TLS client certificate (" + result.detail + ")",
                     settings.client_certificate
                         ? "use a client certificate issued by a CA the server trusts"
                         : "this endpoint needs a client certificate: use --auth certificate");
    }
    if (settings.client_certificate && fresh_connection && !response_started) {
        // Under TLS 1.3 the client finishes its handshake before the server has judged the
        // client certificate; a server that refuses it may reset the connection before its
        // alert can be read, which leaves only a broken socket as evidence.
        return Error(ErrorKind::Auth,
                     host +
                         " dropped the connection right after the TLS handshake, most likely "
                         "because it refused the TLS client certificate (" +
                         (result.detail.empty() ? "end of stream" : result.detail) + ")",
                     "use a client certificate issued by a CA the server trusts");
    }
    if (result.status == TlsChannel::Status::Closed && !response_started) {
        return Error(ErrorKind::Network, host + " closed the connection without a response",
                     "retry later; check the URL and the server logs");
    }
    return Error(
        ErrorKind::Network,
        "the connection to " + host + " broke: " +
            (result.status == TlsChannel::Status::Closed ? std::string("the response ended early")
                                                         : result.detail),
        "retry later; check proxies and the network");
}

Connection HttpsTransport::Impl::open(const UrlParts& target,
                                      const std::optional<ProxyChoice>& proxy,
                                      const std::string& route, Deadline total_deadline) {
    const std::string host = url_host("https://" + host_header(target) + "/");
    const Deadline deadline = std::min(total_deadline, Clock::now() + settings.connect_timeout);
    const TraceFunction trace_function = settings.trace
                                             ? TraceFunction([this](std::string_view line) {
                                                   settings.trace(redact_userinfo(line));
                                               })
                                             : TraceFunction();
    SSL_CTX* const tls_context = context();  // a bad CA bundle or key fails before connecting
    Socket socket = open_route(target, proxy, deadline, trace_function);

    SslPtr ssl(SSL_new(tls_context));
    if (!ssl) {
        throw Error(ErrorKind::Internal,
                    "OpenSSL could not create a TLS connection: " + openssl_errors(),
                    "check available memory");
    }
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl.get());
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (target.ip_literal) {
        X509_VERIFY_PARAM_set1_ip_asc(param, target.host.c_str());
    } else {
        SSL_set_tlsext_host_name(ssl.get(), target.host.c_str());
        X509_VERIFY_PARAM_set1_host(param, target.host.c_str(), 0);
    }
    if (session && session_route == route)
        SSL_set_session(ssl.get(), session.get());
    SSL* raw = ssl.get();
    auto channel = std::make_unique<TlsChannel>(std::move(socket), ssl.release());
    const TlsChannel::Result result = channel->handshake(deadline);
    if (result.status != TlsChannel::Status::Done) {
        const Error error = handshake_error(host, raw, result);
        trace("! " + error.message());
        throw error;
    }
    if (settings.trace) {
        const SSL_CIPHER* cipher = SSL_get_current_cipher(raw);
        trace(std::string("* ") + SSL_get_version(raw) + " connection using " +
              (cipher != nullptr ? SSL_CIPHER_get_name(cipher) : "?") +
              (SSL_session_reused(raw) == 1 ? " (session resumed)" : ""));
        if (X509* peer = SSL_get0_peer_certificate(raw)) {
            trace("* Server certificate: subject " + name_text(X509_get_subject_name(peer)) +
                  "; issuer " + name_text(X509_get_issuer_name(peer)));
        }
    }
    return Connection{route, std::move(channel)};
}

HttpsTransport::HttpsTransport(Settings settings) : impl_(std::make_unique<Impl>()) {
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
}

HttpsTransport::~HttpsTransport() = default;

Response HttpsTransport::post(const Request& request) {
    Impl& impl = *impl_;
    const Settings& s = impl.settings;
    const auto target = parse_url(request.url);
    if (!target || target->scheme != "https") {
        throw Error(
            ErrorKind::Usage,
            "cannot use the URL " + redact_userinfo(request.url) + ": only https:// is supported",
            "use an https:// URL");
    }
    const std::string host = url_host(request.url);
    const auto proxy = effective_proxy(request.url, s.proxy);
    const std::string route = host_header(*target) + ":" + std::to_string(target->port) +
                              (proxy ? " via " + proxy->url : "");
    // Expect: 100-continue is never sent, so the body follows the headers at once (IIS answers
    // at once; a round trip per request would be wasted).
    const std::string bytes =
        format_post(host_header(*target), request_target(request.url), request.headers,
                    request.body, "certenroll-cli/" CERTENROLL_VERSION);
    const Deadline deadline = Clock::now() + s.total_timeout;
    impl.trace("> POST " + redact_userinfo(request.url));

    // A kept connection the server has since closed fails the first write or read; the request
    // then goes once more on a new connection, as long as no byte of an answer came back.
    Response response;
    for (int attempt = 1;; ++attempt) {
        bool fresh = false;
        if (impl.connection &&
            (impl.connection->route != route || impl.connection->channel->stale())) {
            impl.connection.reset();
        }
        if (impl.connection) {
            impl.trace("* Re-using the connection to " + host);
        } else {
            impl.connection = impl.open(*target, proxy, route, deadline);
            fresh = true;
        }
        TlsChannel& channel = *impl.connection->channel;
        ResponseParser parser(s.max_response_bytes);
        bool cut_short = false;
        TlsChannel::Result failure = channel.write_all(bytes, deadline);
        if (failure.status == TlsChannel::Status::Done) {
            std::array<char, 16 * 1024> buffer{};
            while (parser.state() == ResponseParser::State::Incomplete) {
                const TlsChannel::Result read =
                    channel.read_some(buffer.data(), buffer.size(), deadline);
                if (read.status == TlsChannel::Status::Closed) {
                    // The end of the stream completes a body that runs to it; anything else
                    // it cuts short is a broken connection, not a malformed response.
                    if (!parser.started() || parser.finish() != ResponseParser::State::Complete) {
                        failure = read;
                        cut_short = parser.started();
                        break;
                    }
                } else if (read.status != TlsChannel::Status::Done) {
                    failure = read;
                    break;
                } else {
                    parser.feed(std::string_view(buffer.data(), read.bytes));
                }
            }
        }
        const bool reused = !fresh;
        if (failure.status != TlsChannel::Status::Done &&
            failure.status != TlsChannel::Status::Timeout && reused && !parser.started() &&
            attempt == 1) {
            impl.trace("* The kept connection was closed by the server; opening a new one");
            impl.connection.reset();
            continue;
        }
        if (parser.state() == ResponseParser::State::TooLarge) {
            impl.connection.reset();
            throw Error(ErrorKind::Protocol,
                        "response from " + host + " exceeds " +
                            std::to_string(s.max_response_bytes) + " bytes",
                        "check that the URL points at the CEP/CES service");
        }
        if (parser.state() == ResponseParser::State::Malformed && !cut_short) {
            impl.connection.reset();
            const Error error(ErrorKind::Protocol,
                              host + " sent a malformed HTTP response: " + parser.error(),
                              "check that the URL points at the CEP/CES service (not a proxy "
                              "or another server)");
            impl.trace("! " + error.message());
            throw error;
        }
        if (parser.state() != ResponseParser::State::Complete) {
            impl.connection.reset();
            const Error error = impl.exchange_error(host, failure, fresh, parser.started());
            impl.trace("! " + error.message());
            throw error;
        }
        SSL* ssl = impl.connection->channel->ssl();
        if (SSL_SESSION* session = SSL_get1_session(ssl)) {
            if (SSL_SESSION_is_resumable(session) == 1) {
                impl.session.reset(session);
                impl.session_route = route;
            } else {
                SSL_SESSION_free(session);
            }
        }
        if (!parser.keep_alive())
            impl.connection.reset();
        response = parser.take();
        break;
    }

    impl.trace("< HTTP " + std::to_string(response.status));
    if (response.status == 401 && request.credential == Credential::None && s.client_certificate) {
        Request described = request;
        described.credential = Credential::ClientCertificate;
        throw_if_unauthorized(response, described);
    }
    throw_if_unauthorized(response, request);
    if (response.status == 407) {
        throw Error(ErrorKind::Network,
                    "the proxy refused the request to " + host +
                        " with HTTP 407 (proxy authentication required)",
                    "put the proxy credentials in --proxy http://user:password@proxy:port");
    }
    return response;
}

}  // namespace certenroll::http
