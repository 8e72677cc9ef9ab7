#include "diagnose/assess.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

#include "diagnose/diagnose.hpp"
#include "encoding/time_text.hpp"
#include "soap/fault.hpp"
#include "soap/namespaces.hpp"
#include "wstep/server_fault.hpp"
#include "xcep/endpoints.hpp"
#include "xml/xml.hpp"

namespace certenroll::diagnose {

namespace {

using std::chrono::duration_cast;
using std::chrono::seconds;

std::string lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

bool contains(std::string_view text, std::string_view part) {
    return lower(text).find(lower(part)) != std::string::npos;
}

std::string join(const std::vector<std::string>& parts, std::string_view separator = ", ") {
    std::string out;
    for (const auto& part : parts)
        out += (out.empty() ? "" : std::string(separator)) + part;
    return out;
}

std::string date_of(TimePoint time) {
    return encoding::format_time_utc(time).substr(0, 10);
}

std::string when(TimePoint time) {
    return encoding::format_time_utc(time);
}

// ---- TLS ---------------------------------------------------------------------------------------

std::string handshake_fix(const std::string& error) {
    if (contains(error, "proxy") && contains(error, "HTTP 407"))
        return contains(error, "Negotiate")
                   ? "use --proxy-auth negotiate with a Kerberos ticket (kinit), or --proxy-user "
                     "USER with the password in --proxy-password-file FILE or "
                     "$CERTENROLL_PROXY_PASSWORD"
                   : "pass --proxy-user USER with the password in --proxy-password-file FILE or "
                     "$CERTENROLL_PROXY_PASSWORD (--proxy-auth for NTLM or Negotiate)";
    if (contains(error, "refused the tunnel"))
        return "check that the proxy (--proxy or https_proxy) lets this machine CONNECT to the "
               "server";
    if (contains(error, "resolve the proxy"))
        return "check the proxy name in --proxy or the https_proxy environment variable";
    if (contains(error, "wrong version number") || contains(error, "packet length too long") ||
        contains(error, "http request"))
        return "this port does not speak TLS: check that the URL is https:// with the right port";
    if (contains(error, "certificate required"))
        return "the server requires a TLS client certificate during the handshake: use --auth "
               "certificate with --client-cert";
    if (contains(error, "handshake failure"))
        return "the server may require a client certificate (--auth certificate) or share no TLS "
               "1.2+ cipher with this client";
    if (contains(error, "protocol version") || contains(error, "unsupported protocol") ||
        contains(error, "no protocols available"))
        return "the server must offer TLS 1.2 or newer";
    if (contains(error, "timed out"))
        return "the server accepted the connection but did not finish the handshake: check "
               "proxies or firewalls that inspect TLS, or raise --connect-timeout";
    return "check the URL and port, and that the server speaks TLS 1.2 or newer";
}

bool network_level(const std::string& error) {
    return contains(error, "proxy") || contains(error, "cannot connect") ||
           contains(error, "cannot resolve") || contains(error, "did not answer in time");
}

int priority(TrustIssue issue) {
    switch (issue) {
        case TrustIssue::SelfSigned:
        case TrustIssue::UnknownIssuer:
            return 0;
        case TrustIssue::Expired:
        case TrustIssue::NotYetValid:
            return 1;
        case TrustIssue::WeakKey:
        case TrustIssue::WeakSignature:
            return 2;
        case TrustIssue::HostnameMismatch:
            return 3;
        case TrustIssue::WrongPurpose:
            return 4;
        case TrustIssue::Other:
            break;
    }
    return 5;
}

const CertificateSummary* certificate_at(const TlsResult& tls, int depth) {
    const auto& chain =
        tls.path.size() > static_cast<std::size_t>(depth) ? tls.path : tls.presented;
    return static_cast<std::size_t>(depth) < chain.size() ? &chain[static_cast<std::size_t>(depth)]
                                                          : nullptr;
}

std::string root_name(const TlsResult& tls) {
    if (tls.presented.empty())
        return "?";
    const auto& top = tls.presented.back();
    return top.self_signed ? top.subject : top.issuer;
}

std::string tls_fix(const TlsResult& tls, const VerifyProblem& problem,
                    const std::string& ca_bundle, TimePoint now) {
    const CertificateSummary* cert = certificate_at(tls, problem.depth);
    const std::string subject = cert ? cert->subject : problem.subject;
    const std::string which =
        problem.depth == 0 ? "the server certificate " + subject : "the CA certificate " + subject;
    switch (problem.issue) {
        case TrustIssue::UnknownIssuer:
        case TrustIssue::SelfSigned: {
            const std::string root = root_name(tls);
            if (!ca_bundle.empty() && tls.trusted_by_system_store.value_or(false))
                return "the system trust store accepts this chain: leave out --ca-bundle, or add " +
                       root + " to " + ca_bundle;
            if (!ca_bundle.empty())
                return ca_bundle + " does not hold the chain's root " + root +
                       ": pass a bundle that does with --ca-bundle";
            if (tls.presented.size() == 1 && tls.presented.front().self_signed)
                return "the server's certificate is self-signed: trust it with --ca-bundle FILE "
                       "(SHA-256 " +
                       tls.presented.front().sha256 + "), or give the server a CA-issued one";
            return "pass the issuing CA with --ca-bundle FILE (the chain's root is " + root + ")";
        }
        case TrustIssue::Expired:
            return which + " expired on " + (cert ? date_of(cert->not_after) : "?") +
                   ": the server's administrators must renew it (if that date looks wrong, check "
                   "this machine's clock)";
        case TrustIssue::NotYetValid:
            return which + " is valid only from " + (cert ? when(cert->not_before) : "?") +
                   " but this machine's clock says " + when(now) +
                   ": check the clock (NTP), or wait";
        case TrustIssue::HostnameMismatch: {
            const auto& leaf = tls.presented.front();
            return "use a host name the certificate holds in the URL: " +
                   (leaf.names.empty() ? leaf.subject : join(leaf.names));
        }
        case TrustIssue::WeakKey:
            return which + " has a " + (cert ? cert->key : "small") +
                   " key, below this system's TLS security level: the server needs a certificate "
                   "with RSA 2048+ or ECDSA P-256+";
        case TrustIssue::WeakSignature:
            return which + " is signed with " + (cert ? cert->signature : "a weak digest") +
                   ", which this system's TLS security level refuses: reissue it with SHA-256";
        case TrustIssue::WrongPurpose:
            return which +
                   " is not for TLS server authentication: reissue it with the serverAuth "
                   "extended key usage";
        case TrustIssue::Other:
            break;
    }
    return "check the server's certificate chain (openssl s_client -showcerts) and --ca-bundle";
}

// ---- cache -------------------------------------------------------------------------------------

std::string describe_differences(const CacheFacts& facts) {
    std::vector<std::string> parts;
    if (!facts.only_live.empty())
        parts.push_back("new on the server: " + join(facts.only_live));
    if (!facts.only_cached.empty())
        parts.push_back("gone from the server: " + join(facts.only_cached));
    if (!facts.changed.empty())
        parts.push_back("changed: " + join(facts.changed));
    return join(parts, "; ");
}

bool differs(const CacheFacts& facts) {
    return !facts.only_live.empty() || !facts.only_cached.empty() || !facts.changed.empty();
}

bool names_equal(const std::string& a, const std::string& b) {
    return lower(a) == lower(b);
}

}  // namespace

std::string describe_duration(std::chrono::seconds duration) {
    long long total = duration.count() < 0 ? -duration.count() : duration.count();
    const long long days = total / 86400;
    const long long hours = total % 86400 / 3600;
    const long long minutes = total % 3600 / 60;
    const long long secs = total % 60;
    if (days > 0)
        return std::to_string(days) + " d" + (hours ? " " + std::to_string(hours) + " h" : "");
    if (hours > 0)
        return std::to_string(hours) + " h" +
               (minutes ? " " + std::to_string(minutes) + " min" : "");
    if (minutes > 0)
        return std::to_string(minutes) + " min" + (secs ? " " + std::to_string(secs) + " s" : "");
    return std::to_string(secs) + " s";
}

std::optional<TimePoint> parse_http_date(std::string_view text) {
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    const std::size_t comma = text.find(", ");
    if (comma == std::string_view::npos)
        return std::nullopt;
    text.remove_prefix(comma + 2);
    if (text.size() != 24 || text.substr(21) != "GMT")
        return std::nullopt;
    const auto number = [&](std::size_t at, std::size_t length) -> int {
        int value = 0;
        for (std::size_t i = at; i < at + length; ++i) {
            if (!std::isdigit(static_cast<unsigned char>(text[i])))
                return -1;
            value = value * 10 + (text[i] - '0');
        }
        return value;
    };
    static constexpr std::array<std::string_view, 12> months = {
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const auto month = std::find(months.begin(), months.end(), text.substr(3, 3));
    const int day = number(0, 2);
    const int year = number(7, 4);
    const int hour = number(12, 2);
    const int minute = number(15, 2);
    const int second = number(18, 2);
    if (month == months.end() || day < 1 || day > 31 || year < 1970 || hour < 0 || hour > 23 ||
        minute < 0 || minute > 59 || second < 0 || second > 60 || text[2] != ' ' ||
        text[6] != ' ' || text[11] != ' ' || text[14] != ':' || text[17] != ':' || text[20] != ' ')
        return std::nullopt;
    using namespace std::chrono;
    const year_month_day date{std::chrono::year{year},
                              std::chrono::month{static_cast<unsigned>(month - months.begin() + 1)},
                              std::chrono::day{static_cast<unsigned>(day)}};
    if (!date.ok())
        return std::nullopt;
    return encoding::utc_time_point(date, hour, minute, second);
}

std::string describe_chain(const TlsResult& tls) {
    std::vector<std::string> parts;
    for (const auto& cert : tls.presented) {
        parts.push_back(cert.subject + " (" + cert.key + ", to " + date_of(cert.not_after) + ")");
    }
    if (tls.presented.empty())
        return "none";
    const auto& top = tls.presented.back();
    if (!top.self_signed) {
        // The anchor verification found in the trust store, or the issuer nobody supplied.
        if (tls.path.size() > tls.presented.size() && tls.path.back().subject == top.issuer) {
            parts.push_back(top.issuer + " (trusted root)");
        } else if (tls.path.size() > tls.presented.size()) {
            for (std::size_t i = tls.presented.size(); i < tls.path.size(); ++i)
                parts.push_back(tls.path[i].subject + " (from the trust store)");
        } else {
            parts.push_back(top.issuer + " (not sent, not trusted)");
        }
    }
    return join(parts, " \u2190 ");
}

Finding assess_tls(const TlsResult& tls, const std::string& endpoint, const std::string& ca_bundle,
                   TimePoint now) {
    const std::string id = "tls";
    const std::string title = "TLS handshake";
    if (!tls.handshake) {
        return failed(id, title, network_level(tls.error) ? ErrorKind::Network : ErrorKind::Tls,
                      "with " + endpoint + ": " + tls.error, handshake_fix(tls.error));
    }
    std::string evidence = tls.protocol + ", " + tls.cipher + "; chain: " + describe_chain(tls);
    if (tls.client_certificate_requested)
        evidence += "; the server asks for a TLS client certificate";
    if (!tls.trust_store_error.empty()) {
        return failed(id, title, ErrorKind::Usage,
                      evidence + "; cannot load " + tls.trust_store + ": " + tls.trust_store_error,
                      "pass a PEM file of CA certificates with --ca-bundle");
    }
    if (tls.problems.empty()) {
        evidence += "; verify: ok (" + tls.trust_store + ")";
        if (!tls.presented.empty()) {
            const auto& leaf = tls.presented.front();
            const auto left = duration_cast<seconds>(leaf.not_after - now);
            if (left < std::chrono::hours(24 * 30)) {
                return warned(id, title,
                              evidence + "; the server certificate expires in " +
                                  describe_duration(left) + " (" + when(leaf.not_after) + ")",
                              "the server's administrators should renew " + leaf.subject +
                                  " before " + date_of(leaf.not_after));
            }
        }
        return passed(id, title, evidence);
    }
    std::vector<std::string> reasons;
    for (const auto& problem : tls.problems) {
        reasons.push_back(problem.text + (problem.depth > 0 && !problem.subject.empty()
                                              ? " (" + problem.subject + ")"
                                              : ""));
    }
    evidence += "; verify: " + join(reasons, "; ");
    if (tls.trusted_with_sent_root.value_or(false))
        evidence += "; it verifies if the root the server sends is trusted";
    if (tls.trusted_by_system_store.value_or(false))
        evidence += "; the system trust store would accept it";
    const auto primary = std::min_element(
        tls.problems.begin(), tls.problems.end(),
        [](const auto& a, const auto& b) { return priority(a.issue) < priority(b.issue); });
    return failed(id, title, ErrorKind::Tls, evidence, tls_fix(tls, *primary, ca_bundle, now));
}

OfferObservation observe_offer(const http::Response& response, bool asked_for_certificate) {
    OfferObservation observation;
    const std::string status = "HTTP " + std::to_string(response.status);
    const auto schemes = response.authentication_schemes();
    if (response.status == 401 && !schemes.empty()) {
        observation.evidence = status + " with WWW-Authenticate: " + join(schemes);
        const auto has = [&](std::string_view wanted) {
            return std::any_of(schemes.begin(), schemes.end(), [&](const std::string& s) {
                return names_equal(s, std::string(wanted));
            });
        };
        observation.offer = has("Negotiate") || has("Kerberos") ? Offer::Kerberos
                            : has("NTLM")                       ? Offer::NtlmOnly
                                                                : Offer::OtherHttpScheme;
        return observation;
    }
    try {
        const xml::Element envelope = xml::parse(response.body);
        if (envelope.ns() == soap::ns::soap12 && envelope.name() == "Envelope") {
            const auto& body = envelope.get(soap::ns::soap12, "Body");
            if (const auto* element = body.find(soap::ns::soap12, "Fault")) {
                const soap::Fault fault = soap::parse_fault(*element);
                std::string reason = fault.reason.substr(0, 120);
                observation.evidence = status + " with a SOAP fault " +
                                       (fault.subcode.empty() ? fault.code : fault.subcode) +
                                       (reason.empty() ? "" : " (\"" + reason + "\")");
                const bool security = contains(fault.subcode, "InvalidSecurity") ||
                                      contains(fault.subcode, "FailedAuthentication") ||
                                      contains(fault.subcode, "SecurityToken") ||
                                      contains(fault.reason, "security");
                if (security)
                    observation.offer = Offer::MessageSecurity;
                else if (fault.detail && fault.detail->hresult)
                    observation.offer = Offer::Anonymous;  // the CA itself answered
                return observation;
            }
            if (response.status >= 200 && response.status < 300) {
                observation.offer = Offer::Anonymous;
                observation.evidence = status + " to a request without credentials";
                return observation;
            }
        }
    } catch (const Error&) {
        // Not XML: an HTML error page, judged by its status below.
    }
    if (response.status == 404) {
        observation.offer = Offer::NotFound;
        observation.evidence = status + ": no service at this path";
    } else if ((response.status == 401 || response.status == 403) && asked_for_certificate) {
        observation.offer = Offer::ClientCertificate;
        observation.evidence = status +
                               " without a WWW-Authenticate challenge, after the TLS handshake "
                               "asked for a client certificate";
    } else {
        std::string excerpt = response.body.substr(0, 80);
        std::replace_if(
            excerpt.begin(), excerpt.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
        observation.evidence = status +
                               (schemes.empty() ? " without a WWW-Authenticate challenge" : "") +
                               (excerpt.empty() ? "" : ": " + excerpt);
    }
    return observation;
}

Finding assess_offer(const OfferObservation& observation, std::optional<xcep::AuthMode> configured,
                     const std::string& host, const std::optional<CredentialTrial>& trial) {
    const std::string id = "http-auth";
    const std::string title = "Authentication offered";
    const std::string mode = configured ? std::string(xcep::auth_mode_name(*configured)) : "";
    const std::string against = configured ? "; configured: --auth " + mode : "";
    const std::string evidence = observation.evidence;
    switch (observation.offer) {
        case Offer::Kerberos:
            if (!configured || *configured == xcep::AuthMode::Kerberos)
                return passed(id, title, evidence + ": Kerberos (SPNEGO)" + against);
            if (trial && trial->accepted) {
                return passed(id, title,
                              evidence + " to a request without credentials, but " +
                                  trial->evidence + against);
            }
            if (trial && trial->failure && *trial->failure != ErrorKind::Auth) {
                return warned(id, title,
                              evidence + " to a request without credentials; " + trial->evidence +
                                  ": cannot tell whether --auth " + mode + " is accepted",
                              "run 'certenroll-cli policy' with -vv to see the whole exchange");
            }
            return failed(
                id, title, ErrorKind::Auth,
                evidence + ": " + host + " is Kerberos-only, but --auth " + mode +
                    " is configured" +
                    (trial && trial->failure ? " (" + trial->evidence + ")" : std::string()),
                "use --auth kerberos (after kinit, or with --keytab), or this service's " +
                    std::string(*configured == xcep::AuthMode::Certificate ? "_Certificate"
                                                                           : "_UsernamePassword") +
                    " URL");
        case Offer::NtlmOnly:
        case Offer::OtherHttpScheme:
            return failed(id, title, ErrorKind::Auth,
                          evidence + ": certenroll-cli speaks Negotiate (Kerberos), not these",
                          "enable Negotiate (Kerberos) Windows authentication on the site, or use "
                          "its _UsernamePassword or _Certificate endpoint");
        case Offer::MessageSecurity:
            if (!configured || *configured == xcep::AuthMode::UsernamePassword)
                return passed(
                    id, title,
                    evidence + ": username/password in the message (WS-Security)" + against);
            if (*configured == xcep::AuthMode::Certificate)
                return warned(
                    id, title,
                    evidence + ": it expects a username/password in the message" + against,
                    "if this is a _UsernamePassword endpoint, use --username and "
                    "--password-file (--auth password)");
            return failed(id, title, ErrorKind::Auth,
                          evidence + ": " + host +
                              " wants a username/password in the message (WS-Security), but "
                              "--auth " +
                              mode + " is configured",
                          *configured == xcep::AuthMode::Kerberos
                              ? "use --username and --password-file (--auth password), or this "
                                "service's _Kerberos URL"
                              : "use --username and --password-file (--auth password)");
        case Offer::ClientCertificate:
            if (!configured || *configured == xcep::AuthMode::Certificate ||
                *configured == xcep::AuthMode::Anonymous)
                return passed(id, title, evidence + ": a TLS client certificate" + against);
            return failed(
                id, title, ErrorKind::Auth,
                evidence + ": " + host + " wants a TLS client certificate, but --auth " + mode +
                    " is configured",
                "use --auth certificate with --client-cert, or this service's " +
                    std::string(*configured == xcep::AuthMode::Kerberos ? "_Kerberos"
                                                                        : "_UsernamePassword") +
                    " URL");
        case Offer::Anonymous:
            return passed(id, title, evidence + ": it needs no credentials" + against);
        case Offer::NotFound:
            return failed(id, title, ErrorKind::Network, evidence,
                          "check the URL's path: .../ADPolicyProvider_CEP_<Auth>/service.svc/CEP "
                          "or .../<CA>_CES_<Auth>/service.svc/CES");
        case Offer::Unknown:
            break;
    }
    return warned(id, title,
                  evidence + ": cannot tell which authentication the endpoint wants" + against,
                  "run the failing command with -vv to see the whole response");
}

Finding assess_clock(std::string id, std::string title, TimePoint local, TimePoint reference,
                     const std::string& reference_name, bool compensated) {
    const auto offset = duration_cast<seconds>(local - reference);
    const auto magnitude = offset.count() < 0 ? -offset : offset;
    const std::string relation = magnitude.count() == 0
                                     ? "agrees with " + reference_name + " to the second"
                                     : "is " + describe_duration(offset) +
                                           (offset.count() > 0 ? " ahead of " : " behind ") +
                                           reference_name;
    const std::string evidence = "this machine's clock " + relation +
                                 " (there: " + when(reference) + ", here: " + when(local) + ")";
    const std::string fix =
        "synchronise this machine's clock (NTP, with the domain controllers); Kerberos and "
        "WS-Security allow 5 minutes";
    if (magnitude <= std::chrono::minutes(1))
        return passed(std::move(id), std::move(title), evidence);
    if (magnitude <= std::chrono::minutes(5) || compensated)
        return warned(std::move(id), std::move(title),
                      evidence + (compensated && magnitude > std::chrono::minutes(5)
                                      ? "; Kerberos compensates (kdc_timesync), TLS and "
                                        "certificate validity do not"
                                      : ""),
                      fix);
    return failed(std::move(id), std::move(title), ErrorKind::Auth, evidence, fix);
}

void compare_policies(const xcep::Policy& cached, const xcep::Policy& live, CacheFacts& facts) {
    facts.live_known = true;
    for (const auto& t : live.templates) {
        const auto* old = cached.find_template(t.common_name);
        if (old == nullptr) {
            facts.only_live.push_back(t.common_name);
            continue;
        }
        if (old->revision_major != t.revision_major || old->revision_minor != t.revision_minor) {
            facts.changed.push_back(
                t.common_name + " revision " + std::to_string(old->revision_major) + "." +
                std::to_string(old->revision_minor) + " -> " + std::to_string(t.revision_major) +
                "." + std::to_string(t.revision_minor));
        } else if (old->permission_enroll != t.permission_enroll) {
            facts.changed.push_back(t.common_name + " Enroll permission " +
                                    (old->permission_enroll ? "yes" : "no") + " -> " +
                                    (t.permission_enroll ? "yes" : "no"));
        }
    }
    for (const auto& t : cached.templates) {
        if (live.find_template(t.common_name) == nullptr)
            facts.only_cached.push_back(t.common_name);
    }
}

Finding assess_cache(const CacheFacts& facts, TimePoint now) {
    const std::string id = "policy-cache";
    const std::string title = "Cached policy";
    const auto validity = std::chrono::hours(facts.next_update_hours);
    const auto age = duration_cast<seconds>(now - facts.fetched_at);
    const std::string refresh =
        "run 'certenroll-cli policy --refresh' (or enroll --refresh-policy) to fetch the "
        "server's current policy now";
    std::string evidence = "fetched " + when(facts.fetched_at);
    if (now < facts.fetched_at) {
        return warned(id, title,
                      evidence + ", " + describe_duration(age) +
                          " in the future (the clock was set back?); commands treat it as stale "
                          "and fetch again",
                      "check this machine's clock (NTP)");
    }
    evidence += " (" + describe_duration(age) + " ago), nextUpdateHours " +
                std::to_string(facts.next_update_hours);
    const std::string differences = describe_differences(facts);
    const bool template_hidden =
        !facts.template_name.empty() &&
        std::any_of(facts.only_live.begin(), facts.only_live.end(), [&](const std::string& name) {
            return names_equal(name, facts.template_name);
        });
    if (age < validity) {
        const auto left = duration_cast<seconds>(facts.fetched_at + validity - now);
        if (facts.live_known && differs(facts)) {
            return warned(
                id, title,
                evidence + "; commands keep using it for another " + describe_duration(left) +
                    " (until " + when(facts.fetched_at + validity) +
                    ") and do not see what changed" +
                    (template_hidden ? ", including template " + facts.template_name : "") + ": " +
                    differences,
                refresh);
        }
        return passed(id, title,
                      evidence + "; fresh for another " + describe_duration(left) +
                          (facts.live_known ? "; it lists the same templates as the server" : ""));
    }
    evidence += "; stale for " + describe_duration(age - validity) +
                ": commands fetch the policy again on their next run";
    if (facts.live_known && differs(facts))
        evidence += "; meanwhile " + differences;
    return warned(id, title, evidence, refresh);
}

Finding assess_ca_reach(const std::string& where, const std::optional<Error>& fault,
                        std::chrono::milliseconds answer_time, const std::string& ca_name) {
    const std::string id = "ces-ca";
    const std::string title = "CES reaches the CA";
    if (!fault)
        return passed(id, title, where + ": the CA answered the status query");
    const auto hresult = fault->hresult().value_or(0);
    const auto* info = soap::find_hresult(hresult);
    const std::string named =
        (info ? std::string(info->name) + " " : std::string()) + format_hresult(hresult);
    if (hresult == wstep::property_empty) {
        return passed(id, title,
                      where + ": the CA answered that it has no request " +
                          std::string(probe_request_id) + " (" + named + ", as expected)");
    }
    if (hresult == wstep::rpc_server_unavailable || hresult == wstep::access_denied) {
        wstep::FaultContext facts;
        facts.call = wstep::CesCall::Probe;
        facts.answer_time = answer_time;
        facts.ca_name = ca_name;
        const Error explained = wstep::explain_ces_fault(*fault, facts);
        Finding finding = failed(id, title, explained);
        finding.evidence = where + ": " + finding.evidence;
        return finding;
    }
    return warned(id, title,
                  where + ": CES answered the status query with " + named +
                      ", which does not tell whether it reached the CA",
                  "if enrollment fails, ask the CES administrators what this fault means");
}

}  // namespace certenroll::diagnose
