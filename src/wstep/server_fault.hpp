#pragma once
/// Where a CES fault says an enrollment broke. Behind CES sit the failures a client cannot see:
/// CES reaching and authenticating to the CA (DCOM/RPC, with Kerberos constrained delegation of
/// the CES account when CES and CA are separate servers), the CES account's own rights, and the
/// templates the CA issues. From outside they arrive as a CES fault; this module turns such a fault
/// into an Error that names the server side and sends the user to the right administrator with
/// the right check. Pure: the caller passes what it observed (operation, answer time, policy).
///
/// The signal that the client's own authentication succeeded: a fault that carries the
/// CertificateEnrollmentWSDetail ErrorCode (an Error with an hresult) comes from the CES service
/// code, which runs only after IIS accepted the HTTP authentication (Negotiate, TLS client
/// certificate; a refusal is HTTP 401, an auth Error from the transport) and WCF accepted the
/// message security (the UsernameToken; WCF's own refusal is a fault without that detail).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "error.hpp"

namespace certenroll::wstep {

/// RPC_S_SERVER_UNAVAILABLE as an HRESULT: CES could not reach the CA's RPC interface, or
/// reached it and could not authenticate to it.
inline constexpr std::uint32_t rpc_server_unavailable = 0x800706BA;
inline constexpr std::uint32_t access_denied = 0x80070005;
inline constexpr std::uint32_t unsupported_cert_type = 0x80094800;
inline constexpr std::uint32_t template_denied = 0x80094012;
/// What the CA answers a status inspection of a request ID it has no record of ([MS-WCCE]
/// 3.2.1.4.3.1.2, step 3): diagnose's proof that CES reached the CA.
inline constexpr std::uint32_t property_empty = 0x80094004;

/// An RPC_S_SERVER_UNAVAILABLE answered after this long points to a firewall dropping the RPC
/// connection or a CA host that is down (Windows gives up a TCP connect after about 21 s: SYN
/// retransmissions at 3, 6 and 12 s); a refused authentication (missing delegation) answers
/// within about a second. 4 s lies between with room for a loaded CES and a slow client.
inline constexpr std::chrono::milliseconds slow_ca_answer{4000};

/// Which CES call the fault answered.
enum class CesCall {
    Issue,             ///< a new request or a renewal
    QueryTokenStatus,  ///< retrieve-pending asking about its request
    Probe,             ///< diagnose's QueryTokenStatus for a request ID that cannot exist
};

/// What the caller knows about the call and its target.
struct FaultContext {
    CesCall call = CesCall::Issue;
    /// How long CES took to answer (measured around the call); nullopt when not measured.
    std::optional<std::chrono::milliseconds> answer_time = std::nullopt;
    /// A key-based renewal endpoint: the client certificate maps to no account, so no
    /// delegation of the client takes place.
    bool key_based_renewal = false;
    /// The policy (CEP) names this CA as one that issues the template.
    bool policy_lists_template_at_ca = false;
    /// The policy's Enroll permission on the template for this client's identity; nullopt when
    /// there is no policy (--ces-url).
    std::optional<bool> policy_grants_enroll = std::nullopt;
    std::string template_name;
    std::string ca_name;
    std::string request_id;  ///< QueryTokenStatus: the request asked about
};

/// Stable ids (--json "diagnosis", "likely_causes") of what explain_ces_fault concludes.
namespace diagnosis {
inline constexpr std::string_view ces_cannot_reach_ca = "ces-cannot-reach-ca";
inline constexpr std::string_view server_side_access_denied = "server-side-access-denied";
inline constexpr std::string_view request_access_denied = "request-access-denied";
inline constexpr std::string_view template_not_on_ca = "template-not-on-ca";
inline constexpr std::string_view template_denied_to_ces = "template-denied-to-ces";
inline constexpr std::string_view template_denied_to_client = "template-denied-to-client";
}  // namespace diagnosis

/// The likely causes, most likely first, as ids.
namespace cause {
inline constexpr std::string_view ces_delegation = "ces-delegation";
inline constexpr std::string_view ca_service_or_firewall = "ca-service-or-firewall";
inline constexpr std::string_view ces_permissions = "ces-permissions";
inline constexpr std::string_view client_ca_permission = "client-ca-permission";
inline constexpr std::string_view other_requester = "other-requester";
inline constexpr std::string_view template_not_published = "template-not-published";
inline constexpr std::string_view ces_fronts_another_ca = "ces-fronts-another-ca";
inline constexpr std::string_view template_cache = "ca-template-cache";
inline constexpr std::string_view key_based_renewal_flag = "template-key-based-renewal";
inline constexpr std::string_view template_acl_changed = "template-permission-changed";
inline constexpr std::string_view client_template_permission = "client-template-permission";
}  // namespace cause

/// The Error to report for `fault`, an Error made from a CES fault (soap::to_error): a
/// server-side explanation for 0x800706BA, for 0x80070005 after the client authenticated, for a
/// template the CA does not issue although the policy lists it there, and for a template refusal
/// that is not about the client's own permission; `fault` unchanged otherwise (and always when it
/// carries no HRESULT). The HRESULT and request ID are kept.
Error explain_ces_fault(const Error& fault, const FaultContext& context);

}  // namespace certenroll::wstep
