#pragma once
// Turning results and errors into text on stdout/stderr or one JSON document on stdout.

#include <string>
#include <vector>

#include "command.hpp"
#include "error.hpp"

namespace certenroll::cli {

/// Prints the output per the global options and returns its exit code.
int render_output(const Output& output, const GlobalOptions& global);
/// Whether render_output prints Output::json (--json), or Output::text (neither --json nor
/// --quiet). A command whose output grows with its input (renew --all) builds only that one.
bool prints_json(const GlobalOptions& global);
bool prints_text(const GlobalOptions& global);
/// The error as printed on stderr: "certenroll-cli: <kind> error: [<item>: ]<message>", then the
/// hint on a line of its own.
std::string error_text(const Error& error, const std::string& item = "");
/// Prints the error (stderr, or JSON on stdout with --json) and returns its exit code.
int render_error(const Error& error, bool json);
/// Rows as a text table: columns as wide as their widest cell plus two spaces.
std::string render_table(const std::vector<std::vector<std::string>>& rows);
/// The exit-code table as help text.
std::string exit_status_help();
/// The JSON object describing an error, as printed with --json.
nlohmann::json error_json(const Error& error);

}  // namespace certenroll::cli
