#pragma once
/// What the groups of diagnose steps share (internal to src/diagnose). diagnose.cpp runs the
/// groups in order over one Checklist; a step reads the findings so far to learn whether its
/// prerequisites passed, and when one did not, skips naming it.

#include <chrono>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "diagnose/assess.hpp"
#include "diagnose/diagnose.hpp"
#include "diagnose/report.hpp"
#include "flows/context.hpp"
#include "http/url.hpp"
#include "xcep/policy.hpp"

namespace certenroll::diagnose {

/// Where the server checks point: the CEP URL, else the CES URL. The configuration step sets it.
struct Target {
    std::string url;
    bool is_cep = false;
    /// nullopt when there is no usable https:// URL.
    std::optional<http::UrlParts> parts;
};

/// One run: its inputs, where it points, and the findings so far.
struct Checklist {
    const flows::Context& context;
    const Request& request;
    Target target;
    Report report;
};

/// The base of each group of steps: adds findings and derives skip reasons from earlier ones.
/// The members keep the names the steps were written with when they were one class.
class Steps {
  protected:
    explicit Steps(Checklist& checklist);

    const flows::Context& context_;
    const Request& request_;
    const flows::Credentials& credentials_;
    Report& report_;
    const std::string& target_url_;
    const bool& target_is_cep_;
    const std::optional<http::UrlParts>& target_;

    TimePoint now() const;

    void add(Finding finding);

    /// True when the step ran and passed (possibly with a warning).
    bool ok(std::string_view id) const;

    bool failed_step(std::string_view id) const;

    /// Why a step that needs `id` is skipped.
    std::string after(std::string_view id) const;

    /// The first of `ids` that did not pass, as a skip reason; empty when all passed.
    std::string blocked_by(std::initializer_list<std::string_view> ids) const;
};

std::string join(const std::vector<std::string>& parts, std::string_view separator = ", ");

/// What diagnose sends to see how the server answers: a GetPolicies (CEP) or a QueryTokenStatus
/// for an unused request ID (CES), with any 401 handed back (Request::return_unauthorized).
http::Request probe_request(const std::string& url, bool is_cep, TimePoint now);

std::string elapsed_text(std::chrono::steady_clock::duration elapsed);

std::string mode_name(xcep::AuthMode mode);

}  // namespace certenroll::diagnose
