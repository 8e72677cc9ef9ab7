#include "store/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "error.hpp"

namespace certenroll::store {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const fs::path& path, std::string_view action, int error_number) {
    throw Error(
        ErrorKind::Local,
        "cannot " + std::string(action) + " " + path.string() + ": " + std::strerror(error_number),
        "check that the directory exists and is writable by this user");
}

// Closes the descriptor on every path out, including exceptions.
class FileDescriptor {
  public:
    explicit FileDescriptor(int fd) : fd_(fd) {}
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;
    ~FileDescriptor() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    int get() const { return fd_; }
    int release() {
        const int fd = fd_;
        fd_ = -1;
        return fd;
    }

  private:
    int fd_;
};

std::string temporary_suffix() {
    std::random_device random;
    std::ostringstream out;
    out << ".tmp." << ::getpid() << "." << std::hex << random();
    return out.str();
}

void fsync_directory(const fs::path& directory) {
    FileDescriptor fd(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.get() >= 0) {
        ::fsync(fd.get());  // best effort: some filesystems refuse fsync on directories
    }
}

}  // namespace

void write_file_atomic(const fs::path& path, std::string_view data, fs::perms mode) {
    const fs::path parent = path.has_parent_path() ? path.parent_path() : fs::path(".");
    std::error_code ec;
    if (!fs::exists(parent, ec)) {
        fs::create_directories(parent, ec);
        if (ec) {
            fail(parent, "create directory", ec.value());
        }
        fs::permissions(parent, fs::perms::owner_all, ec);
    }
    const fs::path temporary = fs::path(path).concat(temporary_suffix());
    // The mode is set at creation so a private key is never readable by others, not even briefly.
    FileDescriptor fd(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                             static_cast<mode_t>(mode)));
    if (fd.get() < 0) {
        fail(temporary, "create", errno);
    }
    try {
        if (::fchmod(fd.get(), static_cast<mode_t>(mode)) !=
            0) {  // umask must not widen or narrow it
            fail(temporary, "set permissions on", errno);
        }
        std::size_t written = 0;
        while (written < data.size()) {
            const ssize_t n = ::write(fd.get(), data.data() + written, data.size() - written);
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                fail(temporary, "write", errno);
            }
            written += static_cast<std::size_t>(n);
        }
        if (::fsync(fd.get()) != 0) {
            fail(temporary, "flush", errno);
        }
        if (::close(fd.release()) != 0) {
            fail(temporary, "close", errno);
        }
        if (::rename(temporary.c_str(), path.c_str()) != 0) {
            fail(path, "replace", errno);
        }
    } catch (...) {
        ::unlink(temporary.c_str());
        throw;
    }
    fsync_directory(parent);
}

std::optional<std::string> read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        std::error_code ec;
        if (!fs::exists(path, ec)) {
            return std::nullopt;
        }
        fail(path, "read", errno ? errno : EACCES);
    }
    std::ostringstream content;
    content << in.rdbuf();
    if (in.bad()) {
        fail(path, "read", EIO);
    }
    return content.str();
}

}  // namespace certenroll::store
