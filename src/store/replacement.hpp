#pragma once
/// Replacing a set of files (key, certificate, chain, PFX) as one unit, surviving a crash.
///
/// Every new file is written completely beside its target first. A journal listing the renames is
/// then written, the renames are done, and the journal is removed. A crash before the journal
/// leaves the old set untouched; a crash after it is rolled forward by
/// complete_interrupted_replacements() on the next run, so a reader never keeps a mix of old and
/// new files. Each replaced file's previous version is kept as `<file>.prev`.
///
/// A first installation (none of the targets exists) has no old set to mix with the new, and no
/// journal: the files are switched in in the order staged, and the last one staged (the state
/// record describing the others) only once every other is in place and durable. A crash before
/// it leaves complete new files and no record, which the same command run again replaces (with a
/// journal then); a crash after it leaves the whole set. Two `fsync` calls fewer per enrollment.

#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace certenroll::store {

class FileSetReplacement {
  public:
    /// `journal_dir` is where the journal lives while renames are in flight; `name` identifies the
    /// set (e.g. the managed-certificate name) and must be a valid record name.
    FileSetReplacement(std::filesystem::path journal_dir, std::string name);
    /// Without a commit() (a later stage() failed, e.g. the disk is full), removes the `.new`
    /// files stage() wrote, so no partial set is left behind; stage_existing() files stay.
    ~FileSetReplacement();
    FileSetReplacement(const FileSetReplacement&) = delete;
    FileSetReplacement& operator=(const FileSetReplacement&) = delete;

    /// Writes `data` to `<path>.new` with `mode`, to be switched in by commit(). What it
    /// replaces is kept as `<path>.prev` unless `keep_previous` is false (a state record: the
    /// previous one describes files that are gone). Stage the record describing the set last:
    /// in a first installation it is the commit point.
    void stage(const std::filesystem::path& path, std::string_view data,
               std::filesystem::perms mode, bool keep_previous = true);
    /// Adds a file that is already written (e.g. a key generated before the request went out).
    void stage_existing(const std::filesystem::path& staged, const std::filesystem::path& path);

    /// Switches every staged file in. Throws a local Error if a rename fails; the journal then
    /// stays, and the next complete_interrupted_replacements() finishes the job.
    void commit();

  private:
    bool replaces_anything() const;
    void install_new();  // commit() of a first installation: no journal (see above)

    std::filesystem::path journal_dir_;
    std::string name_;
    struct Rename {
        std::filesystem::path staged;
        std::filesystem::path final;
        bool keep_previous = true;
    };
    std::vector<Rename> staged_;
    std::vector<std::filesystem::path> written_;  // the `.new` files stage() wrote
    // Directories stage() wrote into: cleared of stale temporaries before the first write, and
    // synced once each by commit() (not once per file) before the journal names their files.
    std::vector<std::filesystem::path> directories_;
    // Set once the switch has begun (journaled, or a first installation's first rename): from
    // then on the destructor keeps the files.
    bool switching_ = false;
};

/// Rolls forward replacements a crash interrupted (and removes journals a crash left half-written);
/// returns the names of the sets completed.
std::vector<std::string> complete_interrupted_replacements(
    const std::filesystem::path& journal_dir);

}  // namespace certenroll::store
