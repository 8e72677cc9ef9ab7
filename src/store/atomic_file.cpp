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
    if (!fs::exists(parent, ec)) {
        fs::create_directories(parent, ec);
        if (ec) {
            fail(parent, "create directory", ec);
        }
        fs::permissions(parent, fs::perms::owner_all, ec);
    }
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
