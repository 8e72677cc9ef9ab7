#pragma once
// How a subcommand plugs into main: it adds itself (name and description) to the app and hands
// back how to declare its options and a `run` that main calls only after parsing succeeded
// (parse first, run after).

#include <CLI/CLI.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "error.hpp"

namespace certenroll::cli {

/// The configuration file of this run, for diagnose's config-file check.
struct ConfigFileUse {
    std::string path;              ///< the file read (or refused); empty without one
    std::optional<Error> refusal;  ///< diagnose only: why it was not used (others stop there)
};

/// Options every subcommand sees.
struct GlobalOptions {
    std::string config_file;
    std::string profile;
    std::string state_dir;
    bool json = false;
    int verbose = 0;
    bool quiet = false;
    std::string audit_log;  ///< empty: $CERTENROLL_AUDIT_LOG, else no audit file
    bool audit_syslog = false;
    /// The options the configuration profile supplied ("--url", ...), not typed.
    std::vector<std::string> profile_options;
    ConfigFileUse config_file_use;
};

/// What a subcommand produced: the same facts for people (text) and for scripts (json).
struct Output {
    int exit_code = 0;
    std::string text;     ///< printed on stdout unless --json or --quiet (success only: see errors)
    nlohmann::json json;  ///< printed on stdout with --json
    std::vector<std::string> warnings;  ///< printed on stderr, also with --json (and in it)
    /// Failures reported inside a result (a certificate of renew, a request of
    /// retrieve-pending --all, diagnose's root cause): printed on stderr in every mode, --quiet
    /// and --json included (cron mails and journald logs stderr), one error_text each.
    std::vector<std::string> errors;
    /// What a --quiet run must still say although it is no failure: a request sent in this run
    /// went pending CA approval (exit 3). Printed on stderr with --quiet only (the text says it
    /// otherwise); a request that was pending before and still is stays quiet, so that cron does
    /// not mail the same news every quarter of an hour.
    std::vector<std::string> notices;
};

struct Command {
    CLI::App* app = nullptr;
    /// Adds the subcommand's options to `app`; main calls it once, and only for the subcommand
    /// being run (or for all, for completion scripts and --help-all): declaring every option of
    /// every subcommand cost about 3 M instructions per run, in CLI11's checks for clashing names.
    std::function<void()> declare_options;
    std::function<Output()> run;
};

Command add_policy(CLI::App& app, const GlobalOptions& global);
Command add_enroll(CLI::App& app, const GlobalOptions& global);
Command add_renew(CLI::App& app, const GlobalOptions& global);
Command add_retrieve_pending(CLI::App& app, const GlobalOptions& global);
Command add_diagnose(CLI::App& app, const GlobalOptions& global);
Command add_certmonger_helper(CLI::App& app, const GlobalOptions& global);
/// An error of certmonger-helper's arguments, rendered for certmonger: the reason on stdout and
/// stderr, certmonger's exit code (4, underconfigured) instead of the table's.
int render_certmonger_helper_error(const Error& error);
Command add_list(CLI::App& app, const GlobalOptions& global);
/// `declare_all` declares the options of every subcommand (the script completes them all).
Command add_completion(CLI::App& app, const GlobalOptions& global,
                       std::function<void()> declare_all);

}  // namespace certenroll::cli
