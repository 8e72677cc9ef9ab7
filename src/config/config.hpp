#pragma once
/// Configuration profiles: named sets of option defaults in a JSON file, so cron jobs and
/// pipelines do not repeat URLs, users and paths on every command line.
///
///   {"default_profile": "corp",
///    "profiles": {"corp": {"url": "https://cep.example.com/.../CEP", "username": "EXAMPLE\\svc",
///                          "password-file": "/etc/certenroll/pw", "ca-bundle":
///                          "/etc/ssl/corp.pem", "dns": ["a.example.com", "b.example.com"],
///                          "refresh-policy": true}}}
///
/// Keys are long option names without dashes; a flag given on the command line wins.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace certenroll::config {

/// One option default: `--name value` (repeated for lists); a `true` boolean is a bare flag.
struct OptionValue {
    std::string name;
    std::vector<std::string> values;  ///< empty for a flag
};

/// The options of profile `profile` (or the file's default_profile when empty) in the JSON
/// text `document`. Unknown profile, bad JSON, a nested object or a secret stored inline
/// ("password") is a usage error naming the file.
std::vector<OptionValue> parse_profile(std::string_view document, const std::string& profile,
                                       const std::string& source);

/// The configuration file used when --config is not given: $CERTENROLL_CONFIG, else
/// $XDG_CONFIG_HOME/certenroll/config.json (or ~/.config/...), else /etc/certenroll/config.json,
/// whichever exists first; nullopt when none does.
std::optional<std::filesystem::path> default_config_file();

}  // namespace certenroll::config
