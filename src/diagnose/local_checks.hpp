#pragma once
/// The steps that need no server: the key backend (--key-backend) can make the template's key
/// type, and the state directory is writable.

#include "diagnose/checklist.hpp"
#include "xcep/policy.hpp"

namespace certenroll::diagnose {

/// Adds key-backend and state-dir. `checked_template`: the --template found in the policy, whose
/// key type is tried; nullptr for the default key type.
void check_local(Checklist& checklist, const xcep::Template* checked_template);

}  // namespace certenroll::diagnose
