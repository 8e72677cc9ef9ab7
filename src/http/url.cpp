#include "http/url.hpp"

#include <cstdlib>
#include <memory>

#include "error.hpp"
#include "http/curl_easy.hpp"
#include "http/curl_transport.hpp"

namespace certenroll::http {

namespace {

struct UrlDeleter {
    void operator()(CURLU* url) const { curl_url_cleanup(url); }
};
using UrlHandle = std::unique_ptr<CURLU, UrlDeleter>;

struct CurlFree {
    void operator()(char* text) const { curl_free(text); }
};

// One part of a parsed URL; empty when it is absent.
std::string part(CURLU* url, CURLUPart which, unsigned int flags = 0) {
    char* raw = nullptr;
    if (curl_url_get(url, which, &raw, flags) != CURLUE_OK || raw == nullptr)
        return {};
    std::unique_ptr<char, CurlFree> text(raw);
    return text.get();
}

// `text` parsed as libcurl parses it for a transfer (or, with `proxy` set, for a proxy).
UrlHandle parse(std::string_view text, bool proxy) {
    global_init();
    UrlHandle url(curl_url());
    const std::string copy(text);
    const unsigned int flags =
        proxy ? CURLU_NON_SUPPORT_SCHEME | CURLU_GUESS_SCHEME : CURLU_NON_SUPPORT_SCHEME;
    if (!url || copy.find('\0') != std::string::npos ||
        curl_url_set(url.get(), CURLUPART_URL, copy.c_str(), flags) != CURLUE_OK)
        return nullptr;
    return url;
}

std::string lower(std::string text) {
    for (char& c : text)
        c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    return text;
}

// The host without the brackets of an IPv6 literal.
std::string bare_host(std::string host) {
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    return host;
}

bool is_ip_literal(const std::string& host) {
    if (host.find(':') != std::string::npos)
        return true;
    int dots = 0;
    for (const char c : host) {
        if (c == '.')
            ++dots;
        else if (c < '0' || c > '9')
            return false;
    }
    return dots == 3;
}

// The URL without its user information (replaced by *** with `mark` set), for messages.
std::string without_userinfo(CURLU* url, bool mark = true) {
    const bool has_userinfo =
        !part(url, CURLUPART_USER).empty() || !part(url, CURLUPART_PASSWORD).empty();
    UrlHandle copy(curl_url_dup(url));
    if (!copy)
        return "?";
    curl_url_set(copy.get(), CURLUPART_USER, nullptr, 0);
    curl_url_set(copy.get(), CURLUPART_PASSWORD, nullptr, 0);
    std::string text = part(copy.get(), CURLUPART_URL);
    if (has_userinfo && mark) {
        if (const std::size_t scheme = text.find("://"); scheme != std::string::npos)
            text.insert(scheme + 3, "***@");
    }
    // The path libcurl adds ("http://proxy:3128/") is not part of what was configured.
    if (text.ends_with("/") && part(url, CURLUPART_PATH) == "/")
        text.pop_back();
    return text;
}

// Whether libcurl sends a request to `url` through the proxy `marker` or straight to the host,
// given the no_proxy / NO_PROXY of the environment. libcurl has no call that answers this
// without connecting, so it is asked to connect, with every name pinned to an address of TEST-NET
// (RFC 5737): the first socket it opens shows where it goes, and that socket is never opened.
bool excluded_by_no_proxy(const std::string& url, const UrlParts& target) {
    EasyHandle easy = new_easy_handle();
    struct Seen {
        bool opened = false;
        bool proxy = false;
    } seen;
    using OpenSocket = curl_socket_t (*)(void*, curlsocktype, curl_sockaddr*);
    const OpenSocket open_socket = [](void* data, curlsocktype, curl_sockaddr* address) {
        auto* result = static_cast<Seen*>(data);
        result->opened = true;
        // An IPv4 sockaddr holds the port, then the address, in sa_data.
        const auto byte = [&](int i) {
            return static_cast<unsigned char>(address->addr.sa_data[i]);
        };
        result->proxy = address->family == AF_INET && byte(2) == 192 && byte(3) == 0 &&
                        byte(4) == 2 && byte(5) == 1;
        return CURL_SOCKET_BAD;
    };
    curl_slist* resolve = nullptr;
    const std::string pin = target.host + ":" + std::to_string(target.port) + ":192.0.2.2";
    if (!target.ip_literal)
        resolve = curl_slist_append(resolve, pin.c_str());
    const std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> resolve_list(
        resolve, &curl_slist_free_all);
    const std::string proxy = "http://192.0.2.1:9";  // never connected to
    CURL* h = easy.get();
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_PROXY, proxy.c_str());
    curl_easy_setopt(h, CURLOPT_RESOLVE, resolve);
    curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, &seen);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_perform(h);
    return seen.opened && !seen.proxy;
}

}  // namespace

std::optional<UrlParts> parse_url(std::string_view text) {
    const UrlHandle url = parse(text, false);
    if (!url)
        return std::nullopt;
    UrlParts parts;
    parts.scheme = lower(part(url.get(), CURLUPART_SCHEME));
    parts.host = lower(bare_host(part(url.get(), CURLUPART_HOST)));
    if (parts.host.empty())
        return std::nullopt;
    parts.port = std::atoi(part(url.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT).c_str());
    parts.ip_literal = is_ip_literal(parts.host);
    return parts;
}

std::string ProxyRoute::describe() const {
    return "the proxy " + display + " (from " + source + ")";
}

std::optional<ProxyRoute> proxy_route(const std::string& url, const Settings& settings) {
    const auto target = parse_url(url);
    if (!target)
        return std::nullopt;
    ProxyRoute route;
    std::string configured;
    if (!settings.proxy.empty()) {
        configured = settings.proxy;
        route.source = "--proxy";
    } else {
        // libcurl's order for an https:// URL: a set variable stops the search, even empty.
        for (const char* name : {"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}) {
            if (const char* value = std::getenv(name)) {
                configured = value;
                route.source = name;
                break;
            }
        }
    }
    if (configured.empty() || excluded_by_no_proxy(url, *target))
        return std::nullopt;
    const UrlHandle proxy = parse(configured, true);
    if (!proxy) {
        route.display = "'" + redact_userinfo(configured) + "'";
        return route;  // libcurl refuses it; the transfer says why
    }
    route.scheme = lower(part(proxy.get(), CURLUPART_SCHEME));
    route.host = bare_host(part(proxy.get(), CURLUPART_HOST));
    const std::string port = part(proxy.get(), CURLUPART_PORT);
    route.port = !port.empty() ? std::atoi(port.c_str()) : route.scheme == "https" ? 443 : 1080;
    route.ip_literal = is_ip_literal(route.host);
    route.display = without_userinfo(proxy.get());
    return route;
}

std::string checked_proxy_option(const std::string& proxy, std::string& user) {
    if (proxy.empty())
        return proxy;
    const UrlHandle url = parse(proxy, true);
    if (!url) {
        throw Error(ErrorKind::Usage,
                    "cannot read the --proxy URL '" + redact_userinfo(proxy) + "'",
                    "pass --proxy SCHEME://HOST:PORT with http, https, socks5h, socks5 or "
                    "socks4a");
    }
    if (!part(url.get(), CURLUPART_PASSWORD).empty()) {
        throw Error(ErrorKind::Usage,
                    "the --proxy URL holds a password, which the process list and shell history "
                    "would show",
                    "pass --proxy " + without_userinfo(url.get(), false) +
                        " without it, with --proxy-user USER and the password in "
                        "--proxy-password-file FILE or $CERTENROLL_PROXY_PASSWORD");
    }
    const std::string named = part(url.get(), CURLUPART_USER, CURLU_URLDECODE);
    if (named.empty())
        return proxy;
    if (user.empty())
        user = named;
    curl_url_set(url.get(), CURLUPART_USER, nullptr, 0);
    return part(url.get(), CURLUPART_URL);
}

}  // namespace certenroll::http
