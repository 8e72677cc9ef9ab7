#pragma once
/// Files that must never be seen half-written: keys, certificates, state records.

#include <cstddef>
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

/// write_file_atomic() without the directory fsync: the new name is durable only once the caller
/// has called platform::sync_directory() on the parent. Lets a set of files written into one
/// directory share one directory sync (each fsync costs the kernel a journal commit).
void write_file_atomic_unsynced_directory(
    const std::filesystem::path& path, std::string_view data,
    std::filesystem::perms mode = std::filesystem::perms::owner_read |
                                  std::filesystem::perms::owner_write);

/// write_file_atomic() without any fsync: atomic for readers and against a killed process, but
/// after a power failure the file may be missing or empty. Only for files whose loss is harmless
/// and whose readers take an empty or unreadable file for a missing one (the key-attempt note,
/// the policy cache).
void write_file_atomic_unsynced(const std::filesystem::path& path, std::string_view data,
                                std::filesystem::perms mode = std::filesystem::perms::owner_read |
                                                              std::filesystem::perms::owner_write);

/// Creates `dir` and its missing parents, each new one 0700 (private keys live below the state
/// directory); directories that already exist keep their mode. Throws a local Error.
void create_private_directories(const std::filesystem::path& dir);

/// The whole file, or nullopt when it does not exist; other failures throw a local Error.
std::optional<std::string> read_file(const std::filesystem::path& path);

/// Removes the temporaries write_file_atomic() left in `dir` when the process writing them died
/// (`<file>.tmp.<pid>.<hex>` whose PID no longer runs, e.g. after kill -9): they may hold a
/// private key. Temporaries of running processes stay. Best effort; returns how many went.
std::size_t remove_stale_temporaries(const std::filesystem::path& dir);

/// Test seam: `observer` is called at each step of writing files ("temporary-written" before a
/// rename, "journaled", "switched-in", "replaced", ...), so a test build can stop the process
/// at any one of them (cmd/test_seams.cpp). Nothing sets it in the shipped binary.
using WriteStepObserver = void (*)(std::string_view step);
void set_write_step_observer(WriteStepObserver observer);
/// Reports `step` to the observer, if any.
void write_step(std::string_view step);

}  // namespace certenroll::store
