#pragma once
/// The operating-system seam: everything that differs between POSIX and Windows lives behind
/// these few functions, implemented once per platform (posix.cpp, windows.cpp). The rest of the
/// code base is portable C++.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace certenroll::platform {

/// A name suffix for temporary files that no other process or call will pick.
std::string temporary_suffix();

/// Creates `path` (which must not exist) with exactly `mode` from the start, writes `data` and
/// flushes it to stable storage. Throws a local Error naming the path.
void write_new_file_durably(const std::filesystem::path& path, std::string_view data,
                            std::filesystem::perms mode);
/// The same without the flush: complete for every reader unless the machine loses power first.
void write_new_file(const std::filesystem::path& path, std::string_view data,
                    std::filesystem::perms mode);

/// Atomically puts `source` in place of `target` (same directory). Throws a local Error.
void replace_file(const std::filesystem::path& source, const std::filesystem::path& target);

/// Best effort: makes a rename inside `directory` durable.
void sync_directory(const std::filesystem::path& directory);

/// An exclusive, advisory lock on a file, held by this process until destroyed.
class FileLock {
  public:
    /// Opens (creating it, owner-only) and tries to lock `path` without waiting; nullopt when
    /// another process holds it. Throws a local Error when the file cannot be opened.
    static std::optional<FileLock> try_acquire(const std::filesystem::path& path);
    /// The identification the current holder left in the file (its PID), or "?".
    static std::string holder(const std::filesystem::path& path);

    FileLock(FileLock&& other) noexcept;
    FileLock& operator=(FileLock&& other) noexcept;
    FileLock(const FileLock&) = delete;
    FileLock& operator=(const FileLock&) = delete;
    ~FileLock();

  private:
    explicit FileLock(std::intptr_t handle) : handle_(handle) {}
    std::intptr_t handle_ = -1;
};

/// A plug-in library loaded at run time (a PKCS#11 module named by the user), unloaded with its
/// owner: dlopen/dlsym on POSIX, LoadLibrary/GetProcAddress on Windows.
class SharedLibrary {
  public:
    /// Loads `path`; nullopt when it cannot be loaded (missing, wrong architecture, unresolved
    /// dependencies).
    static std::optional<SharedLibrary> open(const std::string& path);
    /// The address of the exported function `name`, or nullptr.
    void* function(const char* name) const;

    SharedLibrary(SharedLibrary&& other) noexcept
        : handle_(std::exchange(other.handle_, nullptr)) {}
    SharedLibrary& operator=(SharedLibrary&& other) noexcept {
        if (this != &other)  // the library held until now is unloaded with `discarded`
            SharedLibrary discarded(std::exchange(handle_, std::exchange(other.handle_, nullptr)));
        return *this;
    }
    SharedLibrary(const SharedLibrary&) = delete;
    SharedLibrary& operator=(const SharedLibrary&) = delete;
    ~SharedLibrary();

  private:
    explicit SharedLibrary(void* handle) : handle_(handle) {}
    void* handle_ = nullptr;
};

/// Who could have written a file or directory the tool trusts (state records, deploy hooks, the
/// audit log): what the checks of platform/trust.hpp decide on.
struct Ownership {
    bool owned_by_us = true;           ///< owned by this process's effective user
    bool owned_by_root = false;        ///< owned by the superuser (uid 0)
    bool writable_by_others = false;   ///< its group or everybody may write it
    bool readable_by_others = false;   ///< its group or everybody may read or enter it
    bool regular_or_directory = true;  ///< not a symbolic link, device, FIFO or socket
    /// "nobody (uid 65534)"; this and current_user are empty until with_user_names(): looking
    /// names up reads the user database, and only a refusal shows them.
    std::string owner;
    std::string mode;          ///< "0777"
    std::string current_user;  ///< this process's user, same form as owner
    std::string current_uid;   ///< "0", for the chown in a hint
    std::uint64_t owner_uid = 0;
    std::uint64_t effective_uid = 0;
};

/// `found` with owner and current_user filled in (for a message).
Ownership with_user_names(Ownership found);

/// The ownership of `path` (a final symbolic link not followed when `follow_link` is false);
/// nullopt when it does not exist. On Windows, where ACLs decide, everything is reported as ours.
std::optional<Ownership> ownership_of(const std::filesystem::path& path, bool follow_link);

/// Takes every permission of group and others off a directory or file we own (tightening what
/// earlier versions created with the umask). Throws a local Error naming the path.
void make_owner_only(const std::filesystem::path& path);

/// Reads a whole file through one descriptor, with the ownership of that descriptor (so the
/// check and the read see the same file); nullopt when it does not exist. A final symbolic link
/// is followed only with `follow_link` (a file the user named, such as --config); otherwise it
/// is reported as a link and not read.
struct OwnedContent {
    std::string content;
    Ownership ownership;
};
std::optional<OwnedContent> read_file_with_ownership(const std::filesystem::path& path,
                                                     bool follow_link);
inline std::optional<OwnedContent> read_file_no_follow(const std::filesystem::path& path) {
    return read_file_with_ownership(path, false);
}

/// A file that records are appended to (the audit log), open for this process's lifetime.
class AppendFile {
  public:
    /// Opens `path` for appending, creating it with exactly `mode` when it does not exist (an
    /// existing file keeps its owner and mode); a symbolic link at `path` is never followed.
    /// Throws a local Error naming the path.
    static AppendFile open(const std::filesystem::path& path, std::filesystem::perms mode);

    /// The ownership of the file opened (its descriptor, not the path).
    Ownership ownership() const;

    /// Appends `record` at the end of the file with one write, so records of concurrent
    /// processes never interleave, and flushes it to stable storage. Throws a local Error.
    void append(std::string_view record);

    const std::filesystem::path& path() const { return path_; }

    AppendFile(AppendFile&& other) noexcept;
    AppendFile& operator=(AppendFile&& other) noexcept;
    AppendFile(const AppendFile&) = delete;
    AppendFile& operator=(const AppendFile&) = delete;
    ~AppendFile();

  private:
    AppendFile(std::intptr_t handle, std::filesystem::path path)
        : handle_(handle), path_(std::move(path)) {}
    std::intptr_t handle_ = -1;
    std::filesystem::path path_;
};

/// How urgent a system-log message is (mapped to syslog severities / event log types).
enum class LogSeverity { Info, Notice, Warning };

/// Sends one message to the system log as `ident` (which must be a string literal): syslog(3)
/// with facility authpriv on POSIX (journald reads it too), the Application event log on
/// Windows. Best effort: neither reports whether the message arrived.
void system_log(const char* ident, LogSeverity severity, std::string_view message);

/// This machine's host name ("" when the system will not say).
std::string host_name();

/// The current process's ID.
std::uint64_t process_id();

/// True when standard input is a terminal (a prompt can be answered).
bool stdin_is_terminal();

/// Shows `prompt` on the terminal and reads one line without echo; nullopt without a terminal.
std::optional<std::string> read_hidden_line(const std::string& prompt);

/// True for root / an elevated administrator: machine-wide default paths apply.
bool is_privileged();

/// True where the system's trusted CA certificates live outside OpenSSL's files and directories
/// (the Windows certificate store, where group policy puts an enterprise's roots), so that the
/// TLS layer must import them.
bool trust_store_is_native();

/// The machine-wide state directory (/var/lib/certenroll, %ProgramData%\certenroll).
std::filesystem::path system_state_dir();

/// The machine-wide configuration file (/etc/certenroll/config.json,
/// %ProgramData%\certenroll\config.json).
std::filesystem::path system_config_file();

/// The per-user base directories for state and configuration (XDG on POSIX, %LOCALAPPDATA% and
/// %APPDATA% on Windows), nullopt when the environment names no home.
std::optional<std::filesystem::path> user_state_base();
std::optional<std::filesystem::path> user_config_base();

/// What the system resolver (getaddrinfo: hosts file, DNS, ...) answered for a host name.
struct ResolvedHost {
    std::vector<std::string> addresses;  ///< numeric, in the resolver's order, no duplicates
    std::string error;                   ///< the resolver's message when there is no address
    bool temporary = false;              ///< the failure may pass (no answer from DNS)
};

/// Resolves `host` (a name or a literal address, IPv6 without brackets) to its TCP addresses.
/// Never throws for resolution failures: they are reported in the result.
ResolvedHost resolve_host(const std::string& host);

/// The text of a 4-byte (IPv4) or 16-byte (IPv6) address, IPv6 with its zero runs compressed as
/// RFC 5952 asks ("2001:db8::1"); empty for any other length.
std::string ip_address_text(const std::vector<std::uint8_t>& bytes);

/// The 4 or 16 bytes of a literal IPv4 ("192.0.2.1") or IPv6 ("2001:db8::1") address, exactly as
/// the system's inet_pton reads them; nullopt for anything else.
std::optional<std::vector<std::uint8_t>> parse_ip_address(const std::string& text);

/// Runs `command` with the system shell (/bin/sh -c, cmd.exe /c), the current environment less
/// the variables for which `removed(entry)` is true ("NAME=value") plus `extra`, its standard
/// output sent to our standard error. Returns its exit status (128+N for a POSIX signal N).
/// Throws a local Error when it cannot be started.
int run_shell_command(const std::string& command,
                      const std::vector<std::pair<std::string, std::string>>& extra,
                      const std::function<bool(std::string_view)>& removed);

/// For the life of the process: no core dump (RLIMIT_CORE 0) and, on Linux, not dumpable
/// (PR_SET_DUMPABLE 0: no core, no ptrace or /proc/PID/mem by other processes of the same user),
/// so a crash or a debugger cannot copy a key or password out of memory. Best effort.
void harden_process();

}  // namespace certenroll::platform
