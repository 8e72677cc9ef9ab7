// Windows implementation of the platform seam. Built by the Windows (vcpkg/MSVC or mingw-w64)
// builds; the Linux CI cross-compiles it with mingw-w64 to keep it compiling.

#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <winsock2.h>
#include <ws2tcpip.h>
// winsock2.h must come before windows.h.
#include <aclapi.h>
#include <conio.h>
#include <io.h>
#include <sddl.h>
#include <windows.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "error.hpp"
#include "platform/platform.hpp"
#include "platform/process.hpp"

namespace certenroll::platform {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const fs::path& path, std::string_view action, DWORD error) {
    throw Error(ErrorKind::Local,
                "cannot " + std::string(action) + " " + path.string() + " (Windows error " +
                    std::to_string(error) + ")",
                "check that the directory exists and is writable by this user");
}

// Closes the handle on every path out, including exceptions.
class Handle {
  public:
    explicit Handle(HANDLE handle) : handle_(handle) {}
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;
    ~Handle() {
        if (valid()) {
            CloseHandle(handle_);
        }
    }
    bool valid() const { return handle_ != INVALID_HANDLE_VALUE && handle_ != nullptr; }
    HANDLE get() const { return handle_; }
    HANDLE release() { return std::exchange(handle_, INVALID_HANDLE_VALUE); }

  private:
    HANDLE handle_;
};

// Owner-only files get a protected DACL granting only the current user (the 0600 of Windows);
// anything readable by others keeps the inherited ACL.
bool owner_only(fs::perms mode) {
    return (mode & (fs::perms::group_all | fs::perms::others_all)) == fs::perms::none;
}

std::optional<fs::path> environment_path(const char* name) {
    if (const char* value = std::getenv(name); value && *value) {
        return fs::path(value);
    }
    return std::nullopt;
}

}  // namespace

namespace {

void write_new(const fs::path& path, std::string_view data, fs::perms mode, bool flush) {
    SECURITY_ATTRIBUTES attributes{sizeof(SECURITY_ATTRIBUTES), nullptr, FALSE};
    PSECURITY_DESCRIPTOR descriptor = nullptr;
    // D:P = protected DACL; (A;;FA;;;OW) = full access for the owner only.
    if (owner_only(mode) && ConvertStringSecurityDescriptorToSecurityDescriptorW(
                                L"D:P(A;;FA;;;OW)", SDDL_REVISION_1, &descriptor, nullptr)) {
        attributes.lpSecurityDescriptor = descriptor;
    }
    Handle file(CreateFileW(path.wstring().c_str(), GENERIC_WRITE, 0, &attributes, CREATE_NEW,
                            FILE_ATTRIBUTE_NORMAL, nullptr));
    if (descriptor != nullptr) {
        LocalFree(descriptor);
    }
    if (!file.valid()) {
        fail(path, "create", GetLastError());
    }
    std::size_t written = 0;
    while (written < data.size()) {
        DWORD chunk = 0;
        const DWORD size =
            static_cast<DWORD>(std::min<std::size_t>(data.size() - written, 1 << 30));
        if (!WriteFile(file.get(), data.data() + written, size, &chunk, nullptr)) {
            fail(path, "write", GetLastError());
        }
        written += chunk;
    }
    if (flush && !FlushFileBuffers(file.get())) {
        fail(path, "flush", GetLastError());
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
    if (!MoveFileExW(source.wstring().c_str(), target.wstring().c_str(),
                     MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
        fail(target, "replace", GetLastError());
    }
}

void sync_directory(const fs::path&) {
    // MOVEFILE_WRITE_THROUGH already made the rename durable.
}

std::optional<FileLock> FileLock::try_acquire(const fs::path& path) {
    Handle file(CreateFileW(path.wstring().c_str(), GENERIC_READ | GENERIC_WRITE,
                            FILE_SHARE_READ | FILE_SHARE_WRITE, nullptr, OPEN_ALWAYS,
                            FILE_ATTRIBUTE_NORMAL, nullptr));
    if (!file.valid()) {
        throw Error(ErrorKind::Local,
                    "cannot open lock file " + path.string() + " (Windows error " +
                        std::to_string(GetLastError()) + ")",
                    "check that the state directory is writable by this user");
    }
    // Lock a byte range past the PID text, so other processes can still read who holds it.
    OVERLAPPED region{};
    region.Offset = 4096;
    if (!LockFileEx(file.get(), LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0,
                    &region)) {
        if (GetLastError() == ERROR_LOCK_VIOLATION) {
            return std::nullopt;
        }
        fail(path, "lock", GetLastError());
    }
    const std::string pid = std::to_string(GetCurrentProcessId()) + "\n";
    DWORD written = 0;
    SetFilePointer(file.get(), 0, nullptr, FILE_BEGIN);
    WriteFile(file.get(), pid.data(), static_cast<DWORD>(pid.size()), &written, nullptr);
    SetEndOfFile(file.get());
    return FileLock(reinterpret_cast<std::intptr_t>(file.release()));
}

std::string FileLock::holder(const fs::path& path) {
    std::FILE* file = _wfopen(path.wstring().c_str(), L"rb");
    if (file == nullptr) {
        return "?";
    }
    char text[32] = {};
    const std::size_t n = std::fread(text, 1, sizeof text - 1, file);
    std::fclose(file);
    std::string pid(text, n);
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == '\r' || pid.back() == ' ')) {
        pid.pop_back();
    }
    return pid.empty() ? "?" : pid;
}

FileLock::FileLock(FileLock&& other) noexcept : handle_(std::exchange(other.handle_, -1)) {}

FileLock& FileLock::operator=(FileLock&& other) noexcept {
    std::swap(handle_, other.handle_);
    return *this;
}

FileLock::~FileLock() {
    if (handle_ != -1) {
        CloseHandle(reinterpret_cast<HANDLE>(handle_));  // closing releases the lock
    }
}

AppendFile AppendFile::open(const fs::path& path, fs::perms mode) {
    SECURITY_ATTRIBUTES attributes{sizeof(SECURITY_ATTRIBUTES), nullptr, FALSE};
    PSECURITY_DESCRIPTOR descriptor = nullptr;
    // Applies only when the file is created: an existing log keeps its ACL.
    if (owner_only(mode) && ConvertStringSecurityDescriptorToSecurityDescriptorW(
                                L"D:P(A;;FA;;;OW)", SDDL_REVISION_1, &descriptor, nullptr)) {
        attributes.lpSecurityDescriptor = descriptor;
    }
    // FILE_APPEND_DATA without FILE_WRITE_DATA: every write goes to the current end of file.
    Handle file(CreateFileW(path.wstring().c_str(), FILE_APPEND_DATA | SYNCHRONIZE,
                            FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, &attributes,
                            OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, nullptr));
    const DWORD error = GetLastError();
    if (descriptor != nullptr) {
        LocalFree(descriptor);
    }
    if (!file.valid()) {
        fail(path, "open", error);
    }
    return AppendFile(reinterpret_cast<std::intptr_t>(file.release()), path);
}

void AppendFile::append(std::string_view record) {
    const HANDLE file = reinterpret_cast<HANDLE>(handle_);
    DWORD written = 0;
    if (!WriteFile(file, record.data(), static_cast<DWORD>(record.size()), &written, nullptr)) {
        fail(path_, "append to", GetLastError());
    }
    if (written != record.size()) {
        fail(path_, "append a whole record to", ERROR_DISK_FULL);
    }
    FlushFileBuffers(file);  // fails harmlessly for consoles and pipes
}

AppendFile::AppendFile(AppendFile&& other) noexcept
    : handle_(std::exchange(other.handle_, -1)), path_(std::move(other.path_)) {}

AppendFile& AppendFile::operator=(AppendFile&& other) noexcept {
    std::swap(handle_, other.handle_);
    std::swap(path_, other.path_);
    return *this;
}

AppendFile::~AppendFile() {
    if (handle_ != -1) {
        CloseHandle(reinterpret_cast<HANDLE>(handle_));
    }
}

void system_log(const char* ident, LogSeverity severity, std::string_view message) {
    // The Application event log; without a registered message file the viewer shows the text
    // as the event's insertion string.
    HANDLE source = RegisterEventSourceA(nullptr, ident);
    if (source == nullptr) {
        return;
    }
    WORD type = EVENTLOG_INFORMATION_TYPE;
    if (severity == LogSeverity::Warning) {
        type = EVENTLOG_WARNING_TYPE;
    }
    const std::string text(message);
    const char* strings[] = {text.c_str()};
    ReportEventA(source, type, 0, 1, nullptr, 1, 0, strings, nullptr);
    DeregisterEventSource(source);
}

std::string host_name() {
    char name[256] = {};
    DWORD size = sizeof name;
    if (!GetComputerNameExA(ComputerNameDnsHostname, name, &size)) {
        return {};
    }
    return std::string(name, size);
}

std::uint64_t process_id() {
    return GetCurrentProcessId();
}

bool process_running(std::uint64_t pid) {
    if (pid > MAXDWORD)
        return false;
    HANDLE process = OpenProcess(SYNCHRONIZE, FALSE, static_cast<DWORD>(pid));
    if (process == nullptr)  // no such process, unless we may merely not open it
        return GetLastError() != ERROR_INVALID_PARAMETER;
    const bool running = WaitForSingleObject(process, 0) == WAIT_TIMEOUT;
    CloseHandle(process);
    return running;
}

bool stdin_is_terminal() {
    return _isatty(_fileno(stdin)) != 0;
}

std::optional<std::string> read_hidden_line(const std::string& prompt) {
    HANDLE input = GetStdHandle(STD_INPUT_HANDLE);
    DWORD saved = 0;
    if (!stdin_is_terminal() || !GetConsoleMode(input, &saved)) {
        return std::nullopt;
    }
    std::fputs(prompt.c_str(), stderr);
    std::fflush(stderr);
    SetConsoleMode(input, saved & ~static_cast<DWORD>(ENABLE_ECHO_INPUT));
    std::string line;
    for (int c = std::getchar(); c != EOF && c != '\n'; c = std::getchar()) {
        if (c != '\r') {
            line += static_cast<char>(c);
        }
    }
    SetConsoleMode(input, saved);
    std::fputs("\n", stderr);
    return line;
}

bool is_privileged() {
    BOOL member = FALSE;
    PSID administrators = nullptr;
    SID_IDENTIFIER_AUTHORITY authority = SECURITY_NT_AUTHORITY;
    if (AllocateAndInitializeSid(&authority, 2, SECURITY_BUILTIN_DOMAIN_RID,
                                 DOMAIN_ALIAS_RID_ADMINS, 0, 0, 0, 0, 0, 0, &administrators)) {
        CheckTokenMembership(nullptr, administrators, &member);
        FreeSid(administrators);
    }
    return member != FALSE;
}

bool trust_store_is_native() {
    return true;
}

fs::path system_state_dir() {
    return environment_path("ProgramData").value_or("C:\\ProgramData") / "certenroll";
}

fs::path system_config_file() {
    return system_state_dir() / "config.json";
}

std::optional<fs::path> user_state_base() {
    return environment_path("LOCALAPPDATA");
}

std::optional<fs::path> user_config_base() {
    return environment_path("APPDATA");
}

// Ownership on Windows is an ACL question: files the tool creates get an owner-only DACL (see
// owner_only); what others' ACLs allow is not judged here, so everything is reported as ours.
std::optional<Ownership> ownership_of(const fs::path& path, bool) {
    std::error_code ec;
    if (!fs::exists(fs::symlink_status(path, ec)))
        return std::nullopt;
    return Ownership{};
}

Ownership with_user_names(Ownership found) {
    return found;
}

void make_owner_only(const fs::path&) {}

std::optional<OwnedContent> read_file_with_ownership(const fs::path& path, bool) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        std::error_code ec;
        if (!fs::exists(path, ec))
            return std::nullopt;
        fail(path, "read", ERROR_ACCESS_DENIED);
    }
    std::ostringstream content;
    content << in.rdbuf();
    return OwnedContent{content.str(), Ownership{}};
}

// Windows writes no core files by itself; Windows Error Reporting is the system's choice.
void harden_process() {}

Ownership AppendFile::ownership() const {
    return Ownership{};
}

int run_shell_command(const std::string& command,
                      const std::vector<std::pair<std::string, std::string>>& extra,
                      const std::function<bool(std::string_view)>& removed) {
    // The child's environment block: ours less `removed` and what `extra` overrides, plus `extra`.
    std::string block;
    if (char* strings = GetEnvironmentStringsA()) {
        for (const char* entry = strings; *entry != '\0'; entry += std::strlen(entry) + 1) {
            const std::string_view text = entry;
            const bool overridden = std::any_of(extra.begin(), extra.end(), [&](const auto& kv) {
                return text.size() > kv.first.size() && text[kv.first.size()] == '=' &&
                       _strnicmp(entry, kv.first.c_str(), kv.first.size()) == 0;
            });
            if (!overridden && !(removed && removed(text)))
                block.append(text).push_back('\0');
        }
        FreeEnvironmentStringsA(strings);
    }
    for (const auto& [name, value] : extra)
        block.append(name + "=" + value).push_back('\0');
    block.push_back('\0');
    std::string line = "cmd.exe /d /s /c \"" + command + "\"";
    STARTUPINFOA startup{};
    startup.cb = sizeof startup;
    startup.dwFlags = STARTF_USESTDHANDLES;
    startup.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
    startup.hStdOutput = GetStdHandle(STD_ERROR_HANDLE);  // stdout is reserved for --json
    startup.hStdError = GetStdHandle(STD_ERROR_HANDLE);
    PROCESS_INFORMATION process{};
    const BOOL started = CreateProcessA(nullptr, line.data(), nullptr, nullptr, TRUE, 0,
                                        block.data(), nullptr, &startup, &process);
    const DWORD start_error = GetLastError();
    if (!started) {
        throw Error(ErrorKind::Local,
                    "cannot start cmd.exe (Windows error " + std::to_string(start_error) + ")",
                    "check that cmd.exe is available");
    }
    WaitForSingleObject(process.hProcess, INFINITE);
    DWORD status = 1;
    GetExitCodeProcess(process.hProcess, &status);
    CloseHandle(process.hThread);
    CloseHandle(process.hProcess);
    return static_cast<int>(status);
}

ResolvedHost resolve_host(const std::string& host) {
    ResolvedHost result;
    WSADATA data;
    if (const int rc = WSAStartup(MAKEWORD(2, 2), &data); rc != 0) {
        result.error = "Winsock could not start (error " + std::to_string(rc) + ")";
        return result;
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* list = nullptr;
    const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &list);
    if (rc != 0) {
        result.error = "Windows Sockets error " + std::to_string(rc);
        result.temporary = rc == WSATRY_AGAIN;
        WSACleanup();
        return result;
    }
    for (const addrinfo* entry = list; entry != nullptr; entry = entry->ai_next) {
        char text[NI_MAXHOST] = {};
        if (getnameinfo(entry->ai_addr, static_cast<socklen_t>(entry->ai_addrlen), text,
                        sizeof text, nullptr, 0, NI_NUMERICHOST) == 0) {
            bool known = false;
            for (const auto& address : result.addresses)
                known = known || address == text;
            if (!known)
                result.addresses.emplace_back(text);
        }
    }
    freeaddrinfo(list);
    WSACleanup();
    if (result.addresses.empty())
        result.error = "the resolver returned no TCP address";
    return result;
}

std::optional<SharedLibrary> SharedLibrary::open(const std::string& path) {
    HMODULE module = ::LoadLibraryA(path.c_str());
    if (module == nullptr)
        return std::nullopt;
    return SharedLibrary(reinterpret_cast<void*>(module));
}

void* SharedLibrary::function(const char* name) const {
    if (handle_ == nullptr)
        return nullptr;
    return reinterpret_cast<void*>(::GetProcAddress(static_cast<HMODULE>(handle_), name));
}

SharedLibrary::~SharedLibrary() {
    if (handle_ != nullptr)
        ::FreeLibrary(static_cast<HMODULE>(handle_));
}

}  // namespace certenroll::platform
