#pragma once
// Configuration profiles become command-line defaults: their options are inserted into the
// argument list unless the user typed them, so CLI11 validates them like typed flags.

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

#include "command.hpp"

namespace certenroll::cli {

/// `args` without the program name. Returns them with the selected profile's options added.
/// `declare_options` declares the options of the subcommand found in `args` (see Command).
/// `added`, when given, receives the flags ("--url") the profile supplied: commands that act on
/// records treat those as defaults below each record's own settings, not as overrides.
/// The file is read only if no one but its owner (this user or root) may write it: it names
/// URLs, CA bundles and hooks. Another is refused (local Error, exit 9) with the fix, except for
/// `diagnose`, which runs without it and reports the refusal (in `use`) as a failed check.
std::vector<std::string> apply_profile(CLI::App& app, std::vector<std::string> args,
                                       const std::function<void(const CLI::App&)>& declare_options,
                                       std::vector<std::string>* added = nullptr,
                                       ConfigFileUse* use = nullptr);

}  // namespace certenroll::cli
