#include "config/config.hpp"

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "error.hpp"
#include "platform/platform.hpp"

namespace certenroll::config {

namespace {

[[noreturn]] void fail(const std::string& source, const std::string& why) {
    throw Error(ErrorKind::Usage, "configuration " + source + ": " + why,
                "fix the file, or point --config at another one");
}

std::string scalar_text(const nlohmann::json& value, const std::string& key,
                        const std::string& source) {
    if (value.is_string()) {
        return value.get<std::string>();
    }
    if (value.is_number_integer()) {
        return std::to_string(value.get<long long>());
    }
    if (value.is_number()) {
        return value.dump();
    }
    fail(source, "value of \"" + key + "\" must be a string, a number, a boolean or a list");
}

}  // namespace

std::vector<OptionValue> parse_profile(std::string_view document, const std::string& profile,
                                       const std::string& source) {
    nlohmann::json root;
    try {
        root = nlohmann::json::parse(document);
    } catch (const nlohmann::json::exception& e) {
        fail(source, std::string("not valid JSON: ") + e.what());
    }
    if (!root.is_object() || !root.contains("profiles") || !root["profiles"].is_object()) {
        fail(source, "expected an object with \"profiles\"");
    }
    std::string name = profile;
    if (name.empty()) {
        if (!root.contains("default_profile")) {
            return {};
        }
        if (!root["default_profile"].is_string()) {
            fail(source, "\"default_profile\" must be a string");
        }
        name = root["default_profile"].get<std::string>();
    }
    const auto& profiles = root["profiles"];
    if (!profiles.contains(name) || !profiles[name].is_object()) {
        std::string known;
        for (const auto& item : profiles.items()) {
            known += (known.empty() ? "" : ", ") + item.key();
        }
        fail(source,
             "no profile \"" + name + "\" (known: " + (known.empty() ? "none" : known) + ")");
    }
    std::vector<OptionValue> options;
    for (const auto& [key, value] : profiles[name].items()) {
        if (key == "password" || key == "pin" || key == "passphrase" || key == "proxy-password") {
            fail(source, "\"" + key + "\" must not be stored in a configuration file; use \"" +
                             key + "-file\" or the environment");
        }
        if (key.empty() || key.front() == '-' || key.find_first_of(" =") != std::string::npos) {
            fail(source, "invalid option name \"" + key + "\"");
        }
        OptionValue option{key, {}};
        if (value.is_boolean()) {
            if (!value.get<bool>()) {
                continue;  // false = not set
            }
        } else if (value.is_array()) {
            for (const auto& element : value) {
                option.values.push_back(scalar_text(element, key, source));
            }
        } else {
            option.values.push_back(scalar_text(value, key, source));
        }
        options.push_back(std::move(option));
    }
    return options;
}

std::optional<std::filesystem::path> default_config_file() {
    namespace fs = std::filesystem;
    std::vector<fs::path> candidates;
    if (const char* explicit_path = std::getenv("CERTENROLL_CONFIG");
        explicit_path && *explicit_path) {
        return fs::path(explicit_path);
    }
    if (const auto base = platform::user_config_base()) {
        candidates.push_back(*base / "certenroll" / "config.json");
    }
    candidates.push_back(platform::system_config_file());
    for (const auto& candidate : candidates) {
        std::error_code ec;
        if (fs::exists(candidate, ec)) {
            return candidate;
        }
    }
    return std::nullopt;
}

}  // namespace certenroll::config
