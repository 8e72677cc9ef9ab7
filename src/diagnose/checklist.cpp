#include "diagnose/checklist.hpp"

#include <string>
#include <utility>

#include "soap/envelope.hpp"
#include "soap/namespaces.hpp"
#include "wstep/messages.hpp"
#include "xcep/get_policies.hpp"

namespace certenroll::diagnose {

using std::chrono::duration_cast;
using std::chrono::steady_clock;

Steps::Steps(Checklist& checklist)
    : context_(checklist.context),
      request_(checklist.request),
      credentials_(checklist.request.connection.credentials),
      report_(checklist.report),
      target_url_(checklist.target.url),
      target_is_cep_(checklist.target.is_cep),
      target_(checklist.target.parts) {}

TimePoint Steps::now() const {
    return context_.clock();
}

void Steps::add(Finding finding) {
    context_.diagnostics.step("diagnose: " + std::string(status_name(finding.status)) + " " +
                              finding.id + ": " + finding.evidence);
    report_.findings.push_back(std::move(finding));
}

bool Steps::ok(std::string_view id) const {
    const Finding* finding = report_.find(id);
    return finding != nullptr &&
           (finding->status == Status::Pass || finding->status == Status::Warn);
}

bool Steps::failed_step(std::string_view id) const {
    const Finding* finding = report_.find(id);
    return finding != nullptr && finding->status == Status::Fail;
}

std::string Steps::after(std::string_view id) const {
    const Finding* finding = report_.find(id);
    if (finding == nullptr)
        return "skipped";
    if (finding->status == Status::Skip)
        return finding->evidence;  // the root cause, passed along
    return "skipped: " + finding->title + " " +
           (finding->status == Status::Fail ? "failed" : "was skipped") + " (see " +
           std::string(id) + ")";
}

std::string Steps::blocked_by(std::initializer_list<std::string_view> ids) const {
    for (const auto id : ids) {
        if (report_.find(id) != nullptr && !ok(id))
            return after(id);
    }
    return "";
}

std::string join(const std::vector<std::string>& parts, std::string_view separator) {
    std::string out;
    for (const auto& part : parts)
        out += (out.empty() ? "" : std::string(separator)) + part;
    return out;
}

std::string elapsed_text(steady_clock::duration elapsed) {
    const auto micros = duration_cast<std::chrono::microseconds>(elapsed).count();
    if (micros < 10000)
        return std::to_string(micros / 1000) + "." + std::to_string(micros / 100 % 10) + " ms";
    return std::to_string(micros / 1000) + " ms";
}

std::string mode_name(xcep::AuthMode mode) {
    return std::string(xcep::auth_mode_name(mode));
}

http::Request probe_request(const std::string& url, bool is_cep, TimePoint now) {
    http::Request request;
    request.url = url;
    request.return_unauthorized = true;
    soap::RequestHeaders headers;
    headers.to = url;
    headers.message_id = soap::new_message_id();
    headers.now = now;
    if (is_cep) {
        headers.action = std::string(soap::action::get_policies);
        request.body = soap::build_request(headers, xcep::build_get_policies({}));
    } else {
        headers.action = std::string(soap::action::request_security_token);
        request.body =
            soap::build_request(headers, wstep::build_query_token_status(probe_request_id));
    }
    request.headers.push_back(
        {"Content-Type", "application/soap+xml; charset=utf-8; action=\"" + headers.action + "\""});
    return request;
}

}  // namespace certenroll::diagnose
