#pragma once
/// The result of `diagnose`: one finding per checklist step, each pass / warn / fail / skip with
/// what was observed and, where something is wrong, the one thing to do about it. The report
/// decides the exit code and renders itself as a table or as JSON (cmd/ only prints).

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "error.hpp"

namespace certenroll::diagnose {

enum class Status { Pass, Warn, Fail, Skip };

/// "pass", "warn", "fail", "skip" (JSON); "PASS" ... in the table.
std::string_view status_name(Status status);

/// One checklist step.
struct Finding {
    std::string id;     ///< stable, for scripts: "dns", "tls", "kerberos-ticket", "ces", ...
    std::string title;  ///< short, for people: "TLS handshake"
    Status status = Status::Pass;
    std::string evidence;  ///< what was observed (never a secret)
    std::string fix;       ///< one actionable line; empty when there is nothing to do
    /// For Fail: the error category, which decides the exit code.
    std::optional<ErrorKind> kind;
};

Finding passed(std::string id, std::string title, std::string evidence);
Finding warned(std::string id, std::string title, std::string evidence, std::string fix);
Finding failed(std::string id, std::string title, ErrorKind kind, std::string evidence,
               std::string fix);
Finding skipped(std::string id, std::string title, std::string reason);
/// A Fail carrying an Error's message as evidence, its hint as the fix and its kind.
Finding failed(std::string id, std::string title, const Error& error);

/// The whole checklist, in the order the steps ran (from the network up to local state).
struct Report {
    std::vector<Finding> findings;

    /// Fail if any step failed, else Warn if any warned, else Pass (skips do not count).
    Status status() const;
    /// The first failed step: the root cause, since the steps build on one another.
    const Finding* first_failure() const;
    /// 0 without failures (warnings allowed); else the exit code of the first failure's kind.
    int exit_code() const;
    std::size_t count(Status status) const;
    /// The finding with this id (the first), or nullptr.
    const Finding* find(std::string_view id) const;
};

/// The table: one line per step ("FAIL  TLS handshake    <evidence>"), the fix on the next line
/// ("      fix: ..."), then a summary line with the result and the exit code.
std::string render_text(const Report& report);

/// {"status": "fail", "exit_code": 6, "category": "tls", "summary": {...}, "checks": [{"id",
/// "title", "status", "evidence", "fix", "category"}]}; "category" only when something failed.
nlohmann::json to_json(const Report& report);

}  // namespace certenroll::diagnose
