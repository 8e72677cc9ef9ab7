#include "xcep/endpoints.hpp"

#include <algorithm>

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

}  // namespace certenroll::xcep
