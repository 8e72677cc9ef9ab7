#include "diagnose/policy_checks.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <utility>

#include "flows/policy.hpp"
#include "flows/template_rules.hpp"
#include "soap/fault.hpp"
#include "store/atomic_file.hpp"
#include "wstep/client.hpp"
#include "xcep/client.hpp"
#include "xcep/get_policies.hpp"
#include "xcep/policy_cache.hpp"
#include "xml/xml.hpp"

namespace certenroll::diagnose {

namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;
using std::chrono::steady_clock;

// The one-line identity for messages about permissions.
std::string who(const flows::Credentials& credentials, const std::string& kerberos_principal) {
    switch (credentials.mode) {
        case xcep::AuthMode::UsernamePassword:
            return credentials.username;
        case xcep::AuthMode::Certificate:
            return "the holder of " + credentials.client_certificate;
        case xcep::AuthMode::Kerberos:
            return kerberos_principal.empty() ? credentials.principal.empty()
                                                    ? std::string("this Kerberos identity")
                                                    : credentials.principal
                                              : kerberos_principal;
        case xcep::AuthMode::Anonymous:
            break;
    }
    return "this identity";
}

}  // namespace

PolicyChecks::PolicyChecks(Checklist& checklist, std::string kerberos_principal)
    : Steps(checklist), kerberos_principal_(std::move(kerberos_principal)) {}

void PolicyChecks::run() {
    policy();
    policy_cache();
    template_checks();
    ces();
}

// ---- policy -----------------------------------------------------------------------------

std::string PolicyChecks::credential_blocker() const {
    if (request_.configuration_error)
        return after("configuration");
    if (credentials_.mode == xcep::AuthMode::Kerberos) {
        if (!ok("kerberos-ticket"))
            return after("kerberos-ticket");
    }
    return "";
}

void PolicyChecks::policy() {
    const std::string id = "policy";
    const std::string title = "Policy (GetPolicies)";
    if (!target_is_cep_) {
        add(skipped(id, title,
                    target_url_.empty() ? "no --url given"
                                        : "no --url: the CES URL is used without a policy"));
        return;
    }
    std::string reason = credential_blocker();
    if (reason.empty())
        reason = blocked_by({"configuration", "tls", "http-auth"});
    if (reason.empty() && !target_)
        reason = after("configuration");
    if (reason.empty() && credentials_.mode == xcep::AuthMode::Kerberos &&
        failed_step("kerberos-service-ticket"))
        reason = after("kerberos-service-ticket");
    if (!reason.empty()) {
        add(skipped(id, title, reason));
        return;
    }
    try {
        const auto transport = flows::open_transport(context_, request_.connection);
        const auto start = steady_clock::now();
        live_policy_ = xcep::fetch_policy(*transport, target_url_, {}, now(),
                                          flows::call_options(context_, credentials_));
        const auto elapsed = steady_clock::now() - start;
        const auto& p = *live_policy_;
        std::size_t usable = 0;
        for (const auto& t : p.templates)
            usable += flows::why_unusable(p, t, credentials_.mode).empty() ? 1 : 0;
        const std::string evidence =
            "'" + (p.friendly_name.empty() ? p.policy_id : p.friendly_name) + "' in " +
            elapsed_text(elapsed) + ": " + std::to_string(p.templates.size()) + " templates (" +
            std::to_string(usable) + " usable with --auth " + mode_name(credentials_.mode) + "), " +
            std::to_string(p.cas.size()) + " CAs, nextUpdateHours " +
            (p.next_update_hours ? std::to_string(*p.next_update_hours) : "nil (8)");
        if (p.templates.empty()) {
            add(warned(id, title,
                       evidence + ": this policy offers " + who(credentials_, kerberos_principal_) +
                           " no template at all",
                       "the CA administrators must give " + who(credentials_, kerberos_principal_) +
                           " Read and Enroll permission on the templates it needs"));
        } else {
            add(passed(id, title, evidence));
        }
    } catch (const Error& error) {
        add(failed(id, title, error));
    }
}

void PolicyChecks::policy_cache() {
    const std::string id = "policy-cache";
    const std::string title = "Cached policy";
    if (!target_is_cep_) {
        add(skipped(id, title, "no --url: there is no policy to cache"));
        return;
    }
    if (request_.configuration_error) {
        add(skipped(id, title, after("configuration")));
        return;
    }
    const std::string identity = flows::policy_identity(credentials_);
    const fs::path path =
        context_.state.policy_cache_dir() / xcep::cache_file_name(target_url_, identity);
    const auto text = store::read_file(path);
    if (!text) {
        add(passed(id, title,
                   "none yet for this URL and identity in " +
                       context_.state.policy_cache_dir().string() +
                       ": the next policy or enroll fetches it"));
        return;
    }
    CacheFacts facts;
    facts.template_name = request_.template_name;
    try {
        const auto entry = xcep::CacheEntry::from_file_text(*text);
        const auto cached = xcep::parse_get_policies_response(xml::parse(entry.response_xml));
        facts.fetched_at = entry.fetched_at;
        facts.next_update_hours =
            cached.next_update_hours.value_or(xcep::default_next_update_hours);
        if (live_policy_)
            compare_policies(cached, *live_policy_, facts);
    } catch (const Error& error) {
        add(warned(id, title, path.string() + " is unreadable: " + error.message(),
                   "run 'certenroll-cli policy --refresh' to replace it"));
        return;
    }
    Finding finding = assess_cache(facts, now());
    finding.evidence = path.filename().string() + ": " + finding.evidence;
    add(std::move(finding));
}

// ---- template ---------------------------------------------------------------------------

void PolicyChecks::template_checks() {
    const std::string& name = request_.template_name;
    if (name.empty()) {
        add(skipped("template", "Template", "no --template given"));
        return;
    }
    const std::string title = "Template " + name;
    const std::string permission_title = "Enroll permission";
    const std::string auth_title = "CES URLs for the template";
    if (!live_policy_) {
        const std::string reason = target_is_cep_ ? after("policy") : "no --url: no policy";
        add(skipped("template", title, reason));
        add(skipped("template-permission", permission_title, reason));
        add(skipped("template-auth", auth_title, reason));
        return;
    }
    const auto& policy = *live_policy_;
    const std::string identity = who(credentials_, kerberos_principal_);
    template_ = policy.find_template(name);
    if (template_ == nullptr) {
        std::vector<std::string> offered;
        for (const auto& t : policy.templates)
            offered.push_back(t.common_name);
        add(failed("template", title, ErrorKind::Usage,
                   "the policy offers " + identity + " no template '" + name + "'" +
                       (offered.empty() ? " (it offers no template at all)"
                                        : "; it offers: " + join(offered)),
                   "check the name ('certenroll-cli policy' lists them); a template "
                   "this identity may not read is not listed: ask the CA administrators "
                   "for Read and Enroll permission"));
        add(skipped("template-permission", permission_title, after("template")));
        add(skipped("template-auth", auth_title, after("template")));
        return;
    }
    const auto& t = *template_;
    const auto cas = xcep::template_ca_names(policy, t);
    add(passed("template", title,
               "schema " + std::to_string(t.schema) + ", key " + xcep::key_requirement(t) +
                   ", hash " + xcep::hash_algorithm_name(t) + ", subject " +
                   (xcep::enrollee_supplies_subject(t) ? "from the request" : "built by the CA") +
                   ", validity " + describe_duration(seconds(t.validity_seconds)) + "; issued by " +
                   (cas.empty() ? std::string("no CA") : join(cas))));

    if (t.permission_enroll) {
        add(passed("template-permission", permission_title,
                   "the policy grants " + identity + " Enroll on " + t.common_name +
                       (t.permission_autoenroll ? " (and Autoenroll)" : "")));
    } else {
        add(failed("template-permission", permission_title, ErrorKind::Denied,
                   "the policy says " + identity + " may not enroll in " + t.common_name +
                       " (the CA would refuse with CERTSRV_E_TEMPLATE_DENIED 0x80094012)",
                   "ask the CA administrators for Enroll permission on " + t.common_name + " for " +
                       identity + ", or use an identity that has it"));
    }

    std::vector<std::string> reasons;
    for (const auto& reason : flows::why_unusable(policy, t, credentials_.mode)) {
        if (reason.find("Enroll permission") == std::string::npos)
            reasons.push_back(reason);
    }
    template_endpoints_ = xcep::select_ces_endpoints(policy, t, credentials_.mode, false);
    const std::string& ca = request_.connection.ca_name;
    if (!ca.empty()) {
        std::erase_if(template_endpoints_,
                      [&](const xcep::CesEndpoint& e) { return e.ca_name != ca; });
        if (template_endpoints_.empty() && reasons.empty())
            reasons.push_back("no CA named '" + ca + "' issues " + t.common_name +
                              " through --auth " + mode_name(credentials_.mode) +
                              " (CAs: " + join(cas) + ")");
    }
    if (!reasons.empty()) {
        std::vector<std::string> offered;
        for (const auto other : {xcep::AuthMode::Kerberos, xcep::AuthMode::UsernamePassword,
                                 xcep::AuthMode::Certificate}) {
            if (other != credentials_.mode &&
                !xcep::select_ces_endpoints(policy, t, other, false).empty())
                offered.push_back("--auth " + mode_name(other));
        }
        const bool no_url = reasons.front().starts_with("no CES URL");
        add(failed("template-auth", auth_title, ErrorKind::Usage, join(reasons, "; "),
                   !ca.empty() && template_endpoints_.empty() && !no_url
                       ? "leave out --ca, or name one of: " + join(cas)
                   : no_url && !offered.empty() ? "use " + join(offered, " or ") +
                                                      " (with that mode's credentials and CEP URL)"
                   : no_url ? "ask the CA administrators to publish a CES URL for --auth " +
                                  mode_name(credentials_.mode)
                            : "use a template without this requirement"));
        return;
    }
    std::vector<std::string> urls;
    for (const auto& e : template_endpoints_) {
        urls.push_back(e.ca_name + ": " + e.uri +
                       (e.priority ? " (priority " + std::to_string(*e.priority) + ")" : ""));
    }
    add(passed("template-auth", auth_title,
               "for --auth " + mode_name(credentials_.mode) + ": " + join(urls, "; ")));
}

// ---- CES --------------------------------------------------------------------------------

std::vector<xcep::CesEndpoint> PolicyChecks::ces_endpoints(std::string& reason) const {
    const auto& connection = request_.connection;
    if (!connection.ces_url.empty()) {
        xcep::CesEndpoint given;
        given.uri = connection.ces_url;
        given.ca_name = connection.ca_name;
        given.auth = credentials_.mode;
        return {given};
    }
    if (!live_policy_) {
        reason = target_is_cep_ ? after("policy") : "no CES URL given";
        return {};
    }
    if (!request_.template_name.empty()) {
        if (template_ == nullptr) {
            reason = after("template");
        } else if (template_endpoints_.empty()) {
            reason = after("template-auth");
        }
        return template_endpoints_;
    }
    // Without --template: every CES URL of the policy for this mode.
    std::vector<xcep::CesEndpoint> all;
    for (std::size_t i = 0; i < live_policy_->cas.size(); ++i) {
        const auto& ca = live_policy_->cas[i];
        if (!ca.enroll_permission || (!connection.ca_name.empty() && ca.name != connection.ca_name))
            continue;
        for (const auto& uri : ca.uris) {
            if (uri.client_authentication != credentials_.mode || uri.renewal_only)
                continue;
            const bool known = std::any_of(all.begin(), all.end(),
                                           [&](const auto& e) { return e.uri == uri.uri; });
            if (!known)
                all.push_back(
                    {uri.uri, ca.name, i, uri.client_authentication, uri.priority, false});
        }
    }
    if (all.empty())
        reason = "the policy lists no CES URL for --auth " + mode_name(credentials_.mode) +
                 (connection.ca_name.empty() ? "" : " at CA " + connection.ca_name);
    return all;
}

void PolicyChecks::ces() {
    const std::string title = "CES endpoint";
    std::string reason;
    const auto endpoints = ces_endpoints(reason);
    const std::string ca_title = "CES reaches the CA";
    if (endpoints.empty()) {
        add(skipped("ces", title, reason.empty() ? "no CES URL to check" : reason));
        add(skipped("ces-ca", ca_title, after("ces")));
        return;
    }
    reason = credential_blocker();
    if (reason.empty() && !target_is_cep_)
        reason = blocked_by({"tls", "http-auth"});
    if (!reason.empty()) {
        add(skipped("ces", title, reason));
        add(skipped("ces-ca", ca_title, after("ces")));
        return;
    }
    std::unique_ptr<http::Transport> transport;
    try {
        transport = flows::open_transport(context_, request_.connection);
    } catch (const Error& error) {
        add(failed("ces", title, error));
        add(skipped("ces-ca", ca_title, after("ces")));
        return;
    }
    // Each URL gets a "ces" finding (reachable, authenticated); each that passes, a "ces-ca"
    // finding from the same answer (the CA behind it reached). Both groups go to the report in
    // that order.
    std::vector<Finding> endpoint_findings;
    std::vector<Finding> ca_findings;
    for (std::size_t i = 0; i < endpoints.size() && i < 8; ++i) {
        const auto& endpoint = endpoints[i];
        const std::string where =
            endpoint.uri + (endpoint.ca_name.empty() ? "" : " (CA " + endpoint.ca_name) +
            (endpoint.priority ? std::string(endpoint.ca_name.empty() ? " (" : ", ") + "priority " +
                                     std::to_string(*endpoint.priority) + ")"
                               : std::string(endpoint.ca_name.empty() ? "" : ")"));
        const auto start = steady_clock::now();
        const auto answer_time = [&] {
            return std::chrono::duration_cast<std::chrono::milliseconds>(steady_clock::now() -
                                                                         start);
        };
        try {
            wstep::query_token_status(*transport, endpoint.uri, probe_request_id, now(),
                                      flows::call_options(context_, credentials_));
            endpoint_findings.push_back(passed("ces", title,
                                               where +
                                                   ": authenticated; it answered QueryTokenStatus "
                                                   "in " +
                                                   elapsed_text(steady_clock::now() - start)));
            ca_findings.push_back(
                assess_ca_reach(where, std::nullopt, answer_time(), endpoint.ca_name));
        } catch (const Error& error) {
            if (error.hresult()) {
                // A CES fault carrying an HRESULT comes from the CES service code, past TLS and
                // authentication; what it says about the CA is the next finding's business.
                const auto elapsed = answer_time();
                const auto* info = soap::find_hresult(*error.hresult());
                endpoint_findings.push_back(
                    passed("ces", title,
                           where + ": authenticated; CES answered in " + elapsed_text(elapsed) +
                               " (QueryTokenStatus for the unused request ID " + probe_request_id +
                               ": " + (info ? std::string(info->name) + " " : std::string()) +
                               format_hresult(*error.hresult()) + ")"));
                ca_findings.push_back(assess_ca_reach(where, error, elapsed, endpoint.ca_name));
            } else {
                Finding finding = failed("ces", title, error);
                finding.evidence = where + ": " + finding.evidence;
                endpoint_findings.push_back(std::move(finding));
            }
        }
    }
    if (ca_findings.empty())
        ca_findings.push_back(
            skipped("ces-ca", ca_title, "skipped: no CES endpoint answered (see ces)"));
    // With a working URL, enroll fails over (on network errors, which is what a CES that cannot
    // reach or act at the CA gives too): a dead one is a warning.
    const auto fail_over = [](std::vector<Finding>& findings) {
        const bool working = std::any_of(findings.begin(), findings.end(),
                                         [](const Finding& f) { return f.status == Status::Pass; });
        for (auto& finding : findings) {
            if (working && finding.status == Status::Fail) {
                finding.status = Status::Warn;
                finding.kind.reset();
                finding.evidence += "; enroll fails over to the working URL";
            }
        }
    };
    fail_over(endpoint_findings);
    fail_over(ca_findings);
    for (auto& finding : endpoint_findings)
        add(std::move(finding));
    for (auto& finding : ca_findings)
        add(std::move(finding));
}

}  // namespace certenroll::diagnose
