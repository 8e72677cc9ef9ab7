#pragma once
/// The judgments of `diagnose`, as pure functions of what was observed: whether a TLS chain, an
/// authentication challenge, a clock difference or a cached policy is fine, and if not, the
/// evidence and the fix. The step groups (*_checks.cpp) gather the observations; these decide.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "diagnose/network_probe.hpp"
#include "diagnose/report.hpp"
#include "http/transport.hpp"
#include "xcep/policy.hpp"

namespace certenroll::diagnose {

using TimePoint = std::chrono::system_clock::time_point;

/// "45 s", "12 min", "2 h 5 min", "3 d 4 h" (the absolute value, rounded down).
std::string describe_duration(std::chrono::seconds duration);

/// An HTTP Date header (RFC 9110 IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT"); nullopt for
/// anything else.
std::optional<TimePoint> parse_http_date(std::string_view text);

/// The chain as the server sent it, one certificate after the other (leaf first), each with its
/// key and expiry; then the trust anchor verification found, or the missing issuer:
/// "CN=localhost (RSA 2048, to 2027-11-25) ← CN=Sandbox-RSA-CA (RSA 3072, to 2046-11-20) ←
/// CN=Sandbox Root CA (not sent, not trusted)".
std::string describe_chain(const TlsResult& tls);

/// The TLS step. `endpoint` names the server ("localhost:8443"); `ca_bundle` is the configured
/// --ca-bundle ("" for the system store).
Finding assess_tls(const TlsResult& tls, const std::string& endpoint, const std::string& ca_bundle,
                   TimePoint now);

/// What an endpoint asked for when it was called without any credentials.
enum class Offer {
    Kerberos,           ///< HTTP 401 with WWW-Authenticate: Negotiate (SPNEGO)
    NtlmOnly,           ///< HTTP 401 offering NTLM but not Negotiate
    OtherHttpScheme,    ///< HTTP 401 offering only schemes such as Basic
    MessageSecurity,    ///< a SOAP security fault: WS-Security UsernameToken expected
    ClientCertificate,  ///< 401/403 without a challenge, after asking for a TLS client certificate
    Anonymous,          ///< it answered the request without credentials
    NotFound,           ///< HTTP 404: no service at this path
    Unknown,
};

struct OfferObservation {
    Offer offer = Offer::Unknown;
    std::string evidence;  ///< "HTTP 401 with WWW-Authenticate: Negotiate"
};

/// Reads an unauthenticated response. `asked_for_certificate`: the TLS handshake requested a
/// client certificate.
OfferObservation observe_offer(const http::Response& response, bool asked_for_certificate);

/// A real request (GetPolicies) with the configured password or certificate, made when an
/// unauthenticated request met a Negotiate challenge: some servers challenge every request
/// without credentials, yet take a UsernameToken or a client certificate.
struct CredentialTrial {
    bool accepted = false;
    /// Set when it failed: Auth = the credential was refused; any other kind says nothing
    /// about authentication.
    std::optional<ErrorKind> failure;
    std::string evidence;  ///< "GetPolicies with --auth password succeeded", or the error
};

/// The authentication step: what the endpoint offers against `configured` (nullopt when the
/// configuration could not be read). `host` names the server in messages. A Negotiate challenge
/// makes the endpoint "Kerberos-only" for a password or certificate only when `trial` shows the
/// credential refused (or when no trial could be made).
Finding assess_offer(const OfferObservation& observation, std::optional<xcep::AuthMode> configured,
                     const std::string& host,
                     const std::optional<CredentialTrial>& trial = std::nullopt);

/// This machine's clock against `reference` (the server's Date, the KDC's ticket time), observed
/// at `local`. Within 1 min passes, within 5 min warns; beyond fails, or warns when the protocol
/// compensates (`compensated`, e.g. Kerberos with kdc_timesync).
Finding assess_clock(std::string id, std::string title, TimePoint local, TimePoint reference,
                     const std::string& reference_name, bool compensated);

/// What is known about the cached policy of this CEP URL and identity.
struct CacheFacts {
    TimePoint fetched_at{};
    std::uint32_t next_update_hours = 8;
    bool live_known = false;               ///< the live policy was fetched to compare with
    std::vector<std::string> only_live;    ///< templates the server offers that the cache lacks
    std::vector<std::string> only_cached;  ///< templates the cache lists that are gone
    std::vector<std::string> changed;      ///< "WebServer revision 100.4 -> 100.5"
    std::string template_name;             ///< --template, to single it out
};

/// Fills the differences between the cached and the live policy's templates.
void compare_policies(const xcep::Policy& cached, const xcep::Policy& live, CacheFacts& facts);

/// The cache step: its age against nextUpdateHours, and what the cache hides from commands while
/// it stays fresh (the "new template not visible yet" case).
Finding assess_cache(const CacheFacts& facts, TimePoint now);

/// The "CES reaches the CA" step for one CES URL (`where` names it), from its answer to
/// QueryTokenStatus for a request ID that cannot exist (diagnose.hpp's probe_request_id), after
/// the client authenticated. `fault`: the CES fault the answer was (with an HRESULT); nullopt for
/// a status reply, which only the CA could have given. The CA was reached when it answered
/// CERTSRV_E_PROPERTY_EMPTY 0x80094004 (the CA found no such request: [MS-WCCE] 3.2.1.4.3.1.2);
/// RPC_S_SERVER_UNAVAILABLE 0x800706BA and E_ACCESSDENIED 0x80070005 fail as
/// wstep::explain_ces_fault explains them (the answer time orders the causes); any other HRESULT
/// warns that whether CES reached the CA is unknown.
Finding assess_ca_reach(const std::string& where, const std::optional<Error>& fault,
                        std::chrono::milliseconds answer_time, const std::string& ca_name);

}  // namespace certenroll::diagnose
