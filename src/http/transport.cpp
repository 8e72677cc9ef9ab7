#include "http/transport.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <utility>

#include "error.hpp"

namespace certenroll::http {

namespace {

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

// "Negotiate", "NTLM" from "Negotiate abc==" / "Basic realm=\"x\"": the token before the first
// space is the scheme (RFC 7235); several challenges may also share one header, comma-separated.
void add_schemes(std::string_view value, std::vector<std::string>& schemes) {
    std::size_t pos = 0;
    while (pos < value.size()) {
        std::size_t end = value.find(',', pos);
        if (end == std::string_view::npos) {
            end = value.size();
        }
        std::string_view part = value.substr(pos, end - pos);
        pos = end + 1;
        while (!part.empty() && std::isspace(static_cast<unsigned char>(part.front()))) {
            part.remove_prefix(1);
        }
        const std::size_t token_end = part.find_first_of(" \t=");
        // A token followed by '=' is an auth-param of the previous challenge, not a scheme.
        if (part.empty() || (token_end != std::string_view::npos && part[token_end] == '=')) {
            continue;
        }
        std::string scheme(part.substr(0, token_end));
        if (std::none_of(schemes.begin(), schemes.end(),
                         [&](const std::string& known) { return iequals(known, scheme); })) {
            schemes.push_back(std::move(scheme));
        }
    }
}

}  // namespace

std::optional<std::string_view> Response::header(std::string_view name) const {
    for (const Header& h : headers) {
        if (iequals(h.name, name)) {
            return std::string_view(h.value);
        }
    }
    return std::nullopt;
}

std::string url_host(std::string_view url) {
    const std::size_t scheme_end = url.find("://");
    if (scheme_end == std::string_view::npos) {
        return std::string(url);
    }
    std::string_view rest = url.substr(scheme_end + 3);
    rest = rest.substr(0, rest.find_first_of("/?#"));
    if (const std::size_t at = rest.rfind('@'); at != std::string_view::npos) {
        rest.remove_prefix(at + 1);  // never echo user:password
    }
    if (!rest.empty() && rest.front() == '[') {
        return std::string(rest.substr(0, rest.find(']') + 1));
    }
    return std::string(rest.substr(0, rest.find(':')));
}

std::vector<std::string> Response::authentication_schemes() const {
    std::vector<std::string> schemes;
    for (const Header& h : headers) {
        if (iequals(h.name, "WWW-Authenticate")) {
            add_schemes(h.value, schemes);
        }
    }
    return schemes;
}

std::optional<std::chrono::milliseconds> retry_delay(const RetryPolicy& policy,
                                                     const Request& request,
                                                     const Response& response, int attempt) {
    if (!request.idempotent || (response.status != 503 && response.status != 429) ||
        attempt >= policy.max_attempts) {
        return std::nullopt;
    }
    std::chrono::milliseconds delay = policy.first_delay * (1LL << std::min(attempt - 1, 20));
    if (const auto value = response.header("Retry-After")) {
        // delta-seconds; an HTTP-date (rare from IIS) falls back to the backoff above.
        std::string_view text = *value;
        while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
            text.remove_suffix(1);
        while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
            text.remove_prefix(1);
        long long seconds = 0;
        const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), seconds);
        if (error == std::errc() && end == text.data() + text.size() && seconds >= 0) {
            if (seconds > policy.max_delay.count() / 1000)
                return std::nullopt;
            delay = std::chrono::seconds(seconds);
        } else if (error == std::errc::result_out_of_range) {
            return std::nullopt;
        }
    }
    return std::min(delay, policy.max_delay);
}

RetryTransport::RetryTransport(std::unique_ptr<Transport> inner, RetryPolicy policy, Sleep sleep,
                               std::function<void(std::string_view)> trace)
    : inner_(std::move(inner)),
      policy_(policy),
      sleep_(std::move(sleep)),
      trace_(std::move(trace)) {}

Response RetryTransport::post(const Request& request) {
    for (int attempt = 1;; ++attempt) {
        Response response = inner_->post(request);
        response.attempts = attempt;
        const auto delay = retry_delay(policy_, request, response, attempt);
        if (!delay) {
            if (trace_ && (response.status == 503 || response.status == 429)) {
                trace_(url_host(request.url) + " answered HTTP " + std::to_string(response.status) +
                       " (Retry-After: " +
                       std::string(response.header("Retry-After").value_or("none")) +
                       "); not sending again: " +
                       (request.idempotent
                            ? "attempt " + std::to_string(attempt) + " of at most " +
                                  std::to_string(policy_.max_attempts) + " (or too long a wait)"
                            : std::string("the request is not idempotent")));
            }
            return response;
        }
        if (trace_) {
            trace_(url_host(request.url) + " answered HTTP " + std::to_string(response.status) +
                   "; retrying in " + std::to_string(delay->count()) + " ms (attempt " +
                   std::to_string(attempt + 1) + " of " + std::to_string(policy_.max_attempts) +
                   ")");
        }
        if (sleep_)
            sleep_(*delay);
    }
}

void throw_if_unauthorized(const Response& response, const Request& request) {
    if (response.status != 401 || request.return_unauthorized) {
        return;
    }
    const std::vector<std::string> schemes = response.authentication_schemes();
    std::string offers;
    for (const std::string& scheme : schemes) {
        offers += (offers.empty() ? "" : ", ") + scheme;
    }
    const bool negotiate =
        std::any_of(schemes.begin(), schemes.end(), [](const std::string& scheme) {
            return iequals(scheme, "Negotiate") || iequals(scheme, "Kerberos");
        });
    const std::string host = url_host(request.url);
    const std::string asks = offers.empty() ? "" : " (server asks for " + offers + ")";
    const std::string& detail = request.credential_detail;
    switch (request.credential) {
        case Credential::UsernameToken:
            if (negotiate) {
                throw Error(ErrorKind::Auth,
                            host + " is Kerberos-only: it answered HTTP 401 asking for " + offers +
                                ", but a username/password is configured",
                            "use --auth kerberos (after kinit, or with --keytab), or this "
                            "service's _UsernamePassword URL");
            }
            throw Error(ErrorKind::Auth,
                        host + " rejected the username/password" +
                            (detail.empty() ? "" : " of " + detail) + " with HTTP 401" + asks,
                        "check --username and the password (--password-file or "
                        "CERTENROLL_PASSWORD)");
        case Credential::Negotiate:
            throw Error(ErrorKind::Auth,
                        host + " rejected the Kerberos ticket for " + detail + " with HTTP 401",
                        "the SPN must belong to the account running the CEP/CES application "
                        "pool (setspn -Q " +
                            detail + "), and the user must be allowed to enroll");
        case Credential::ClientCertificate:
            throw Error(ErrorKind::Auth,
                        host + " did not accept the TLS client certificate" +
                            (detail.empty() ? "" : " " + detail) + " (HTTP 401)" + asks,
                        "use a certificate that the server maps to an account and whose issuer it "
                        "trusts");
        case Credential::None:
            break;
    }
    throw Error(ErrorKind::Auth, host + " refused the request with HTTP 401" + asks,
                negotiate ? "use --auth kerberos with a valid Kerberos ticket (kinit; check klist)"
                          : "pick the --auth mode the server accepts and check the credentials");
}

}  // namespace certenroll::http
