#pragma once
/// Whether another process still runs (part of the platform seam; posix.cpp, windows.cpp).

#include <cstdint>

namespace certenroll::platform {

/// False only when no process `pid` exists (one that exists but belongs to another user counts as
/// running): whether a temporary file named after its writer's PID may be an orphan.
bool process_running(std::uint64_t pid);

}  // namespace certenroll::platform
