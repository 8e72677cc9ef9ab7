#include "render.hpp"

#include <iostream>

#include "soap/fault.hpp"

namespace certenroll::cli {

int render_output(const Output& output, const GlobalOptions& global) {
    for (const auto& warning : output.warnings) {
        std::cerr << "certenroll-cli: warning: " << warning << "\n";
    }
    for (const auto& error : output.errors) {
        std::cerr << error;
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

std::string exit_status_help() {
    std::string text = "  0  success (issued, renewed, nothing due, policy shown)\n";
    for (const auto& row : exit_code_table()) {
        text += "  " + std::to_string(row.code) + "  " + std::string(row.name) + ": " +
                std::string(row.description) + "\n";
    }
    return text;
}

}  // namespace certenroll::cli
