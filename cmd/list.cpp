// `list`: every managed certificate and pending request in the state directory, with when renew
// will renew it and how the last attempt ended. Reads records only: no traffic, no lock.

#include "common_options.hpp"
#include "encoding/terminal_text.hpp"
#include "encoding/time_text.hpp"
#include "flows/inventory.hpp"
#include "render.hpp"

namespace certenroll::cli {

namespace {

using TimePoint = std::chrono::system_clock::time_point;

// Record contents came from files and servers: shown on a terminal, control characters escaped.
std::string shown(const std::string& text) {
    return encoding::terminal_safe(text, 1024);
}

std::string time_or_dash(TimePoint time) {
    return time == TimePoint{} ? "-" : format_time(time);
}

std::string auth_text(const store::Endpoint& e) {
    std::string text = e.key_based ? "key-based" : e.auth.empty() ? "-" : e.auth;
    if (!e.username.empty())
        text += " (" + e.username + ")";
    else if (!e.principal.empty())
        text += " (" + e.principal + ")";
    return text;
}

nlohmann::json endpoint_json(const store::Endpoint& e) {
    nlohmann::json j = {
        {"cep_url", e.cep_url}, {"ces_url", e.ces_url}, {"auth", e.auth}, {"ca", e.ca_name}};
    if (!e.username.empty())
        j["username"] = e.username;
    if (!e.principal.empty())
        j["principal"] = e.principal;
    if (e.key_based)
        j["key_based"] = true;
    return j;
}

// Unknown (a record without its validity): null.
nlohmann::json time_json(TimePoint time) {
    if (time == TimePoint{})
        return nullptr;
    return format_iso8601(time);
}

nlohmann::json outcome_json(const std::optional<store::Outcome>& o) {
    if (!o)
        return nullptr;
    return {{"time", format_iso8601(o->at)}, {"result", o->result}, {"message", o->message}};
}

std::string outcome_text(const std::optional<store::Outcome>& o) {
    return o ? format_time(o->at) + " " + o->result : "-";
}

bool is_failure(const std::optional<store::Outcome>& o) {
    return o && o->result != "issued" && o->result != "renewed" && o->result != "pending";
}

nlohmann::json certificate_json(const flows::ListedCertificate& c) {
    nlohmann::json j = {{"name", c.name}};
    if (c.record) {
        const auto& r = *c.record;
        j["template"] = r.template_name;
        j["subject"] = c.subject;
        j["serial"] = c.serial;
        j["not_after"] = time_json(c.not_after);
        j["renewal_due"] = time_json(c.due_at);
        j["key"] = {{"location", c.key.kind}, {"reference", c.key.where}};
        j["endpoint"] = endpoint_json(r.endpoint);
        j["last_outcome"] = outcome_json(r.last_outcome);
    }
    if (c.error)
        j["error"] = error_json(*c.error)["error"];
    return j;
}

nlohmann::json pending_json(const store::PendingRequest& p) {
    const auto key = flows::key_location(p.key_backend, p.key_reference, false);
    return {{"name", p.name},
            {"request_id", p.request_id},
            {"template", p.template_name},
            {"renewal", p.renewal},
            {"submitted_at", format_iso8601(p.submitted_at)},
            {"status", p.denied.empty() ? "pending" : "denied"},
            {"denied", p.denied},
            {"key", {{"location", key.kind}, {"reference", key.where}}},
            {"endpoint", endpoint_json(p.endpoint)},
            {"last_outcome", outcome_json(p.last_outcome)}};
}

// A table of the main facts, each row followed by the details that do not fit a column.
std::string certificates_text(const std::vector<flows::ListedCertificate>& certificates) {
    std::vector<std::vector<std::string>> rows = {
        {"NAME", "TEMPLATE", "NOT AFTER", "RENEWAL DUE", "LAST OUTCOME"}};
    std::vector<std::string> details;
    for (const auto& c : certificates) {
        std::string detail;
        if (c.record) {
            const auto& r = *c.record;
            rows.push_back({shown(c.name), shown(r.template_name), time_or_dash(c.not_after),
                            time_or_dash(c.due_at), outcome_text(r.last_outcome)});
            detail += "    subject " + (c.subject.empty() ? "-" : shown(c.subject)) + ", serial " +
                      (c.serial.empty() ? "-" : shown(c.serial)) + "\n";
            detail += "    key " + c.key.kind + " " + shown(c.key.where) + "\n";
            detail += "    CEP " + (r.endpoint.cep_url.empty() ? "-" : shown(r.endpoint.cep_url)) +
                      ", auth " + shown(auth_text(r.endpoint)) + "\n";
            if (is_failure(r.last_outcome))
                detail += "    last error: " + shown(r.last_outcome->message) + "\n";
        } else {
            rows.push_back({shown(c.name), "?", "?", "?", "-"});
        }
        if (c.error)
            detail += "    unreadable: " + shown(c.error->message()) + "\n";
        details.push_back(detail);
    }
    // The table's rows, with each record's details below its own row.
    const std::string table = render_table(rows);
    std::string out;
    std::size_t line_start = 0;
    for (std::size_t row = 0; row < rows.size(); ++row) {
        const std::size_t end = table.find('\n', line_start) + 1;
        out += table.substr(line_start, end - line_start);
        line_start = end;
        if (row > 0)
            out += details[row - 1];
    }
    return out;
}

std::string pending_text(const std::vector<store::PendingRequest>& pending) {
    std::vector<std::vector<std::string>> rows = {
        {"REQUEST", "NAME", "TEMPLATE", "SUBMITTED", "STATUS", "LAST OUTCOME"}};
    for (const auto& p : pending) {
        rows.push_back({shown(p.request_id), shown(p.name), shown(p.template_name),
                        time_or_dash(p.submitted_at),
                        p.denied.empty() ? (p.renewal ? "pending (renewal)" : "pending") : "denied",
                        outcome_text(p.last_outcome)});
    }
    return render_table(rows);
}

struct ListOptions {
    std::string renew_before;
};

}  // namespace

Command add_list(CLI::App& app, const GlobalOptions& global) {
    auto o = std::make_shared<ListOptions>();
    auto* sub = app.add_subcommand(
        "list",
        "List managed certificates and pending requests: expiry, renewal due time, key, "
        "CEP and auth, last outcome (no server contact)");
    return {sub,
            [sub, o]() {
                sub->add_option("--renew-before", o->renew_before,
                                "Show due times for renew --renew-before (e.g. 30d)");
            },
            [o, &global]() {
                std::optional<std::chrono::seconds> renew_before;
                if (!o->renew_before.empty())
                    renew_before = encoding::parse_duration(o->renew_before, "--renew-before");
                const auto context = make_context(global);
                const auto inventory = flows::take_inventory(context, renew_before);
                Output output;
                nlohmann::json certificates = nlohmann::json::array();
                for (const auto& c : inventory.certificates) {
                    certificates.push_back(certificate_json(c));
                    // An unreadable record is a local failure: heard, like renew's.
                    if (c.error) {
                        output.errors.push_back(error_text(*c.error, c.name));
                        output.exit_code = exit_code(ErrorKind::Local);
                    }
                }
                nlohmann::json pending = nlohmann::json::array();
                for (const auto& p : inventory.pending)
                    pending.push_back(pending_json(p));
                if (inventory.pending_error) {
                    output.errors.push_back(error_text(*inventory.pending_error));
                    output.exit_code = exit_code(ErrorKind::Local);
                }
                output.json = {{"status", output.exit_code == 0 ? "ok" : "incomplete"},
                               {"exit_code", output.exit_code},
                               {"state_dir", context.state.root().string()},
                               {"certificates", std::move(certificates)},
                               {"pending", std::move(pending)}};
                std::string text;
                if (inventory.certificates.empty()) {
                    text += "No managed certificates in " + context.state.root().string() + ".\n";
                } else {
                    text += certificates_text(inventory.certificates);
                }
                if (!inventory.pending.empty())
                    text += "\nPending requests:\n" + pending_text(inventory.pending);
                output.text = text;
                return output;
            }};
}

}  // namespace certenroll::cli
