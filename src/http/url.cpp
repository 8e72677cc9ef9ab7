#include "http/url.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace certenroll::http {

namespace {

std::string lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::string trim(std::string_view text) {
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
        text.remove_prefix(1);
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
        text.remove_suffix(1);
    return std::string(text);
}

bool is_ip_literal(std::string_view host) {
    if (host.find(':') != std::string_view::npos)
        return true;  // IPv6
    int dots = 0;
    for (const char c : host) {
        if (c == '.')
            ++dots;
        else if (!std::isdigit(static_cast<unsigned char>(c)))
            return false;
    }
    return dots == 3;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

std::string percent_decode(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
            hex_value(text[i + 2]) >= 0) {
            out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
            i += 2;
        } else {
            out += text[i];
        }
    }
    return out;
}

// The authority of `url` ("user:pw@host:port"), empty when it has no scheme://.
std::string_view authority_of(std::string_view url) {
    const std::size_t scheme_end = url.find("://");
    if (scheme_end == std::string_view::npos)
        return {};
    std::string_view rest = url.substr(scheme_end + 3);
    return rest.substr(0, rest.find_first_of("/?#"));
}

}  // namespace

std::optional<UrlParts> parse_url(std::string_view url) {
    const std::size_t scheme_end = url.find("://");
    if (scheme_end == std::string_view::npos || scheme_end == 0)
        return std::nullopt;
    UrlParts parts;
    parts.scheme = lower(url.substr(0, scheme_end));
    std::string_view rest = url.substr(scheme_end + 3);
    rest = rest.substr(0, rest.find_first_of("/?#"));
    if (const std::size_t at = rest.rfind('@'); at != std::string_view::npos)
        rest.remove_prefix(at + 1);
    std::string_view port;
    if (!rest.empty() && rest.front() == '[') {
        const std::size_t close = rest.find(']');
        if (close == std::string_view::npos)
            return std::nullopt;
        parts.host = std::string(rest.substr(1, close - 1));
        const std::string_view after = rest.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':')
                return std::nullopt;
            port = after.substr(1);
        }
    } else {
        const std::size_t colon = rest.find(':');
        parts.host = std::string(rest.substr(0, colon));
        if (colon != std::string_view::npos)
            port = rest.substr(colon + 1);
    }
    if (parts.host.empty())
        return std::nullopt;
    if (!parts.host.empty() && parts.host.back() == '.')
        parts.host.pop_back();  // "host." is the same host
    parts.host = lower(parts.host);
    if (port.empty()) {
        parts.port = parts.scheme == "https" ? 443 : parts.scheme == "http" ? 80 : 1080;
    } else {
        int value = 0;
        for (const char c : port) {
            if (!std::isdigit(static_cast<unsigned char>(c)) || value > 65535)
                return std::nullopt;
            value = value * 10 + (c - '0');
        }
        if (value <= 0 || value > 65535)
            return std::nullopt;
        parts.port = value;
    }
    parts.ip_literal = is_ip_literal(parts.host);
    return parts;
}

bool no_proxy_matches(std::string_view no_proxy, std::string_view host_text) {
    const std::string host = lower(host_text);
    std::size_t pos = 0;
    while (pos <= no_proxy.size()) {
        std::size_t end = no_proxy.find_first_of(", \t", pos);
        if (end == std::string_view::npos)
            end = no_proxy.size();
        std::string entry = lower(trim(no_proxy.substr(pos, end - pos)));
        pos = end + 1;
        if (entry.empty())
            continue;
        if (entry == "*")
            return true;
        if (!entry.empty() && entry.front() == '[') {
            entry = entry.substr(1, entry.find(']') - 1);  // [::1]
        } else if (const std::size_t colon = entry.find(':');
                   colon != std::string::npos && entry.find(':', colon + 1) == std::string::npos) {
            entry = entry.substr(0, colon);  // host:port: the port is not compared
        }
        while (!entry.empty() && entry.front() == '.')
            entry.erase(0, 1);
        if (!entry.empty() && entry.back() == '.')
            entry.pop_back();
        if (host == entry)
            return true;
        if (host.size() > entry.size() && host.ends_with(entry) &&
            host[host.size() - entry.size() - 1] == '.' && !is_ip_literal(host))
            return true;
    }
    return false;
}

std::optional<ProxyChoice> effective_proxy(const std::string& url, const std::string& configured) {
    const auto target = parse_url(url);
    if (!target)
        return std::nullopt;
    ProxyChoice choice;
    if (!configured.empty()) {
        choice.url = configured;
        choice.source = "--proxy";
    } else {
        const auto env = [](const char* name) -> std::string {
            const char* value = std::getenv(name);
            return value ? std::string(value) : std::string();
        };
        std::string no_proxy = env("no_proxy");
        if (no_proxy.empty())
            no_proxy = env("NO_PROXY");
        if (!no_proxy.empty() && no_proxy_matches(no_proxy, target->host))
            return std::nullopt;
        const char* names[] = {"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"};
        if (target->scheme == "http") {
            names[0] = "http_proxy";  // only the lower-case http_proxy, as curl reads it
            names[1] = "all_proxy";
        }
        for (const char* name : names) {
            if (const std::string value = env(name); !value.empty()) {
                choice.url = value;
                choice.source = name;
                break;
            }
        }
        if (choice.url.empty())
            return std::nullopt;
    }
    const std::string with_scheme =
        choice.url.find("://") == std::string::npos ? "http://" + choice.url : choice.url;
    auto parts = parse_url(with_scheme);
    if (!parts)
        return std::nullopt;
    // The default proxy port is 1080 whatever the scheme unless the URL names one, as in curl.
    const std::size_t start = with_scheme.find("://") + 3;
    std::string_view authority = std::string_view(with_scheme).substr(start);
    authority = authority.substr(0, authority.find_first_of("/?#"));
    if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos)
        authority.remove_prefix(at + 1);
    const std::size_t bracket = authority.rfind(']');
    if (authority.find(':', bracket == std::string_view::npos ? 0 : bracket) ==
        std::string_view::npos)
        parts->port = 1080;
    choice.parts = *parts;
    choice.display = with_scheme;
    const std::size_t at = with_scheme.find('@', start);
    const std::size_t slash = with_scheme.find('/', start);
    if (at != std::string::npos && (slash == std::string::npos || at < slash))
        choice.display = with_scheme.substr(0, start) + "***" + with_scheme.substr(at);
    return choice;
}

std::string request_target(std::string_view url) {
    const std::size_t scheme_end = url.find("://");
    std::string_view rest = scheme_end == std::string_view::npos ? url : url.substr(scheme_end + 3);
    const std::size_t start = rest.find_first_of("/?#");
    if (start == std::string_view::npos)
        return "/";
    std::string_view target = rest.substr(start);
    target = target.substr(0, target.find('#'));  // a fragment is never sent
    if (target.empty() || target.front() != '/')
        return "/" + std::string(target);
    return std::string(target);
}

std::string host_header(const UrlParts& parts) {
    const std::string host =
        parts.host.find(':') != std::string::npos ? "[" + parts.host + "]" : parts.host;
    const int default_port = parts.scheme == "https" ? 443 : parts.scheme == "http" ? 80 : 0;
    return parts.port == default_port ? host : host + ":" + std::to_string(parts.port);
}

std::optional<UserInfo> url_userinfo(std::string_view url) {
    const std::string_view authority = authority_of(url);
    const std::size_t at = authority.rfind('@');
    if (at == std::string_view::npos)
        return std::nullopt;
    const std::string_view info = authority.substr(0, at);
    const std::size_t colon = info.find(':');
    UserInfo result;
    result.user = percent_decode(info.substr(0, colon));
    if (colon != std::string_view::npos)
        result.password = percent_decode(info.substr(colon + 1));
    return result;
}

}  // namespace certenroll::http
