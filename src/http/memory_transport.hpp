#pragma once
/// An in-memory Transport for unit tests: a handler plays the server, every request is recorded.

#include <functional>
#include <vector>

#include "http/transport.hpp"

namespace certenroll::http {

/// Answers each post with `handler` (which may throw certenroll::Error to simulate a transport
/// failure) and applies the same HTTP 401 rule as HttpsTransport.
class MemoryTransport : public Transport {
  public:
    using Handler = std::function<Response(const Request&)>;

    /// `handler` receives every request, in order, and returns the server's response.
    explicit MemoryTransport(Handler handler);

    /// Records `request`, then returns the handler's response (throws Auth on 401).
    Response post(const Request& request) override;

    /// Every request posted so far, oldest first.
    const std::vector<Request>& requests() const { return requests_; }

  private:
    Handler handler_;
    std::vector<Request> requests_;
};

}  // namespace certenroll::http
