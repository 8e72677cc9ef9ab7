#include "xcep/endpoints.hpp"

#include <algorithm>
#include <cctype>

namespace certenroll::xcep {

std::vector<CesEndpoint> select_ces_endpoints(const Policy& policy, const Template& tmpl,
                                              AuthMode mode, bool renewal) {
    std::vector<CesEndpoint> endpoints;
    for (const auto index : tmpl.ca_indexes) {
        if (index >= policy.cas.size())
            continue;
        const auto& ca = policy.cas[index];
        // The CA would refuse us: trying it only turns into a denial after a round trip.
        if (!ca.enroll_permission)
            continue;
        // A CA whose policy entry is broken (e.g. its certificate does not decode) is never
        // chosen: an issued chain could not be checked against it.
        if (!ca.policy_error.empty())
            continue;
        for (const auto& uri : ca.uris) {
            if (uri.client_authentication != mode)
                continue;
            if (uri.renewal_only && !renewal)
                continue;
            // Anonymous CES endpoints authenticate by the old certificate's signature: renewal
            // only.
            if (uri.client_authentication == AuthMode::Anonymous && !renewal)
                continue;
            endpoints.push_back({uri.uri, ca.name, index, uri.client_authentication, uri.priority,
                                 uri.renewal_only});
        }
    }
    std::stable_sort(endpoints.begin(), endpoints.end(), [](const auto& a, const auto& b) {
        if (a.priority.has_value() != b.priority.has_value())
            return a.priority.has_value();
        return a.priority.has_value() && *a.priority < *b.priority;
    });
    return endpoints;
}

std::vector<CesEndpoint> select_key_based_renewal_endpoints(const Policy& policy,
                                                            const Template& tmpl) {
    auto endpoints = select_ces_endpoints(policy, tmpl, AuthMode::Certificate, true);
    // Renewal-only first, keeping the priority order within each group.
    std::stable_partition(endpoints.begin(), endpoints.end(),
                          [](const CesEndpoint& endpoint) { return endpoint.renewal_only; });
    for (auto& endpoint : select_ces_endpoints(policy, tmpl, AuthMode::Anonymous, true))
        endpoints.push_back(std::move(endpoint));
    return endpoints;
}

namespace {

// The path's first segment in lower case, e.g. "adpolicyprovider_cep_kerberos" (IIS matches it
// in any case); empty when there is none.
std::string first_path_segment(std::string_view url) {
    const std::size_t scheme = url.find("://");
    std::string_view rest = scheme == std::string_view::npos ? url : url.substr(scheme + 3);
    const std::size_t slash = rest.find('/');
    if (slash == std::string_view::npos)
        return {};
    rest = rest.substr(slash + 1);
    std::string segment(rest.substr(0, rest.find_first_of("/?#")));
    std::transform(segment.begin(), segment.end(), segment.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return segment;
}

}  // namespace

bool is_key_based_renewal_cep_url(std::string_view url) {
    return first_path_segment(url).starts_with("keybasedrenewal_adpolicyprovider_cep_");
}

std::optional<AuthMode> auth_mode_from_url(std::string_view url) {
    const std::string segment = first_path_segment(url);
    if (segment.empty())
        return std::nullopt;
    for (const std::string_view service : {"_cep_", "_ces_"}) {
        const std::size_t at = segment.rfind(service);
        if (at == std::string::npos)
            continue;
        const std::string_view mode = std::string_view(segment).substr(at + service.size());
        if (mode == "kerberos")
            return AuthMode::Kerberos;
        if (mode == "usernamepassword")
            return AuthMode::UsernamePassword;
        if (mode == "certificate")
            return AuthMode::Certificate;
        if (mode == "keybasedrenewal")
            return AuthMode::Anonymous;
    }
    return std::nullopt;
}

}  // namespace certenroll::xcep
