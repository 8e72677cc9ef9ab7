#include "store/atomic_file.hpp"

#include <charconv>
#include <fstream>
#include <sstream>

#include "error.hpp"
#include "platform/platform.hpp"
#include "platform/process.hpp"

namespace certenroll::store {

namespace fs = std::filesystem;

namespace {

WriteStepObserver step_observer = nullptr;

[[noreturn]] void fail(const fs::path& path, std::string_view action, std::error_code error) {
    throw Error(ErrorKind::Local,
                "cannot " + std::string(action) + " " + path.string() + ": " + error.message(),
                "check that the directory exists and is writable by this user");
}

}  // namespace

namespace {

void write_file_atomic(const fs::path& path, std::string_view data, fs::perms mode,
                       bool flush_file) {
    const fs::path parent = path.has_parent_path() ? path.parent_path() : fs::path(".");
    std::error_code ec;
    if (!fs::exists(parent, ec))
        create_private_directories(parent);
    const fs::path temporary = fs::path(path).concat(platform::temporary_suffix());
    try {
        if (flush_file)
            platform::write_new_file_durably(temporary, data, mode);
        else
            platform::write_new_file(temporary, data, mode);
        write_step("temporary-written");
        platform::replace_file(temporary, path);
    } catch (...) {
        fs::remove(temporary, ec);
        throw;
    }
}

}  // namespace

void write_file_atomic_unsynced_directory(const fs::path& path, std::string_view data,
                                          fs::perms mode) {
    write_file_atomic(path, data, mode, true);
}

void write_file_atomic_unsynced(const fs::path& path, std::string_view data, fs::perms mode) {
    write_file_atomic(path, data, mode, false);
}

void write_file_atomic(const fs::path& path, std::string_view data, fs::perms mode) {
    write_file_atomic_unsynced_directory(path, data, mode);
    platform::sync_directory(path.has_parent_path() ? path.parent_path() : fs::path("."));
}

namespace {

// The PID in a name ending in `.tmp.<pid>.<hex>` (platform::temporary_suffix()), else nullopt.
std::optional<std::uint64_t> temporary_writer(const std::string& name) {
    const auto last_dot = name.rfind('.');
    if (last_dot == std::string::npos || last_dot + 1 == name.size() ||
        name.find_first_not_of("0123456789abcdef", last_dot + 1) != std::string::npos)
        return std::nullopt;
    const auto pid_dot = name.rfind('.', last_dot - 1);
    constexpr std::string_view marker = ".tmp";
    if (pid_dot == std::string::npos || pid_dot < marker.size() ||
        name.compare(pid_dot - marker.size(), marker.size(), marker) != 0)
        return std::nullopt;
    std::uint64_t pid = 0;
    const char* first = name.data() + pid_dot + 1;
    const char* last = name.data() + last_dot;
    const auto [end, error] = std::from_chars(first, last, pid);
    if (error != std::errc() || end != last || first == last)
        return std::nullopt;
    return pid;
}

}  // namespace

std::size_t remove_stale_temporaries(const fs::path& dir) {
    std::size_t removed = 0;
    std::error_code ec;
    const auto self = platform::process_id();
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const auto pid = temporary_writer(it->path().filename().string());
        std::error_code type_error;
        if (!pid || *pid == self || !it->is_regular_file(type_error) ||
            platform::process_running(*pid))
            continue;
        std::error_code remove_error;
        if (fs::remove(it->path(), remove_error))
            ++removed;
    }
    return removed;
}

void set_write_step_observer(WriteStepObserver observer) {
    step_observer = observer;
}

void write_step(std::string_view step) {
    if (step_observer != nullptr)
        step_observer(step);
}

namespace {

// Creates `dir` below its existing ancestors, each new directory 0700; errors name `requested`.
void create_private(const fs::path& dir, const fs::path& requested) {
    std::error_code ec;
    if (dir.empty() || fs::is_directory(dir, ec))
        return;
    if (fs::exists(fs::symlink_status(dir, ec)))
        fail(requested, "create directory", std::make_error_code(std::errc::not_a_directory));
    const fs::path parent = dir.parent_path();
    if (!parent.empty() && parent != dir)
        create_private(parent, requested);
    const bool created = fs::create_directory(dir, ec);
    if (ec)
        fail(requested, "create directory", ec);
    if (created)
        fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
}

}  // namespace

void create_private_directories(const fs::path& dir) {
    create_private(dir, dir);
}

std::optional<std::string> read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        std::error_code ec;
        if (!fs::exists(path, ec)) {
            return std::nullopt;
        }
        fail(path, "read", std::make_error_code(std::errc::permission_denied));
    }
    std::ostringstream content;
    content << in.rdbuf();
    if (in.bad()) {
        fail(path, "read", std::make_error_code(std::errc::io_error));
    }
    return content.str();
}

}  // namespace certenroll::store
