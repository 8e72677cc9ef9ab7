#include "platform/trust.hpp"

#include "error.hpp"
#include "platform/platform.hpp"

namespace certenroll::platform {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void refuse(const fs::path& path, std::string_view what, const Ownership& ownership,
                         std::string_view expected_kind, DirectoryOwner owner) {
    const Ownership found = with_user_names(ownership);
    const std::string shown = "'" + path.string() + "'";
    const bool root_too = owner == DirectoryOwner::UsOrRoot && found.current_uid != "0";
    const std::string owners = root_too ? found.current_user + " or root" : found.current_user;
    std::string message = "refusing " + std::string(what) + " " + shown + ": ";
    std::string hint;
    if (!found.regular_or_directory) {
        message += "not a " + std::string(expected_kind) + " (" + found.mode + ", owner " +
                   found.owner + ")";
        hint = "replace it with a " + std::string(expected_kind) + " of " + owners +
               " that no one else may write (chmod go-w), or move it aside";
    } else {
        message += "owner " + found.owner + ", mode " + found.mode + ", but it must belong to " +
                   owners + " and be writable by no one else (another user could have written it)";
        hint = "check its content; if you trust it, run 'chown " + found.current_uid + " " + shown +
               " && chmod go-w " + shown + "', otherwise move it aside";
    }
    throw Error(ErrorKind::Local, message, hint);
}

bool acceptable_owner(const Ownership& o, DirectoryOwner owner) {
    return o.owned_by_us || (owner == DirectoryOwner::UsOrRoot && o.owned_by_root);
}

}  // namespace

void require_trusted_directory(const fs::path& dir, std::string_view what, DirectoryOwner owner,
                               bool tighten) {
    const auto found = ownership_of(dir, true);
    if (!found)
        return;
    std::error_code ec;
    if (!found->regular_or_directory || !fs::is_directory(dir, ec))
        refuse(dir, what, *found, "directory", owner);
    if (!acceptable_owner(*found, owner) || found->writable_by_others)
        refuse(dir, what, *found, "directory", owner);
    if (tighten && found->owned_by_us && found->readable_by_others)
        make_owner_only(dir);
}

std::optional<std::string> read_trusted_file(const fs::path& path, std::string_view what,
                                             DirectoryOwner owner, FileLink link) {
    const bool follow = link == FileLink::Followed;
    auto read = read_file_with_ownership(path, follow);
    if (!read)
        return std::nullopt;
    std::error_code ec;
    Ownership found = std::move(read->ownership);
    if (fs::is_directory(follow ? fs::status(path, ec) : fs::symlink_status(path, ec)))
        found.regular_or_directory = false;  // a directory where a file belongs: "not a file"
    if (!found.regular_or_directory)
        refuse(path, what, found, "regular file", owner);
    if (!acceptable_owner(found, owner) || found.writable_by_others)
        refuse(path, what, found, "regular file", owner);
    return std::move(read->content);
}

}  // namespace certenroll::platform
