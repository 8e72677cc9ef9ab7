#include "store/lock.hpp"

#include <string>
#include <thread>

#include "error.hpp"
#include "platform/platform.hpp"
#include "store/atomic_file.hpp"

namespace certenroll::store {

namespace fs = std::filesystem;

DirectoryLock::DirectoryLock(const fs::path& dir, std::chrono::milliseconds wait) {
    create_private_directories(dir);
    const fs::path path = dir / "lock";
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (!(lock_ = platform::FileLock::try_acquire(path))) {
        if (std::chrono::steady_clock::now() >= deadline) {
            throw Error(ErrorKind::Local,
                        "another certenroll-cli (PID " + platform::FileLock::holder(path) +
                            ") holds the lock on " + dir.string(),
                        "wait for it to finish, or pass --lock-wait DURATION to wait longer");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

DirectoryLock::~DirectoryLock() = default;

}  // namespace certenroll::store
