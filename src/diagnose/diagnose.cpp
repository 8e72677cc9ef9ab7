#include "diagnose/diagnose.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <utility>

#include "auth/kerberos.hpp"
#include "auth/kerberos_inspect.hpp"
#include "diagnose/assess.hpp"
#include "encoding/time_text.hpp"
#include "flows/policy.hpp"
#include "flows/template_rules.hpp"
#include "http/https_transport.hpp"
#include "http/probe.hpp"
#include "keys/backends.hpp"
#include "keys/software_key.hpp"
#include "platform/platform.hpp"
#include "soap/envelope.hpp"
#include "soap/fault.hpp"
#include "soap/namespaces.hpp"
#include "store/atomic_file.hpp"
#include "wstep/client.hpp"
#include "wstep/messages.hpp"
#include "xcep/client.hpp"
#include "xcep/endpoints.hpp"
#include "xcep/get_policies.hpp"
#include "xcep/policy_cache.hpp"
#include "xml/xml.hpp"

namespace certenroll::diagnose {

namespace {

namespace fs = std::filesystem;
using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

std::string join(const std::vector<std::string>& parts, std::string_view separator = ", ") {
    std::string out;
    for (const auto& part : parts)
        out += (out.empty() ? "" : std::string(separator)) + part;
    return out;
}

std::string when(TimePoint time) {
    return encoding::format_time_utc(time);
}

std::string elapsed_text(steady_clock::duration elapsed) {
    const auto micros = duration_cast<std::chrono::microseconds>(elapsed).count();
    if (micros < 10000)
        return std::to_string(micros / 1000) + "." + std::to_string(micros / 100 % 10) + " ms";
    return std::to_string(micros / 1000) + " ms";
}

std::string address_with_port(const std::string& address, int port) {
    return (address.find(':') != std::string::npos ? "[" + address + "]" : address) + ":" +
           std::to_string(port);
}

std::string mode_name(xcep::AuthMode mode) {
    return std::string(xcep::auth_mode_name(mode));
}

// Who the credentials say we are, for evidence; never a secret.
std::string identity_text(const flows::Credentials& credentials) {
    switch (credentials.mode) {
        case xcep::AuthMode::UsernamePassword:
            return "user " + (credentials.username.empty() ? "?" : credentials.username);
        case xcep::AuthMode::Certificate:
            return "client certificate " + credentials.client_certificate;
        case xcep::AuthMode::Kerberos: {
            std::string text;
            if (!credentials.keytab.empty())
                text = "keytab " + credentials.keytab +
                       (credentials.principal.empty() ? "" : " (" + credentials.principal + ")");
            else if (!credentials.principal.empty())
                text = "principal " + credentials.principal + " from the credential cache";
            else
                text = "the credential cache's ticket";
            if (!credentials.spn.empty())
                text += ", SPN " + credentials.spn;
            return text;
        }
        case xcep::AuthMode::Anonymous:
            break;
    }
    return "no credentials (key-based renewal)";
}

// The one-line identity for messages about permissions.
std::string who(const flows::Credentials& credentials, const std::string& kerberos_principal) {
    switch (credentials.mode) {
        case xcep::AuthMode::UsernamePassword:
            return credentials.username;
        case xcep::AuthMode::Certificate:
            return "the holder of " + credentials.client_certificate;
        case xcep::AuthMode::Kerberos:
            return kerberos_principal.empty() ? credentials.principal.empty()
                                                    ? std::string("this Kerberos identity")
                                                    : credentials.principal
                                              : kerberos_principal;
        case xcep::AuthMode::Anonymous:
            break;
    }
    return "this identity";
}

std::string octal_permissions(fs::perms perms) {
    const auto bits = static_cast<unsigned>(perms) & 0777u;
    std::string text = "0";
    for (int shift = 6; shift >= 0; shift -= 3)
        text += static_cast<char>('0' + ((bits >> shift) & 7u));
    return text;
}

class Checklist {
  public:
    Checklist(const flows::Context& context, const Request& request)
        : context_(context), request_(request), credentials_(request.connection.credentials) {}

    Report run() {
        configuration();
        network();
        offered_authentication();
        kerberos();
        policy();
        policy_cache();
        template_checks();
        ces();
        key_backend();
        state_directory();
        return std::move(report_);
    }

  private:
    const flows::Context& context_;
    const Request& request_;
    const flows::Credentials& credentials_;
    Report report_;

    std::string target_url_;
    bool target_is_cep_ = false;
    std::optional<http::UrlParts> target_;
    std::vector<std::string> addresses_;
    http::TlsResult tls_;
    std::optional<http::Response> anonymous_answer_;
    TimePoint anonymous_answer_at_{};
    std::string kerberos_principal_;
    std::optional<xcep::Policy> live_policy_;
    const xcep::Template* template_ = nullptr;
    std::vector<xcep::CesEndpoint> template_endpoints_;

    TimePoint now() const { return context_.clock(); }

    void add(Finding finding) {
        context_.diagnostics.step("diagnose: " + std::string(status_name(finding.status)) + " " +
                                  finding.id + ": " + finding.evidence);
        report_.findings.push_back(std::move(finding));
    }

    // True when the step ran and passed (possibly with a warning).
    bool ok(std::string_view id) const {
        const Finding* finding = report_.find(id);
        return finding != nullptr &&
               (finding->status == Status::Pass || finding->status == Status::Warn);
    }

    bool failed_step(std::string_view id) const {
        const Finding* finding = report_.find(id);
        return finding != nullptr && finding->status == Status::Fail;
    }

    std::string after(std::string_view id) const {
        const Finding* finding = report_.find(id);
        if (finding == nullptr)
            return "skipped";
        if (finding->status == Status::Skip)
            return finding->evidence;  // the root cause, passed along
        return "skipped: " + finding->title + " " +
               (finding->status == Status::Fail ? "failed" : "was skipped") + " (see " +
               std::string(id) + ")";
    }

    // The first of `ids` that did not pass, as a skip reason; empty when all passed.
    std::string blocked_by(std::initializer_list<std::string_view> ids) const {
        for (const auto id : ids) {
            if (report_.find(id) != nullptr && !ok(id))
                return after(id);
        }
        return "";
    }

    std::string host_text() const { return target_ ? target_->host : std::string("the server"); }

    // ---- configuration --------------------------------------------------------------------------

    void configuration() {
        const auto& connection = request_.connection;
        const std::string id = "configuration";
        const std::string title = "Configuration";
        if (!connection.cep_url.empty()) {
            target_url_ = connection.cep_url;
            target_is_cep_ = true;
        } else {
            target_url_ = connection.ces_url;
        }
        if (request_.configuration_error) {
            add(failed(id, title, *request_.configuration_error));
        } else if (target_url_.empty()) {
            add(warned(id, title,
                       "no --url or --ces-url: only the local checks (key backend, state "
                       "directory) run",
                       "pass --url CEP_URL (or --ces-url CES_URL) to check the servers too"));
            return;
        }
        if (!target_url_.empty()) {
            target_ = http::parse_url(target_url_);
            if (!target_ || target_->scheme != "https") {
                target_.reset();
                if (!request_.configuration_error) {
                    add(failed(id, title, ErrorKind::Usage,
                               "cannot use the URL " + target_url_ + ": not an https:// URL",
                               "use the https:// URL of the CEP (--url) or CES (--ces-url) "
                               "service"));
                }
                return;
            }
        }
        if (request_.configuration_error)
            return;
        std::string evidence = std::string(target_is_cep_ ? "CEP " : "CES ") + target_url_;
        if (target_is_cep_ && !connection.ces_url.empty())
            evidence += ", CES " + connection.ces_url;
        evidence += "; --auth " + mode_name(credentials_.mode) +
                    (request_.auth_origin.empty() ? "" : " (" + request_.auth_origin + ")") + ", " +
                    identity_text(credentials_);
        evidence += "; trust: " + (connection.http.ca_bundle.empty()
                                       ? std::string("the system store")
                                       : "--ca-bundle " + connection.http.ca_bundle);
        // A username (and its password) that the chosen mode never sends: commands ignore it
        // silently, so say so here (the "password for a Kerberos-only endpoint" case).
        if (!credentials_.username.empty() &&
            credentials_.mode != xcep::AuthMode::UsernamePassword) {
            // The URL's path names the mode: the endpoint accepts nothing else.
            const bool from_url = xcep::auth_mode_from_url(target_url_) == credentials_.mode;
            add(warned(id, title,
                       evidence + "; --username " + credentials_.username +
                           " and its password are not used by --auth " +
                           mode_name(credentials_.mode),
                       from_url && credentials_.mode == xcep::AuthMode::Kerberos
                           ? "the URL names a Kerberos-only endpoint: log in with kinit (or "
                             "--keytab) and leave out --username, or use the service's "
                             "_UsernamePassword URL for a password login"
                       : from_url ? "this endpoint accepts --auth " + mode_name(credentials_.mode) +
                                        " only: leave out --username, or use the service's "
                                        "_UsernamePassword URL for a password login"
                                  : "leave out --username, or use --auth password (with the "
                                    "service's _UsernamePassword URL)"));
            return;
        }
        add(passed(id, title, evidence));
    }

    // ---- DNS, TCP, TLS ----------------------------------------------------------------------

    void network() {
        if (!target_) {
            const std::string reason =
                target_url_.empty() ? "no --url or --ces-url given" : after("configuration");
            add(skipped("dns", "DNS resolution", reason));
            add(skipped("tcp", "TCP connection", reason));
            add(skipped("tls", "TLS handshake", reason));
            return;
        }
        const auto& settings = request_.connection.http;
        const auto proxy = http::effective_proxy(target_url_, settings.proxy);
        const std::string host = proxy ? proxy->parts.host : target_->host;
        const int port = proxy ? proxy->parts.port : target_->port;
        const std::string via = proxy ? " (the proxy " + proxy->display + " from " + proxy->source +
                                            ", which resolves and connects to " + target_->host +
                                            " itself)"
                                      : "";

        // DNS
        if (proxy ? proxy->parts.ip_literal : target_->ip_literal) {
            addresses_ = {host};
            add(passed("dns", "DNS resolution", host + " is an IP address" + via));
        } else {
            const auto resolved = platform::resolve_host(host);
            if (resolved.addresses.empty()) {
                add(failed("dns", "DNS resolution", ErrorKind::Network,
                           "cannot resolve " + host + ": " + resolved.error + via,
                           resolved.temporary
                               ? "the DNS servers did not answer: check the resolver "
                                 "configuration (/etc/resolv.conf) and the network"
                           : proxy ? "check the proxy's host name in " + proxy->source
                                   : "check the host name in the URL; for an internal name, check "
                                     "the DNS servers and search domains (/etc/resolv.conf)"));
            } else {
                addresses_ = resolved.addresses;
                add(passed("dns", "DNS resolution", host + ": " + join(addresses_) + via));
            }
        }

        // TCP
        if (addresses_.empty()) {
            add(skipped("tcp", "TCP connection", after("dns")));
        } else {
            std::vector<std::string> outcomes;
            std::string first_error;
            bool connected = false;
            for (std::size_t i = 0; i < addresses_.size() && i < 6; ++i) {
                const auto result = http::probe_tcp(addresses_[i], port, settings.connect_timeout);
                const std::string where = address_with_port(addresses_[i], port);
                if (result.connected) {
                    connected = true;
                    outcomes.push_back(where + " connected in " + elapsed_text(result.elapsed));
                } else {
                    outcomes.push_back(where + ": " + result.error);
                    if (first_error.empty())
                        first_error = result.error;
                }
            }
            const std::string evidence =
                (proxy ? "to the proxy: " : std::string()) + join(outcomes, "; ");
            if (connected) {
                add(passed("tcp", "TCP connection", evidence));
            } else {
                std::string fix;
                if (first_error.find("refused") != std::string::npos)
                    fix = "nothing listens on port " + std::to_string(port) + " of " + host +
                          ": check the URL's port and that the " +
                          (proxy ? "proxy" : "CEP/CES web site (IIS)") + " is running";
                else if (first_error.find("no answer") != std::string::npos)
                    fix = "check the firewalls between this machine and " + host + " port " +
                          std::to_string(port) +
                          (proxy ? "" : ", or set --proxy / https_proxy if this network needs one");
                else if (first_error.find("nreachable") != std::string::npos ||
                         first_error.find("No route") != std::string::npos)
                    fix = "there is no route to " + host + ": check the network, VPN and routing";
                else
                    fix = "check the URL, the port and the network path to " + host;
                add(failed("tcp", "TCP connection", ErrorKind::Network, evidence, fix));
            }
        }

        // TLS
        if (!ok("tcp")) {
            add(skipped("tls", "TLS handshake", after("tcp")));
            return;
        }
        http::Settings probe_settings = settings;
        probe_settings.client_certificate.reset();
        tls_ = http::probe_tls(target_url_, probe_settings);
        add(assess_tls(tls_, address_with_port(target_->host, target_->port), settings.ca_bundle,
                       now()));
    }

    // ---- what the endpoint asks for -------------------------------------------------------

    void offered_authentication() {
        if (!target_ || !ok("tls")) {
            const Finding* dns = report_.find("dns");
            const std::string why =
                target_ ? after("tls") : (dns ? dns->evidence : std::string("no server URL"));
            add(skipped("http-auth", "Authentication offered", why));
            add(skipped("clock", "Clock vs. server", why));
            return;
        }
        http::Request request;
        request.url = target_url_;
        request.return_unauthorized = true;
        soap::RequestHeaders headers;
        headers.to = target_url_;
        headers.message_id = soap::new_message_id();
        headers.now = now();
        if (target_is_cep_) {
            headers.action = std::string(soap::action::get_policies);
            request.body = soap::build_request(headers, xcep::build_get_policies({}));
        } else {
            headers.action = std::string(soap::action::request_security_token);
            request.body =
                soap::build_request(headers, wstep::build_query_token_status(probe_request_id));
        }
        request.headers.push_back(
            {"Content-Type",
             "application/soap+xml; charset=utf-8; action=\"" + headers.action + "\""});
        http::Settings settings = request_.connection.http;
        settings.client_certificate.reset();  // no credential of any kind
        settings.trace = [this](std::string_view line) { context_.diagnostics.step(line); };
        try {
            http::HttpsTransport transport(settings);
            anonymous_answer_ = transport.post(request);
            anonymous_answer_at_ = now();
        } catch (const Error& error) {
            add(failed("http-auth", "Authentication offered", error));
            add(skipped("clock", "Clock vs. server", after("http-auth")));
            return;
        }
        const auto observation =
            observe_offer(*anonymous_answer_, tls_.client_certificate_requested);
        std::optional<xcep::AuthMode> configured;
        if (!request_.configuration_error)
            configured = credentials_.mode;
        add(assess_offer(observation, configured, target_->host));

        const auto date = anonymous_answer_->header("Date");
        const auto server_time = date ? parse_http_date(*date) : std::nullopt;
        if (!server_time) {
            add(skipped("clock", "Clock vs. server",
                        date ? "the server's Date header is not an HTTP date: " + std::string(*date)
                             : "the server sent no Date header"));
            return;
        }
        add(assess_clock("clock", "Clock vs. server", anonymous_answer_at_, *server_time,
                         "the server " + target_->host, false));
    }

    // ---- Kerberos ---------------------------------------------------------------------------

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
    }

    // ---- policy -----------------------------------------------------------------------------

    std::string credential_blocker() const {
        if (request_.configuration_error)
            return after("configuration");
        if (credentials_.mode == xcep::AuthMode::Kerberos) {
            if (!ok("kerberos-ticket"))
                return after("kerberos-ticket");
        }
        return "";
    }

    void policy() {
        const std::string id = "policy";
        const std::string title = "Policy (GetPolicies)";
        if (!target_is_cep_) {
            add(skipped(id, title,
                        target_url_.empty() ? "no --url given"
                                            : "no --url: the CES URL is used without a policy"));
            return;
        }
        std::string reason = credential_blocker();
        if (reason.empty())
            reason = blocked_by({"configuration", "tls", "http-auth"});
        if (reason.empty() && !target_)
            reason = after("configuration");
        if (reason.empty() && credentials_.mode == xcep::AuthMode::Kerberos &&
            failed_step("kerberos-service-ticket"))
            reason = after("kerberos-service-ticket");
        if (!reason.empty()) {
            add(skipped(id, title, reason));
            return;
        }
        try {
            const auto transport = flows::open_transport(context_, request_.connection);
            const auto start = steady_clock::now();
            live_policy_ = xcep::fetch_policy(*transport, target_url_, {}, now(),
                                              flows::call_options(context_, credentials_));
            const auto elapsed = steady_clock::now() - start;
            const auto& p = *live_policy_;
            std::size_t usable = 0;
            for (const auto& t : p.templates)
                usable += flows::why_unusable(p, t, credentials_.mode).empty() ? 1 : 0;
            const std::string evidence =
                "'" + (p.friendly_name.empty() ? p.policy_id : p.friendly_name) + "' in " +
                elapsed_text(elapsed) + ": " + std::to_string(p.templates.size()) + " templates (" +
                std::to_string(usable) + " usable with --auth " + mode_name(credentials_.mode) +
                "), " + std::to_string(p.cas.size()) + " CAs, nextUpdateHours " +
                (p.next_update_hours ? std::to_string(*p.next_update_hours) : "nil (8)");
            if (p.templates.empty()) {
                add(warned(id, title,
                           evidence + ": this policy offers " +
                               who(credentials_, kerberos_principal_) + " no template at all",
                           "the CA administrators must give " +
                               who(credentials_, kerberos_principal_) +
                               " Read and Enroll permission on the templates it needs"));
            } else {
                add(passed(id, title, evidence));
            }
        } catch (const Error& error) {
            add(failed(id, title, error));
        }
    }

    void policy_cache() {
        const std::string id = "policy-cache";
        const std::string title = "Cached policy";
        if (!target_is_cep_) {
            add(skipped(id, title, "no --url: there is no policy to cache"));
            return;
        }
        if (request_.configuration_error) {
            add(skipped(id, title, after("configuration")));
            return;
        }
        const std::string identity = flows::policy_identity(credentials_);
        const fs::path path =
            context_.state.policy_cache_dir() / xcep::cache_file_name(target_url_, identity);
        const auto text = store::read_file(path);
        if (!text) {
            add(passed(id, title,
                       "none yet for this URL and identity in " +
                           context_.state.policy_cache_dir().string() +
                           ": the next policy or enroll fetches it"));
            return;
        }
        CacheFacts facts;
        facts.template_name = request_.template_name;
        try {
            const auto entry = xcep::CacheEntry::from_file_text(*text);
            const auto cached = xcep::parse_get_policies_response(xml::parse(entry.response_xml));
            facts.fetched_at = entry.fetched_at;
            facts.next_update_hours =
                cached.next_update_hours.value_or(xcep::default_next_update_hours);
            if (live_policy_)
                compare_policies(cached, *live_policy_, facts);
        } catch (const Error& error) {
            add(warned(id, title, path.string() + " is unreadable: " + error.message(),
                       "run 'certenroll-cli policy --refresh' to replace it"));
            return;
        }
        Finding finding = assess_cache(facts, now());
        finding.evidence = path.filename().string() + ": " + finding.evidence;
        add(std::move(finding));
    }

    // ---- template ---------------------------------------------------------------------------

    void template_checks() {
        const std::string& name = request_.template_name;
        if (name.empty()) {
            add(skipped("template", "Template", "no --template given"));
            return;
        }
        const std::string title = "Template " + name;
        const std::string permission_title = "Enroll permission";
        const std::string auth_title = "CES URLs for the template";
        if (!live_policy_) {
            const std::string reason = target_is_cep_ ? after("policy") : "no --url: no policy";
            add(skipped("template", title, reason));
            add(skipped("template-permission", permission_title, reason));
            add(skipped("template-auth", auth_title, reason));
            return;
        }
        const auto& policy = *live_policy_;
        const std::string identity = who(credentials_, kerberos_principal_);
        template_ = policy.find_template(name);
        if (template_ == nullptr) {
            std::vector<std::string> offered;
            for (const auto& t : policy.templates)
                offered.push_back(t.common_name);
            add(failed("template", title, ErrorKind::Usage,
                       "the policy offers " + identity + " no template '" + name + "'" +
                           (offered.empty() ? " (it offers no template at all)"
                                            : "; it offers: " + join(offered)),
                       "check the name ('certenroll-cli policy' lists them); a template "
                       "this identity may not read is not listed: ask the CA administrators "
                       "for Read and Enroll permission"));
            add(skipped("template-permission", permission_title, after("template")));
            add(skipped("template-auth", auth_title, after("template")));
            return;
        }
        const auto& t = *template_;
        const auto cas = xcep::template_ca_names(policy, t);
        add(passed(
            "template", title,
            "schema " + std::to_string(t.schema) + ", key " + xcep::key_algorithm_name(t) +
                " >= " + std::to_string(t.key.minimal_key_length) + " bits, hash " +
                xcep::hash_algorithm_name(t) + ", subject " +
                (xcep::enrollee_supplies_subject(t) ? "from the request" : "built by the CA") +
                ", validity " + describe_duration(seconds(t.validity_seconds)) + "; issued by " +
                (cas.empty() ? std::string("no CA") : join(cas))));

        if (t.permission_enroll) {
            add(passed("template-permission", permission_title,
                       "the policy grants " + identity + " Enroll on " + t.common_name +
                           (t.permission_autoenroll ? " (and Autoenroll)" : "")));
        } else {
            add(failed("template-permission", permission_title, ErrorKind::Denied,
                       "the policy says " + identity + " may not enroll in " + t.common_name +
                           " (the CA would refuse with CERTSRV_E_TEMPLATE_DENIED 0x80094012)",
                       "ask the CA administrators for Enroll permission on " + t.common_name +
                           " for " + identity + ", or use an identity that has it"));
        }

        std::vector<std::string> reasons;
        for (const auto& reason : flows::why_unusable(policy, t, credentials_.mode)) {
            if (reason.find("Enroll permission") == std::string::npos)
                reasons.push_back(reason);
        }
        template_endpoints_ = xcep::select_ces_endpoints(policy, t, credentials_.mode, false);
        const std::string& ca = request_.connection.ca_name;
        if (!ca.empty()) {
            std::erase_if(template_endpoints_,
                          [&](const xcep::CesEndpoint& e) { return e.ca_name != ca; });
            if (template_endpoints_.empty() && reasons.empty())
                reasons.push_back("no CA named '" + ca + "' issues " + t.common_name +
                                  " through --auth " + mode_name(credentials_.mode) +
                                  " (CAs: " + join(cas) + ")");
        }
        if (!reasons.empty()) {
            std::vector<std::string> offered;
            for (const auto other : {xcep::AuthMode::Kerberos, xcep::AuthMode::UsernamePassword,
                                     xcep::AuthMode::Certificate}) {
                if (other != credentials_.mode &&
                    !xcep::select_ces_endpoints(policy, t, other, false).empty())
                    offered.push_back("--auth " + mode_name(other));
            }
            const bool no_url = reasons.front().starts_with("no CES URL");
            add(failed(
                "template-auth", auth_title, ErrorKind::Usage, join(reasons, "; "),
                !ca.empty() && template_endpoints_.empty() && !no_url
                    ? "leave out --ca, or name one of: " + join(cas)
                : no_url && !offered.empty()
                    ? "use " + join(offered, " or ") + " (with that mode's credentials and CEP URL)"
                : no_url ? "ask the CA administrators to publish a CES URL for --auth " +
                               mode_name(credentials_.mode)
                         : "use a template without this requirement"));
            return;
        }
        std::vector<std::string> urls;
        for (const auto& e : template_endpoints_) {
            urls.push_back(e.ca_name + ": " + e.uri +
                           (e.priority ? " (priority " + std::to_string(*e.priority) + ")" : ""));
        }
        add(passed("template-auth", auth_title,
                   "for --auth " + mode_name(credentials_.mode) + ": " + join(urls, "; ")));
    }

    // ---- CES --------------------------------------------------------------------------------

    std::vector<xcep::CesEndpoint> ces_endpoints(std::string& reason) const {
        const auto& connection = request_.connection;
        if (!connection.ces_url.empty()) {
            xcep::CesEndpoint given;
            given.uri = connection.ces_url;
            given.ca_name = connection.ca_name;
            given.auth = credentials_.mode;
            return {given};
        }
        if (!live_policy_) {
            reason = target_is_cep_ ? after("policy") : "no CES URL given";
            return {};
        }
        if (!request_.template_name.empty()) {
            if (template_ == nullptr) {
                reason = after("template");
            } else if (template_endpoints_.empty()) {
                reason = after("template-auth");
            }
            return template_endpoints_;
        }
        // Without --template: every CES URL of the policy for this mode.
        std::vector<xcep::CesEndpoint> all;
        for (std::size_t i = 0; i < live_policy_->cas.size(); ++i) {
            const auto& ca = live_policy_->cas[i];
            if (!ca.enroll_permission ||
                (!connection.ca_name.empty() && ca.name != connection.ca_name))
                continue;
            for (const auto& uri : ca.uris) {
                if (uri.client_authentication != credentials_.mode || uri.renewal_only)
                    continue;
                const bool known = std::any_of(all.begin(), all.end(),
                                               [&](const auto& e) { return e.uri == uri.uri; });
                if (!known)
                    all.push_back(
                        {uri.uri, ca.name, i, uri.client_authentication, uri.priority, false});
            }
        }
        if (all.empty())
            reason = "the policy lists no CES URL for --auth " + mode_name(credentials_.mode) +
                     (connection.ca_name.empty() ? "" : " at CA " + connection.ca_name);
        return all;
    }

    void ces() {
        const std::string title = "CES endpoint";
        std::string reason;
        const auto endpoints = ces_endpoints(reason);
        if (endpoints.empty()) {
            add(skipped("ces", title, reason.empty() ? "no CES URL to check" : reason));
            return;
        }
        reason = credential_blocker();
        if (reason.empty() && !target_is_cep_)
            reason = blocked_by({"tls", "http-auth"});
        if (!reason.empty()) {
            add(skipped("ces", title, reason));
            return;
        }
        std::unique_ptr<http::Transport> transport;
        try {
            transport = flows::open_transport(context_, request_.connection);
        } catch (const Error& error) {
            add(failed("ces", title, error));
            return;
        }
        const std::size_t first = report_.findings.size();
        std::size_t working = 0;
        for (std::size_t i = 0; i < endpoints.size() && i < 8; ++i) {
            const auto& endpoint = endpoints[i];
            const std::string where =
                endpoint.uri + (endpoint.ca_name.empty() ? "" : " (CA " + endpoint.ca_name) +
                (endpoint.priority ? std::string(endpoint.ca_name.empty() ? " (" : ", ") +
                                         "priority " + std::to_string(*endpoint.priority) + ")"
                                   : std::string(endpoint.ca_name.empty() ? "" : ")"));
            const auto start = steady_clock::now();
            try {
                wstep::query_token_status(*transport, endpoint.uri, probe_request_id, now(),
                                          flows::call_options(context_, credentials_));
                ++working;
                add(passed("ces", title,
                           where + ": authenticated; it answered QueryTokenStatus in " +
                               elapsed_text(steady_clock::now() - start)));
            } catch (const Error& error) {
                if (error.hresult()) {
                    // The CA itself answered about the (unused) request ID: the request got
                    // through TLS and authentication.
                    ++working;
                    const auto* info = soap::find_hresult(*error.hresult());
                    add(passed("ces", title,
                               where + ": authenticated; the CA answered in " +
                                   elapsed_text(steady_clock::now() - start) +
                                   " (QueryTokenStatus for the unused request ID " +
                                   probe_request_id + ": " +
                                   (info ? std::string(info->name) + " " : std::string()) +
                                   format_hresult(*error.hresult()) + ", as expected)"));
                } else {
                    Finding finding = failed("ces", title, error);
                    finding.evidence = where + ": " + finding.evidence;
                    add(std::move(finding));
                }
            }
        }
        // With a working URL, enroll fails over: a dead one is a warning.
        if (working > 0) {
            for (std::size_t i = first; i < report_.findings.size(); ++i) {
                auto& finding = report_.findings[i];
                if (finding.status == Status::Fail) {
                    finding.status = Status::Warn;
                    finding.kind.reset();
                    finding.evidence += "; enroll fails over to the working URL";
                }
            }
        }
    }

    // ---- local ------------------------------------------------------------------------------

    void key_backend() {
        const std::string id = "key-backend";
        const std::string title = "Key generation";
        keys::KeySpec spec;
        std::string why = request_.template_name.empty()
                              ? "no --template: the default"
                              : "the default, since --template " + request_.template_name +
                                    " could not be checked";
        if (template_ != nullptr) {
            try {
                std::vector<std::string> ignored;
                spec = flows::plan_request(template_, template_->common_name, std::nullopt,
                                           "CN=certenroll-diagnose", {}, ignored)
                           .key_spec;
                why = "what " + template_->common_name + " requires";
            } catch (const Error& error) {
                add(failed(id, title, error));
                return;
            }
        }
        if (request_.key_backend == "pkcs11") {
            token(spec, why);
        } else if (request_.key_backend == "tpm") {
            tpm(spec, why);
        } else {
            software(spec, why);
        }
    }

    void software(const keys::KeySpec& spec, const std::string& why) {
        const std::string id = "key-backend";
        const std::string title = "Key generation";
        try {
            keys::SoftwareKeyBackend backend;
            const auto start = steady_clock::now();
            const auto key = backend.generate(spec);
            const auto elapsed = steady_clock::now() - start;
            add(passed(id, title,
                       "software backend (" + std::string(OpenSSL_version(OPENSSL_VERSION)) +
                           "): generated an " + keys::describe(spec) + " key (" + why + ") in " +
                           elapsed_text(elapsed)));
        } catch (const Error& error) {
            add(failed(id, title, ErrorKind::Local,
                       "the software backend cannot generate an " + keys::describe(spec) +
                           " key: " + error.message(),
                       "check the OpenSSL installation (openssl genpkey works?) and its "
                       "configuration (OPENSSL_CONF)"));
        }
    }

    // A transient key in the TPM: created under the storage hierarchy and flushed when freed;
    // its wrapped blob is never written, so nothing is left behind.
    void tpm(const keys::KeySpec& spec, const std::string& why) {
        const std::string id = "key-backend";
        const std::string title = "Key generation";
        const std::string tcti = context_.keys->tpm_tcti();
        const std::string where =
            "tpm backend (" +
            (tcti.empty() ? std::string("the tpm2-openssl provider's default TCTI")
                          : "TCTI " + tcti) +
            ")";
        try {
            const auto start = steady_clock::now();
            const auto key = context_.keys->generate("tpm", spec);
            const auto elapsed = steady_clock::now() - start;
            add(passed(id, title,
                       where + ": generated a transient " + keys::describe(spec) + " key (" + why +
                           ") in " + elapsed_text(elapsed) + "; nothing was stored"));
        } catch (const Error& error) {
            // A key type the TPM does not offer has its own fix; anything else is reachability.
            add(failed(id, title,
                       error.kind() == ErrorKind::Usage ? ErrorKind::Usage : ErrorKind::Local,
                       where + ": " + error.message(),
                       error.kind() == ErrorKind::Usage
                           ? error.hint()
                           : "make the TPM reachable: pass --tpm-tcti (or set "
                             "TPM2OPENSSL_TCTI) device:/dev/tpmrm0 (the kernel's resource "
                             "manager; this user must be in the tss group), tabrmd (the "
                             "tpm2-abrmd resource manager) or swtpm:host=H,port=P, and install "
                             "tpm2-openssl if it is missing; tpm2_getcap properties-fixed tests "
                             "the TPM"));
        }
    }

    // The token is found and logged in to, but no key is generated: that would leave objects.
    void token(const keys::KeySpec& spec, const std::string& why) {
        const std::string id = "key-backend";
        const std::string title = "Key generation";
        try {
            const auto start = steady_clock::now();
            const keys::TokenProbe token = context_.keys->probe_token(spec);
            const auto elapsed = steady_clock::now() - start;
            std::string evidence =
                "pkcs11 backend: token '" + token.label + "' (" + token.manufacturer + ", model " +
                token.model + (token.serial.empty() ? "" : ", serial " + token.serial) + ") in " +
                token.module + " offers " + keys::describe(spec) + " key generation (" + why + ")";
            if (token.free_private_memory)
                evidence += "; " + std::to_string(*token.free_private_memory) +
                            " bytes free for private objects";
            if (token.free_public_memory)
                evidence += "; " + std::to_string(*token.free_public_memory) +
                            " bytes free for public objects";
            switch (token.login) {
                case keys::TokenProbe::Login::NotRequired:
                    evidence += "; no login needed";
                    break;
                case keys::TokenProbe::Login::LoggedIn:
                    evidence += "; logged in with the PIN";
                    break;
                case keys::TokenProbe::Login::NoPin:
                    add(warned(id, title,
                               evidence + "; the token needs its PIN and none is available "
                                          "without asking (no key was made on the token)",
                               "enroll will prompt for the PIN on a terminal; for unattended "
                               "runs pass --pin-file FILE or set CERTENROLL_PKCS11_PIN"));
                    return;
            }
            add(passed(
                id, title,
                evidence + " in " + elapsed_text(elapsed) + " (no key was made on the token)"));
        } catch (const Error& error) {
            add(failed(id, title, error.kind(), "pkcs11 backend: " + error.message(),
                       error.hint()));
        }
    }

    void state_directory() {
        const std::string id = "state-dir";
        const std::string title = "State directory";
        const fs::path root = context_.state.root();
        const std::string fix = "fix the owner or permissions of " + root.string() +
                                ", or choose another with --state-dir or CERTENROLL_STATE_DIR";
        std::error_code ec;
        fs::path probe_dir = root;
        const bool exists = fs::exists(root, ec);
        if (exists && !fs::is_directory(root, ec)) {
            add(failed(id, title, ErrorKind::Local,
                       root.string() + " exists but is not a directory",
                       "choose another with --state-dir or CERTENROLL_STATE_DIR, or move " +
                           root.string() + " out of the way"));
            return;
        }
        if (!exists) {
            probe_dir = root.parent_path();
            while (!probe_dir.empty() && !fs::exists(probe_dir, ec) &&
                   probe_dir != probe_dir.parent_path())
                probe_dir = probe_dir.parent_path();
            // The nearest existing ancestor must be a directory to create the rest under it.
            if (!probe_dir.empty() && fs::exists(probe_dir, ec) &&
                !fs::is_directory(probe_dir, ec)) {
                add(failed(id, title, ErrorKind::Local,
                           root.string() + " does not exist and cannot be created: " +
                               probe_dir.string() + " is not a directory",
                           "choose another with --state-dir or CERTENROLL_STATE_DIR"));
                return;
            }
        }
        try {
            const fs::path file =
                probe_dir / (".certenroll-diagnose" + platform::temporary_suffix());
            platform::write_new_file_durably(file, "certenroll-cli diagnose\n",
                                             fs::perms::owner_read | fs::perms::owner_write);
            fs::remove(file, ec);
        } catch (const Error& error) {
            add(failed(id, title, ErrorKind::Local,
                       exists ? error.message()
                              : root.string() +
                                    " does not exist and cannot be created: " + error.message(),
                       exists ? fix
                              : "create " + root.string() +
                                    " for this user, or choose another with --state-dir or "
                                    "CERTENROLL_STATE_DIR"));
            return;
        }
        if (!exists) {
            add(passed(id, title,
                       root.string() + " does not exist yet; it will be created under " +
                           probe_dir.string() + " (writable)"));
            return;
        }
        const auto perms = fs::status(root, ec).permissions();
        std::string evidence = root.string() + ": writable, mode " + octal_permissions(perms);
        try {
            evidence += ", " + std::to_string(context_.state.list_pending().size()) +
                        " pending requests, " +
                        std::to_string(context_.state.certificate_names().size()) +
                        " managed certificates";
        } catch (const Error& error) {
            evidence += "; a record is unreadable: " + error.message();
        }
        if ((perms & (fs::perms::others_write | fs::perms::group_write)) != fs::perms::none) {
            add(warned(id, title, evidence + "; other users may write to it",
                       "chmod 700 " + root.string() +
                           " (it holds private keys of pending "
                           "requests)"));
            return;
        }
        add(passed(id, title, evidence));
    }
};

}  // namespace

Report run(const flows::Context& context, const Request& request) {
    return Checklist(context, request).run();
}

}  // namespace certenroll::diagnose
