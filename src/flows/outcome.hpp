#pragma once
/// The last outcome of each attempt, kept in the records it concerns so that `list` can show
/// what happened to a certificate when nobody was watching (cron, systemd).

#include <string>

#include "error.hpp"
#include "flows/context.hpp"

namespace certenroll::flows {

/// Records that the attempt on the managed certificate `name` (if there is one) and on the
/// pending request `request_id` (if still recorded; may be empty) ended with `result` ("issued",
/// "renewed", "pending") and `message`. Never throws: the attempt's own result matters more than
/// its note, so a record that cannot be written is only mentioned at -v.
void note_outcome(const Context& context, const std::string& name, const std::string& request_id,
                  const std::string& result, const std::string& message);

/// The same for a failure: the result is the error's category ("auth", "network", "denied"...).
void note_failure(const Context& context, const std::string& name, const std::string& request_id,
                  const Error& error);

}  // namespace certenroll::flows
