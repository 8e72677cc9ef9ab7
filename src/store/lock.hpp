#pragma once
/// An exclusive lock on the state directory, so two cron runs never renew the same certificate.

#include <chrono>
#include <filesystem>
#include <optional>

#include "platform/platform.hpp"

namespace certenroll::store {

class DirectoryLock {
  public:
    /// Locks `<dir>/lock`, waiting up to `wait` for another holder to finish. Throws a local
    /// Error naming the holder's PID when it stays locked.
    DirectoryLock(const std::filesystem::path& dir, std::chrono::milliseconds wait);
    ~DirectoryLock();
    DirectoryLock(const DirectoryLock&) = delete;
    DirectoryLock& operator=(const DirectoryLock&) = delete;

  private:
    std::optional<platform::FileLock> lock_;
};

}  // namespace certenroll::store
