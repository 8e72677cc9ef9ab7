#include "http/memory_transport.hpp"

#include <utility>

namespace certenroll::http {

MemoryTransport::MemoryTransport(Handler handler) : handler_(std::move(handler)) {}

Response MemoryTransport::post(const Request& request) {
    requests_.push_back(request);
    Response response = handler_(request);
    throw_if_unauthorized(response, request);
    return response;
}

}  // namespace certenroll::http
