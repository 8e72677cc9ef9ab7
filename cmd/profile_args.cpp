#include "profile_args.hpp"

#include <algorithm>
#include <cstdlib>
#include <optional>

#include "config/config.hpp"
#include "error.hpp"
#include "platform/trust.hpp"

namespace certenroll::cli {

namespace {

// The value of `--name VALUE` or `--name=VALUE` among args[0, end), or empty.
std::string find_value(const std::vector<std::string>& args, std::size_t end,
                       const std::string& name) {
    for (std::size_t i = 0; i < end; ++i) {
        if (args[i] == name && i + 1 < end) {
            return args[i + 1];
        }
        if (args[i].rfind(name + "=", 0) == 0) {
            return args[i].substr(name.size() + 1);
        }
    }
    return {};
}

bool typed(const std::vector<std::string>& args, std::size_t begin, const std::string& name) {
    return std::any_of(
        args.begin() + static_cast<std::ptrdiff_t>(begin), args.end(),
        [&](const std::string& a) { return a == name || a.rfind(name + "=", 0) == 0; });
}

}  // namespace

std::vector<std::string> apply_profile(CLI::App& app, std::vector<std::string> args,
                                       const std::function<void(const CLI::App&)>& declare_options,
                                       std::vector<std::string>* added, ConfigFileUse* use) {
    std::size_t sub_index = args.size();
    CLI::App* sub = nullptr;
    for (std::size_t i = 0; i < args.size() && !sub; ++i) {
        for (auto* candidate : app.get_subcommands({})) {
            if (candidate->get_name() == args[i]) {
                sub_index = i;
                sub = candidate;
                break;
            }
        }
    }
    if (!sub || typed(args, 0, "--help") || typed(args, 0, "-h")) {
        return args;
    }
    const std::string explicit_file = find_value(args, sub_index, "--config");
    std::string profile = find_value(args, sub_index, "--profile");
    if (const char* from_env = std::getenv("CERTENROLL_PROFILE"); profile.empty() && from_env) {
        profile = from_env;
    }
    std::string file = explicit_file;
    if (file.empty()) {
        const auto found = config::default_config_file();
        if (!found) {
            if (!profile.empty()) {
                throw Error(ErrorKind::Usage,
                            "--profile " + profile + " given but no configuration file found",
                            "pass --config FILE or create ~/.config/certenroll/config.json");
            }
            return args;
        }
        file = found->string();
    }
    if (use)
        use->path = file;
    // Checked on the descriptor read: owner this user or root (/etc/certenroll/config.json), no
    // one else may write it. A link the user named is followed; the file it leads to is checked.
    std::optional<std::string> text;
    try {
        text = platform::read_trusted_file(file, "configuration file",
                                           platform::DirectoryOwner::UsOrRoot,
                                           platform::FileLink::Followed);
    } catch (const Error& refused) {
        if (!use || sub->get_name() != "diagnose")
            throw;
        use->refusal = refused;  // diagnose reports it and checks the rest without the file
        return args;
    }
    if (!text) {
        throw Error(ErrorKind::Usage, "cannot read configuration file " + file,
                    "check the path given to --config or $CERTENROLL_CONFIG");
    }

    declare_options(*sub);
    std::vector<std::string> global_defaults;
    std::vector<std::string> sub_defaults;
    // A key no subcommand knows is a typo ("urll") that would otherwise be ignored silently.
    const auto known_anywhere = [&](const std::string& flag) {
        if (app.get_option_no_throw(flag))
            return true;
        for (auto* candidate : app.get_subcommands({})) {
            declare_options(*candidate);
            if (candidate->get_option_no_throw(flag))
                return true;
        }
        return false;
    };
    for (const auto& option : config::parse_profile(*text, profile, file)) {
        const std::string flag = "--" + option.name;
        if (!sub->get_option_no_throw(flag) && !known_anywhere(flag)) {
            throw Error(ErrorKind::Usage,
                        "configuration " + file + ": unknown option \"" + option.name + "\"" +
                            (profile.empty() ? "" : " in profile \"" + profile + "\""),
                        "use the long name of a command-line option without its dashes, e.g. "
                        "\"url\" for --url (see 'certenroll-cli <subcommand> --help')");
        }
        std::vector<std::string>* target = nullptr;
        if (sub->get_option_no_throw(flag) && !typed(args, sub_index + 1, flag)) {
            target = &sub_defaults;
        } else if (app.get_option_no_throw(flag) && !typed(args, 0, flag)) {
            target = &global_defaults;
        }
        if (!target) {
            continue;  // an option of another subcommand, or one typed on the command line
        }
        if (added)
            added->push_back(flag);
        if (option.values.empty()) {
            target->push_back(flag);
        }
        for (const auto& value : option.values) {
            target->push_back(flag);
            target->push_back(value);
        }
    }
    args.insert(args.begin() + static_cast<std::ptrdiff_t>(sub_index) + 1, sub_defaults.begin(),
                sub_defaults.end());
    args.insert(args.begin() + static_cast<std::ptrdiff_t>(sub_index), global_defaults.begin(),
                global_defaults.end());
    return args;
}

}  // namespace certenroll::cli
