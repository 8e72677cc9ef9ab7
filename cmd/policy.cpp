// `policy`: what may be requested here, and how.

#include <algorithm>
#include <sstream>

#include "common_options.hpp"
#include "flows/policy.hpp"
#include "flows/template_rules.hpp"
#include "render.hpp"
#include "xcep/endpoints.hpp"
#include "xcep/policy_json.hpp"

namespace certenroll::cli {

namespace {

struct PolicyOptions {
    ConnectionOptions connection;
    std::string template_name;
    bool refresh = false;
};

std::string subject_source(const xcep::Template& t) {
    if (!xcep::subject_name_flags(t))
        return "unknown";
    return xcep::enrollee_supplies_subject(t) ? "request" : "directory";
}

std::string template_table(const xcep::Policy& policy, xcep::AuthMode mode) {
    if (policy.templates.empty()) {
        return "No templates are available to this identity at this policy server.\n";
    }
    std::vector<std::vector<std::string>> rows{
        {"TEMPLATE", "SCHEMA", "KEY", "SUBJECT", "ENROLL", "CAS", "NOTE"}};
    for (const auto& t : policy.templates) {
        std::string cas;
        for (const auto& ca : xcep::template_ca_names(policy, t)) {
            cas += (cas.empty() ? "" : ", ") + ca;
        }
        const auto reasons = flows::why_unusable(policy, t, mode);
        const bool broken = !t.policy_errors.empty();
        rows.push_back({t.common_name, broken ? "?" : std::to_string(t.schema),
                        broken ? "?" : xcep::key_requirement(t), broken ? "?" : subject_source(t),
                        t.permission_enroll ? "yes" : "no", cas.empty() ? "-" : cas,
                        reasons.empty() ? std::string() : "cannot use: " + reasons.front()});
    }
    std::string out = render_table(rows);
    for (const auto& ca : policy.cas) {
        if (!ca.policy_error.empty())
            out += "CA '" + ca.name + "' cannot be used: " + ca.policy_error + "\n";
    }
    return out;
}

std::string template_details(const xcep::Policy& policy, const xcep::Template& t) {
    std::ostringstream out;
    out << "Template " << t.common_name << " (schema " << t.schema << ", OID "
        << xcep::template_oid(t) << ", revision " << t.revision_major << "." << t.revision_minor
        << ")\n";
    out << "  enroll permission: " << (t.permission_enroll ? "yes" : "no") << "\n";
    const auto algorithm = xcep::key_algorithm(t);
    out << "  key: " << algorithm.name;
    if (!algorithm.curve.empty())
        out << " " << algorithm.curve;
    out << ", at least " << t.key.minimal_key_length << " bits; hash "
        << xcep::hash_algorithm_name(t) << "\n";
    if (!xcep::subject_name_flags(t)) {
        out << "  subject: unknown (the policy leaves subjectNameFlags nil)\n";
    } else {
        out << "  subject: "
            << (xcep::enrollee_supplies_subject(t)
                    ? "supplied in the request (enroll --subject DN or --cn NAME)"
                    : "built by the CA from the directory (it ignores enroll --subject/--cn)")
            << "\n  SAN: "
            // As plan_request: a template that takes the subject from the request takes its
            // SANs too.
            << (xcep::enrollee_supplies_subject_alt_name(t) || xcep::enrollee_supplies_subject(t)
                    ? "supplied in the request (enroll --dns, --ip, --email, --upn, --uri; each "
                      "repeatable)"
                    : "built by the CA from the directory (it ignores enroll --dns, --ip, "
                      "--email, --upn, --uri)")
            << "\n";
    }
    out << "  validity: " << t.validity_seconds / 86400 << " days, renewal period "
        << t.renewal_seconds / 86400 << " days\n";
    for (const auto& [word, names] : xcep::decoded_flags(t)) {
        if (!names) {
            out << "  " << word << ": unknown (nil in the policy)\n";
        } else if (!names->empty()) {
            out << "  " << word << ":";
            for (const auto& name : *names) {
                out << " " << name;
            }
            out << "\n";
        }
    }
    out << "  CES endpoints:\n";
    for (const auto mode : {xcep::AuthMode::Kerberos, xcep::AuthMode::UsernamePassword,
                            xcep::AuthMode::Certificate}) {
        for (const auto& e : xcep::select_ces_endpoints(policy, t, mode, false)) {
            out << "    --auth " << xcep::auth_mode_name(mode) << "  " << e.uri << "  (CA "
                << e.ca_name << ")\n";
        }
    }
    for (const auto& e : xcep::select_ces_endpoints(policy, t, xcep::AuthMode::Anonymous, true)) {
        out << "    renewal only, key-based  " << e.uri << "  (CA " << e.ca_name << ")\n";
    }
    return out.str();
}

// The options of `policy`, declared only when it is the subcommand being run (see Command).
void declare_options(CLI::App* sub, const std::shared_ptr<PolicyOptions>& options) {
    add_connection_options(*sub, options->connection, true);
    sub->add_option("--template", options->template_name,
                    "Show everything needed to request this template");
    sub->add_flag("--refresh", options->refresh, "Fetch even if the cached policy is fresh");
}

}  // namespace

Command add_policy(CLI::App& app, const GlobalOptions& global) {
    auto options = std::make_shared<PolicyOptions>();
    auto* sub = app.add_subcommand(
        "policy", "Show the enrollment policy (templates, CAs, CES URLs) from CEP");
    return {sub, [sub, options]() { declare_options(sub, options); },
            [options, &global]() {
                const auto context = make_context(global, options->connection, "policy");
                const auto connection = make_connection(options->connection);
                const auto result = flows::load_policy(context, connection, options->refresh);
                Output output;
                output.json = xcep::to_json(result.policy);
                // Per template, whether this identity can use it with this auth mode, and why not.
                for (std::size_t i = 0; i < result.policy.templates.size(); ++i) {
                    const auto reasons = flows::why_unusable(
                        result.policy, result.policy.templates[i], connection.credentials.mode);
                    output.json["templates"][i]["usable"] = reasons.empty();
                    output.json["templates"][i]["unusable_reasons"] = reasons;
                }
                output.json["status"] = "ok";
                output.json["cep_url"] = connection.cep_url;
                output.json["from_cache"] = result.from_cache;
                output.json["fetched_at"] = format_iso8601(result.fetched_at);
                if (options->template_name.empty()) {
                    output.text = template_table(result.policy, connection.credentials.mode);
                    return output;
                }
                const auto* t = result.policy.find_template(options->template_name);
                if (!t) {
                    throw Error(
                        ErrorKind::Usage,
                        "no template '" + options->template_name + "' in this policy",
                        "run 'certenroll-cli policy' to list the templates available to you");
                }
                output.text = template_details(result.policy, *t);
                for (const auto& reason :
                     flows::why_unusable(result.policy, *t, connection.credentials.mode)) {
                    output.text += "  cannot use: " + reason + "\n";
                }
                output.json["template"] =
                    output.json["templates"]
                               [static_cast<std::size_t>(t - result.policy.templates.data())];
                return output;
            }};
}

}  // namespace certenroll::cli
