#pragma once
/// Transitional, for diagnose until its probes move (issue 21): the transport's former name.

#include "http/curl_transport.hpp"

namespace certenroll::http {
using HttpsTransport = CurlTransport;
}  // namespace certenroll::http
