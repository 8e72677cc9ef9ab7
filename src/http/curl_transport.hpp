#pragma once
/// The production Transport: HTTPS through libcurl (on OpenSSL), TLS verification always on.

#include <memory>

#include "http/transport.hpp"

namespace certenroll::http {

/// Initialises libcurl, and OpenSSL through it, for the process: the first call does it (thread-
/// safe), later ones do nothing, and it is never undone. main() calls it before anything else;
/// the users of libcurl in src/ call it too.
void global_init();

/// Keeps the libcurl handle of a finished CurlTransport, and with it the open connection and the
/// TLS session, for the next CurlTransport of the same route (trust, proxy and its credentials,
/// see connection_route_key):
/// the policy fetch and the submission of one command share a connection although the flows
/// open a transport for each. Handles that carry a TLS client certificate are not kept: their
/// key may live in a token or TPM closed before the pool goes. One pool per command (the
/// transport factory's); not thread-safe.
class ConnectionPool {
  public:
    ConnectionPool();
    ~ConnectionPool();
    ConnectionPool(const ConnectionPool&) = delete;
    ConnectionPool& operator=(const ConnectionPool&) = delete;

  private:
    friend class CurlTransport;
    struct Idle;
    std::unique_ptr<Idle> idle_;
};

/// What decides whom a kept connection talks to and through what (trust, proxy, proxy user and
/// scheme): only a transport with the same key, and the same proxy password, may take it over.
/// Never holds a secret: the proxy password is compared beside it.
std::string connection_route_key(const Settings& settings);

/// Keeps one libcurl handle, and with it the connection and the TLS session, for the next post
/// (and, through `pool`, for the next transport). Goes through the proxy that --proxy or the
/// environment names. Not thread-safe: one CurlTransport per thread.
class CurlTransport : public Transport {
  public:
    /// Validates `settings` (CA bundle readable, client certificate parses); throws Usage naming
    /// the setting at fault.
    explicit CurlTransport(Settings settings, std::shared_ptr<ConnectionPool> pool = {});
    ~CurlTransport() override;
    CurlTransport(const CurlTransport&) = delete;
    CurlTransport& operator=(const CurlTransport&) = delete;

    /// POSTs `request`; returns any HTTP status except 401/407, see Transport. A request that is
    /// not idempotent goes out once at most: should the connection die after it was sent,
    /// it fails instead of being sent again.
    Response post(const Request& request) override;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace certenroll::http
