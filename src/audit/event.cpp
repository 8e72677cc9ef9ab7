#include "audit/event.hpp"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "encoding/time_text.hpp"

namespace certenroll::audit {

namespace {

// Bumped when a field changes meaning or disappears; new fields do not bump it.
constexpr int schema_version = 1;

void put(nlohmann::ordered_json& j, const char* key, const std::string& value) {
    if (!value.empty())
        j[key] = value;
}

}  // namespace

std::string_view event_name(EventType type) {
    switch (type) {
        case EventType::PolicyFetched:
            return "policy_fetched";
        case EventType::RequestSubmitted:
            return "request_submitted";
        case EventType::Issued:
            return "issued";
        case EventType::Pending:
            return "pending";
        case EventType::Denied:
            return "denied";
        case EventType::Renewed:
            return "renewed";
        case EventType::Retrieved:
            return "retrieved";
        case EventType::Failed:
            return "failed";
    }
    return "failed";
}

std::string format_rfc3339(TimePoint time) {
    using namespace std::chrono;
    const auto whole = floor<seconds>(time);
    const auto millis = duration_cast<milliseconds>(time - whole).count();
    std::string text = encoding::format_iso8601(whole);  // "...T03:30:00Z"
    char fraction[8];
    std::snprintf(fraction, sizeof fraction, ".%03d", static_cast<int>(millis));
    text.insert(text.size() - 1, fraction);
    return text;
}

std::string redact_url(std::string_view url) {
    std::string text(url.substr(0, url.find_first_of("?#")));
    const auto scheme = text.find("://");
    const auto authority = scheme == std::string::npos ? 0 : scheme + 3;
    const auto path = text.find('/', authority);
    const auto at = text.rfind('@', path == std::string::npos ? text.size() : path);
    if (at != std::string::npos && at >= authority)
        text.erase(authority, at + 1 - authority);
    return text;
}

std::string to_json_line(const Event& event) {
    nlohmann::ordered_json j;
    j["event"] = std::string(event_name(event.type));
    j["time"] = format_rfc3339(event.time);
    j["schema_version"] = schema_version;
    put(j, "host", event.host);
    if (event.pid != 0)
        j["pid"] = event.pid;
    j["tool"] = "certenroll-cli";
    put(j, "version", event.version);
    put(j, "subcommand", event.subcommand);
    put(j, "name", event.name);
    put(j, "template", event.template_name);
    put(j, "ca", event.ca_name);
    put(j, "cep_url", redact_url(event.cep_url));
    put(j, "ces_url", redact_url(event.ces_url));
    put(j, "auth", event.auth);
    put(j, "identity", event.identity);
    put(j, "channel_binding", event.channel_binding);
    if (event.renewal)
        j["renewal"] = true;
    put(j, "request_id", event.request_id);
    put(j, "requested_subject", event.requested_subject);
    if (!event.requested_sans.empty())
        j["requested_sans"] = event.requested_sans;
    put(j, "key_backend", event.key_backend);
    put(j, "key_algorithm", event.key_algorithm);
    if (const auto& c = event.certificate) {
        put(j, "serial", c->serial);
        put(j, "sha1_thumbprint", c->sha1_thumbprint);
        put(j, "sha256_thumbprint", c->sha256_thumbprint);
        put(j, "subject", c->subject);
        put(j, "issuer", c->issuer);
        if (!c->sans.empty())
            j["sans"] = c->sans;
        j["not_before"] = format_rfc3339(c->not_before);
        j["not_after"] = format_rfc3339(c->not_after);
    }
    put(j, "previous_serial", event.previous_serial);
    put(j, "policy_id", event.policy_id);
    if (event.policy_changed)
        j["policy_changed"] = *event.policy_changed;
    if (event.template_count)
        j["template_count"] = *event.template_count;
    put(j, "denied_by", event.denied_by);
    put(j, "error_category", event.error_category);
    put(j, "error_message", event.error_message);
    put(j, "hresult", event.hresult);
    // Invalid UTF-8 (a corrupt subject) is replaced rather than failing the record.
    return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace certenroll::audit
