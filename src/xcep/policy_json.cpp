#include "xcep/policy_json.hpp"

#include "encoding/base64.hpp"
#include "xcep/policy_cache.hpp"

namespace certenroll::xcep {

namespace {

using nlohmann::json;

json oid_json(const Oid& oid) {
    return {{"value", oid.value},
            {"group", oid.group},
            {"reference_id", oid.reference_id},
            {"default_name", oid.default_name}};
}

json optional_json(const std::optional<std::uint32_t>& value) {
    return value ? json(*value) : json(nullptr);
}

json oid_list(const std::vector<Oid>& oids) {
    json list = json::array();
    for (const auto& oid : oids)
        list.push_back(oid_json(oid));
    return list;
}

json template_json(const Policy& policy, const Template& t) {
    json flags = json::object();
    for (const auto& [word, names] : decoded_flags(t))
        flags[word] = names ? json(*names) : json(nullptr);  // null: sent as nil, unknown
    const auto algorithm = key_algorithm(t);
    const auto source = [](std::optional<std::uint32_t> word, std::uint32_t bit) {
        return word ? json((*word & bit) != 0 ? "request" : "directory") : json(nullptr);
    };

    json extensions = json::array();
    for (const auto& extension : t.extensions) {
        extensions.push_back({{"oid", extension.oid.value},
                              {"name", extension.oid.default_name},
                              {"critical", extension.critical},
                              {"value", encoding::base64_encode(extension.value)}});
    }

    json ra = nullptr;
    if (t.ra_requirements) {
        ra = {{"signatures", t.ra_requirements->signatures},
              {"ekus", oid_list(t.ra_requirements->ekus)},
              {"policies", oid_list(t.ra_requirements->policies)}};
    }
    json archival = nullptr;
    if (t.key_archival) {
        archival = {{"symmetric_algorithm", oid_json(t.key_archival->symmetric_algorithm)},
                    {"symmetric_key_length", t.key_archival->symmetric_key_length}};
    }

    return {
        {"name", t.common_name},
        {"schema", t.schema},
        {"template_oid", t.template_oid.value},
        {"template_oid_name", t.template_oid.default_name},
        {"revision", {{"major", t.revision_major}, {"minor", t.revision_minor}}},
        {"validity_seconds", t.validity_seconds},
        {"renewal_seconds", t.renewal_seconds},
        {"permission_enroll", t.permission_enroll},
        {"permission_autoenroll", t.permission_autoenroll},
        {"key_algorithm", algorithm.name},
        {"key_algorithm_oid",
         t.key.algorithm_oid ? json(t.key.algorithm_oid->value) : json(nullptr)},
        {"key_curve", algorithm.curve.empty() ? json(nullptr) : json(algorithm.curve)},
        {"key_requirement", key_requirement(t)},
        {"minimal_key_length", t.key.minimal_key_length},
        {"key_spec", optional_json(t.key.key_spec)},
        {"key_usage_property", optional_json(t.key.key_usage_property)},
        {"key_permissions", t.key.permissions ? json(*t.key.permissions) : json(nullptr)},
        {"crypto_providers", t.key.crypto_providers},
        {"hash_algorithm", hash_algorithm_name(t)},
        {"hash_algorithm_oid", t.hash_algorithm ? json(t.hash_algorithm->value) : json(nullptr)},
        {"subject_source", source(subject_name_flags(t), flag::subject_enrollee_supplies)},
        {"subject_alt_name_source",
         source(subject_name_flags(t), flag::subject_enrollee_supplies_alt_name)},
        {"private_key_flags", optional_json(private_key_flags(t))},
        {"subject_name_flags", optional_json(subject_name_flags(t))},
        {"enrollment_flags", optional_json(enrollment_flags(t))},
        {"general_flags", optional_json(general_flags(t))},
        {"flags", flags},
        {"minimum_client_version", minimum_client_version(t)},
        {"minimum_server_version", minimum_server_version(t)},
        {"superseded", t.superseded},
        {"ra_requirements", ra},
        {"key_archival", archival},
        {"extensions", extensions},
        {"cas", template_ca_names(policy, t)},
        {"policy_errors", t.policy_errors},
    };
}

json ca_json(const CertificateAuthority& ca) {
    json uris = json::array();
    for (const auto& uri : ca.uris) {
        // "url" is what the CLI documents; "uri" mirrors the MS-XCEP element name.
        uris.push_back(
            {{"url", uri.uri},
             {"uri", uri.uri},
             {"auth", auth_mode_name(uri.client_authentication)},
             {"client_authentication", static_cast<std::uint32_t>(uri.client_authentication)},
             {"priority", optional_json(uri.priority)},
             {"renewal_only", uri.renewal_only}});
    }
    return {{"name", ca.name},
            {"reference_id", ca.reference_id},
            {"usable", ca.policy_error.empty()},
            {"policy_error", ca.policy_error.empty() ? json(nullptr) : json(ca.policy_error)},
            {"enroll_permission", ca.enroll_permission},
            {"certificate", encoding::base64_encode(ca.certificate_der)},
            {"uris", uris}};
}

}  // namespace

nlohmann::json to_json(const Policy& policy) {
    json templates = json::array();
    for (const auto& t : policy.templates)
        templates.push_back(template_json(policy, t));
    json cas = json::array();
    for (const auto& ca : policy.cas)
        cas.push_back(ca_json(ca));
    return {
        {"policy_id", policy.policy_id},
        {"friendly_name", policy.friendly_name},
        // The hours the client actually waits; the flag says whether the server left it nil.
        {"next_update_hours", policy.next_update_hours.value_or(default_next_update_hours)},
        {"next_update_hours_is_default", !policy.next_update_hours.has_value()},
        {"policies_not_changed", policy.policies_not_changed},
        {"templates", templates},
        {"cas", cas},
        {"oids", oid_list(policy.oids)},
    };
}

}  // namespace certenroll::xcep
