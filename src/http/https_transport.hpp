#pragma once
/// The production Transport: HTTP/1.1 over OpenSSL, TLS verification always on.

#include <memory>

#include "http/transport.hpp"

namespace certenroll::http {

/// Keeps the connection, and the TLS session, for the next post to the same server (CEP then
/// CES, GetPolicies then Issue), and goes through the proxy that --proxy or the environment
/// names. Not thread-safe: use one HttpsTransport per thread.
class HttpsTransport : public Transport {
  public:
    /// Validates `settings` (CA bundle readable, client certificate parses); throws Usage naming
    /// the setting at fault.
    explicit HttpsTransport(Settings settings);
    ~HttpsTransport() override;
    HttpsTransport(const HttpsTransport&) = delete;
    HttpsTransport& operator=(const HttpsTransport&) = delete;

    /// POSTs `request`; returns any HTTP status except 401/407, see Transport.
    Response post(const Request& request) override;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace certenroll::http
