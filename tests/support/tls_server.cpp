#include "tls_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <stdexcept>

namespace certenroll::test {

namespace {

void check(bool ok, const std::string& what) {
    if (!ok) {
        std::array<char, 256> buffer{};
        ERR_error_string_n(ERR_get_error(), buffer.data(), buffer.size());
        throw std::runtime_error("test PKI/server: " + what + ": " + buffer.data());
    }
}

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

struct CertSpec {
    std::string common_name{};
    std::string subject_alt_names{};  // "DNS:x,IP:y"; empty for none
    bool ca = false;
    bool client = false;
    long valid_from = -3600;  // seconds relative to now
    long valid_to = 86400;
};

Identity make_identity(const CertSpec& spec, const Identity* issuer) {
    Identity id;
    EVP_PKEY* raw_key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    check(raw_key != nullptr, "EC key generation");
    id.key = std::shared_ptr<EVP_PKEY>(raw_key, EVP_PKEY_free);
    id.cert.reset(X509_new());
    X509* cert = id.cert.get();
    check(cert != nullptr, "X509_new");
    static std::atomic<long> serial{1};
    check(X509_set_version(cert, 2) == 1, "version");
    check(ASN1_INTEGER_set(X509_get_serialNumber(cert), serial++) == 1, "serial");
    X509_NAME* name = X509_get_subject_name(cert);
    check(X509_NAME_add_entry_by_txt(
              name, "CN", MBSTRING_UTF8,
              reinterpret_cast<const unsigned char*>(spec.common_name.c_str()), -1, -1, 0) == 1,
          "subject");
    check(
        X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer->cert.get()) : name) == 1,
        "issuer");
    check(X509_gmtime_adj(X509_getm_notBefore(cert), spec.valid_from) != nullptr, "notBefore");
    check(X509_gmtime_adj(X509_getm_notAfter(cert), spec.valid_to) != nullptr, "notAfter");
    check(X509_set_pubkey(cert, raw_key) == 1, "public key");
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer ? issuer->cert.get() : cert, cert, nullptr, nullptr, 0);
    auto add = [&](int nid, const std::string& value) {
        X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
        check(ext != nullptr, "extension " + value);
        const int added = X509_add_ext(cert, ext, -1);
        X509_EXTENSION_free(ext);
        check(added == 1, "add extension " + value);
    };
    add(NID_basic_constraints, spec.ca ? "critical,CA:TRUE" : "CA:FALSE");
    add(NID_key_usage, spec.ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
    add(NID_subject_key_identifier, "hash");
    if (!spec.ca) {
        add(NID_ext_key_usage, spec.client ? "clientAuth" : "serverAuth");
    }
    if (!spec.subject_alt_names.empty()) {
        add(NID_subject_alt_name, spec.subject_alt_names);
    }
    EVP_PKEY* signer = issuer ? issuer->key.get() : raw_key;
    check(X509_sign(cert, signer, EVP_sha256()) > 0, "sign");
    return id;
}

std::string to_pem(X509* cert) {
    BIO* bio = BIO_new(BIO_s_mem());
    check(bio != nullptr && PEM_write_bio_X509(bio, cert) == 1, "PEM");
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    std::string pem(data, static_cast<std::size_t>(size));
    BIO_free(bio);
    return pem;
}

// Reads at least one byte; 0 on close, error or stop (the socket has a short receive timeout).
int read_some(SSL* ssl, char* buffer, int size, const std::atomic<bool>& stop) {
    while (!stop) {
        const int n = SSL_read(ssl, buffer, size);
        if (n > 0) {
            return n;
        }
        if (SSL_get_error(ssl, n) != SSL_ERROR_WANT_READ) {
            return 0;
        }
    }
    return 0;
}

bool write_all(SSL* ssl, const std::string& data) {
    std::size_t sent = 0;
    while (sent < data.size()) {
        const int n = SSL_write(ssl, data.data() + sent, static_cast<int>(data.size() - sent));
        if (n <= 0) {
            return false;
        }
        sent += static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace

std::vector<std::uint8_t> Identity::der() const {
    unsigned char* out = nullptr;
    const int size = i2d_X509(cert.get(), &out);
    check(size > 0, "DER");
    std::vector<std::uint8_t> bytes(out, out + size);
    OPENSSL_free(out);
    return bytes;
}

TestPki::TestPki() {
    std::string pattern = (std::filesystem::temp_directory_path() / "certenroll-http-XXXXXX");
    check(mkdtemp(pattern.data()) != nullptr, "mkdtemp");
    dir_ = pattern;
    const std::string names = "DNS:localhost,IP:127.0.0.1,IP:::1";
    ca = make_identity({.common_name = "certenroll test CA", .ca = true}, nullptr);
    server = make_identity({.common_name = "127.0.0.1", .subject_alt_names = names}, &ca);
    expired = make_identity({.common_name = "127.0.0.1",
                             .subject_alt_names = names,
                             .valid_from = -2 * 86400,
                             .valid_to = -86400},
                            &ca);
    wrong_host = make_identity(
        {.common_name = "other.example", .subject_alt_names = "DNS:other.example"}, &ca);
    self_signed = make_identity({.common_name = "127.0.0.1", .subject_alt_names = names}, nullptr);
    client = make_identity({.common_name = "client.test", .client = true}, &ca);
    issuing_ca = make_identity({.common_name = "certenroll test issuing CA", .ca = true}, &ca);
    issued = make_identity({.common_name = "127.0.0.1", .subject_alt_names = names}, &issuing_ca);
    ca_bundle_ = write_file("ca.pem", to_pem(ca.cert.get()));
    issuing_ca_bundle_ = write_file("issuing-ca.pem", to_pem(issuing_ca.cert.get()));
}

TestPki::~TestPki() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
}

std::string TestPki::write_file(const std::string& name, const std::string& text) const {
    const std::filesystem::path path = dir_ / name;
    std::ofstream(path, std::ios::binary) << text;
    return path.string();
}

std::string ReceivedRequest::header(const std::string& name) const {
    for (const auto& [key, value] : headers) {
        if (lower(key) == lower(name)) {
            return value;
        }
    }
    return {};
}

bool ReceivedRequest::has_header(const std::string& name) const {
    return std::any_of(headers.begin(), headers.end(),
                       [&](const auto& h) { return lower(h.first) == lower(name); });
}

bool TlsServer::ipv6_available() {
    const int fd = socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0) {
        return false;
    }
    sockaddr_in6 address{};
    address.sin6_family = AF_INET6;
    address.sin6_addr = in6addr_loopback;
    const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    close(fd);
    return ok;
}

TlsServer::TlsServer(ServerOptions options) : options_(std::move(options)) {
    // A client that hangs up mid-response must not kill the test process.
    std::signal(SIGPIPE, SIG_IGN);
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    check(ctx != nullptr, "SSL_CTX_new");
    ctx_ = std::shared_ptr<void>(ctx, [](void* p) { SSL_CTX_free(static_cast<SSL_CTX*>(p)); });
    check(SSL_CTX_use_certificate(ctx, options_.identity->cert.get()) == 1, "server certificate");
    check(SSL_CTX_use_PrivateKey(ctx, options_.identity->key.get()) == 1, "server key");
    if (options_.client_ca) {
        check(X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), options_.client_ca->cert.get()) == 1,
              "client CA");
        check(SSL_CTX_add_client_CA(ctx, options_.client_ca->cert.get()) == 1, "client CA list");
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
    if (options_.tls12_only) {
        check(SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION) == 1, "TLS 1.2 cap");
    }
    if (!options_.reply) {
        options_.reply = [](const ReceivedRequest&) { return Reply{}; };
    }

    listen_fd_ = socket(options_.ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    check(listen_fd_ >= 0, "socket");
    const int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_storage storage{};
    socklen_t length = 0;
    if (options_.ipv6) {
        auto& address = reinterpret_cast<sockaddr_in6&>(storage);
        address.sin6_family = AF_INET6;
        address.sin6_addr = in6addr_loopback;
        length = sizeof address;
    } else {
        auto& address = reinterpret_cast<sockaddr_in&>(storage);
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        length = sizeof address;
    }
    auto* address = reinterpret_cast<sockaddr*>(&storage);
    if (bind(listen_fd_, address, length) != 0 || listen(listen_fd_, 16) != 0 ||
        getsockname(listen_fd_, address, &length) != 0) {
        close(listen_fd_);
        throw std::runtime_error("test server: cannot listen on the loopback interface");
    }
    port_ = ntohs(options_.ipv6 ? reinterpret_cast<sockaddr_in6*>(address)->sin6_port
                                : reinterpret_cast<sockaddr_in*>(address)->sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
}

TlsServer::~TlsServer() {
    stop_ = true;
    acceptor_.join();
    for (std::thread& worker : workers_) {
        worker.join();
    }
    close(listen_fd_);
}

std::string TlsServer::base_url() const {
    return (options_.ipv6 ? "https://[::1]:" : "https://127.0.0.1:") + std::to_string(port_);
}

std::vector<ReceivedRequest> TlsServer::requests() const {
    const std::lock_guard lock(mutex_);
    return requests_;
}

void TlsServer::accept_loop() {
    while (!stop_) {
        pollfd entry{listen_fd_, POLLIN, 0};
        if (poll(&entry, 1, 20) <= 0) {
            continue;
        }
        const int fd = accept(listen_fd_, nullptr, nullptr);
        if (fd < 0) {
            continue;
        }
        ++connections_;
        // A short receive timeout lets workers notice stop_ while blocked in SSL_read.
        timeval timeout{0, 20000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        workers_.emplace_back([this, fd] { serve(fd); });
    }
}

void TlsServer::serve(int fd) {
    SSL* ssl = SSL_new(static_cast<SSL_CTX*>(ctx_.get()));
    if (ssl == nullptr) {
        close(fd);
        return;
    }
    SSL_set_fd(ssl, fd);
    int accepted = 0;
    while (!stop_ && (accepted = SSL_accept(ssl)) <= 0 &&
           SSL_get_error(ssl, accepted) == SSL_ERROR_WANT_READ) {
    }
    std::string buffer;
    std::array<char, 4096> chunk{};
    while (accepted == 1 && !stop_) {
        // Head: up to the blank line.
        std::size_t head_end;
        while ((head_end = buffer.find("\r\n\r\n")) == std::string::npos) {
            const int n = read_some(ssl, chunk.data(), static_cast<int>(chunk.size()), stop_);
            if (n <= 0) {
                head_end = std::string::npos;
                break;
            }
            buffer.append(chunk.data(), static_cast<std::size_t>(n));
        }
        if (head_end == std::string::npos) {
            break;
        }
        ReceivedRequest request;
        const std::string head = buffer.substr(0, head_end);
        buffer.erase(0, head_end + 4);
        request.body_bytes_with_head = buffer.size();
        std::size_t line_start = 0;
        while (line_start <= head.size()) {
            std::size_t line_end = head.find("\r\n", line_start);
            if (line_end == std::string::npos) {
                line_end = head.size();
            }
            const std::string line = head.substr(line_start, line_end - line_start);
            if (request.request_line.empty()) {
                request.request_line = line;
            } else if (const auto colon = line.find(':'); colon != std::string::npos) {
                std::string value = line.substr(colon + 1);
                value.erase(0, value.find_first_not_of(' '));
                request.headers.emplace_back(line.substr(0, colon), value);
            }
            line_start = line_end + 2;
        }
        const std::string length_text = request.header("Content-Length");
        const std::size_t length = length_text.empty() ? 0 : std::stoul(length_text);
        const bool drop = ++request_count_ == options_.drop_request;
        if (drop && options_.drop_before_body) {
            const std::lock_guard lock(mutex_);
            requests_.push_back(request);
            break;
        }
        while (buffer.size() < length) {
            const int n = read_some(ssl, chunk.data(), static_cast<int>(chunk.size()), stop_);
            if (n <= 0) {
                break;
            }
            buffer.append(chunk.data(), static_cast<std::size_t>(n));
        }
        request.body = buffer.substr(0, length);
        buffer.erase(0, std::min(length, buffer.size()));
        if (X509* peer = SSL_get1_peer_certificate(ssl)) {
            std::array<char, 256> subject{};
            X509_NAME_oneline(X509_get_subject_name(peer), subject.data(),
                              static_cast<int>(subject.size()));
            request.client_subject = subject.data();
            X509_free(peer);
        }
        {
            const std::lock_guard lock(mutex_);
            requests_.push_back(request);
        }
        if (drop) {
            break;
        }
        if (options_.hang) {
            while (!stop_) {
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
            break;
        }
        const Reply reply = options_.reply(request);
        std::string response =
            "HTTP/1.1 " + std::to_string(reply.status) + " Test\r\n" +
            (options_.chunked ? std::string("Transfer-Encoding: chunked")
                              : "Content-Length: " + std::to_string(reply.body.size())) +
            "\r\nContent-Type: text/plain\r\n";
        for (const auto& [name, value] : reply.headers) {
            response += name + ": " + value + "\r\n";
        }
        if (options_.chunked) {
            std::array<char, 20> size{};
            std::snprintf(size.data(), size.size(), "%zx", reply.body.size());
            response += "\r\n";
            if (!reply.body.empty())
                response += std::string(size.data()) + "\r\n" + reply.body + "\r\n";
            response += "0\r\n\r\n";
        } else {
            response += "\r\n" + reply.body;
        }
        if (!write_all(ssl, response)) {
            break;
        }
        if (options_.close_after_reply) {
            SSL_shutdown(ssl);  // like a server whose keep-alive timeout ran out
            break;
        }
    }
    if (accepted != 1) {
        // Like a well-behaved server, let the alert reach the client before the socket closes:
        // closing with unread request bytes would send a TCP reset that overtakes the alert.
        shutdown(fd, SHUT_WR);
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        while (!stop_ && std::chrono::steady_clock::now() < deadline) {
            const ssize_t n = recv(fd, chunk.data(), chunk.size(), 0);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
                break;
            }
        }
    }
    SSL_free(ssl);
    close(fd);
}

RefusingPort::RefusingPort() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        throw std::runtime_error("test: cannot bind a loopback port");
    }
    port_ = ntohs(address.sin_port);
}

RefusingPort::~RefusingPort() {
    close(fd_);
}

}  // namespace certenroll::test
