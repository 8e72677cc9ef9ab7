#include "http/connection.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <system_error>
#include <utility>

#include "encoding/base64.hpp"
#include "error.hpp"
#include "http/transport.hpp"

namespace certenroll::http {

namespace {

#ifndef MSG_NOSIGNAL
constexpr int MSG_NOSIGNAL = 0;  // macOS: SO_NOSIGPIPE is set on the socket instead
#endif

using Clock = std::chrono::steady_clock;

std::string system_message(int code) {
    return std::system_category().message(code);
}

int remaining_ms(Deadline deadline) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    return static_cast<int>(std::clamp<long long>(left.count(), 0, 24LL * 3600 * 1000));
}

// Waits for `events` on `fd`; false when the deadline passed first.
bool wait_for(int fd, short events, Deadline deadline) {
    for (;;) {
        pollfd entry{fd, events, 0};
        const int ready = ::poll(&entry, 1, remaining_ms(deadline));
        if (ready > 0)
            return true;
        if (ready == 0)
            return false;
        if (errno != EINTR)
            return true;  // let the next call on the socket report the error
    }
}

std::string numeric_address(const sockaddr* address, socklen_t length) {
    std::array<char, NI_MAXHOST> host{};
    if (::getnameinfo(address, length, host.data(), host.size(), nullptr, 0, NI_NUMERICHOST) != 0)
        return "?";
    return host.data();
}

struct AddrinfoDeleter {
    void operator()(addrinfo* list) const { ::freeaddrinfo(list); }
};

// OpenSSL's socket BIO writes with write(2): a peer that has gone turns that into SIGPIPE, which
// would kill the process. Ignored while a TLS call runs, as libcurl does; the CLI is
// single-threaded when it talks to servers.
class SigpipeIgnored {
  public:
    SigpipeIgnored() {
        struct sigaction ignore {};
        ignore.sa_handler = SIG_IGN;
        sigemptyset(&ignore.sa_mask);
        active_ = ::sigaction(SIGPIPE, &ignore, &previous_) == 0;
    }
    ~SigpipeIgnored() {
        if (active_)
            ::sigaction(SIGPIPE, &previous_, nullptr);
    }
    SigpipeIgnored(const SigpipeIgnored&) = delete;
    SigpipeIgnored& operator=(const SigpipeIgnored&) = delete;

  private:
    struct sigaction previous_ {};
    bool active_ = false;
};

// Sends all of `data` on a plain socket (the proxy's CONNECT).
bool send_all(int fd, std::string_view data, Deadline deadline) {
    while (!data.empty()) {
        const ssize_t sent = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (sent > 0) {
            data.remove_prefix(static_cast<std::size_t>(sent));
            continue;
        }
        if (sent < 0 && errno == EINTR)
            continue;
        if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
            wait_for(fd, POLLOUT, deadline))
            continue;
        return false;
    }
    return true;
}

std::string proxy_name(const ProxyChoice& proxy) {
    return proxy.display + " (from " + proxy.source + ")";
}

// The proxy's answer to CONNECT, read up to the blank line after its headers and no further:
// the TLS handshake with the server follows on the same bytes stream.
Socket tunnel(Socket socket, const ProxyChoice& proxy, const UrlParts& target, Deadline deadline,
              const TraceFunction& trace) {
    const std::string authority =
        (target.host.find(':') != std::string::npos ? "[" + target.host + "]" : target.host) + ":" +
        std::to_string(target.port);
    std::string request = "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n";
    if (const auto credentials = url_userinfo(proxy.url)) {
        const std::string plain = credentials->user + ":" + credentials->password;
        request += "Proxy-Authorization: Basic " +
                   encoding::base64_encode(reinterpret_cast<const std::uint8_t*>(plain.data()),
                                           plain.size()) +
                   "\r\n";
    }
    request += "\r\n";
    if (trace)
        trace("* CONNECT " + authority + " through the proxy " + proxy.display);
    const std::string host = url_host("https://" + authority + "/");
    if (!send_all(socket.fd(), request, deadline)) {
        throw Error(ErrorKind::Network,
                    "the proxy " + proxy_name(proxy) +
                        " closed the connection before a tunnel to " + host + " was asked for",
                    "check --proxy or the https_proxy environment variable");
    }
    std::string answer;
    constexpr std::size_t max_answer = 64 * 1024;
    while (answer.find("\r\n\r\n") == std::string::npos) {
        if (answer.size() > max_answer) {
            throw Error(ErrorKind::Network,
                        "the proxy " + proxy_name(proxy) + " sent an oversized CONNECT answer",
                        "check --proxy or the https_proxy environment variable");
        }
        if (!wait_for(socket.fd(), POLLIN, deadline)) {
            throw Error(ErrorKind::Network,
                        "the proxy " + proxy_name(proxy) +
                            " did not answer in time for a tunnel to " + host,
                        "retry later, or raise --connect-timeout; check the proxy");
        }
        // Peeks first so that nothing past the header block is consumed.
        std::array<char, 1024> buffer{};
        const ssize_t peeked = ::recv(socket.fd(), buffer.data(), buffer.size(), MSG_PEEK);
        if (peeked < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
            continue;
        if (peeked <= 0) {
            throw Error(ErrorKind::Network,
                        "the proxy " + proxy_name(proxy) + " closed the connection instead of " +
                            "opening a tunnel to " + host,
                        "check --proxy or the https_proxy environment variable");
        }
        const std::string_view seen(buffer.data(), static_cast<std::size_t>(peeked));
        const std::string joined =
            answer.substr(answer.size() < 3 ? 0 : answer.size() - 3) + std::string(seen);
        std::size_t take = seen.size();
        if (const std::size_t end = joined.find("\r\n\r\n"); end != std::string::npos)
            take = end + 4 - (joined.size() - seen.size());
        const ssize_t got = ::recv(socket.fd(), buffer.data(), take, 0);
        if (got <= 0)
            continue;
        answer.append(buffer.data(), static_cast<std::size_t>(got));
    }
    // "HTTP/1.1 200 Connection established"
    int status = 0;
    const std::size_t space = answer.find(' ');
    if (answer.starts_with("HTTP/") && space != std::string::npos)
        status = std::atoi(answer.c_str() + space + 1);
    if (status == 407) {
        throw Error(ErrorKind::Network,
                    "the proxy " + proxy_name(proxy) + " refused the tunnel to " + host +
                        " with HTTP 407 (proxy authentication required)",
                    "put the proxy credentials in --proxy http://user:password@proxy:port");
    }
    if (status < 200 || status > 299) {
        // The proxy's own status line, cut short: it is the only evidence, and it is not ours.
        std::string line = answer.substr(0, std::min<std::size_t>(answer.find("\r\n"), 120));
        for (char& c : line)
            c = static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? '?' : c;
        throw Error(ErrorKind::Network,
                    "the proxy " + proxy_name(proxy) + " refused the tunnel to " + host + " (" +
                        (status == 0 ? "not an HTTP answer" : line) + ")",
                    "check --proxy, no_proxy and the proxy's rules for this host");
    }
    if (trace)
        trace("* Tunnel through the proxy established");
    return socket;
}

}  // namespace

Socket::~Socket() {
    if (fd_ >= 0)
        ::close(fd_);
}

Socket::Socket(Socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

Socket& Socket::operator=(Socket&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0)
            ::close(fd_);
        fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
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

std::string describe_timeout(std::chrono::milliseconds timeout) {
    if (timeout.count() % 1000 == 0)
        return std::to_string(timeout.count() / 1000) + " s";
    return std::to_string(timeout.count()) + " ms";
}

TcpAttempt connect_tcp(const std::string& host, int port, Deadline deadline,
                       const TraceFunction& trace) {
    TcpAttempt attempt;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    addrinfo* raw = nullptr;
    const std::string service = std::to_string(port);
    int status = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &raw);
    if (status == EAI_ADDRFAMILY || (status == EAI_NONAME && host.find(':') != std::string::npos)) {
        hints.ai_flags = 0;  // a literal of a family no interface is configured for (::1 only)
        status = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &raw);
    }
    if (status != 0) {
        attempt.failure = TcpFailure::Resolve;
        attempt.error = status == EAI_SYSTEM ? system_message(errno) : ::gai_strerror(status);
        return attempt;
    }
    std::unique_ptr<addrinfo, AddrinfoDeleter> addresses(raw);
    std::size_t left = 0;
    for (const addrinfo* entry = raw; entry != nullptr; entry = entry->ai_next)
        ++left;
    attempt.failure = TcpFailure::Connect;
    for (const addrinfo* entry = raw; entry != nullptr; entry = entry->ai_next, --left) {
        attempt.address = numeric_address(entry->ai_addr, entry->ai_addrlen);
        // Each address gets an equal share of what is left, so one that drops packets does not
        // use up the time of the next.
        const auto now = Clock::now();
        if (now >= deadline) {
            attempt.failure = TcpFailure::Timeout;
            break;
        }
        const Deadline own = now + (deadline - now) / static_cast<long>(left);
        if (trace)
            trace("* Trying " + attempt.address + " port " + service);
        Socket socket(::socket(entry->ai_family, entry->ai_socktype, entry->ai_protocol));
        if (!socket || ::fcntl(socket.fd(), F_SETFD, FD_CLOEXEC) != 0 ||
            ::fcntl(socket.fd(), F_SETFL, ::fcntl(socket.fd(), F_GETFL) | O_NONBLOCK) != 0) {
            attempt.error = system_message(errno);
            continue;
        }
#ifdef SO_NOSIGPIPE
        const int no_sigpipe = 1;  // macOS: send() has no MSG_NOSIGNAL there
        ::setsockopt(socket.fd(), SOL_SOCKET, SO_NOSIGPIPE, &no_sigpipe, sizeof no_sigpipe);
#endif
        int result = ::connect(socket.fd(), entry->ai_addr, entry->ai_addrlen);
        int error = result == 0 ? 0 : errno;
        if (error == EINPROGRESS) {
            if (!wait_for(socket.fd(), POLLOUT, own)) {
                attempt.failure = TcpFailure::Timeout;
                attempt.error = "no answer";
                continue;
            }
            socklen_t length = sizeof error;
            if (::getsockopt(socket.fd(), SOL_SOCKET, SO_ERROR, &error, &length) != 0)
                error = errno;
        }
        if (error != 0) {
            attempt.failure = TcpFailure::Connect;
            attempt.error = system_message(error);
            continue;
        }
        const int on = 1;
        ::setsockopt(socket.fd(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
        attempt.socket = std::move(socket);
        attempt.failure = TcpFailure::None;
        attempt.error.clear();
        return attempt;
    }
    return attempt;
}

Socket open_route(const UrlParts& target, const std::optional<ProxyChoice>& proxy,
                  Deadline deadline, const TraceFunction& trace) {
    const UrlParts& first_hop = proxy ? proxy->parts : target;
    if (proxy && proxy->parts.scheme != "http") {
        throw Error(ErrorKind::Usage,
                    "the proxy " + proxy_name(*proxy) + " is not an http:// proxy",
                    "use an HTTP proxy that supports CONNECT: --proxy http://proxy:port");
    }
    const std::string host = url_host("https://" + host_header(target) + "/");
    const auto start = Clock::now();
    TcpAttempt attempt = connect_tcp(first_hop.host, first_hop.port, deadline, trace);
    switch (attempt.failure) {
        case TcpFailure::None:
            break;
        case TcpFailure::Resolve:
            if (proxy) {
                throw Error(ErrorKind::Network,
                            "cannot resolve the proxy " + proxy_name(*proxy) + " for " + host +
                                ": " + attempt.error,
                            "check --proxy or the https_proxy environment variable");
            }
            throw Error(ErrorKind::Network, "cannot resolve the host name " + host,
                        "check the URL and DNS");
        case TcpFailure::Timeout:
            throw Error(ErrorKind::Network,
                        (proxy ? "the proxy " + proxy_name(*proxy) : host) +
                            " did not answer in time: no connection within " +
                            describe_timeout(std::chrono::duration_cast<std::chrono::milliseconds>(
                                deadline - start)),
                        "retry later, or raise --timeout / --connect-timeout");
        case TcpFailure::Connect:
            throw Error(ErrorKind::Network,
                        proxy ? "cannot connect to the proxy " + proxy_name(*proxy) + " for " +
                                    host + ": " + attempt.error
                              : "cannot connect to " + host + " (" + attempt.address + " port " +
                                    std::to_string(target.port) + "): " + attempt.error,
                        "check the URL, the port, firewalls and the proxy settings");
    }
    if (trace) {
        trace("* Connected to " + first_hop.host + " (" + attempt.address + ") port " +
              std::to_string(first_hop.port));
    }
    if (!proxy)
        return std::move(attempt.socket);
    return tunnel(std::move(attempt.socket), *proxy, target, deadline, trace);
}

TlsChannel::TlsChannel(Socket socket, ssl_st* ssl) : socket_(std::move(socket)), ssl_(ssl) {
    SSL_set_fd(ssl_, socket_.fd());
}

TlsChannel::~TlsChannel() {
    if (ssl_ != nullptr) {
        if (SSL_is_init_finished(ssl_) == 1) {
            const SigpipeIgnored guard;
            SSL_shutdown(ssl_);  // a close_notify, best effort: the socket is non-blocking
        }
        SSL_free(ssl_);
    }
}

// Turns one SSL_* call's return into a result, or waits for the socket and asks for a retry.
TlsChannel::Result TlsChannel::drive(int ret, Deadline deadline, bool& retry) {
    retry = false;
    Result result;
    if (ret > 0) {
        result.bytes = static_cast<std::size_t>(ret);
        return result;
    }
    const int saved_errno = errno;
    const int error = SSL_get_error(ssl_, ret);
    switch (error) {
        case SSL_ERROR_WANT_READ:
        case SSL_ERROR_WANT_WRITE:
            if (!wait_for(socket_.fd(), error == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
                          deadline)) {
                result.status = Status::Timeout;
                return result;
            }
            retry = true;
            return result;
        case SSL_ERROR_ZERO_RETURN:
            result.status = Status::Closed;
            return result;
        case SSL_ERROR_SYSCALL: {
            const bool queued = ERR_peek_error() != 0;
            if (saved_errno == 0 && !queued) {
                result.status = Status::Closed;  // end of stream without close_notify
                return result;
            }
            result.status = Status::Failed;
            result.detail = queued ? openssl_errors() : system_message(saved_errno);
            return result;
        }
        default:
            result.status = Status::Failed;
            result.detail = openssl_errors();
            return result;
    }
}

TlsChannel::Result TlsChannel::handshake(Deadline deadline) {
    const SigpipeIgnored guard;
    ERR_clear_error();
    for (;;) {
        bool retry = false;
        Result result = drive(SSL_connect(ssl_), deadline, retry);
        if (!retry)
            return result;
    }
}

TlsChannel::Result TlsChannel::write_all(std::string_view data, Deadline deadline) {
    const SigpipeIgnored guard;
    Result total;
    while (!data.empty()) {
        ERR_clear_error();
        bool retry = false;
        const int chunk = static_cast<int>(std::min<std::size_t>(data.size(), 1 << 30));
        Result result = drive(SSL_write(ssl_, data.data(), chunk), deadline, retry);
        if (retry)
            continue;
        if (result.status != Status::Done) {
            result.bytes = total.bytes;
            return result;
        }
        total.bytes += result.bytes;
        data.remove_prefix(result.bytes);
    }
    return total;
}

TlsChannel::Result TlsChannel::read_some(char* buffer, std::size_t size, Deadline deadline) {
    const SigpipeIgnored guard;
    for (;;) {
        ERR_clear_error();
        bool retry = false;
        const int chunk = static_cast<int>(std::min<std::size_t>(size, 1 << 30));
        Result result = drive(SSL_read(ssl_, buffer, chunk), deadline, retry);
        if (!retry)
            return result;
    }
}

bool TlsChannel::stale() const {
    if (SSL_pending(ssl_) > 0)
        return true;
    pollfd entry{socket_.fd(), POLLIN, 0};
    // Readable with nothing asked: a close_notify, an EOF or a reset. (A TLS 1.3 session ticket
    // arrives with the response and has been read by then.)
    return ::poll(&entry, 1, 0) != 0;
}

}  // namespace certenroll::http
