#pragma once
/// Deploy hooks: a user's shell command run after a certificate was renewed (reload a server).

#include <string>
#include <utility>
#include <vector>

namespace certenroll::flows {

using Environment = std::vector<std::pair<std::string, std::string>>;

/// Runs `command` with the system shell (`/bin/sh -c`), the current environment plus `extra`, its
/// stdout sent to our stderr (stdout is reserved for --json). Returns the exit status (128+N for
/// signal N); a hook that cannot be started throws a local Error.
int run_shell_hook(const std::string& command, const Environment& extra);

}  // namespace certenroll::flows
