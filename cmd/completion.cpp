// `completion bash|zsh|fish`: shell completion scripts generated from the option definitions
// themselves, so they cannot drift from what the parser accepts. packaging/completions/ holds
// their output; tests/packaging checks it is up to date.
// The names the user has (templates of the cached policies, managed certificates, pending request
// IDs) cannot be in a script: the scripts ask `completion --names KIND` for them as they complete,
// passing on a --state-dir typed on the line.

#include <algorithm>
#include <map>
#include <sstream>

#include "common_options.hpp"
#include "flows/inventory.hpp"

namespace certenroll::cli {

namespace {

// What follows an option on the command line, for completing its value.
enum class ValueKind { None, File, Directory, Choice, Text, Template };

// What `completion --names` lists, and which positional argument takes which.
const char* const kNameKinds[] = {"templates", "certificates", "requests"};
const std::map<std::string, std::string>& positional_names() {
    static const std::map<std::string, std::string> kinds = {{"renew", "certificates"},
                                                             {"retrieve-pending", "requests"}};
    return kinds;
}

struct OptionInfo {
    std::string long_name;   // without dashes
    std::string short_name;  // without the dash, may be empty
    std::string description;
    ValueKind kind = ValueKind::Text;
    std::vector<std::string> choices;
};

struct SubcommandInfo {
    std::string name;
    std::string description;
    std::vector<OptionInfo> options;
};

const std::map<std::string, std::vector<std::string>>& choices_by_option() {
    static const std::map<std::string, std::vector<std::string>> choices = {
        {"auth", {"auto", "kerberos", "password", "certificate", "anonymous"}},
        {"format", {"pem", "der", "pfx", "p7b", "p7b-der"}},
        {"key-type",
         {"rsa", "rsa:3072", "rsa:4096", "ec", "ec:P-384", "ec:P-521", "ml-dsa-44", "ml-dsa-65",
          "ml-dsa-87"}},
        {"signature", {"rsa-pss"}},
        {"key-backend", {"software", "pkcs11", "tpm"}},
        {"proxy-auth", {"basic", "ntlm", "negotiate", "any"}},
    };
    return choices;
}

ValueKind kind_of(const CLI::Option& option, const std::string& name) {
    if (option.get_expected_max() == 0) {
        return ValueKind::None;  // a flag
    }
    if (choices_by_option().count(name) != 0)
        return ValueKind::Choice;
    if (name == "template")
        return ValueKind::Template;
    if (name == "state-dir" || name == "out-dir")
        return ValueKind::Directory;
    static const char* const files[] = {"config",      "cert",       "key",
                                        "client-cert", "client-key", "ca-bundle",
                                        "keytab",      "audit-log",  "csr"};
    for (const char* file : files) {
        if (name == file)
            return ValueKind::File;
    }
    const bool file_like = name.ends_with("-file") || name.ends_with("-out");
    return file_like ? ValueKind::File : ValueKind::Text;
}

std::vector<OptionInfo> options_of(const CLI::App& app) {
    std::vector<OptionInfo> options;
    for (const auto* option : app.get_options()) {
        if (!option->nonpositional() || option->get_lnames().empty())
            continue;
        OptionInfo info;
        info.long_name = option->get_lnames().front();
        if (!option->get_snames().empty())
            info.short_name = option->get_snames().front();
        info.description = option->get_description();
        info.kind = kind_of(*option, info.long_name);
        if (info.kind == ValueKind::Choice)
            info.choices = choices_by_option().at(info.long_name);
        options.push_back(std::move(info));
    }
    return options;
}

std::string join(const std::vector<std::string>& words, const std::string& separator = " ") {
    std::string out;
    for (const auto& word : words)
        out += (out.empty() ? "" : separator) + word;
    return out;
}

// Single-quoted for the shells; descriptions never contain newlines.
std::string quoted(const std::string& text) {
    std::string out = "'";
    for (char c : text)
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

std::string bash_script(const std::vector<OptionInfo>& globals,
                        const std::vector<SubcommandInfo>& subcommands) {
    std::ostringstream out;
    std::vector<std::string> names;
    for (const auto& sub : subcommands)
        names.push_back(sub.name);
    auto words = [](const std::vector<OptionInfo>& options) {
        std::vector<std::string> list;
        for (const auto& o : options) {
            list.push_back("--" + o.long_name);
            if (!o.short_name.empty())
                list.push_back("-" + o.short_name);
        }
        return join(list);
    };
    // An option's value is completed the same way in every subcommand that has it.
    std::map<std::string, const OptionInfo*> by_name;
    for (const auto& o : globals)
        by_name.emplace(o.long_name, &o);
    for (const auto& sub : subcommands) {
        for (const auto& o : sub.options)
            by_name.emplace(o.long_name, &o);
    }
    out << "# bash completion for certenroll-cli (generated by 'certenroll-cli completion bash')\n"
        << "# The names of templates, certificates and requests, from the state directory.\n"
        << "_certenroll_cli_names() {\n"
        << "    local i state=()\n"
        << "    for ((i = 1; i < COMP_CWORD - 1; i++)); do\n"
        << "        [[ \"${COMP_WORDS[i]}\" == --state-dir ]] && "
           "state=(--state-dir \"${COMP_WORDS[i+1]}\")\n"
        << "    done\n"
        << "    \"${COMP_WORDS[0]}\" \"${state[@]}\" completion --names \"$1\" 2>/dev/null\n"
        << "}\n"
        << "_certenroll_cli() {\n"
        << "    local cur prev sub=\"\" i\n"
        << "    cur=\"${COMP_WORDS[COMP_CWORD]}\"\n"
        << "    prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n"
        << "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
        << "        case \"${COMP_WORDS[i]}\" in\n"
        << "            " << join(names, "|") << ") sub=\"${COMP_WORDS[i]}\"; break;;\n"
        << "        esac\n"
        << "    done\n"
        << "    case \"$prev\" in\n";
    for (const auto& [name, o] : by_name) {
        switch (o->kind) {
            case ValueKind::File:
                out << "        --" << name
                    << ") COMPREPLY=($(compgen -f -- \"$cur\")); return;;\n";
                break;
            case ValueKind::Directory:
                out << "        --" << name
                    << ") COMPREPLY=($(compgen -d -- \"$cur\")); return;;\n";
                break;
            case ValueKind::Choice:
                out << "        --" << name << ") COMPREPLY=($(compgen -W "
                    << quoted(join(o->choices)) << " -- \"$cur\")); return;;\n";
                break;
            case ValueKind::Text:
                out << "        --" << name << ") return;;\n";
                break;
            case ValueKind::Template:
                out << "        --" << name
                    << ") COMPREPLY=($(compgen -W \"$(_certenroll_cli_names templates)\" -- "
                       "\"$cur\")); return;;\n";
                break;
            case ValueKind::None:
                break;
        }
    }
    out << "    esac\n"
        << "    case \"$sub\" in\n";
    for (const auto& sub : subcommands) {
        const auto positional = positional_names().find(sub.name);
        if (positional != positional_names().end()) {
            out << "        " << sub.name << ") if [[ \"$cur\" == -* ]]; then\n"
                << "               COMPREPLY=($(compgen -W " << quoted(words(sub.options))
                << " -- \"$cur\"))\n"
                << "           else\n"
                << "               COMPREPLY=($(compgen -W \"$(_certenroll_cli_names "
                << positional->second << ")\" -- \"$cur\"))\n"
                << "           fi;;\n";
            continue;
        }
        out << "        " << sub.name << ") COMPREPLY=($(compgen -W " << quoted(words(sub.options))
            << " -- \"$cur\"));;\n";
    }
    out << "        *) if [[ \"$cur\" == -* ]]; then\n"
        << "               COMPREPLY=($(compgen -W " << quoted(words(globals)) << " -- \"$cur\"))\n"
        << "           else\n"
        << "               COMPREPLY=($(compgen -W " << quoted(join(names)) << " -- \"$cur\"))\n"
        << "           fi;;\n"
        << "    esac\n"
        << "}\n"
        << "complete -F _certenroll_cli certenroll-cli\n";
    return out.str();
}

std::string zsh_argument(const OptionInfo& o) {
    std::string description = o.description;
    for (auto& c : description) {
        if (c == '[' || c == ']')
            c = '(';
        if (c == ':')
            c = ' ';
    }
    std::string value;
    switch (o.kind) {
        case ValueKind::None:
            break;
        case ValueKind::File:
            value = ":file:_files";
            break;
        case ValueKind::Directory:
            value = ":directory:_files -/";
            break;
        case ValueKind::Choice:
            value = ":value:(" + join(o.choices) + ")";
            break;
        case ValueKind::Text:
            value = ":value: ";
            break;
        case ValueKind::Template:
            value = ":template:_certenroll_cli_names templates";
            break;
    }
    return quoted("--" + o.long_name + "[" + description + "]" + value);
}

std::string zsh_script(const std::vector<OptionInfo>& globals,
                       const std::vector<SubcommandInfo>& subcommands) {
    std::ostringstream out;
    out << "#compdef certenroll-cli\n"
        << "# zsh completion for certenroll-cli (generated by 'certenroll-cli completion zsh')\n"
        << "# The names of templates, certificates and requests, from the state directory.\n"
        << "_certenroll_cli_names() {\n"
        << "    local -a names state\n"
        << "    local i=${words[(i)--state-dir]}\n"
        << "    (( i < CURRENT - 1 )) && state=(--state-dir ${words[i+1]})\n"
        << "    names=(${(f)\"$(${words[1]} $state completion --names $1 2>/dev/null)\"})\n"
        << "    compadd -a names\n"
        << "}\n"
        << "_certenroll_cli() {\n"
        << "    local -a commands\n"
        << "    commands=(\n";
    for (const auto& sub : subcommands) {
        out << "        " << quoted(sub.name + ":" + sub.description) << "\n";
    }
    out << "    )\n"
        << "    local i sub\n"
        << "    for ((i = 2; i < CURRENT; i++)); do\n"
        << "        if (( ${commands[(I)${words[i]}:*]} )); then sub=${words[i]}; break; fi\n"
        << "    done\n"
        << "    case $sub in\n";
    for (const auto& sub : subcommands) {
        out << "        " << sub.name << ")\n            _arguments";
        for (const auto& o : sub.options)
            out << " \\\n                " << zsh_argument(o);
        out << ";;\n";
    }
    out << "        *)\n            _arguments";
    for (const auto& o : globals)
        out << " \\\n                " << zsh_argument(o);
    out << " \\\n                '1:command:->command' '*::arg:->args'\n"
        << "            [[ $state == command ]] && _describe 'command' commands;;\n"
        << "    esac\n"
        << "}\n"
        << "_certenroll_cli \"$@\"\n";
    return out.str();
}

std::string fish_option(const OptionInfo& o, const std::string& condition) {
    std::string line = "complete -c certenroll-cli -n " + quoted(condition) + " -l " + o.long_name;
    if (!o.short_name.empty())
        line += " -s " + o.short_name;
    switch (o.kind) {
        case ValueKind::None:
            line += " -f";
            break;
        case ValueKind::File:
            line += " -r -F";
            break;
        case ValueKind::Directory:
            line += " -r -a '(__fish_complete_directories)'";
            break;
        case ValueKind::Choice:
            line += " -r -f -a " + quoted(join(o.choices));
            break;
        case ValueKind::Text:
            line += " -r -f";
            break;
        case ValueKind::Template:
            line += " -r -f -a '(certenroll-cli completion --names templates 2>/dev/null)'";
            break;
    }
    return line + " -d " + quoted(o.description) + "\n";
}

std::string fish_script(const std::vector<OptionInfo>& globals,
                        const std::vector<SubcommandInfo>& subcommands) {
    std::ostringstream out;
    out << "# fish completion for certenroll-cli (generated by 'certenroll-cli completion fish')\n"
        << "complete -c certenroll-cli -f\n";
    for (const auto& sub : subcommands) {
        out << "complete -c certenroll-cli -n '__fish_use_subcommand' -a " << sub.name << " -d "
            << quoted(sub.description) << "\n";
    }
    for (const auto& o : globals)
        out << fish_option(o, "__fish_use_subcommand");
    for (const auto& sub : subcommands) {
        for (const auto& o : sub.options) {
            out << fish_option(o, "__fish_seen_subcommand_from " + sub.name);
        }
        if (const auto positional = positional_names().find(sub.name);
            positional != positional_names().end())
            out << "complete -c certenroll-cli -n "
                << quoted("__fish_seen_subcommand_from " + sub.name)
                << " -f -a '(certenroll-cli completion --names " << positional->second
                << " 2>/dev/null)'\n";
    }
    return out.str();
}

// One name a line, for the scripts; nothing (and exit 0) when there are none or the state
// directory cannot be read, since a completion must never print an error into the command line.
Output names_output(const GlobalOptions& global, const std::string& kind) {
    if (std::find(std::begin(kNameKinds), std::end(kNameKinds), kind) == std::end(kNameKinds)) {
        throw Error(ErrorKind::Usage, "unknown --names '" + kind + "'",
                    "use templates, certificates or requests");
    }
    std::vector<std::string> names;
    try {
        const store::StateDirectory state(global.state_dir.empty()
                                              ? store::default_state_dir()
                                              : std::filesystem::path(global.state_dir));
        if (kind == "templates")
            names = flows::cached_template_names(state);
        else if (kind == "certificates")
            names = state.certificate_names();
        else
            names = flows::pending_request_ids(state);
    } catch (const Error&) {
        names.clear();
    }
    Output output;
    output.text = join(names, "\n");
    output.json = {{"status", "ok"}, {"names", names}};
    return output;
}

}  // namespace

Command add_completion(CLI::App& app, const GlobalOptions& global,
                       std::function<void()> declare_all) {
    auto shell = std::make_shared<std::string>();
    auto names = std::make_shared<std::string>();
    auto* sub =
        app.add_subcommand("completion", "Print a shell completion script (bash, zsh, fish)");
    return {sub,
            [sub, shell, names]() {
                sub->add_option("shell", *shell, "bash, zsh or fish");
                sub->add_option("--names", *names,
                                "Print the names the scripts complete, one a line: templates "
                                "(of the cached policies), certificates (managed) or requests "
                                "(pending)");
            },
            [shell, names, &app, &global, declare_all]() {
                if (!names->empty())
                    return names_output(global, *names);
                declare_all();
                std::vector<SubcommandInfo> subcommands;
                for (auto* s : app.get_subcommands({})) {
                    subcommands.push_back({s->get_name(), s->get_description(), options_of(*s)});
                }
                const auto globals = options_of(app);
                Output output;
                if (*shell == "bash") {
                    output.text = bash_script(globals, subcommands);
                } else if (*shell == "zsh") {
                    output.text = zsh_script(globals, subcommands);
                } else if (*shell == "fish") {
                    output.text = fish_script(globals, subcommands);
                } else {
                    throw Error(
                        ErrorKind::Usage,
                        shell->empty() ? "no shell given" : "unknown shell '" + *shell + "'",
                        "use bash, zsh or fish");
                }
                output.json = {{"status", "ok"}, {"shell", *shell}, {"script", output.text}};
                return output;
            }};
}

}  // namespace certenroll::cli
