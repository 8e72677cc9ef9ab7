// certenroll-cli: parse the command line, run one subcommand, render its result or its error,
// and exit with the code of the documented table (src/error.cpp).

#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <string_view>
#include <utility>
#include <vector>

#include "command.hpp"
#include "error.hpp"
#include "profile_args.hpp"
#include "render.hpp"

using namespace certenroll;

int main(int argc, char** argv) {
    // `--version` alone is answered before the option tree is built: building it is most of what
    // the process otherwise does (tests/bench/README.md). Same text as the version flag below.
    if (argc == 2 && std::string_view(argv[1]) == "--version") {
        std::cout << "certenroll-cli " << CERTENROLL_VERSION << "\n";
        return 0;
    }
    CLI::App app{
        "certenroll-cli: enroll for and renew certificates through Microsoft AD CS web enrollment\n"
        "(CEP policy service, MS-XCEP; CES enrollment service, MS-WSTEP).",
        "certenroll-cli"};
    app.set_version_flag("--version", std::string("certenroll-cli ") + CERTENROLL_VERSION);
    app.require_subcommand(1);
    app.fallthrough();
    app.footer("Exit status:\n" + cli::exit_status_help() +
               "\nSee certenroll-cli(1) for configuration, examples and troubleshooting.");

    cli::GlobalOptions global;
    app.add_option("--config", global.config_file, "Configuration file (JSON profiles)");
    app.add_option("--profile", global.profile, "Profile of the configuration file to use");
    app.add_option("--state-dir", global.state_dir,
                   "State directory (pending requests, managed certificates, policy cache)");
    app.add_flag("--json", global.json, "Print one JSON document on stdout, errors included");
    app.add_flag("-v,--verbose", global.verbose,
                 "Explain each step on stderr; twice dumps the SOAP traffic (secrets redacted)");
    app.add_flag("-q,--quiet", global.quiet, "Print nothing on success");
    app.add_option("--audit-log", global.audit_log,
                   "Append one JSON line per enrollment event (policy fetched, request "
                   "submitted, issued, pending, denied, renewed, retrieved, failed) to this file "
                   "(default: $CERTENROLL_AUDIT_LOG)");
    app.add_flag("--audit-syslog", global.audit_syslog,
                 "Also send each audit event to syslog/journald (facility authpriv)");

    // Building a subcommand's options is most of what a run does before its work (CLI11 checks
    // each new option against every one before it; tests/bench/README.md), so only the
    // subcommands named on the command line are built. All of them are when none is named (the
    // top-level help and CLI11's errors list them), for help, and for `completion`, which
    // describes them all.
    using AddCommand = cli::Command (*)(CLI::App&, const cli::GlobalOptions&);
    constexpr std::pair<std::string_view, AddCommand> every_command[] = {
        {"policy", cli::add_policy},     {"enroll", cli::add_enroll},
        {"renew", cli::add_renew},       {"retrieve-pending", cli::add_retrieve_pending},
        {"diagnose", cli::add_diagnose}, {"completion", cli::add_completion},
    };
    const std::vector<std::string_view> words(argv + 1, argv + argc);
    const auto given = [&words](std::string_view word) {
        return std::find(words.begin(), words.end(), word) != words.end();
    };
    const bool build_all =
        given("completion") || given("--help") || given("-h") || given("--help-all") ||
        std::none_of(std::begin(every_command), std::end(every_command),
                     [&given](const auto& command) { return given(command.first); });
    std::vector<cli::Command> commands;
    for (const auto& [name, add] : every_command) {
        if (build_all || given(name))
            commands.push_back(add(app, global));
    }

    // Parse first, in its own try: help and version exit 0, every other parse error is a usage
    // error with our exit code, never CLI11's own codes.
    const bool json = std::find(argv + 1, argv + argc, std::string("--json")) != argv + argc;
    try {
        // CLI11 wants the arguments in reverse order when given as a vector.
        auto args = cli::apply_profile(app, std::vector<std::string>(argv + 1, argv + argc));
        std::reverse(args.begin(), args.end());
        app.parse(args);
    } catch (const Error& e) {
        return cli::render_error(e, json);
    } catch (const CLI::CallForHelp&) {
        std::cout << app.help();
        return 0;
    } catch (const CLI::CallForAllHelp&) {
        std::cout << app.help("", CLI::AppFormatMode::All);
        return 0;
    } catch (const CLI::CallForVersion& e) {
        std::cout << e.what() << "\n";
        return 0;
    } catch (const CLI::ParseError& e) {
        return cli::render_error(Error(ErrorKind::Usage, e.what(),
                                       "see 'certenroll-cli --help' or '<subcommand> --help'"),
                                 json);
    }

    for (const auto& command : commands) {
        if (!command.app->parsed()) {
            continue;
        }
        try {
            return cli::render_output(command.run(), global);
        } catch (const Error& e) {
            return cli::render_error(e, global.json);
        } catch (const std::exception& e) {
            return cli::render_error(
                Error(ErrorKind::Internal, std::string("unexpected failure: ") + e.what(),
                      "please report this with the output of --verbose"),
                global.json);
        }
    }
    return cli::render_error(Error(ErrorKind::Usage, "no subcommand given", "see --help"),
                             global.json);
}
