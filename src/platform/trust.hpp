#pragma once
/// What the tool believes from disk: state records name commands (deploy hooks) that a root
/// `renew --all` runs, and the audit log is evidence. A file or directory that another user
/// could have written is therefore refused, never used silently.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace certenroll::platform {

/// Who, besides this process's user, may own a trusted directory or file.
enum class DirectoryOwner {
    Us,        ///< state directories and records: the invoking user's own
    UsOrRoot,  ///< the audit log's directory (/var/log/certenroll for a non-root run, say), the
               ///< configuration file (/etc/certenroll/config.json read by a service account)
};

/// Refuses (local Error, exit 9: the message names the path, its owner and mode, the hint the
/// fix) a path that is not a directory, is owned by someone else or is writable by its
/// group or others. With `tighten`, a directory of ours that others may only read or enter (an
/// earlier version's, or one made by hand with the umask) is made 0700. Nothing when `dir` does
/// not exist.
void require_trusted_directory(const std::filesystem::path& dir, std::string_view what,
                               DirectoryOwner owner = DirectoryOwner::Us, bool tighten = false);

/// Whether a final symbolic link at a trusted file's path is followed.
enum class FileLink {
    Refused,   ///< state records, journals: a link is refused, never followed
    Followed,  ///< a file the user named (--config): the file it leads to is checked
};

/// The whole file, or nullopt when it does not exist; refused like a directory when it is not a
/// regular file (with FileLink::Refused, a symbolic link), is owned by someone other than
/// `owner` allows or is writable by its group or others. The check and the read see the same
/// open file.
std::optional<std::string> read_trusted_file(const std::filesystem::path& path,
                                             std::string_view what,
                                             DirectoryOwner owner = DirectoryOwner::Us,
                                             FileLink link = FileLink::Refused);

}  // namespace certenroll::platform
