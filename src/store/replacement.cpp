#include "store/replacement.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "error.hpp"
#include "platform/platform.hpp"
#include "platform/trust.hpp"
#include "store/atomic_file.hpp"
#include "store/state.hpp"

namespace certenroll::store {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Replaces `path` with the fully written `staged`; the old file survives as `<path>.prev` when
// `keep_previous`.
// Idempotent: when `staged` is gone the rename already happened.
void switch_in(const fs::path& staged, const fs::path& path, bool keep_previous) {
    std::error_code ec;
    if (!fs::exists(staged, ec))
        return;
    if (keep_previous && fs::exists(path, ec)) {
        const fs::path previous = fs::path(path).concat(".prev");
        fs::remove(previous, ec);
        fs::create_hard_link(path, previous, ec);
        if (ec)
            fs::copy_file(path, previous, fs::copy_options::overwrite_existing, ec);
    }
    fs::rename(staged, path, ec);
    if (ec) {
        throw Error(
            ErrorKind::Local,
            "cannot move " + staged.string() + " to " + path.string() + ": " + ec.message(),
            "fix the permissions; the next run completes the replacement from " + staged.string());
    }
    write_step("switched-in");
}

fs::path journal_path(const fs::path& dir, const std::string& name) {
    return dir / (name + ".json");
}

void run_journal(const fs::path& path) {
    const auto text = platform::read_trusted_file(path, "replacement journal");
    if (!text)
        return;
    json journal;
    try {
        journal = json::parse(*text);
        // [staged, final] or, for a file whose previous version is not kept, [staged, final,
        // false] (journals of earlier versions have pairs only).
        for (const auto& entry : journal.at("renames")) {
            switch_in(entry.at(0).get<std::string>(), entry.at(1).get<std::string>(),
                      entry.size() < 3 || entry.at(2).get<bool>());
        }
    } catch (const json::exception& e) {
        throw Error(ErrorKind::Local,
                    "replacement journal " + path.string() + " is corrupt: " + e.what(),
                    "check the files it names by hand, then remove it");
    }
    std::error_code ec;
    fs::remove(path, ec);
    write_step("journal-removed");
}

}  // namespace

FileSetReplacement::FileSetReplacement(fs::path journal_dir, std::string name)
    : journal_dir_(std::move(journal_dir)), name_(std::move(name)) {
    check_record_name(name_);
}

FileSetReplacement::~FileSetReplacement() {
    if (switching_)
        return;
    std::error_code ec;
    for (const auto& path : written_)
        fs::remove(path, ec);
}

void FileSetReplacement::stage(const fs::path& path, std::string_view data, fs::perms mode,
                               bool keep_previous) {
    if (path.empty())
        return;
    const fs::path staged = fs::path(path).concat(".new");
    const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
    // Before writing beside them: temporaries an earlier, killed run left there (keys among them).
    if (std::find(directories_.begin(), directories_.end(), dir) == directories_.end()) {
        remove_stale_temporaries(dir);
        directories_.push_back(dir);
    }
    write_file_atomic_unsynced_directory(staged, data, mode);
    written_.push_back(staged);
    staged_.push_back({staged, path, keep_previous});
    write_step("staged");
}

void FileSetReplacement::stage_existing(const fs::path& staged, const fs::path& path) {
    if (staged.empty() || path.empty() || staged == path)
        return;
    staged_.push_back({staged, path, true});
}

bool FileSetReplacement::replaces_anything() const {
    return std::any_of(staged_.begin(), staged_.end(), [](const Rename& rename) {
        std::error_code ec;
        return fs::exists(fs::symlink_status(rename.final, ec));
    });
}

void FileSetReplacement::install_new() {
    // From the first rename on, a staged file may be in place under its final name: the
    // destructor must leave the files alone.
    switching_ = true;
    auto directory_of = [](const fs::path& path) {
        return path.has_parent_path() ? path.parent_path() : fs::path(".");
    };
    try {
        std::vector<fs::path> directories;
        for (std::size_t i = 0; i + 1 < staged_.size(); ++i) {
            switch_in(staged_[i].staged, staged_[i].final, false);
            const fs::path dir = directory_of(staged_[i].final);
            if (std::find(directories.begin(), directories.end(), dir) == directories.end())
                directories.push_back(dir);
        }
        for (const auto& dir : directories)
            platform::sync_directory(dir);
        // The commit point: every other file is in place and durable before this one is.
        switch_in(staged_.back().staged, staged_.back().final, false);
    } catch (const Error& error) {
        throw Error(ErrorKind::Local, error.message(),
                    "fix the permissions, then run the same command again");
    }
    platform::sync_directory(directory_of(staged_.back().final));
}

void FileSetReplacement::commit() {
    if (staged_.empty())
        return;
    if (!replaces_anything()) {
        install_new();
        staged_.clear();
        return;
    }
    json renames = json::array();
    for (const auto& rename : staged_) {
        if (rename.keep_previous)
            renames.push_back({rename.staged.string(), rename.final.string()});
        else
            renames.push_back({rename.staged.string(), rename.final.string(), false});
    }
    for (const auto& dir : directories_)
        platform::sync_directory(dir);
    const fs::path journal = journal_path(journal_dir_, name_);
    remove_stale_temporaries(journal_dir_);
    write_file_atomic(journal, json{{"renames", renames}}.dump(2) + "\n");
    switching_ = true;
    write_step("journaled");
    run_journal(journal);
    staged_.clear();
}

std::vector<std::string> complete_interrupted_replacements(const fs::path& journal_dir) {
    std::vector<std::string> completed;
    remove_stale_temporaries(journal_dir);  // a journal whose writing was interrupted
    std::error_code ec;
    std::vector<fs::path> journals;
    for (fs::directory_iterator it(journal_dir, ec), end; !ec && it != end; it.increment(ec)) {
        if (it->path().extension() == ".json")
            journals.push_back(it->path());
    }
    for (const auto& path : journals) {
        run_journal(path);
        completed.push_back(path.stem().string());
    }
    return completed;
}

}  // namespace certenroll::store
