#include "http/curl_transport.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "error.hpp"
#include "http/curl_easy.hpp"
#include "http/transfer_error.hpp"
#include "http/url.hpp"

namespace certenroll::http {

namespace {

struct X509Deleter {
    void operator()(X509* cert) const { X509_free(cert); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;

struct SlistDeleter {
    void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

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

std::string trimmed(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
        text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' ||
                             text.back() == '\n'))
        text.remove_suffix(1);
    return std::string(text);
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

// What one post collected through libcurl's callbacks.
struct Exchange {
    explicit Exchange(const Request& r) : request(r) {}
    Exchange(const Exchange&) = delete;
    Exchange& operator=(const Exchange&) = delete;
    ~Exchange() {
        if (headers_tail != nullptr)
            headers_tail->next = nullptr;  // the request's list must not free this one's
    }
    const Request& request;
    // Request::connection_headers' lines, linked behind the last of the request's own header
    // lines (`headers_tail`) while libcurl builds the request.
    curl_slist* headers_tail = nullptr;
    Slist connection_headers;
    int attempts = 0;             // times libcurl was about to send the request
    bool resend_refused = false;  // a second sending of a non-idempotent request was stopped
    bool new_connection = false;  // a socket was opened since the last request went out
    enum class Overflow { None, Body, HeaderFields, HeaderBytes } overflow = Overflow::None;
    std::size_t header_fields = 0;
    std::size_t header_bytes = 0;
    std::optional<Error> callback_error;  // from the TLS context callback
    Response response;
};

// What the callbacks of one libcurl handle share.
struct Handle {
    Settings settings;
    X509Ptr client_cert;
    std::vector<X509Ptr> client_chain;
    EasyHandle easy;
    std::array<char, CURL_ERROR_SIZE> error_buffer{};
    Exchange* exchange = nullptr;  // the post in progress

    void trace(const std::string& line) const {
        if (settings.trace)
            settings.trace(line);
    }
};

}  // namespace

struct CurlTransport::Impl : Handle {
    std::shared_ptr<ConnectionPool> pool;
    std::string pool_key;  // empty: the handle is not given back to the pool

    void install_callbacks();
    Error failure(CURLcode code, const Exchange& exchange, const std::string& url);
};

namespace {

Handle& impl_of(void* user) {
    return *static_cast<Handle*>(user);
}

// Response head, one line per call: the status line, each field, the empty line. Counted
// against the caps as it arrives, so a server cannot make the head grow without bound.
std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
    const std::size_t length = size * count;
    Exchange& exchange = *impl_of(user).exchange;
    const Settings& settings = impl_of(user).settings;
    const std::string_view line(data, length);
    exchange.header_bytes += length;
    if (line.starts_with("HTTP/")) {
        exchange.response.headers.clear();  // the final head replaces an interim one (1xx)
    } else if (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
        if (!exchange.response.headers.empty())  // obsolete line folding
            exchange.response.headers.back().value += " " + trimmed(line);
    } else if (const std::size_t colon = line.find(':'); colon != std::string_view::npos) {
        ++exchange.header_fields;
        try {
            exchange.response.headers.push_back(
                Header{trimmed(line.substr(0, colon)), trimmed(line.substr(colon + 1))});
        } catch (...) {
            return 0;
        }
    }
    if (exchange.header_fields > settings.max_header_fields) {
        exchange.overflow = Exchange::Overflow::HeaderFields;
        return 0;
    }
    if (exchange.header_bytes > settings.max_header_bytes) {
        exchange.overflow = Exchange::Overflow::HeaderBytes;
        return 0;
    }
    return length;
}

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
    const std::size_t length = size * count;
    Exchange& exchange = *impl_of(user).exchange;
    std::string& body = exchange.response.body;
    if (length > impl_of(user).settings.max_response_bytes - body.size()) {
        exchange.overflow = Exchange::Overflow::Body;
        return 0;
    }
    try {
        body.append(data, length);
    } catch (...) {
        return 0;
    }
    return length;
}

int on_socket(void* user, curl_socket_t, curlsocktype) {
    impl_of(user).exchange->new_connection = true;
    return CURL_SOCKOPT_OK;
}

// The OpenSSL connection to the server that the request is about to go out on (libcurl returns
// the server's, not an https:// proxy's); null before a handshake.
SSL* server_tls(CURL* easy) {
    curl_tlssessioninfo* session = nullptr;
    if (curl_easy_getinfo(easy, CURLINFO_TLS_SSL_PTR, &session) == CURLE_OK && session != nullptr &&
        session->backend == CURLSSLBACKEND_OPENSSL)
        return static_cast<SSL*>(session->internals);
    return nullptr;
}

void check_header(const Header& header) {
    if (header.name.empty() || header.name.find_first_of("\r\n: ") != std::string::npos ||
        header.value.find_first_of("\r\n") != std::string::npos) {
        throw Error(ErrorKind::Internal,
                    "HTTP header '" + header.name.substr(0, 64) + "' has a line break",
                    "report this bug");
    }
}

// Request::connection_headers for the connection `ssl`, linked behind the request's own lines:
// libcurl reads the list when it writes the request, after this callback.
void add_connection_headers(Exchange& exchange, SSL* ssl) {
    Connection connection;
    if (ssl != nullptr) {
        if (X509* peer = SSL_get0_peer_certificate(ssl)) {
            unsigned char* der = nullptr;
            const int length = i2d_X509(peer, &der);
            if (length > 0) {
                connection.server_certificate_der.assign(der, der + length);
                OPENSSL_free(der);
            }
        }
    }
    Slist list;
    for (const Header& header : exchange.request.connection_headers(connection)) {
        check_header(header);
        curl_slist* head =
            curl_slist_append(list.get(), (header.name + ": " + header.value).c_str());
        if (head == nullptr)
            throw Error(ErrorKind::Internal, "out of memory building a request", "");
        if (!list)
            list.reset(head);
    }
    exchange.headers_tail->next = list.get();
    exchange.connection_headers = std::move(list);  // frees those of an earlier connection
}

// Called each time libcurl is about to send the request, on a new or a kept connection, a
// resend included: libcurl silently sends a request again on a new connection when a kept one
// turns out dead before any byte of an answer came (Curl_retry_request in 7.88). This refuses
// that for a request that is not idempotent, so an Issue that may have reached the server is
// never sent twice. It runs with the connection up and before the request is written, so
// headers bound to the connection are made here.
int on_prerequest(void* user, char*, char*, int, int) {
    Handle& impl = impl_of(user);
    Exchange& exchange = *impl.exchange;
    if (++exchange.attempts > 1 && !exchange.request.idempotent) {
        exchange.resend_refused = true;
        return CURL_PREREQFUNC_ABORT;
    }
    SSL* const ssl = server_tls(impl.easy.get());
    if (exchange.new_connection && impl.settings.trace) {
        exchange.new_connection = false;
        if (ssl != nullptr) {
            const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl);
            impl.trace(std::string("* ") + SSL_get_version(ssl) + " connection using " +
                       (cipher != nullptr ? SSL_CIPHER_get_name(cipher) : "?") +
                       (SSL_session_reused(ssl) == 1 ? " (session resumed)" : ""));
            if (X509* peer = SSL_get0_peer_certificate(ssl)) {
                impl.trace("* Server certificate: subject " +
                           name_text(X509_get_subject_name(peer)) + "; issuer " +
                           name_text(X509_get_issuer_name(peer)));
            }
        }
    }
    if (exchange.request.connection_headers) {
        try {
            add_connection_headers(exchange, ssl);
        } catch (const Error& error) {
            exchange.callback_error = error;
            return CURL_PREREQFUNC_ABORT;
        } catch (const std::exception& error) {
            exchange.callback_error =
                Error(ErrorKind::Internal, std::string("a request header failed: ") + error.what(),
                      "report this bug");
            return CURL_PREREQFUNC_ABORT;
        }
    }
    return CURL_PREREQFUNC_OK;
}

// libcurl's own account of what it does (connections, proxy, TLS, reuse): only its text, never
// the request's headers or body, which carry credentials.
int on_debug(CURL*, curl_infotype type, char* data, std::size_t size, void* user) {
    if (type != CURLINFO_TEXT)
        return 0;
    std::string_view text(data, size);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
        text.remove_suffix(1);
    // The record-by-record TLS trace ("TLSv1.3 (OUT), TLS handshake, Client hello (1):").
    if (text.empty() || contains(text, " (OUT), ") || contains(text, " (IN), "))
        return 0;
    try {
        impl_of(user).trace("* " + redact_userinfo(text));
    } catch (...) {
    }
    return 0;
}

// RFC 6125 6.4.4: a certificate that names its host in subjectAltName is checked against those
// names only. libcurl falls back to the subject's CN when the leaf has no DNS or IP entry in
// subjectAltName; refusing such a leaf here (as browsers do) leaves it no CN to fall back to.
int verify_names_from_subject_alt_name(int preverified, X509_STORE_CTX* store) {
    if (preverified != 1 || X509_STORE_CTX_get_error_depth(store) != 0)
        return preverified;
    X509* leaf = X509_STORE_CTX_get_current_cert(store);
    auto* names = static_cast<GENERAL_NAMES*>(
        leaf != nullptr ? X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr) : nullptr);
    bool named = false;
    for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
        const int type = sk_GENERAL_NAME_value(names, i)->type;
        named = named || type == GEN_DNS || type == GEN_IPADD;
    }
    GENERAL_NAMES_free(names);
    if (named)
        return 1;
    X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);  // see transfer_error
    return 0;
}

// Every new TLS connection: the client certificate, whose key may live in a PKCS#11 token or a
// TPM (the handshake is only signed with it), and the end-of-stream rule.
CURLcode on_ssl_context(CURL*, void* context, void* user) {
    Handle& impl = impl_of(user);
    auto* ctx = static_cast<SSL_CTX*>(context);
    // A server that closes without close_notify ends a read like any other end of stream; the
    // HTTP framing (length, chunks) tells whether the response was whole.
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    // libcurl has set SSL_VERIFY_PEER (verification is never off); the callback adds the
    // subjectAltName rule to OpenSSL's chain verification.
    SSL_CTX_set_verify(ctx, SSL_CTX_get_verify_mode(ctx), verify_names_from_subject_alt_name);
    if (!impl.client_cert)
        return CURLE_OK;
    ERR_clear_error();
    bool ok = SSL_CTX_use_certificate(ctx, impl.client_cert.get()) == 1 &&
              SSL_CTX_use_PrivateKey(ctx, impl.settings.client_certificate->key.get()) == 1 &&
              SSL_CTX_check_private_key(ctx) == 1;
    for (const X509Ptr& cert : impl.client_chain)
        ok = ok && SSL_CTX_add1_chain_cert(ctx, cert.get()) == 1;
    if (!ok) {
        try {
            impl.exchange->callback_error =
                Error(ErrorKind::Local,
                      "the TLS client certificate could not be used: " + openssl_errors(),
                      "check that --client-cert matches --client-key");
        } catch (...) {
        }
        return CURLE_SSL_CERTPROBLEM;
    }
    return CURLE_OK;
}

}  // namespace

void CurlTransport::Impl::install_callbacks() {
    CURL* h = easy.get();
    void* self = this;
    check_option(curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer.data()),
                 "CURLOPT_ERRORBUFFER");
    check_option(curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &on_header), "CURLOPT_HEADERFUNCTION");
    check_option(curl_easy_setopt(h, CURLOPT_HEADERDATA, self), "CURLOPT_HEADERDATA");
    check_option(curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &on_body), "CURLOPT_WRITEFUNCTION");
    check_option(curl_easy_setopt(h, CURLOPT_WRITEDATA, self), "CURLOPT_WRITEDATA");
    check_option(curl_easy_setopt(h, CURLOPT_SOCKOPTFUNCTION, &on_socket),
                 "CURLOPT_SOCKOPTFUNCTION");
    check_option(curl_easy_setopt(h, CURLOPT_SOCKOPTDATA, self), "CURLOPT_SOCKOPTDATA");
    check_option(curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, &on_prerequest),
                 "CURLOPT_PREREQFUNCTION");
    check_option(curl_easy_setopt(h, CURLOPT_PREREQDATA, self), "CURLOPT_PREREQDATA");
    check_option(curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, &on_ssl_context),
                 "CURLOPT_SSL_CTX_FUNCTION");
    check_option(curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, self), "CURLOPT_SSL_CTX_DATA");
    // A body over the cap announced by Content-Length is refused before it is read.
    check_option(curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE,
                                  static_cast<curl_off_t>(settings.max_response_bytes)),
                 "CURLOPT_MAXFILESIZE_LARGE");
    check_option(curl_easy_setopt(h, CURLOPT_POST, 1L), "CURLOPT_POST");
    if (settings.trace) {
        check_option(curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, &on_debug),
                     "CURLOPT_DEBUGFUNCTION");
        check_option(curl_easy_setopt(h, CURLOPT_DEBUGDATA, self), "CURLOPT_DEBUGDATA");
        check_option(curl_easy_setopt(h, CURLOPT_VERBOSE, 1L), "CURLOPT_VERBOSE");
    }
}

std::string connection_route_key(const Settings& s) {
    const Trust trust = trust_of(s);
    std::string key;
    for (const std::string* part : {&trust.file, &trust.directory, &s.proxy, &s.proxy_user}) {
        key += *part;
        key += '\0';
    }
    key += std::to_string(static_cast<int>(s.proxy_auth)) + (trust.from_ca_bundle ? "b" : "p");
    return key;
}

// The proxy password is compared beside the key, not kept in it: the key is an ordinary string,
// never cleansed, while the password stays in a SecretString.
struct ConnectionPool::Idle {
    std::string key;
    SecretString proxy_password;
    EasyHandle easy;
};

ConnectionPool::ConnectionPool() = default;
ConnectionPool::~ConnectionPool() = default;

CurlTransport::CurlTransport(Settings settings, std::shared_ptr<ConnectionPool> pool)
    : impl_(std::make_unique<Impl>()) {
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
        for (const auto& der : s.client_certificate->chain_der)
            impl_->client_chain.push_back(parse_certificate(der, "client certificate chain entry"));
    }
    impl_->pool = std::move(pool);
    if (impl_->pool && !s.client_certificate) {
        impl_->pool_key = connection_route_key(s);
        auto& idle = impl_->pool->idle_;
        if (idle && idle->key == impl_->pool_key && idle->proxy_password == s.proxy_password)
            impl_->easy = std::move(idle->easy);
        idle.reset();
    }
    if (!impl_->easy)
        impl_->easy = new_easy_handle();
    configure(impl_->easy.get(), s);
    impl_->install_callbacks();
}

CurlTransport::~CurlTransport() {
    Impl& impl = *impl_;
    if (!impl.pool || impl.pool_key.empty() || !impl.easy)
        return;
    // Nothing of this transport may be reached from the handle once it is gone.
    CURL* h = impl.easy.get();
    curl_easy_setopt(h, CURLOPT_VERBOSE, 0L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, static_cast<char*>(nullptr));
    for (const CURLoption data : {CURLOPT_HEADERDATA, CURLOPT_WRITEDATA, CURLOPT_SOCKOPTDATA,
                                  CURLOPT_PREREQDATA, CURLOPT_SSL_CTX_DATA, CURLOPT_DEBUGDATA})
        curl_easy_setopt(h, data, static_cast<void*>(nullptr));
    try {
        impl.pool->idle_ = std::make_unique<ConnectionPool::Idle>(ConnectionPool::Idle{
            std::move(impl.pool_key), impl.settings.proxy_password, std::move(impl.easy)});
    } catch (...) {
        // Out of memory: the connection is simply not kept.
    }
}

Error CurlTransport::Impl::failure(CURLcode code, const Exchange& ex, const std::string& url) {
    const std::string host = url_host(url);
    if (ex.callback_error)
        return *ex.callback_error;
    if (ex.resend_refused) {
        return Error(ErrorKind::Network,
                     host +
                         " closed the kept connection without answering, after the request "
                         "was sent; it is not sent again, as the server may have received it",
                     "retry the command; check the server logs");
    }
    if (ex.overflow == Exchange::Overflow::HeaderFields) {
        return Error(ErrorKind::Protocol,
                     "response from " + host + " has more than " +
                         std::to_string(settings.max_header_fields) + " header fields",
                     "check that the URL points at the CEP/CES service");
    }
    if (ex.overflow == Exchange::Overflow::HeaderBytes) {
        return Error(ErrorKind::Protocol,
                     "response headers from " + host + " exceed " +
                         std::to_string(settings.max_header_bytes) + " bytes",
                     "check that the URL points at the CEP/CES service");
    }
    if (ex.overflow == Exchange::Overflow::Body || code == CURLE_FILESIZE_EXCEEDED) {
        return Error(ErrorKind::Protocol,
                     "response from " + host + " exceeds " +
                         std::to_string(settings.max_response_bytes) + " bytes",
                     "check that the URL points at the CEP/CES service");
    }
    TransferFacts facts = facts_of(easy.get(), code, error_buffer.data(), url);
    facts.proxy = proxy_route(url, settings);
    return transfer_error(facts, settings);
}

Response CurlTransport::post(const Request& request) {
    Impl& impl = *impl_;
    const auto target = parse_url(request.url);
    if (!target || target->scheme != "https") {
        throw Error(
            ErrorKind::Usage,
            "cannot use the URL " + redact_userinfo(request.url) + ": only https:// is supported",
            "use an https:// URL");
    }
    // Expect: 100-continue is never sent, so the body follows the headers at once (IIS answers
    // at once; a round trip per request would be wasted); libcurl's Accept is left out.
    Slist headers;
    const auto add = [&headers](const std::string& line) {
        curl_slist* head = curl_slist_append(headers.get(), line.c_str());
        if (head == nullptr)
            throw Error(ErrorKind::Internal, "out of memory building a request", "");
        if (!headers)
            headers.reset(head);
    };
    for (const Header& header : request.headers) {
        check_header(header);
        add(header.name + ": " + header.value);
    }
    add("Expect:");
    add("Accept:");

    CURL* h = impl.easy.get();
    Exchange exchange(request);  // after `headers`: unlinks its lines from them first
    for (curl_slist* line = headers.get(); line != nullptr; line = line->next)
        exchange.headers_tail = line;
    impl.exchange = &exchange;
    struct Done {
        Impl& impl;
        ~Done() { impl.exchange = nullptr; }
    } done{impl};
    check_option(curl_easy_setopt(h, CURLOPT_URL, request.url.c_str()), "CURLOPT_URL");
    check_option(curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get()), "CURLOPT_HTTPHEADER");
    check_option(curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                                  static_cast<curl_off_t>(request.body.size())),
                 "CURLOPT_POSTFIELDSIZE_LARGE");
    // The body from memory, not through a read callback: libcurl (7.88) then writes a body under
    // 64 KB in one go with the head. Written apart, the request cost 40 ms per exchange against a
    // server that writes its answer's head and body apart without TCP_NODELAY (Python's
    // http.server, the sandbox): its body waited, by Nagle's rule, for our delayed ACK.
    check_option(curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data()),
                 "CURLOPT_POSTFIELDS");
    impl.error_buffer[0] = '\0';
    impl.trace("> POST " + redact_userinfo(request.url));
    const CURLcode code = curl_easy_perform(h);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, static_cast<curl_slist*>(nullptr));
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, static_cast<char*>(nullptr));
    if (code != CURLE_OK) {
        const Error error = impl.failure(code, exchange, request.url);
        impl.trace("! " + error.message());
        throw error;
    }
    Response response = std::move(exchange.response);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
    impl.trace("< HTTP " + std::to_string(response.status));

    const std::string host = url_host(request.url);
    if (response.status == 401 && request.credential == Credential::None &&
        impl.settings.client_certificate) {
        Request described = request;
        described.credential = Credential::ClientCertificate;
        throw_if_unauthorized(response, described);
    }
    throw_if_unauthorized(response, request);
    if (response.status == 407) {
        throw Error(ErrorKind::Network,
                    "the proxy refused the request to " + host +
                        " with HTTP 407 (proxy authentication required)",
                    "pass --proxy-user USER with the password in --proxy-password-file FILE or "
                    "$CERTENROLL_PROXY_PASSWORD");
    }
    return response;
}

}  // namespace certenroll::http
