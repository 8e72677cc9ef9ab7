#pragma once
/// The production Transport: HTTPS through libcurl (OpenSSL backend) with verification always on.

#include <memory>

#include "http/transport.hpp"

namespace certenroll::http {

/// One libcurl easy handle reused across posts, so consecutive calls share the TLS connection.
/// Not thread-safe: use one CurlTransport per thread.
class CurlTransport : public Transport {
  public:
    /// Validates `settings` (CA bundle readable, client certificate parses, SPNEGO available);
    /// throws Usage naming the setting at fault.
    explicit CurlTransport(Settings settings);
    ~CurlTransport() override;
    CurlTransport(const CurlTransport&) = delete;
    CurlTransport& operator=(const CurlTransport&) = delete;

    /// POSTs `request`; returns any HTTP status except 401/407, see Transport.
    Response post(const Request& request) override;

    /// Opaque libcurl state, defined in curl_transport.cpp (public only for its callbacks).
    struct Impl;

  private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace certenroll::http
