#include "diagnose/report.hpp"

#include <algorithm>
#include <utility>

namespace certenroll::diagnose {

std::string_view status_name(Status status) {
    switch (status) {
        case Status::Pass:
            return "pass";
        case Status::Warn:
            return "warn";
        case Status::Fail:
            return "fail";
        case Status::Skip:
            return "skip";
    }
    return "fail";
}

Finding passed(std::string id, std::string title, std::string evidence) {
    return {std::move(id), std::move(title), Status::Pass, std::move(evidence), {}, {}};
}

Finding warned(std::string id, std::string title, std::string evidence, std::string fix) {
    return {std::move(id), std::move(title), Status::Warn, std::move(evidence), std::move(fix), {}};
}

Finding failed(std::string id, std::string title, ErrorKind kind, std::string evidence,
               std::string fix) {
    return {std::move(id),       std::move(title), Status::Fail,
            std::move(evidence), std::move(fix),   kind};
}

Finding skipped(std::string id, std::string title, std::string reason) {
    return {std::move(id), std::move(title), Status::Skip, std::move(reason), {}, {}};
}

Finding failed(std::string id, std::string title, const Error& error) {
    std::string evidence = error.message();
    // Once: a CES fault's message already names its HRESULT (as error_text does).
    if (error.hresult() && evidence.find(format_hresult(*error.hresult())) == std::string::npos)
        evidence += " [" + format_hresult(*error.hresult()) + "]";
    return failed(std::move(id), std::move(title), error.kind(), std::move(evidence), error.hint());
}

Status Report::status() const {
    if (count(Status::Fail) > 0)
        return Status::Fail;
    if (count(Status::Warn) > 0)
        return Status::Warn;
    return Status::Pass;
}

const Finding* Report::first_failure() const {
    for (const auto& finding : findings) {
        if (finding.status == Status::Fail)
            return &finding;
    }
    return nullptr;
}

int Report::exit_code() const {
    const Finding* failure = first_failure();
    if (failure == nullptr)
        return 0;
    return certenroll::exit_code(failure->kind.value_or(ErrorKind::Internal));
}

std::size_t Report::count(Status status) const {
    return static_cast<std::size_t>(
        std::count_if(findings.begin(), findings.end(),
                      [status](const Finding& finding) { return finding.status == status; }));
}

const Finding* Report::find(std::string_view id) const {
    for (const auto& finding : findings) {
        if (finding.id == id)
            return &finding;
    }
    return nullptr;
}

namespace {

std::string upper(std::string_view text) {
    std::string out(text);
    for (char& c : out)
        c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
    return out;
}

std::string plural(std::size_t count, std::string_view word) {
    return std::to_string(count) + " " + std::string(word) + (count == 1 ? "" : "s");
}

}  // namespace

std::string render_text(const Report& report) {
    std::size_t width = 0;
    for (const auto& finding : report.findings)
        width = std::max(width, finding.title.size());
    std::string out;
    for (const auto& finding : report.findings) {
        out += upper(status_name(finding.status)) + "  " + finding.title;
        if (!finding.evidence.empty()) {
            out += std::string(width - finding.title.size() + 2, ' ') + finding.evidence;
        }
        out += "\n";
        if (!finding.fix.empty() && finding.status != Status::Pass)
            out += "      fix: " + finding.fix + "\n";
    }
    const Status status = report.status();
    out += "\nResult: " + upper(status_name(status)) + " (" +
           plural(report.count(Status::Fail), "failure") + ", " +
           plural(report.count(Status::Warn), "warning") + ", " +
           std::to_string(report.count(Status::Pass)) + " passed, " +
           std::to_string(report.count(Status::Skip)) + " skipped); exit " +
           std::to_string(report.exit_code());
    if (const Finding* failure = report.first_failure()) {
        out += " (" + std::string(kind_name(failure->kind.value_or(ErrorKind::Internal))) +
               ", from " + failure->id + ")";
    }
    out += "\n";
    return out;
}

nlohmann::json to_json(const Report& report) {
    nlohmann::json checks = nlohmann::json::array();
    for (const auto& finding : report.findings) {
        nlohmann::json check = {{"id", finding.id},
                                {"title", finding.title},
                                {"status", status_name(finding.status)},
                                {"evidence", finding.evidence}};
        if (!finding.fix.empty() && finding.status != Status::Pass)
            check["fix"] = finding.fix;
        if (finding.status == Status::Fail && finding.kind)
            check["category"] = kind_name(*finding.kind);
        checks.push_back(std::move(check));
    }
    nlohmann::json json = {{"status", status_name(report.status())},
                           {"exit_code", report.exit_code()},
                           {"summary",
                            {{"pass", report.count(Status::Pass)},
                             {"warn", report.count(Status::Warn)},
                             {"fail", report.count(Status::Fail)},
                             {"skip", report.count(Status::Skip)}}},
                           {"checks", std::move(checks)}};
    if (const Finding* failure = report.first_failure()) {
        json["category"] = kind_name(failure->kind.value_or(ErrorKind::Internal));
        json["first_failure"] = failure->id;
    }
    return json;
}

}  // namespace certenroll::diagnose
