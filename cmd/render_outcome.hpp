#pragma once
// Rendering of enrollment outcomes, shared by enroll, retrieve-pending and renew.

#include "command.hpp"
#include "flows/enroll.hpp"

namespace certenroll::cli {

/// Issued → exit 0; pending → exit 3 with the request ID and how to retrieve it.
/// `submitted_now`: the request was sent in this run (enroll), so a pending outcome is news that
/// even --quiet reports (Output::notices); retrieve-pending's "still pending" is not.
Output render_enroll_outcome(const flows::EnrollOutcome& outcome, bool submitted_now = true);
nlohmann::json outcome_json(const flows::EnrollOutcome& outcome);

}  // namespace certenroll::cli
