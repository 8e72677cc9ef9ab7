#include "diagnose/kerberos_checks.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <utility>

#include "auth/kerberos.hpp"
#include "auth/kerberos_inspect.hpp"
#include "encoding/time_text.hpp"
#include "http/transport.hpp"

namespace certenroll::diagnose {

namespace {

using std::chrono::duration_cast;
using std::chrono::seconds;

std::string when(TimePoint time) {
    return encoding::format_time_utc(time);
}

class KerberosChecks : Steps {
  public:
    explicit KerberosChecks(Checklist& checklist) : Steps(checklist) {}

    std::string run() {
        kerberos();
        return kerberos_principal_;
    }

  private:
    std::string kerberos_principal_;

    static constexpr const char* binding_title = "Kerberos channel binding (Extended Protection)";

    // ---- Kerberos ---------------------------------------------------------------------------

    // The HTTP status of the probe request sent with a Kerberos ticket, bound to the TLS
    // connection or not.
    long probe_status(bool bound) {
        http::Settings settings = request_.connection.http;
        settings.client_certificate.reset();
        const auto trace = [this](std::string_view line) { context_.diagnostics.step(line); };
        settings.trace = trace;
        auth::KerberosSettings kerberos{credentials_.spn, credentials_.keytab,
                                        credentials_.principal, false, bound};
        auth::NegotiateTransport transport(context_.make_transport(settings), kerberos, trace);
        return transport.post(probe_request(target_url_, target_is_cep_, now())).status;
    }

    // Extended Protection for Authentication: whether the server demands that the ticket be
    // bound to the TLS connection (RFC 5929 tls-server-end-point), and accepts the binding this
    // client computes from the certificate it sees.
    void channel_binding(const std::string& spn, bool have_service_ticket) {
        const std::string id = "kerberos-channel-binding";
        const std::string title = binding_title;
        if (!have_service_ticket) {
            add(skipped(id, title, after("kerberos-service-ticket")));
            return;
        }
        if (!ok("tls")) {
            add(skipped(id, title, after("tls")));
            return;
        }
        long unbound = 0;
        long bound = 0;
        try {
            unbound = probe_status(false);
            bound = probe_status(true);
        } catch (const Error& error) {
            add(failed(id, title, error));
            return;
        }
        const std::string host = target_->host;
        if (unbound == 401 && bound != 401) {
            add(passed(id, title,
                       host +
                           " demands channel binding (Extended Protection \"Required\"): it "
                           "refused a ticket for " +
                           spn +
                           " without one (HTTP 401) and accepted the one bound to this TLS "
                           "connection (tls-server-end-point)"));
        } else if (unbound != 401 && bound != 401) {
            add(passed(id, title,
                       host +
                           " does not demand channel binding (Extended Protection off or "
                           "\"Allow\"): it accepted a ticket for " +
                           spn + " without one; certenroll-cli binds its tickets anyway"));
        } else if (unbound != 401) {
            add(failed(id, title, ErrorKind::Auth,
                       host + " accepted a ticket for " + spn +
                           " without channel binding but refused the one bound to this TLS "
                           "connection (HTTP 401): it expects the binding of another server "
                           "certificate, so something between here and the server ends TLS (a "
                           "TLS-inspecting proxy or a load balancer)",
                       "let TLS to the CEP/CES server pass through uninspected (Extended "
                       "Protection needs the certificate the server itself presents), or turn "
                       "Extended Protection off on that site (not recommended: KB5005413)"));
        } else {
            add(warned(id, title,
                       host + " refused the ticket for " + spn +
                           " with and without channel binding (HTTP 401): whether it demands "
                           "the binding is not known",
                       "the SPN must belong to the account running the CEP/CES application "
                       "pool (setspn -Q " +
                           spn + "), and the user must be allowed to enroll"));
        }
    }

    void kerberos() {
        const std::string ticket_title = "Kerberos ticket";
        const std::string kdc_title = "Kerberos KDC";
        const std::string service_title = "Kerberos service ticket";
        const std::string clock_title = "Clock vs. KDC";
        const auto skip_all = [&](const std::string& reason) {
            add(skipped("kerberos-ticket", ticket_title, reason));
            add(skipped("kerberos-kdc", kdc_title, reason));
            add(skipped("kerberos-service-ticket", service_title, reason));
            add(skipped("kerberos-clock", clock_title, reason));
            add(skipped("kerberos-channel-binding", binding_title, reason));
        };
        if (request_.configuration_error) {
            skip_all(after("configuration"));
            return;
        }
        if (credentials_.mode != xcep::AuthMode::Kerberos) {
            skip_all("not used: --auth " + mode_name(credentials_.mode));
            return;
        }
        auth::KerberosSettings settings{credentials_.spn, credentials_.keytab,
                                        credentials_.principal, credentials_.delegate_credentials};
        std::unique_ptr<auth::KerberosInspector> inspector;
        try {
            inspector = std::make_unique<auth::KerberosInspector>(settings);
        } catch (const Error& error) {
            add(failed("kerberos-ticket", ticket_title, error));
            add(skipped("kerberos-kdc", kdc_title, after("kerberos-ticket")));
            add(skipped("kerberos-service-ticket", service_title, after("kerberos-ticket")));
            add(skipped("kerberos-clock", clock_title, after("kerberos-ticket")));
            add(skipped("kerberos-channel-binding", binding_title, after("kerberos-ticket")));
            return;
        }

        // The ticket-granting ticket.
        std::optional<auth::ClientTicket> ticket;
        TimePoint ticket_seen_at{};
        bool ticket_skew = false;
        try {
            ticket = inspector->client_ticket();
            ticket_seen_at = now();
            kerberos_principal_ = ticket->principal;
            const auto left = duration_cast<seconds>(ticket->end_time - now());
            std::string evidence = ticket->principal + " (realm " + ticket->realm + ") from " +
                                   ticket->source + ", valid until " + when(ticket->end_time) +
                                   " (" + describe_duration(left) + ")";
            if (ticket->renew_until)
                evidence += ", renewable until " + when(*ticket->renew_until);
            if (!ticket->fresh && left < std::chrono::hours(1)) {
                add(warned("kerberos-ticket", ticket_title, evidence + "; it expires soon",
                           ticket->renew_until && *ticket->renew_until > ticket->end_time
                               ? "renew it with kinit -R, or get a new one with kinit"
                               : "get a new one with kinit (or use --keytab for unattended "
                                 "runs)"));
            } else {
                add(passed("kerberos-ticket", ticket_title, evidence));
            }
        } catch (const Error& error) {
            add(failed("kerberos-ticket", ticket_title, error));
            ticket_skew = auth::is_clock_skew(inspector->last_error());
        }

        // A KDC of the realm answers (also without a ticket: the next kinit needs one too).
        std::string principal = ticket ? ticket->principal : credentials_.principal;
        bool synthetic = false;
        if (principal.empty()) {
            if (const std::string realm = inspector->default_realm(); !realm.empty()) {
                principal = "certenroll-diagnose@" + realm;
                synthetic = true;
            }
        }
        if (principal.empty()) {
            add(skipped("kerberos-kdc", kdc_title,
                        "no realm known: no ticket, no --principal and no default_realm in " +
                            inspector->configuration()));
        } else {
            const auto probe = inspector->probe_kdc(principal);
            const std::string where =
                (probe.configured.empty() ? "KDCs from DNS SRV records; no kdc entry in "
                                          : "kdc = " + join(probe.configured) + " in ") +
                inspector->configuration();
            const bool unknown_client_expected =
                synthetic && probe.answered && probe.error.has_value();
            if (probe.answered && (!probe.error || unknown_client_expected)) {
                add(passed("kerberos-kdc", kdc_title,
                           "a KDC of " + probe.realm + " answered in " +
                               std::to_string(probe.elapsed.count()) + " ms (" + where + ")"));
            } else if (probe.error) {
                Finding finding = failed("kerberos-kdc", kdc_title, *probe.error);
                finding.evidence += " (realm " + probe.realm + "; " + where + ")";
                add(std::move(finding));
            } else {
                add(failed("kerberos-kdc", kdc_title, ErrorKind::Auth,
                           "no KDC of " + probe.realm + " answered (" + where + ")",
                           "check the network path to the KDC (port 88) and the realm's kdc "
                           "entries in krb5.conf (KRB5_CONFIG)"));
            }
        }

        // A fresh service ticket for the server's SPN.
        const std::string spn =
            credentials_.spn.empty() ? auth::default_spn(target_url_) : credentials_.spn;
        std::optional<auth::ServiceTicket> service;
        TimePoint service_seen_at{};
        bool skew = false;
        if (!target_) {
            add(skipped("kerberos-service-ticket", service_title, "no server URL to get one for"));
        } else if (!ticket) {
            add(skipped("kerberos-service-ticket", service_title, after("kerberos-ticket")));
        } else {
            try {
                service = inspector->service_ticket(spn);
                service_seen_at = now();
                add(passed("kerberos-service-ticket", service_title,
                           spn + ": the KDC issued a ticket for " + service->principal +
                               (service->enctype.empty() ? "" : " (" + service->enctype + ")") +
                               ", valid until " + when(service->end_time)));
            } catch (const Error& error) {
                skew = auth::is_clock_skew(inspector->last_error());
                add(failed("kerberos-service-ticket", service_title, error));
            }
        }

        // The clock against the KDC's: from a ticket it has just issued.
        if (skew || ticket_skew) {
            add(failed(
                "kerberos-clock", clock_title, ErrorKind::Auth,
                "the KDC refused the request because the clocks differ by more than the "
                "allowed skew (see " +
                    std::string(ticket_skew ? "kerberos-ticket" : "kerberos-service-ticket") + ")",
                "synchronise this machine's clock (NTP, with the domain controllers); "
                "Kerberos allows 5 minutes"));
        } else if (service && service->start_time) {
            add(assess_clock("kerberos-clock", clock_title, service_seen_at, *service->start_time,
                             "the KDC", true));
        } else if (ticket && ticket->fresh) {
            add(assess_clock("kerberos-clock", clock_title, ticket_seen_at, ticket->auth_time,
                             "the KDC", true));
        } else {
            add(skipped("kerberos-clock", clock_title,
                        ticket ? "no ticket issued just now to compare with (see "
                                 "kerberos-service-ticket)"
                               : after("kerberos-ticket")));
        }

        channel_binding(spn, service.has_value());
    }
};

}  // namespace

std::string check_kerberos(Checklist& checklist) {
    return KerberosChecks(checklist).run();
}

}  // namespace certenroll::diagnose
