#include "store/atomic_file.hpp"

#include <fstream>
#include <sstream>

#include "error.hpp"
#include "platform/platform.hpp"

namespace certenroll::store {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const fs::path& path, std::string_view action, std::error_code error) {
    throw Error(ErrorKind::Local,
                "cannot " + std::string(action) + " " + path.string() + ": " + error.message(),
                "check that the directory exists and is writable by this user");
}

}  // namespace

void write_file_atomic(const fs::path& path, std::string_view data, fs::perms mode) {
    const fs::path parent = path.has_parent_path() ? path.parent_path() : fs::path(".");
    std::error_code ec;
    if (!fs::exists(parent, ec))
        create_private_directories(parent);
    const fs::path temporary = fs::path(path).concat(platform::temporary_suffix());
    try {
        platform::write_new_file_durably(temporary, data, mode);
        platform::replace_file(temporary, path);
    } catch (...) {
        fs::remove(temporary, ec);
        throw;
    }
    platform::sync_directory(parent);
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
