#pragma once
/// A tiny HTTPS/1.1 server on the loopback interface for transport tests, and the throw-away PKI
/// it serves: everything is generated at test time with OpenSSL, nothing is read from disk.

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace certenroll::test {

struct PkeyFree {
    void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct X509Free {
    void operator()(X509* cert) const { X509_free(cert); }
};
using TestKey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using TestCert = std::unique_ptr<X509, X509Free>;

/// A certificate with its key.
struct Identity {
    TestCert cert;
    std::shared_ptr<EVP_PKEY> key;

    /// The certificate, DER-encoded.
    std::vector<std::uint8_t> der() const;
};

/// A test CA and the certificates the cases need, plus a temp directory for PEM files.
class TestPki {
  public:
    TestPki();
    ~TestPki();
    TestPki(const TestPki&) = delete;
    TestPki& operator=(const TestPki&) = delete;

    Identity ca;           ///< trusted through ca_bundle()
    Identity server;       ///< 127.0.0.1, ::1, localhost; issued by `ca`
    Identity expired;      ///< same names, expired yesterday
    Identity wrong_host;   ///< only other.example; issued by `ca`
    Identity self_signed;  ///< 127.0.0.1 but self-signed, so untrusted
    Identity client;       ///< a TLS client certificate issued by `ca`
    Identity issuing_ca;   ///< an intermediate CA issued by `ca`
    Identity issued;       ///< 127.0.0.1, ::1, localhost; issued by `issuing_ca`

    /// PEM file holding `ca`.
    const std::string& ca_bundle() const { return ca_bundle_; }
    /// PEM file holding `issuing_ca` only.
    const std::string& issuing_ca_bundle() const { return issuing_ca_bundle_; }
    /// Writes `text` to a new file in the temp directory and returns its path.
    std::string write_file(const std::string& name, const std::string& text) const;

  private:
    std::filesystem::path dir_;
    std::string ca_bundle_;
    std::string issuing_ca_bundle_;
};

/// One request as the server parsed it.
struct ReceivedRequest {
    std::string request_line;  ///< "POST /path HTTP/1.1"
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::string client_subject;  ///< subject of the TLS client certificate, if one was sent
    /// Bytes of the body that came in the same read as the end of the head: the whole body when
    /// the client wrote a small request at once (one TLS record), 0 when it wrote the body apart.
    std::size_t body_bytes_with_head = 0;

    /// Case-insensitive header lookup; empty if absent.
    std::string header(const std::string& name) const;
    bool has_header(const std::string& name) const;
};

/// What the server answers.
struct Reply {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body = "ok";
};

struct ServerOptions {
    const Identity* identity = nullptr;   ///< the server certificate (required)
    const Identity* client_ca = nullptr;  ///< set: require a client certificate issued by it
    bool ipv6 = false;                    ///< listen on [::1] instead of 127.0.0.1
    bool hang = false;                    ///< read requests but never answer
    bool tls12_only = false;              ///< cap the server at TLS 1.2
    bool close_after_reply = false;       ///< end each connection after one reply, unannounced
    /// Read the Nth request (counted over all connections, from 1) and close its connection
    /// without an answer, like a server that dies; with `drop_before_body` as soon as its head
    /// has arrived (the body is not read).
    int drop_request = 0;
    bool drop_before_body = false;
    bool chunked = false;  ///< send bodies with Transfer-Encoding: chunked, no Content-Length
    std::function<Reply(const ReceivedRequest&)> reply{};  ///< default: 200 "ok"
};

/// HTTPS server on a free loopback port, one thread per connection, keep-alive; stopped and
/// joined by the destructor.
class TlsServer {
  public:
    explicit TlsServer(ServerOptions options);
    ~TlsServer();
    TlsServer(const TlsServer&) = delete;
    TlsServer& operator=(const TlsServer&) = delete;

    int port() const { return port_; }
    /// "https://127.0.0.1:PORT" or "https://[::1]:PORT".
    std::string base_url() const;
    std::vector<ReceivedRequest> requests() const;
    /// TCP connections accepted so far.
    int connections() const { return connections_.load(); }

    /// Whether [::1] can be bound on this machine.
    static bool ipv6_available();

  private:
    void accept_loop();
    void serve(int fd);

    ServerOptions options_;
    std::shared_ptr<void> ctx_;  // SSL_CTX, type-erased to keep ssl.h out of the header
    int listen_fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<int> connections_{0};
    std::atomic<int> request_count_{0};
    mutable std::mutex mutex_;
    std::vector<ReceivedRequest> requests_;
    std::vector<std::thread> workers_;
    std::thread acceptor_;
};

/// A loopback TCP port that is bound but not listening, so connecting to it is refused.
class RefusingPort {
  public:
    RefusingPort();
    ~RefusingPort();
    RefusingPort(const RefusingPort&) = delete;
    RefusingPort& operator=(const RefusingPort&) = delete;
    int port() const { return port_; }

  private:
    int fd_ = -1;
    int port_ = 0;
};

}  // namespace certenroll::test
