#include "http/transport.hpp"

#include <algorithm>
#include <cctype>

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
