// certenroll-cli: parse the command line, run one subcommand, render its result or its error,
// and exit with the code of the documented table (src/error.cpp).

#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <utility>
#include <vector>

#include "command.hpp"
#include "error.hpp"
#include "platform/platform.hpp"
#include "profile_args.hpp"
#include "render.hpp"
#ifdef CERTENROLL_TEST_SEAMS
#include "test_seams.hpp"
#endif

using namespace certenroll;

int main(int argc, char** argv) {
    // First, before any secret is read: no core dump, not dumpable, for the whole run.
    platform::harden_process();
#ifdef CERTENROLL_TEST_SEAMS
    cli::install_test_seams();
#endif
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
    app.add_flag("-q,--quiet", global.quiet,
                 "Print nothing on success (failures still go to stderr)");
    app.add_option("--audit-log", global.audit_log,
                   "Append one JSON line per enrollment event (policy fetched, request "
                   "submitted, issued, pending, denied, renewed, retrieved, failed) to this file "
                   "(default: $CERTENROLL_AUDIT_LOG)");
    app.add_flag("--audit-syslog", global.audit_syslog,
                 "Also send each audit event to syslog/journald (facility authpriv)");

    std::vector<cli::Command> commands;
    // Each subcommand's options are declared once, when CLI11 starts parsing that subcommand
    // (or earlier, for a profile's defaults), or for all of them (completion, --help-all).
    const auto declare_options = [&commands](const CLI::App* only) {
        for (auto& command : commands) {
            if ((only == nullptr || command.app == only) && command.declare_options) {
                std::exchange(command.declare_options, nullptr)();
            }
        }
    };
    commands = {
        cli::add_policy(app, global),
        cli::add_enroll(app, global),
        cli::add_renew(app, global),
        cli::add_retrieve_pending(app, global),
        cli::add_list(app, global),
        cli::add_diagnose(app, global),
        cli::add_certmonger_helper(app, global),
        cli::add_completion(app, global, [&declare_options]() { declare_options(nullptr); }),
    };
    for (const auto& command : commands) {
        command.app->preparse_callback(
            [&declare_options, sub = command.app](std::size_t) { declare_options(sub); });
    }

    // Parse first, in its own try: help and version exit 0, every other parse error is a usage
    // error with our exit code, never CLI11's own codes.
    // The one look at argv before parsing: a parse that fails has not set global.json, yet a
    // script that passed --json must get its error as a JSON document too.
    const bool json = std::find(argv + 1, argv + argc, std::string("--json")) != argv + argc;
    // certmonger reads a helper's exit code its own way: a bad -e string is "underconfigured".
    const bool certmonger =
        std::find(argv + 1, argv + argc, std::string("certmonger-helper")) != argv + argc;
    const auto render_parse_error = [&](const Error& e) {
        return certmonger ? cli::render_certmonger_helper_error(e) : cli::render_error(e, json);
    };
#ifdef CERTENROLL_TEST_SEAMS
    const bool parse_only = cli::parse_only();
#else
    const bool parse_only = false;
#endif
    try {
        // CLI11 wants the arguments in reverse order when given as a vector.
        std::vector<std::string> args(argv + 1, argv + argc);
        if (!parse_only) {
            args = cli::apply_profile(
                app, std::move(args),
                [&declare_options](const CLI::App& sub) { declare_options(&sub); },
                &global.profile_options, &global.config_file_use);
        }
        std::reverse(args.begin(), args.end());
        app.parse(args);
        if (parse_only)
            return 0;
    } catch (const Error& e) {
        return render_parse_error(e);
    } catch (const CLI::CallForHelp&) {
        std::cout << app.help();
        return 0;
    } catch (const CLI::CallForAllHelp&) {
        declare_options(nullptr);
        std::cout << app.help("", CLI::AppFormatMode::All);
        return 0;
    } catch (const CLI::CallForVersion& e) {
        if (json) {
            std::cout << nlohmann::json{{"name", "certenroll-cli"}, {"version", CERTENROLL_VERSION}}
                             .dump(2)
                      << "\n";
        } else {
            std::cout << e.what() << "\n";
        }
        return 0;
    } catch (const CLI::ParseError& e) {
        return render_parse_error(Error(ErrorKind::Usage, e.what(),
                                        "see 'certenroll-cli --help' or '<subcommand> --help'"));
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
