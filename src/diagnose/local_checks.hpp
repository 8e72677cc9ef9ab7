#pragma once
/// The steps that need no server: the configuration file may be trusted, the key backend
/// (--key-backend) can make the template's key type, and the state directory is trusted and
/// writable.

#include "diagnose/checklist.hpp"
#include "xcep/policy.hpp"

namespace certenroll::diagnose {

/// Adds config-file when a configuration file was read or refused (the first step: its profile
/// supplies the flags the others check).
void check_config_file(Checklist& checklist);

/// Adds key-backend and state-dir. `checked_template`: the --template found in the policy, whose
/// key type is tried; nullptr for the default key type.
void check_local(Checklist& checklist, const xcep::Template* checked_template);

}  // namespace certenroll::diagnose
