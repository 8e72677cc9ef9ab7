#pragma once
/// An in-memory Transport for unit tests: a handler plays the server, every request is recorded.

#include <functional>
#include <vector>

#include "http/transport.hpp"

namespace certenroll::test {

/// Answers each post with `handler` (which may throw certenroll::Error to simulate a transport
/// failure) and applies the same HTTP 401 rule as HttpsTransport.
class MemoryTransport : public http::Transport {
  public:
    using Handler = std::function<http::Response(const http::Request&)>;

    /// `handler` receives every request, in order, and returns the server's response.
    explicit MemoryTransport(Handler handler);

    /// Records `request`, then returns the handler's response (throws Auth on 401).
    http::Response post(const http::Request& request) override;

    /// Every request posted so far, oldest first.
    const std::vector<http::Request>& requests() const { return requests_; }

  private:
    Handler handler_;
    std::vector<http::Request> requests_;
};

}  // namespace certenroll::test
