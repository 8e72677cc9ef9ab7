#include "store/lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <thread>

#include "error.hpp"

namespace certenroll::store {

namespace fs = std::filesystem;

DirectoryLock::DirectoryLock(const fs::path& dir, std::chrono::milliseconds wait) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    const fs::path path = dir / "lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) {
        throw Error(ErrorKind::Local,
                    "cannot open lock file " + path.string() + ": " + std::strerror(errno),
                    "check that the state directory is writable by this user");
    }
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            const int error_number = errno;
            ::close(fd_);
            throw Error(ErrorKind::Local,
                        "cannot lock " + path.string() + ": " + std::strerror(error_number));
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            char holder[32] = {};
            const ssize_t n = ::pread(fd_, holder, sizeof holder - 1, 0);
            ::close(fd_);
            std::string pid = n > 0 ? std::string(holder, static_cast<std::size_t>(n)) : "?";
            while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) {
                pid.pop_back();
            }
            throw Error(
                ErrorKind::Local,
                "another certenroll-cli (PID " + pid + ") holds the lock on " + dir.string(),
                "wait for it to finish, or pass --lock-timeout SECONDS to wait longer");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    // The holder's PID is only informational, for the message above.
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd_, 0) == 0) {
        [[maybe_unused]] const ssize_t n = ::pwrite(fd_, pid.data(), pid.size(), 0);
    }
}

DirectoryLock::~DirectoryLock() {
    if (fd_ >= 0) {
        ::flock(fd_, LOCK_UN);
        ::close(fd_);
    }
}

}  // namespace certenroll::store
