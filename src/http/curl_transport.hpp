#pragma once
/// The production Transport: HTTPS through libcurl (on OpenSSL), TLS verification always on.

#include <memory>

#include "http/transport.hpp"

namespace certenroll::http {

/// Initialises libcurl, and OpenSSL through it, for the process: the first call does it (thread-
/// safe), later ones do nothing, and it is never undone. main() calls it before anything else;
/// the users of libcurl in src/ call it too.
void global_init();

/// Keeps one libcurl handle, and with it the connection and the TLS session, for the next post
/// (CEP then CES, GetPolicies then Issue). Goes through the proxy that --proxy or the environment
/// names. Not thread-safe: one CurlTransport per thread.
class CurlTransport : public Transport {
  public:
    /// Validates `settings` (CA bundle readable, client certificate parses); throws Usage naming
    /// the setting at fault.
    explicit CurlTransport(Settings settings);
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
