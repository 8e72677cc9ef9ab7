#include "diagnose/network_checks.hpp"

#include <optional>
#include <string>
#include <vector>

#include "diagnose/network_probe.hpp"
#include "http/curl_transport.hpp"
#include "http/url.hpp"
#include "platform/platform.hpp"
#include "soap/envelope.hpp"
#include "soap/namespaces.hpp"
#include "wstep/messages.hpp"
#include "xcep/client.hpp"
#include "xcep/get_policies.hpp"

namespace certenroll::diagnose {

namespace {

std::string address_with_port(const std::string& address, int port) {
    return (address.find(':') != std::string::npos ? "[" + address + "]" : address) + ":" +
           std::to_string(port);
}

class NetworkChecks : Steps {
  public:
    explicit NetworkChecks(Checklist& checklist) : Steps(checklist) {}

    void run() {
        network();
        offered_authentication();
    }

  private:
    std::vector<std::string> addresses_;
    TlsResult tls_;
    std::optional<http::Response> anonymous_answer_;
    TimePoint anonymous_answer_at_{};

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
        // The proxy libcurl takes for the URL: DNS and TCP are checked up to it.
        const auto proxy = http::proxy_route(target_url_, settings);
        const std::string host = proxy ? proxy->host : target_->host;
        const int port = proxy ? proxy->port : target_->port;
        const bool proxy_resolves = proxy && proxy->scheme != "socks5" && proxy->scheme != "socks4";
        const std::string via =
            proxy ? " (" + proxy->describe() + ", which " +
                        (proxy_resolves ? "resolves and connects to " : "connects to ") +
                        target_->host + " itself)"
                  : "";

        // DNS
        if (proxy ? proxy->ip_literal : target_->ip_literal) {
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
                const auto result = probe_tcp(addresses_[i], port, settings.connect_timeout);
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
        tls_ = probe_tls(target_url_, probe_settings);
        add(assess_tls(tls_, address_with_port(target_->host, target_->port), settings.ca_bundle,
                       now()));
    }

    // ---- what the endpoint asks for -------------------------------------------------------

    // A challenge to a request without credentials says little about a password that travels
    // inside the message, or a client certificate: try the configured one with a real
    // GetPolicies (the CES has no harmless request that proves it; there the challenge stands).
    std::optional<CredentialTrial> try_credential() {
        if (!target_is_cep_)
            return std::nullopt;
        CredentialTrial trial;
        const std::string what = "GetPolicies with --auth " + mode_name(credentials_.mode) +
                                 (credentials_.mode == xcep::AuthMode::UsernamePassword
                                      ? " (user " + credentials_.username + ")"
                                      : std::string());
        try {
            const auto transport = flows::open_transport(context_, request_.connection);
            xcep::fetch_policy(*transport, target_url_, {}, now(),
                               flows::call_options(context_, credentials_));
            trial.accepted = true;
            trial.evidence = what + " succeeded";
        } catch (const Error& error) {
            trial.failure = error.kind();
            trial.evidence = what + ": " + error.message();
        }
        return trial;
    }

    void offered_authentication() {
        if (!target_ || !ok("tls")) {
            const Finding* dns = report_.find("dns");
            const std::string why =
                target_ ? after("tls") : (dns ? dns->evidence : std::string("no server URL"));
            add(skipped("http-auth", "Authentication offered", why));
            add(skipped("clock", "Clock vs. server", why));
            return;
        }
        const http::Request request = probe_request(target_url_, target_is_cep_, now());
        http::Settings settings = request_.connection.http;
        settings.client_certificate.reset();  // no credential of any kind
        settings.trace = [this](std::string_view line) { context_.diagnostics.step(line); };
        try {
            http::CurlTransport transport(settings);
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
        std::optional<CredentialTrial> trial;
        if (observation.offer == Offer::Kerberos && configured &&
            (*configured == xcep::AuthMode::UsernamePassword ||
             *configured == xcep::AuthMode::Certificate))
            trial = try_credential();
        add(assess_offer(observation, configured, target_->host, trial));

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
};

}  // namespace

void check_network(Checklist& checklist) {
    NetworkChecks(checklist).run();
}

}  // namespace certenroll::diagnose
