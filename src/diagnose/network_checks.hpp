#pragma once
/// The steps that talk to the server before any credential is used: dns, tcp and tls (the CEP,
/// else CES, host resolves, accepts a connection and presents a chain that verifies for its
/// name), then http-auth and clock (what the endpoint asks for without credentials, and this
/// clock against its Date). The only steps that call src/http directly.

#include "diagnose/checklist.hpp"

namespace certenroll::diagnose {

/// Adds dns, tcp, tls, http-auth and clock, in that order.
void check_network(Checklist& checklist);

}  // namespace certenroll::diagnose
