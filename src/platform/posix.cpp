// POSIX (Linux, macOS) implementation of the platform seam.

#include <arpa/inet.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <dlfcn.h>
#include <fcntl.h>
#include <netdb.h>
#include <pwd.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iomanip>
#include <limits>
#include <sstream>
#include <utility>

#include "error.hpp"
#include "platform/platform.hpp"
#include "platform/process.hpp"

extern char** environ;

namespace certenroll::platform {

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

std::string user_text(uid_t uid) {
    passwd entry{};
    passwd* found = nullptr;
    char buffer[4096];
    const std::string number = "uid " + std::to_string(uid);
    if (::getpwuid_r(uid, &entry, buffer, sizeof buffer, &found) == 0 && found != nullptr)
        return std::string(found->pw_name) + " (" + number + ")";
    return number;
}

Ownership ownership_from(const struct stat& st) {
    Ownership o;
    const uid_t me = ::geteuid();
    o.owned_by_us = st.st_uid == me;
    o.owned_by_root = st.st_uid == 0;
    o.writable_by_others = (st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
    o.readable_by_others = (st.st_mode & (S_IRWXG | S_IRWXO)) != 0;
    o.regular_or_directory = S_ISREG(st.st_mode) || S_ISDIR(st.st_mode);
    std::ostringstream mode;
    mode << std::oct << std::setw(4) << std::setfill('0') << (st.st_mode & 07777);
    o.mode = S_ISLNK(st.st_mode) ? "symbolic link" : mode.str();
    o.current_uid = std::to_string(me);
    // Names are looked up only for a refusal (with_user_names): each lookup reads the user
    // database, and a cron run over 1,000 records had looked them up 14,000 times.
    o.owner_uid = st.st_uid;
    o.effective_uid = me;
    return o;
}

}  // namespace

Ownership with_user_names(Ownership found) {
    found.owner = user_text(static_cast<uid_t>(found.owner_uid));
    found.current_user = user_text(static_cast<uid_t>(found.effective_uid));
    return found;
}

namespace {

void write_new(const fs::path& path, std::string_view data, fs::perms mode, bool flush) {
    // The mode is set at creation so a private key is never readable by others, not even briefly.
    FileDescriptor fd(
        ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, static_cast<mode_t>(mode)));
    if (fd.get() < 0) {
        fail(path, "create", errno);
    }
    if (::fchmod(fd.get(), static_cast<mode_t>(mode)) != 0) {  // the umask must not change it
        fail(path, "set permissions on", errno);
    }
    std::size_t written = 0;
    while (written < data.size()) {
        const ssize_t n = ::write(fd.get(), data.data() + written, data.size() - written);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            fail(path, "write", errno);
        }
        written += static_cast<std::size_t>(n);
    }
    if (flush && ::fsync(fd.get()) != 0) {
        fail(path, "flush", errno);
    }
    if (::close(fd.release()) != 0) {
        fail(path, "close", errno);
    }
}

}  // namespace

void write_new_file_durably(const fs::path& path, std::string_view data, fs::perms mode) {
    write_new(path, data, mode, true);
}

void write_new_file(const fs::path& path, std::string_view data, fs::perms mode) {
    write_new(path, data, mode, false);
}

void replace_file(const fs::path& source, const fs::path& target) {
    if (::rename(source.c_str(), target.c_str()) != 0) {
        fail(target, "replace", errno);
    }
}

void sync_directory(const fs::path& directory) {
    FileDescriptor fd(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.get() >= 0) {
        ::fsync(fd.get());  // best effort: some filesystems refuse fsync on directories
    }
}

std::optional<Ownership> ownership_of(const fs::path& path, bool follow_link) {
    struct stat st {};
    if ((follow_link ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st)) != 0) {
        if (errno == ENOENT)
            return std::nullopt;
        fail(path, "inspect", errno);
    }
    return ownership_from(st);
}

void make_owner_only(const fs::path& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || ::chmod(path.c_str(), st.st_mode & S_IRWXU) != 0)
        fail(path, "restrict the permissions of", errno);
}

std::optional<OwnedContent> read_file_with_ownership(const fs::path& path, bool follow_link) {
    // O_NONBLOCK: a FIFO planted at the path must not block the open; it is never read.
    FileDescriptor fd(
        ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | (follow_link ? 0 : O_NOFOLLOW)));
    if (fd.get() < 0) {
        if (errno == ENOENT)
            return std::nullopt;
        if (errno == ELOOP && !follow_link) {  // a symbolic link: reported as such, never followed
            struct stat st {};
            if (::lstat(path.c_str(), &st) == 0)
                return OwnedContent{{}, ownership_from(st)};
        }
        fail(path, "read", errno);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0)
        fail(path, "inspect", errno);
    OwnedContent result{{}, ownership_from(st)};
    if (!S_ISREG(st.st_mode))  // a directory, FIFO or device: not read at all
        return result;
    // Straight into the string, no copy through a buffer: sized from fstat (up to 1 MiB, a
    // sparse file's size being no promise) plus room to see the end, growing if the file did.
    std::string& content = result.content;
    std::size_t used = 0;
    content.resize(std::min<std::size_t>(static_cast<std::size_t>(st.st_size), 1u << 20) + 1);
    for (;;) {
        if (used == content.size())
            content.resize(content.size() * 2);
        const ssize_t n = ::read(fd.get(), content.data() + used, content.size() - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            fail(path, "read", errno);
        if (n == 0)
            break;
        used += static_cast<std::size_t>(n);
    }
    content.resize(used);
    return result;
}

void harden_process() {
    const rlimit none{0, 0};
    ::setrlimit(RLIMIT_CORE, &none);
#ifdef __linux__
    ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
#endif
}

std::optional<FileLock> FileLock::try_acquire(const fs::path& path) {
    FileDescriptor fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (fd.get() < 0) {
        throw Error(ErrorKind::Local,
                    "cannot open lock file " + path.string() + ": " + std::strerror(errno),
                    "check that the state directory is writable by this user");
    }
    while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno == EINTR) {
            continue;
        }
        if (errno == EWOULDBLOCK) {
            return std::nullopt;
        }
        fail(path, "lock", errno);
    }
    // The holder's PID is only informational, for another process's error message.
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd.get(), 0) == 0) {
        [[maybe_unused]] const ssize_t n = ::pwrite(fd.get(), pid.data(), pid.size(), 0);
    }
    return FileLock(fd.release());
}

std::string FileLock::holder(const fs::path& path) {
    FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    char text[32] = {};
    const ssize_t n = fd.get() >= 0 ? ::pread(fd.get(), text, sizeof text - 1, 0) : -1;
    std::string pid = n > 0 ? std::string(text, static_cast<std::size_t>(n)) : "?";
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) {
        pid.pop_back();
    }
    return pid;
}

FileLock::FileLock(FileLock&& other) noexcept : handle_(std::exchange(other.handle_, -1)) {}

FileLock& FileLock::operator=(FileLock&& other) noexcept {
    std::swap(handle_, other.handle_);
    return *this;
}

FileLock::~FileLock() {
    if (handle_ >= 0) {
        ::flock(static_cast<int>(handle_), LOCK_UN);
        ::close(static_cast<int>(handle_));
    }
}

AppendFile AppendFile::open(const fs::path& path, fs::perms mode) {
    // Created exclusively when missing, so only a file made here gets `mode` (and fchmod undoes
    // the umask); an existing log keeps the owner and mode its administrator gave it.
    for (int attempt = 0; attempt < 3; ++attempt) {
        FileDescriptor created(
            ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                   static_cast<mode_t>(mode)));
        if (created.get() >= 0) {
            if (::fchmod(created.get(), static_cast<mode_t>(mode)) != 0) {
                fail(path, "set permissions on", errno);
            }
            return AppendFile(created.release(), path);
        }
        if (errno != EEXIST) {
            fail(path, "create", errno);
        }
        // O_NOFOLLOW: a symbolic link planted at the path is refused (ELOOP), never followed.
        FileDescriptor existing(::open(path.c_str(), O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC));
        if (existing.get() >= 0) {
            return AppendFile(existing.release(), path);
        }
        if (errno == ELOOP) {
            throw Error(ErrorKind::Local,
                        "refusing '" + path.string() + "': a symbolic link (never followed)",
                        "remove the link (check what it points at); the file is then created "
                        "with mode 0600");
        }
        if (errno != ENOENT) {  // ENOENT: removed (rotated) in between; create it again
            fail(path, "open", errno);
        }
    }
    fail(path, "open", ENOENT);
}

Ownership AppendFile::ownership() const {
    struct stat st {};
    if (::fstat(static_cast<int>(handle_), &st) != 0)
        fail(path_, "inspect", errno);
    return ownership_from(st);
}

void AppendFile::append(std::string_view record) {
    const int fd = static_cast<int>(handle_);
    ssize_t n = -1;
    do {
        n = ::write(fd, record.data(), record.size());
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        fail(path_, "append to", errno);
    }
    // With O_APPEND a regular file takes the whole record in one go unless it is full; a second
    // write could land after another process's record, so a short write is a failure.
    if (static_cast<std::size_t>(n) != record.size()) {
        fail(path_, "append a whole record to", ENOSPC);
    }
    // EINVAL: a pipe or terminal (e.g. /dev/stderr) has nothing to flush.
    if (::fsync(fd) != 0 && errno != EINVAL) {
        fail(path_, "flush", errno);
    }
}

AppendFile::AppendFile(AppendFile&& other) noexcept
    : handle_(std::exchange(other.handle_, -1)), path_(std::move(other.path_)) {}

AppendFile& AppendFile::operator=(AppendFile&& other) noexcept {
    std::swap(handle_, other.handle_);
    std::swap(path_, other.path_);
    return *this;
}

AppendFile::~AppendFile() {
    if (handle_ >= 0) {
        ::close(static_cast<int>(handle_));
    }
}

void system_log(const char* ident, LogSeverity severity, std::string_view message) {
#ifdef LOG_AUTHPRIV
    constexpr int facility = LOG_AUTHPRIV;  // security records, kept from world-readable logs
#else
    constexpr int facility = LOG_AUTH;
#endif
    int priority = LOG_INFO;
    switch (severity) {
        case LogSeverity::Info:
            priority = LOG_INFO;
            break;
        case LogSeverity::Notice:
            priority = LOG_NOTICE;
            break;
        case LogSeverity::Warning:
            priority = LOG_WARNING;
            break;
    }
    ::openlog(ident, LOG_PID, facility);
    const std::string text(message);  // syslog wants a C string
    ::syslog(facility | priority, "%s", text.c_str());
}

std::string host_name() {
    char name[256] = {};
    if (::gethostname(name, sizeof name - 1) != 0) {
        return {};
    }
    return name;
}

std::uint64_t process_id() {
    return static_cast<std::uint64_t>(::getpid());
}

bool process_running(std::uint64_t pid) {
    if (pid == 0 || pid > static_cast<std::uint64_t>(std::numeric_limits<pid_t>::max()))
        return false;
    return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH;
}

bool stdin_is_terminal() {
    return ::isatty(STDIN_FILENO) != 0;
}

std::optional<std::string> read_hidden_line(const std::string& prompt) {
    std::FILE* tty = std::fopen("/dev/tty", "r+");
    if (!tty) {
        return std::nullopt;
    }
    std::fputs(prompt.c_str(), tty);
    std::fflush(tty);
    termios saved{};
    const int fd = ::fileno(tty);
    const bool have_termios = ::tcgetattr(fd, &saved) == 0;
    if (have_termios) {
        termios quiet = saved;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        ::tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    std::string line;
    for (int c = std::fgetc(tty); c != EOF && c != '\n'; c = std::fgetc(tty)) {
        line += static_cast<char>(c);
    }
    if (have_termios) {
        ::tcsetattr(fd, TCSAFLUSH, &saved);
    }
    std::fputs("\n", tty);
    std::fclose(tty);
    return line;
}

bool is_privileged() {
    return ::geteuid() == 0;
}

bool trust_store_is_native() {
    return false;  // OpenSSL's files and directories are the system store (libcurl's defaults)
}

fs::path system_state_dir() {
    return "/var/lib/certenroll";
}

fs::path system_config_file() {
    return "/etc/certenroll/config.json";
}

namespace {
std::optional<fs::path> xdg_base(const char* variable, const char* fallback) {
    if (const char* xdg = std::getenv(variable); xdg && *xdg) {
        return fs::path(xdg);
    }
    if (const char* home = std::getenv("HOME"); home && *home) {
        return fs::path(home) / fallback;
    }
    return std::nullopt;
}
}  // namespace

std::optional<fs::path> user_state_base() {
    return xdg_base("XDG_STATE_HOME", ".local/state");
}

std::optional<fs::path> user_config_base() {
    return xdg_base("XDG_CONFIG_HOME", ".config");
}

int run_shell_command(const std::string& command,
                      const std::vector<std::pair<std::string, std::string>>& extra,
                      const std::function<bool(std::string_view)>& removed) {
    std::vector<std::string> entries;
    for (char** e = environ; *e != nullptr; ++e) {
        const std::string_view entry = *e;
        const bool overridden = std::any_of(extra.begin(), extra.end(), [&](const auto& kv) {
            return entry.starts_with(kv.first + "=");
        });
        if (!overridden && !(removed && removed(entry))) {
            entries.emplace_back(entry);
        }
    }
    for (const auto& [name, value] : extra) {
        entries.push_back(name + "=" + value);
    }
    std::vector<char*> envp;
    for (auto& entry : entries) {
        envp.push_back(entry.data());
    }
    envp.push_back(nullptr);

    std::string shell = "/bin/sh", dash_c = "-c", script = command;
    char* argv[] = {shell.data(), dash_c.data(), script.data(), nullptr};

    // The hook's stdout goes to our stderr: stdout is reserved for --json.
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, "/bin/sh", &actions, nullptr, argv, envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        throw Error(ErrorKind::Local, "cannot start /bin/sh: " + std::string(std::strerror(rc)),
                    "check that /bin/sh exists");
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            throw Error(ErrorKind::Local,
                        "lost track of a child process: " + std::string(std::strerror(errno)));
        }
    }
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    if (WIFSIGNALED(status)) {
        return 128 + WTERMSIG(status);
    }
    return 1;
}

ResolvedHost resolve_host(const std::string& host) {
    ResolvedHost result;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* list = nullptr;
    const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &list);
    if (rc != 0) {
        result.error = rc == EAI_SYSTEM ? std::strerror(errno) : ::gai_strerror(rc);
        result.temporary = rc == EAI_AGAIN;
        return result;
    }
    for (const addrinfo* entry = list; entry != nullptr; entry = entry->ai_next) {
        char text[NI_MAXHOST] = {};
        if (::getnameinfo(entry->ai_addr, entry->ai_addrlen, text, sizeof text, nullptr, 0,
                          NI_NUMERICHOST) == 0 &&
            std::find(result.addresses.begin(), result.addresses.end(), text) ==
                result.addresses.end()) {
            result.addresses.emplace_back(text);
        }
    }
    ::freeaddrinfo(list);
    if (result.addresses.empty())
        result.error = "the resolver returned no TCP address";
    return result;
}

std::optional<SharedLibrary> SharedLibrary::open(const std::string& path) {
    // RTLD_LOCAL: the module's symbols never satisfy anybody else's references.
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr)
        return std::nullopt;
    return SharedLibrary(handle);
}

void* SharedLibrary::function(const char* name) const {
    return handle_ != nullptr ? ::dlsym(handle_, name) : nullptr;
}

SharedLibrary::~SharedLibrary() {
    if (handle_ != nullptr)
        ::dlclose(handle_);
}

}  // namespace certenroll::platform
