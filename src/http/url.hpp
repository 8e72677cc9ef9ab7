#pragma once
/// URLs as libcurl reads them (its CURLU parser): a server's parts, and the proxy libcurl goes
/// through to reach it, for diagnose and for error messages. No proxy rule is decided here:
/// libcurl decides, and proxy_route() asks it.

#include <optional>
#include <string>
#include <string_view>

#include "http/transport.hpp"

namespace certenroll::http {

/// The parts of an absolute URL that connections need.
struct UrlParts {
    std::string scheme;  ///< lower case: "https"
    std::string host;    ///< without brackets or zone ID: "cep.example.com", "10.0.0.5", "::1"
    int port = 0;        ///< explicit or the scheme's default (443)
    bool ip_literal = false;
};

/// Splits `url` with libcurl's parser; nullopt when it is not an absolute URL.
std::optional<UrlParts> parse_url(std::string_view url);

/// The proxy a request goes through.
struct ProxyRoute {
    std::string display;  ///< the proxy URL with any user:password replaced by ***
    std::string source;   ///< "--proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"
    std::string scheme;   ///< "http", "https", "socks5h", "socks5", "socks4a", "socks4"
    std::string host;     ///< without brackets
    int port = 0;         ///< explicit, else libcurl's default (443 for https://, else 1080)
    bool ip_literal = false;

    /// "the proxy http://proxy:3128 (from https_proxy)"
    std::string describe() const;
    /// SOCKS proxies resolve (socks5h, socks4a) or only connect; HTTP(S) proxies tunnel.
    bool socks() const { return scheme.starts_with("socks"); }
};

/// The proxy libcurl uses for a request to `url` with `settings`: --proxy, else the environment
/// (https_proxy, HTTPS_PROXY, all_proxy, ALL_PROXY, in libcurl's order), unless no_proxy /
/// NO_PROXY exclude the host (libcurl's own matching, CIDR included, is what answers that).
/// nullopt for a direct connection. Sends nothing over the network.
std::optional<ProxyRoute> proxy_route(const std::string& url, const Settings& settings);

/// --proxy as given, checked before anything is sent: a URL libcurl cannot read, or one holding
/// a password (which the process list and shell history would show), is a usage error naming
/// the safe options. A user name in it moves to `user` (which --proxy-user overrides), so that
/// the password from a file or the environment goes with it; returns the URL without it.
std::string checked_proxy_option(const std::string& proxy, std::string& user);

}  // namespace certenroll::http
