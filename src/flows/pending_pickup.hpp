#pragma once
/// renew's first step: recorded pending requests (renew --all: every one, an enrollment's or a
/// renewal's; renew NAME: that certificate's renewal) are asked about again where they were
/// recorded, with their recorded settings; approved ones are installed (deploy hook included),
/// denied ones reported once, each isolated from the others' failures. Its own concept, apart
/// from renewing a certificate (flows/renew.cpp).

#include <vector>

#include "flows/context.hpp"
#include "flows/renew.hpp"
#include "store/state.hpp"

namespace certenroll::flows {

/// One result per pending request that is not already final: Renewed (installed), Pending, or
/// Failed (a denial among them); one Failed result when the pending records cannot be read.
std::vector<RenewResult> collect_pending(const Context& context, const RenewOptions& options);

/// One recorded pending request asked about again, as collect_pending asks each: Renewed
/// (installed), Pending, or Failed.
RenewResult collect_pending_request(const Context& context, const RenewOptions& options,
                                    const store::PendingRequest& pending);

}  // namespace certenroll::flows
