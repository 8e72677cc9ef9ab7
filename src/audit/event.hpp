#pragma once
/// The audit record: one event of an enrollment (policy fetched, request submitted, issued,
/// pending, denied, renewed, retrieved, failed) as facts a SIEM can index, and its JSON form.
/// An event holds identities and certificate facts, never keys, passwords or PINs: there is no
/// field that could carry one.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace certenroll::audit {

using TimePoint = std::chrono::system_clock::time_point;

enum class EventType {
    PolicyFetched,     ///< the policy came from the CEP server (cache hits are not events)
    RequestSubmitted,  ///< a request is about to leave for a CES URL
    Issued,            ///< enroll: the certificate is verified and on disk
    Pending,           ///< the CA took the request under submission (CA manager approval)
    Denied,            ///< the CA, or the policy before anything was sent, refused
    Renewed,           ///< renew: the successor is verified and in place
    Retrieved,         ///< retrieve-pending: an approved certificate is verified and on disk
    Failed,            ///< a submitted request ended in an error other than a denial
};

/// "policy_fetched", "request_submitted", ...: the `event` field.
std::string_view event_name(EventType type);

/// Facts of an issued certificate (public data only).
struct CertificateFacts {
    std::string serial;  ///< lower-case hex, as the CA database shows it
    std::string sha1_thumbprint;
    std::string sha256_thumbprint;
    std::string subject;
    std::string issuer;
    std::vector<std::string> sans;  ///< "dns:a.example.com", "ip:192.0.2.1", "upn:...", ...
    TimePoint not_before{};
    TimePoint not_after{};
};

struct Event {
    EventType type = EventType::RequestSubmitted;
    TimePoint time{};
    // Where it happened: filled by the Log from its Origin.
    std::string host;
    std::uint64_t pid = 0;
    std::string version;
    std::string subcommand;
    // What was asked for, where, and by whom.
    std::string name;  ///< managed-certificate name
    std::string template_name;
    std::string ca_name;
    std::string cep_url;  ///< written without user info, query or fragment
    std::string ces_url;
    std::string auth;      ///< kerberos, password, certificate, anonymous (key-based renewal)
    std::string identity;  ///< user name, Kerberos principal or client certificate subject
    /// kerberos: "tls-server-end-point", the channel binding every ticket carries
    std::string channel_binding;
    bool renewal = false;
    std::string request_id;
    std::string requested_subject;            ///< request_submitted: the subject DN we asked for
    std::vector<std::string> requested_sans;  ///< request_submitted: "dns:...", "upn:...", ...
    std::string key_backend;                  ///< software, pkcs11, tpm
    std::string key_algorithm;                ///< "RSA 2048", "EC P-256"
    std::optional<CertificateFacts> certificate;
    std::string previous_serial;  ///< renewed: the certificate replaced
    // policy_fetched
    std::string policy_id;
    std::optional<bool> policy_changed;  ///< false: the server answered "not changed"
    std::optional<std::size_t> template_count;
    // denied, failed
    std::string denied_by;  ///< "ca" or "policy" (refused here, before anything was sent)
    std::string error_category;
    std::string error_message;
    std::string hresult;  ///< "0x80094012"
};

/// The event as one line of JSON (no newline): stable field names, empty fields left out, times
/// in RFC 3339 UTC. See man certenroll-cli(1), AUDIT LOG, for the schema.
std::string to_json_line(const Event& event);

/// "2026-11-25T03:30:00.123Z"
std::string format_rfc3339(TimePoint time);

/// `url` without what could hold a credential: user info ("user:password@"), query, fragment.
std::string redact_url(std::string_view url);

}  // namespace certenroll::audit
