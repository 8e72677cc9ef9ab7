#pragma once
/// URLs as connections see them: scheme, host and port, the request target, and which proxy
/// (if any) a request to them goes through.

#include <optional>
#include <string>
#include <string_view>

namespace certenroll::http {

/// The parts of an absolute URL that connections need.
struct UrlParts {
    std::string scheme;  ///< lower case: "https"
    std::string host;    ///< without brackets: "cep.example.com", "10.0.0.5", "::1"
    int port = 0;        ///< explicit or the scheme's default (443, 80)
    bool ip_literal = false;
};

/// Splits `url`; nullopt when it has no scheme://host or an unusable port.
std::optional<UrlParts> parse_url(std::string_view url);

/// The proxy a request to a URL goes through, and where that choice came from.
struct ProxyChoice {
    std::string url;      ///< as configured (may hold user:password: never print it)
    std::string display;  ///< the URL with any user:password replaced by ***
    std::string source;   ///< "--proxy", "https_proxy", "all_proxy", ...
    UrlParts parts;       ///< the proxy's own host and port
};

/// True when `host` is excluded from proxying by a no_proxy value ("*", or comma-separated host
/// names and domain suffixes, with or without a leading dot, optionally with :port), read as
/// libcurl and most HTTP clients read it.
bool no_proxy_matches(std::string_view no_proxy, std::string_view host);

/// The proxy used for `url`: `configured` (--proxy) if set, else https_proxy / HTTPS_PROXY /
/// all_proxy / ALL_PROXY from the environment unless no_proxy / NO_PROXY excludes the host.
std::optional<ProxyChoice> effective_proxy(const std::string& url, const std::string& configured);

/// The request target of `url` for the request line: its path and query ("/" when empty).
std::string request_target(std::string_view url);

/// "host" or "host:port" (IPv6 in brackets) as the Host header and CONNECT want it; the port is
/// left out when it is the scheme's default.
std::string host_header(const UrlParts& parts);

/// The user name and password in a URL's user information, percent-decoded; nullopt when the
/// URL has none.
struct UserInfo {
    std::string user;
    std::string password;
};
std::optional<UserInfo> url_userinfo(std::string_view url);

}  // namespace certenroll::http
