#pragma once
/// Connections below HTTP: TCP with deadlines, an HTTP proxy's CONNECT tunnel, and TLS driven on
/// a non-blocking socket. HttpsTransport and diagnose's probes both reach servers through these,
/// so a diagnosis sees the network exactly as an enrollment does.

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "http/url.hpp"

struct ssl_st;  // OpenSSL's SSL, forward-declared to keep OpenSSL out of this header

namespace certenroll::http {

using Deadline = std::chrono::steady_clock::time_point;
using TraceFunction = std::function<void(std::string_view)>;

/// A socket descriptor, closed with its owner.
class Socket {
  public:
    Socket() = default;
    explicit Socket(int fd) : fd_(fd) {}
    ~Socket();
    Socket(Socket&& other) noexcept;
    Socket& operator=(Socket&& other) noexcept;
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;

    int fd() const { return fd_; }
    explicit operator bool() const { return fd_ >= 0; }

  private:
    int fd_ = -1;
};

enum class TcpFailure { None, Resolve, Connect, Timeout };

/// The outcome of connect_tcp(): an open socket, or why there is none.
struct TcpAttempt {
    Socket socket;  ///< non-blocking, connected when `failure` is None
    TcpFailure failure = TcpFailure::None;
    std::string error;    ///< the resolver's or the system's words: "Connection refused"
    std::string address;  ///< the numeric address that answered, or the last one tried
};

/// Resolves `host` (a name or a numeric address) and connects to each of its addresses in turn
/// until one answers, all before `deadline`.
TcpAttempt connect_tcp(const std::string& host, int port, Deadline deadline,
                       const TraceFunction& trace = {});

/// A TCP connection to the server of `target`, directly or through the HTTP proxy `proxy` (a
/// CONNECT tunnel, with Basic credentials when the proxy URL carries them), opened before
/// `deadline`. Throws Error: Network (DNS, refused, timeout, proxy refusal) or Usage (a proxy
/// that is not http://).
Socket open_route(const UrlParts& target, const std::optional<ProxyChoice>& proxy,
                  Deadline deadline, const TraceFunction& trace = {});

/// A TLS session on a connected socket. Every step runs the socket without blocking and gives up
/// at its deadline, so a silent server costs no more than the caller allows.
class TlsChannel {
  public:
    enum class Status { Done, Timeout, Closed, Failed };
    struct Result {
        Status status = Status::Done;
        std::size_t bytes = 0;
        std::string detail;  ///< OpenSSL's or the system's words when Failed
    };

    /// Takes ownership of `ssl`, which must not yet be bound to a descriptor.
    TlsChannel(Socket socket, ssl_st* ssl);
    ~TlsChannel();
    TlsChannel(const TlsChannel&) = delete;
    TlsChannel& operator=(const TlsChannel&) = delete;

    Result handshake(Deadline deadline);
    Result write_all(std::string_view data, Deadline deadline);
    /// Reads what is available (at least one byte) into `buffer`; Closed at the end of the stream.
    Result read_some(char* buffer, std::size_t size, Deadline deadline);
    /// True when the peer has closed or sent something unasked since the last response, so the
    /// connection must not carry another request.
    bool stale() const;

    ssl_st* ssl() const { return ssl_; }

  private:
    Result drive(int ret, Deadline deadline, bool& retry);

    Socket socket_;
    ssl_st* ssl_ = nullptr;
};

/// OpenSSL's error queue as one line (emptying it); "unknown OpenSSL error" when it is empty.
std::string openssl_errors();

/// "no answer within 15 s", "within 700 ms": a timeout in the unit it was given.
std::string describe_timeout(std::chrono::milliseconds timeout);

}  // namespace certenroll::http
