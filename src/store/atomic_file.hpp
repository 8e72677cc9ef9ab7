#pragma once
/// Files that must never be seen half-written: keys, certificates, state records.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace certenroll::store {

/// Writes `data` to a temporary file beside `path` with `mode`, fsyncs it, renames it over `path`
/// and fsyncs the directory. Readers see the old content or the new, never a mix. Creates missing
/// parent directories (0700). Throws a local Error naming the path and the system error.
void write_file_atomic(const std::filesystem::path& path, std::string_view data,
                       std::filesystem::perms mode = std::filesystem::perms::owner_read |
                                                     std::filesystem::perms::owner_write);

/// Creates `dir` and its missing parents, each new one 0700 (private keys live below the state
/// directory); directories that already exist keep their mode. Throws a local Error.
void create_private_directories(const std::filesystem::path& dir);

/// The whole file, or nullopt when it does not exist; other failures throw a local Error.
std::optional<std::string> read_file(const std::filesystem::path& path);

}  // namespace certenroll::store
