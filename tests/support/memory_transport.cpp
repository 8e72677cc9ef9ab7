#include "memory_transport.hpp"

#include <utility>

namespace certenroll::test {

MemoryTransport::MemoryTransport(Handler handler) : handler_(std::move(handler)) {}

http::Response MemoryTransport::post(const http::Request& request) {
    requests_.push_back(request);
    http::Response response = handler_(request);
    http::throw_if_unauthorized(response, request);
    return response;
}

}  // namespace certenroll::test
