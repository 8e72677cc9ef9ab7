#include "http/curl_easy.hpp"

#include <openssl/err.h>

#include <array>
#include <cstdlib>

#include "error.hpp"
#include "http/curl_transport.hpp"
#include "platform/platform.hpp"

namespace certenroll::http {

namespace {

std::string environment(const char* name) {
    const char* value = std::getenv(name);
    return value != nullptr ? std::string(value) : std::string();
}

// libcurl's built-in CA file and directory (configure --with-ca-bundle / --with-ca-path).
struct BuiltInTrust {
    std::string file;
    std::string directory;
};

const BuiltInTrust& built_in_trust() {
    static const BuiltInTrust trust = [] {
        BuiltInTrust found;
        EasyHandle easy = new_easy_handle();
        char* text = nullptr;
        if (curl_easy_getinfo(easy.get(), CURLINFO_CAINFO, &text) == CURLE_OK && text != nullptr)
            found.file = text;
        text = nullptr;
        if (curl_easy_getinfo(easy.get(), CURLINFO_CAPATH, &text) == CURLE_OK && text != nullptr)
            found.directory = text;
        return found;
    }();
    return trust;
}

const char* or_null(const std::string& text) {
    return text.empty() ? nullptr : text.c_str();
}

}  // namespace

void global_init() {
    // A function-local static: initialised once, thread-safe, and never cleaned up (libcurl's
    // and OpenSSL's global state live as long as the process).
    static const CURLcode initialised = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (initialised != CURLE_OK) {
        throw Error(
            ErrorKind::Internal,
            std::string("libcurl could not be initialised: ") + curl_easy_strerror(initialised),
            "check the libcurl and OpenSSL installation");
    }
}

EasyHandle new_easy_handle() {
    global_init();
    EasyHandle easy(curl_easy_init());
    if (!easy) {
        throw Error(ErrorKind::Internal, "libcurl could not create a transfer handle",
                    "check available memory");
    }
    return easy;
}

void check_option(CURLcode code, const char* what) {
    if (code != CURLE_OK) {
        throw Error(
            ErrorKind::Internal,
            std::string("libcurl refused the option ") + what + ": " + curl_easy_strerror(code),
            "certenroll-cli needs libcurl 7.86 or newer built with OpenSSL");
    }
}

Trust trust_of(const Settings& settings) {
    Trust trust;
    if (!settings.ca_bundle.empty()) {
        trust.file = settings.ca_bundle;
        trust.source = "--ca-bundle " + settings.ca_bundle;
        trust.from_ca_bundle = true;
        return trust;
    }
    const BuiltInTrust& built_in = built_in_trust();
    trust.file = built_in.file;
    trust.directory = built_in.directory;
    std::string overridden;
    if (const std::string bundle = environment("CURL_CA_BUNDLE"); !bundle.empty()) {
        trust.file = bundle;
        overridden = "CURL_CA_BUNDLE=" + bundle;
    } else if (const std::string file = environment("SSL_CERT_FILE"); !file.empty()) {
        trust.file = file;
        overridden = "SSL_CERT_FILE=" + file;
    }
    if (const std::string directory = environment("SSL_CERT_DIR"); !directory.empty()) {
        trust.directory = directory;
        overridden += (overridden.empty() ? "" : ", ") + ("SSL_CERT_DIR=" + directory);
    }
    trust.source = overridden.empty() ? "the system trust store" +
                                            (trust.file.empty() ? "" : " (" + trust.file + ")")
                                      : overridden;
    return trust;
}

void configure(CURL* easy, const Settings& s) {
    const auto milliseconds = [](std::chrono::milliseconds value) {
        return static_cast<long>(std::max<long long>(1, value.count()));
    };
    check_option(curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "https"), "CURLOPT_PROTOCOLS_STR");
    check_option(curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, long{CURL_HTTP_VERSION_1_1}),
                 "CURLOPT_HTTP_VERSION");
    check_option(curl_easy_setopt(easy, CURLOPT_USERAGENT, "certenroll-cli/" CERTENROLL_VERSION),
                 "CURLOPT_USERAGENT");
    check_option(curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, milliseconds(s.connect_timeout)),
                 "CURLOPT_CONNECTTIMEOUT_MS");
    check_option(curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, milliseconds(s.total_timeout)),
                 "CURLOPT_TIMEOUT_MS");

    // TLS: 1.2 or newer, chain and name verified, to the server and to an https:// proxy alike.
    // TLS 1.3 is negotiated whenever the server has it (OpenSSL's default TLS 1.3 suites); TLS
    // 1.2 only with forward-secret AEAD suites, the TLS 1.2 list of Mozilla's "intermediate"
    // profile: no static-RSA key exchange, no CBC, no SHA-1 MAC.
    static constexpr const char* kTls12Suites =
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
        "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
        "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
        "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305";
    const Trust trust = trust_of(s);
    for (const auto& [version, verify_peer, verify_host, file, directory, suites] :
         {std::array{CURLOPT_SSLVERSION, CURLOPT_SSL_VERIFYPEER, CURLOPT_SSL_VERIFYHOST,
                     CURLOPT_CAINFO, CURLOPT_CAPATH, CURLOPT_SSL_CIPHER_LIST},
          std::array{CURLOPT_PROXY_SSLVERSION, CURLOPT_PROXY_SSL_VERIFYPEER,
                     CURLOPT_PROXY_SSL_VERIFYHOST, CURLOPT_PROXY_CAINFO, CURLOPT_PROXY_CAPATH,
                     CURLOPT_PROXY_SSL_CIPHER_LIST}}) {
        check_option(curl_easy_setopt(easy, version, long{CURL_SSLVERSION_TLSv1_2}),
                     "CURLOPT_SSLVERSION");
        check_option(curl_easy_setopt(easy, suites, kTls12Suites), "CURLOPT_SSL_CIPHER_LIST");
        check_option(curl_easy_setopt(easy, verify_peer, 1L), "CURLOPT_SSL_VERIFYPEER");
        check_option(curl_easy_setopt(easy, verify_host, 2L), "CURLOPT_SSL_VERIFYHOST");
        // Both set, a null one included: libcurl's built-in directory must not widen the trust
        // of a --ca-bundle.
        check_option(curl_easy_setopt(easy, file, or_null(trust.file)), "CURLOPT_CAINFO");
        check_option(curl_easy_setopt(easy, directory, or_null(trust.directory)), "CURLOPT_CAPATH");
    }
    if (!trust.from_ca_bundle && platform::trust_store_is_native()) {
        // The Windows certificate store, imported by libcurl in addition to the files above.
        check_option(curl_easy_setopt(easy, CURLOPT_SSL_OPTIONS, long{CURLSSLOPT_NATIVE_CA}),
                     "CURLOPT_SSL_OPTIONS");
    }

    // Proxy: --proxy when given; otherwise libcurl reads https_proxy, all_proxy and no_proxy.
    if (!s.proxy.empty())
        check_option(curl_easy_setopt(easy, CURLOPT_PROXY, s.proxy.c_str()), "CURLOPT_PROXY");
    unsigned long auth = CURLAUTH_BASIC;
    switch (s.proxy_auth) {
        case ProxyAuth::Basic:
            auth = CURLAUTH_BASIC;
            break;
        case ProxyAuth::Ntlm:
            auth = CURLAUTH_NTLM;
            break;
        case ProxyAuth::Negotiate:
            auth = CURLAUTH_NEGOTIATE;
            break;
        case ProxyAuth::Any:
            auth = CURLAUTH_ANY;
            break;
    }
    check_option(curl_easy_setopt(easy, CURLOPT_PROXYAUTH, auth), "CURLOPT_PROXYAUTH");
    // libcurl authenticates to a proxy only when a user is set: an empty one lets Negotiate
    // (the Kerberos ticket of the credential cache) go without a name. A user and password in
    // the environment's proxy URL still win, as in curl.
    if (!s.proxy_user.empty() || s.proxy_auth == ProxyAuth::Negotiate ||
        s.proxy_auth == ProxyAuth::Any) {
        check_option(curl_easy_setopt(easy, CURLOPT_PROXYUSERNAME, s.proxy_user.c_str()),
                     "CURLOPT_PROXYUSERNAME");
        check_option(curl_easy_setopt(easy, CURLOPT_PROXYPASSWORD, s.proxy_password.c_str()),
                     "CURLOPT_PROXYPASSWORD");
    }
    // The proxy's answer to CONNECT is not the server's response.
    check_option(curl_easy_setopt(easy, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L),
                 "CURLOPT_SUPPRESS_CONNECT_HEADERS");
}

std::string describe_timeout(std::chrono::milliseconds timeout) {
    if (timeout.count() % 1000 == 0)
        return std::to_string(timeout.count() / 1000) + " s";
    return std::to_string(timeout.count()) + " ms";
}

std::string openssl_errors() {
    std::string text;
    while (const unsigned long code = ERR_get_error()) {
        std::array<char, 256> buffer{};
        ERR_error_string_n(code, buffer.data(), buffer.size());
        text += (text.empty() ? "" : "; ") + std::string(buffer.data());
    }
    return text.empty() ? "unknown OpenSSL error" : text;
}

std::string redact_userinfo(std::string_view line) {
    // Every word holding an '@' loses what precedes its last '@' (after any "scheme://"): a
    // proxy URL from the environment may come without a scheme ("user:pw@proxy:3128").
    constexpr std::string_view separators = " \t'\"<>()[]";
    std::string out;
    std::size_t pos = 0;
    while (pos < line.size()) {
        const std::size_t end = std::min(line.find_first_of(separators, pos), line.size());
        const std::string_view word = line.substr(pos, end - pos);
        const std::size_t at = word.rfind('@');
        if (at != std::string_view::npos) {
            const std::size_t scheme = word.find("://");
            const std::size_t start =
                scheme != std::string_view::npos && scheme < at ? scheme + 3 : 0;
            out.append(word.substr(0, start)).append("***").append(word.substr(at));
        } else {
            out.append(word);
        }
        if (end < line.size())
            out += line[end];
        pos = end + 1;
    }
    return out;
}

}  // namespace certenroll::http
