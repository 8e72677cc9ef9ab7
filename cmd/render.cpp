#include "render.hpp"

#include <algorithm>
#include <iostream>

#include "soap/fault.hpp"

namespace certenroll::cli {

namespace {

// What exit status 0 covers; README's and the man page's row 0 say the same (test_words.py).
const char* const success_meaning =
    "issued, retrieved, renewed or not yet due; shown; diagnose passed";

}  // namespace

int render_output(const Output& output, const GlobalOptions& global) {
    for (const auto& warning : output.warnings) {
        std::cerr << "certenroll-cli: warning: " << warning << "\n";
    }
    for (const auto& error : output.errors) {
        std::cerr << error;
    }
    if (global.quiet && !global.json) {
        for (const auto& notice : output.notices)
            std::cerr << "certenroll-cli: " << notice << "\n";
    }
    if (prints_json(global)) {
        std::cout << output.json.dump(2) << "\n";
    } else if (prints_text(global) && !output.text.empty()) {
        std::cout << output.text;
        if (output.text.back() != '\n') {
            std::cout << "\n";
        }
    }
    return output.exit_code;
}

bool prints_json(const GlobalOptions& global) {
    return global.json;
}

bool prints_text(const GlobalOptions& global) {
    return !global.json && !global.quiet;
}

nlohmann::json error_json(const Error& error) {
    nlohmann::json detail = {{"category", kind_name(error.kind())}, {"message", error.message()}};
    if (!error.hint().empty()) {
        detail["hint"] = error.hint();
    }
    if (error.hresult()) {
        detail["hresult"] = format_hresult(*error.hresult());
        if (const auto* info = soap::find_hresult(*error.hresult())) {
            detail["hresult_name"] = std::string(info->name);
        }
    }
    if (!error.request_id().empty()) {
        detail["request_id"] = error.request_id();
    }
    if (!error.diagnosis().empty()) {
        detail["diagnosis"] = error.diagnosis();
        detail["likely_causes"] = error.likely_causes();
    }
    return {{"status", "error"}, {"error", detail}, {"exit_code", exit_code(error.kind())}};
}

std::string error_text(const Error& error, const std::string& item) {
    std::string text = "certenroll-cli: " + std::string(kind_name(error.kind())) + " error: ";
    if (!item.empty()) {
        text += item + ": ";
    }
    text += error.message();
    // Once: a CES fault's message already names its HRESULT.
    if (error.hresult() &&
        error.message().find(format_hresult(*error.hresult())) == std::string::npos) {
        text += " [" + format_hresult(*error.hresult()) + "]";
    }
    text += "\n";
    if (!error.hint().empty()) {
        text += "  hint: " + error.hint() + "\n";
    }
    return text;
}

int render_error(const Error& error, bool json) {
    if (json) {
        std::cout << error_json(error).dump(2) << "\n";
    }
    // People read stderr, with or without --json (and with --quiet).
    std::cerr << error_text(error);
    return exit_code(error.kind());
}

// Columns as wide as their widest cell plus two spaces, so that no value (a long template name, a
// CA name, "ML-DSA-65") runs into the next column; the last column is not padded.
std::string render_table(const std::vector<std::vector<std::string>>& rows) {
    std::vector<std::size_t> widths;
    for (const auto& row : rows) {
        widths.resize(std::max(widths.size(), row.size()), 0);
        for (std::size_t i = 0; i < row.size(); ++i)
            widths[i] = std::max(widths[i], row[i].size());
    }
    std::string out;
    for (const auto& row : rows) {
        std::string line;
        for (std::size_t i = 0; i < row.size(); ++i) {
            line += row[i];
            if (i + 1 < row.size())
                line.append(widths[i] + 2 - row[i].size(), ' ');
        }
        while (!line.empty() && line.back() == ' ')
            line.pop_back();
        out += line + "\n";
    }
    return out;
}

std::string exit_status_help() {
    std::string text = "  0  success: " + std::string(success_meaning) + "\n";
    for (const auto& row : exit_code_table()) {
        text += "  " + std::to_string(row.code) + "  " + std::string(row.name) + ": " +
                std::string(row.description) + "\n";
    }
    return text;
}

}  // namespace certenroll::cli
