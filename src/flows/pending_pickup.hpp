#pragma once
/// renew --all's first step: every recorded pending request (an enrollment's or a renewal's) is
/// asked about again where it was recorded, with its recorded settings; approved ones are
/// installed (deploy hook included), denied ones reported once, each isolated from the others'
/// failures. Its own concept, apart from renewing a certificate (flows/renew.cpp).

#include <vector>

#include "flows/context.hpp"
#include "flows/renew.hpp"

namespace certenroll::flows {

/// One result per pending request that is not already final: Renewed (installed), Pending, or
/// Failed (a denial among them); one Failed result when the pending records cannot be read.
std::vector<RenewResult> collect_pending(const Context& context, const RenewOptions& options);

}  // namespace certenroll::flows
