#pragma once
// Configuration profiles become command-line defaults: their options are inserted into the
// argument list unless the user typed them, so CLI11 validates them like typed flags.

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace certenroll::cli {

/// `args` without the program name. Returns them with the selected profile's options added.
std::vector<std::string> apply_profile(CLI::App& app, std::vector<std::string> args);

}  // namespace certenroll::cli
