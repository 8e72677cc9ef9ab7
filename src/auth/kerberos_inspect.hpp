#pragma once
/// Looking at the Kerberos side of authentication step by step, for `diagnose`: the client's
/// ticket-granting ticket (from the credential cache or a keytab), whether a KDC of its realm
/// answers, and whether the KDC issues a service ticket for the server's SPN. Failures are the
/// same precise Errors that kerberos_failure() gives the real requests (no ticket, KDC
/// unreachable, clock skew, unknown SPN, ...).

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "auth/kerberos.hpp"
#include "error.hpp"

namespace certenroll::auth {

using TimePoint = std::chrono::system_clock::time_point;

/// The client's ticket-granting ticket.
struct ClientTicket {
    std::string source;     ///< "credential cache FILE:/tmp/krb5cc_0" or "keytab FILE"
    std::string principal;  ///< "alice@EXAMPLE.COM"
    std::string realm;
    TimePoint auth_time{};
    TimePoint end_time{};
    std::optional<TimePoint> renew_until;
    /// Obtained from the KDC just now (keytab): auth_time is the KDC's clock at this moment.
    bool fresh = false;
};

/// Whether a KDC of a realm answers.
struct KdcProbe {
    std::string realm;
    std::vector<std::string> configured;  ///< the realm's kdc entries in krb5.conf; empty: DNS
    bool answered = false;
    std::chrono::milliseconds elapsed{0};
    std::optional<Error> error;  ///< unreachable, unknown realm, unknown client principal, ...
};

/// A service ticket the KDC issued for the server.
struct ServiceTicket {
    std::string spn;        ///< as requested: "HTTP@host" or "HTTP/host@REALM"
    std::string principal;  ///< what the KDC issued it for: "HTTP/host@REALM"
    /// The ticket's start time, which the KDC sets to its clock when it issues the ticket (absent
    /// when the KDC leaves it out).
    std::optional<TimePoint> start_time;
    TimePoint end_time{};
    std::string enctype;  ///< "aes256-cts-hmac-sha1-96"
};

/// True for the Kerberos error codes that mean the clocks of this machine and the KDC or server
/// differ by more than the allowed skew.
bool is_clock_skew(std::int32_t code);

/// One krb5 context for a series of checks. Not thread-safe.
class KerberosInspector {
  public:
    /// Throws an internal Error when the Kerberos library cannot start.
    explicit KerberosInspector(KerberosSettings settings);
    ~KerberosInspector();
    KerberosInspector(const KerberosInspector&) = delete;
    KerberosInspector& operator=(const KerberosInspector&) = delete;

    /// krb5.conf's default_realm, "" when there is none.
    std::string default_realm() const;
    /// The configuration file in use: "KRB5_CONFIG=/path" or "/etc/krb5.conf".
    std::string configuration() const;

    /// The ticket-granting ticket of the configured principal: obtained now from the keytab into
    /// a private in-memory cache, else read from the credential cache ($KRB5CCNAME). Throws the
    /// Auth Error of kerberos_failure() (no ticket, expired, keytab unreadable, KDC errors).
    ClientTicket client_ticket();

    /// Sends the KDCs of `principal`'s realm an AS request without pre-authentication (no
    /// password or key is used): any answer proves a KDC is reachable. Never throws for KDC
    /// failures; they are in the result.
    KdcProbe probe_kdc(const std::string& principal);

    /// Asks the KDC for a new service ticket for `spn` (never one from the cache), with the
    /// ticket-granting ticket of client_ticket(), which must have succeeded. Throws the Auth
    /// Error of kerberos_failure() (unknown SPN, clock skew, KDC unreachable, ...).
    ServiceTicket service_ticket(const std::string& spn);

    /// The Kerberos error code of the last failure of client_ticket() or service_ticket(), 0 if
    /// none.
    std::int32_t last_error() const;

  private:
    struct State;
    std::unique_ptr<State> state_;
};

}  // namespace certenroll::auth
