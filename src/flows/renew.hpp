#pragma once
/// The renew use case: renew managed certificates that are due, one or all, safely from cron.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "error.hpp"
#include "flows/connection_settings.hpp"
#include "flows/context.hpp"
#include "flows/enroll.hpp"
#include "keys/key_backend.hpp"
#include "secret.hpp"

namespace certenroll::flows {

struct RenewOptions {
    /// The run's own settings (timeouts, delegation) and what the command line resolved already;
    /// URLs, authentication, CA bundle and proxy come from `settings` and each record (see
    /// connection_settings.hpp). `auth_from_record`: no --auth was typed.
    Connection connection;
    bool auth_from_record = true;
    SettingsLayers settings;
    /// Reads a secret a record (or the command line, or the profile) refers to, when needed:
    /// key-based renewal needs no password, a certificate not due none at all.
    SecretReader read_secret;
    /// Renew when less than this remains, instead of the template's renewal period.
    std::optional<std::chrono::seconds> renew_before;
    bool force = false;      ///< renew even when not due
    bool reuse_key = false;  ///< same-key renewal (forced anyway when the template demands it)
    /// Key-based renewal: the certificate being renewed is the TLS client credential at a
    /// certificate-authenticated CES (AD CS: -AllowKeyBasedRenewal); the policy, if any, comes
    /// from the key-based renewal CEP. Also done for records renewed key-based before, or whose
    /// CEP is a key-based renewal CEP.
    bool key_based = false;
    std::optional<keys::KeySpec> key_spec;  ///< new-key algorithm; default: like the old key
    /// Resolved per record from `settings` (key_passphrase, pfx_password) when left empty.
    SecretString key_passphrase;
    /// Where a new key is generated; default: the backend of the key being replaced.
    std::optional<std::string> key_backend;
    bool store_on_token = false;  ///< also put the renewed certificate on the token
    SecretString pfx_password;
    std::optional<std::string> deploy_hook;  ///< set: saved in the record and used from now on
    bool refresh_policy = false;
    std::chrono::milliseconds random_delay{0};  ///< wait up to this long before any traffic
    std::chrono::milliseconds lock_wait{std::chrono::minutes(5)};
};

struct RenewResult {
    enum class Status { Renewed, Pending, Skipped, Failed };
    /// What a renewal that went ahead adds: renewed, or pending at the CA. Held apart because
    /// renew --all keeps one result per record, most of them not due.
    struct Renewal {
        std::string request_id;
        std::string ces_url;
        bool same_key = false;
        store::OutputPaths files;                      ///< the certificate's files
        std::optional<IssuedCertificate> certificate;  ///< the new certificate, once renewed
        std::optional<int> hook_status;
        bool submitted = false;  ///< the request was sent in this run (not pending from before)
    };
    Status status = Status::Skipped;
    std::string name;
    std::string detail;  ///< why skipped, or what happened
    TimePoint due_at{};
    TimePoint old_not_after{};
    std::unique_ptr<Renewal> renewal;  ///< set for Renewed and Pending only
    std::vector<std::string> warnings;
    std::optional<Error> error;  ///< set for Failed (and for a failing deploy hook)
    /// The result is about a recorded pending request (an enrollment or a renewal) asked about
    /// again, not about a renewal submitted in this run.
    std::string collected_request_id;
};

/// When a certificate is due: `renew_before` before expiry if given, else the template's renewal
/// period before expiry if known, else after two thirds of its lifetime.
TimePoint renewal_due_at(TimePoint not_before, TimePoint not_after,
                         long long renewal_period_seconds,
                         const std::optional<std::chrono::seconds>& renew_before);

/// Renews the managed certificate `name` if due; if a renewal of it waits for approval, asks
/// about that one instead (installed once approved, as renew_all does). Errors are returned in
/// the result, not thrown, except usage errors about the arguments themselves.
RenewResult renew_one(const Context& context, const std::string& name, const RenewOptions& options);

/// First collects every pending request whose answer has come (approved: installed with its
/// deploy hook; denied: reported once, its generated key removed; still pending: reported as
/// pending), then renews every managed certificate that is due, each isolated from the others'
/// failures. One result per name.
std::vector<RenewResult> renew_all(const Context& context, const RenewOptions& options);

/// Renews a certificate not (yet) managed: `certificate_file` and its key `key_reference`, in
/// place, then records it as managed certificate `name` so later runs keep it fresh.
RenewResult renew_files(const Context& context, const std::string& name,
                        const std::string& certificate_file, const std::string& key_reference,
                        const std::string& template_name, const RenewOptions& options);

}  // namespace certenroll::flows
