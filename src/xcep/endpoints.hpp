#pragma once
/// Which CES URLs to try for a template, per MS-XCEP §3.1.4.1.3.5.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "xcep/policy.hpp"

namespace certenroll::xcep {

/// One CES URL usable for a request, with the CA behind it.
struct CesEndpoint {
    std::string uri;
    std::string ca_name;
    std::size_t ca_index = 0;  ///< into Policy::cas
    AuthMode auth = AuthMode::Kerberos;
    std::optional<std::uint32_t> priority;
    bool renewal_only = false;
};

/// The template's CES URLs for `mode`, in the order to try them: CAs without enroll permission are
/// skipped, renewal-only and anonymous (key-based renewal) URLs are kept only when `renewal`, and
/// the rest is sorted by priority ascending (stable; nil priority last).
std::vector<CesEndpoint> select_ces_endpoints(const Policy& policy, const Template& tmpl,
                                              AuthMode mode, bool renewal);

/// The CES URLs a key-based renewal of `tmpl` can use, in the order to try them. AD CS serves
/// key-based renewal from a CES installed with -AuthenticationType Certificate
/// -AllowKeyBasedRenewal (usually -RenewalOnly), advertised with clientAuthentication 8: the
/// renewal-only certificate URLs come first, then the other certificate URLs, then anonymous (1)
/// URLs, which only the policy can vouch for; each group by priority.
std::vector<CesEndpoint> select_key_based_renewal_endpoints(const Policy& policy,
                                                            const Template& tmpl);

/// True when the URL's path names a key-based renewal policy service:
/// Install-AdcsEnrollmentPolicyWebService -KeyBasedRenewal creates
/// ".../KeyBasedRenewal_ADPolicyProvider_CEP_<Auth>/service.svc/CEP".
bool is_key_based_renewal_cep_url(std::string_view url);

/// The authentication mode that a CEP or CES URL's standard path names, as Windows Server
/// creates them: ".../ADPolicyProvider_CEP_Kerberos/service.svc/CEP",
/// ".../<CA>_CES_UsernamePassword/service.svc/CES", "_Certificate", and "_KeyBasedRenewal"
/// (anonymous at the message level). nullopt for any other path.
std::optional<AuthMode> auth_mode_from_url(std::string_view url);

}  // namespace certenroll::xcep
