#include "diagnose/network_probe.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <system_error>

#include "encoding/time_text.hpp"
#include "error.hpp"
#include "http/curl_easy.hpp"
#include "http/transfer_error.hpp"
#include "http/url.hpp"

namespace certenroll::diagnose {

using http::check_option;
using http::describe_timeout;
using http::EasyHandle;
using http::new_easy_handle;
using http::openssl_errors;
using http::Trust;
using http::trust_of;
using http::UrlParts;

namespace {

struct StoreDeleter {
    void operator()(X509_STORE* store) const { X509_STORE_free(store); }
};
using StorePtr = std::unique_ptr<X509_STORE, StoreDeleter>;

struct StoreCtxDeleter {
    void operator()(X509_STORE_CTX* ctx) const { X509_STORE_CTX_free(ctx); }
};
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, StoreCtxDeleter>;

struct StackDeleter {
    void operator()(STACK_OF(X509) * stack) const { sk_X509_free(stack); }
};
using StackPtr = std::unique_ptr<STACK_OF(X509), StackDeleter>;

struct BioDeleter {
    void operator()(BIO* bio) const { BIO_free(bio); }
};

struct NamesDeleter {
    void operator()(GENERAL_NAMES* names) const { GENERAL_NAMES_free(names); }
};

// ---- certificates ----------------------------------------------------------------------------

std::string name_text(const X509_NAME* name) {
    std::unique_ptr<BIO, BioDeleter> bio(BIO_new(BIO_s_mem()));
    if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0)
        return "?";
    char* data = nullptr;
    const long length = BIO_get_mem_data(bio.get(), &data);
    return length > 0 ? std::string(data, static_cast<std::size_t>(length)) : std::string();
}

TimePoint asn1_time_point(const ASN1_TIME* time) {
    std::tm tm{};
    if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1)
        return {};
    using namespace std::chrono;
    return encoding::utc_time_point(year{tm.tm_year + 1900} /
                                        month{static_cast<unsigned>(tm.tm_mon + 1)} /
                                        day{static_cast<unsigned>(tm.tm_mday)},
                                    tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string curve_name(EVP_PKEY* key) {
    std::array<char, 80> name{};
    std::size_t length = 0;
    if (EVP_PKEY_get_group_name(key, name.data(), name.size(), &length) != 1)
        return "";
    const std::string group(name.data(), length);
    if (group == "prime256v1" || group == "secp256r1")
        return "P-256";
    if (group == "secp384r1")
        return "P-384";
    if (group == "secp521r1")
        return "P-521";
    return group;
}

CertificateSummary summarize(X509* cert) {
    CertificateSummary summary;
    summary.subject = name_text(X509_get_subject_name(cert));
    summary.issuer = name_text(X509_get_issuer_name(cert));
    summary.not_before = asn1_time_point(X509_get0_notBefore(cert));
    summary.not_after = asn1_time_point(X509_get0_notAfter(cert));
    if (EVP_PKEY* key = X509_get0_pubkey(cert)) {
        summary.key_bits = EVP_PKEY_get_bits(key);
        summary.security_bits = EVP_PKEY_get_security_bits(key);
        switch (EVP_PKEY_get_base_id(key)) {
            case EVP_PKEY_RSA:
            case EVP_PKEY_RSA_PSS:
                summary.key = "RSA " + std::to_string(summary.key_bits);
                break;
            case EVP_PKEY_EC:
                summary.key = "EC " + curve_name(key);
                break;
            case EVP_PKEY_ED25519:
                summary.key = "Ed25519";
                break;
            case EVP_PKEY_ED448:
                summary.key = "Ed448";
                break;
            default: {
                const char* name = OBJ_nid2sn(EVP_PKEY_get_base_id(key));
                summary.key =
                    std::string(name ? name : "unknown") + " " + std::to_string(summary.key_bits);
            }
        }
    }
    if (const char* signature = OBJ_nid2ln(X509_get_signature_nid(cert)))
        summary.signature = signature;
    std::unique_ptr<GENERAL_NAMES, NamesDeleter> names(static_cast<GENERAL_NAMES*>(
        X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
        const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
        if (name->type == GEN_DNS) {
            const ASN1_STRING* text = name->d.dNSName;
            summary.names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)),
                                       static_cast<std::size_t>(ASN1_STRING_length(text)));
        } else if (name->type == GEN_IPADD) {
            const ASN1_STRING* ip = name->d.iPAddress;
            summary.names.push_back(format_ip_address(
                ASN1_STRING_get0_data(ip), static_cast<std::size_t>(ASN1_STRING_length(ip))));
        }
    }
    summary.self_signed = X509_self_signed(cert, 1) == 1;
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int length = 0;
    if (X509_digest(cert, EVP_sha256(), digest.data(), &length) == 1) {
        static constexpr char hex[] = "0123456789abcdef";
        for (unsigned int i = 0; i < length; ++i) {
            summary.sha256 += hex[digest[i] >> 4];
            summary.sha256 += hex[digest[i] & 0x0F];
        }
    }
    return summary;
}

// ---- verification ----------------------------------------------------------------------------

TrustIssue classify(int code) {
    switch (code) {
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
        case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        case X509_V_ERR_CERT_UNTRUSTED:
            return TrustIssue::UnknownIssuer;
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
            return TrustIssue::SelfSigned;
        case X509_V_ERR_CERT_HAS_EXPIRED:
            return TrustIssue::Expired;
        case X509_V_ERR_CERT_NOT_YET_VALID:
            return TrustIssue::NotYetValid;
        case X509_V_ERR_HOSTNAME_MISMATCH:
        case X509_V_ERR_IP_ADDRESS_MISMATCH:
            return TrustIssue::HostnameMismatch;
        case X509_V_ERR_EE_KEY_TOO_SMALL:
        case X509_V_ERR_CA_KEY_TOO_SMALL:
            return TrustIssue::WeakKey;
        case X509_V_ERR_CA_MD_TOO_WEAK:
            return TrustIssue::WeakSignature;
        case X509_V_ERR_INVALID_PURPOSE:
            return TrustIssue::WrongPurpose;
        default:
            return TrustIssue::Other;
    }
}

// Records every failure and carries on, so that one verification lists them all.
int collect_problem(int ok, X509_STORE_CTX* ctx) {
    if (ok == 1)
        return 1;
    auto* problems = static_cast<std::vector<VerifyProblem>*>(X509_STORE_CTX_get_app_data(ctx));
    const int code = X509_STORE_CTX_get_error(ctx);
    const int depth = X509_STORE_CTX_get_error_depth(ctx);
    const bool known = std::any_of(problems->begin(), problems->end(), [&](const auto& p) {
        return p.depth == depth && p.text == X509_verify_cert_error_string(code);
    });
    if (!known) {
        VerifyProblem problem;
        problem.issue = classify(code);
        problem.depth = depth;
        problem.text = X509_verify_cert_error_string(code);
        if (X509* cert = X509_STORE_CTX_get_current_cert(ctx))
            problem.subject = name_text(X509_get_subject_name(cert));
        problems->push_back(std::move(problem));
    }
    return 1;
}

struct Verification {
    std::vector<VerifyProblem> problems;
    std::vector<CertificateSummary> path;
};

Verification verify(X509_STORE* store, STACK_OF(X509) * presented, const UrlParts* host,
                    int auth_level) {
    Verification result;
    X509* leaf = sk_X509_value(presented, 0);
    StackPtr untrusted(sk_X509_new_null());
    for (int i = 1; untrusted && i < sk_X509_num(presented); ++i)
        sk_X509_push(untrusted.get(), sk_X509_value(presented, i));
    StoreCtxPtr ctx(X509_STORE_CTX_new());
    if (!ctx || !untrusted || X509_STORE_CTX_init(ctx.get(), store, leaf, untrusted.get()) != 1) {
        result.problems.push_back(
            {TrustIssue::Other, 0, "verification setup failed: " + openssl_errors(), ""});
        return result;
    }
    X509_STORE_CTX_set_default(ctx.get(), "ssl_server");
    X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
    X509_VERIFY_PARAM_set_auth_level(param, auth_level);
    // As libcurl sets its store: an intermediate CA trusted on its own is an anchor.
    X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN | X509_V_FLAG_TRUSTED_FIRST);
    if (host != nullptr) {
        const bool named =
            host->ip_literal
                ? X509_VERIFY_PARAM_set1_ip_asc(param, host->host.c_str()) == 1
                : X509_VERIFY_PARAM_set1_host(param, host->host.c_str(), host->host.size()) == 1;
        if (!named) {
            result.problems.push_back({TrustIssue::HostnameMismatch, 0,
                                       "the host name " + host->host + " cannot be checked", ""});
            return result;
        }
    }
    X509_STORE_CTX_set_app_data(ctx.get(), &result.problems);
    X509_STORE_CTX_set_verify_cb(ctx.get(), &collect_problem);
    if (X509_verify_cert(ctx.get()) != 1 && result.problems.empty()) {
        const int code = X509_STORE_CTX_get_error(ctx.get());
        result.problems.push_back({classify(code), 0, X509_verify_cert_error_string(code), ""});
    }
    if (STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx.get())) {
        for (int i = 0; i < sk_X509_num(chain); ++i)
            result.path.push_back(summarize(sk_X509_value(chain, i)));
    }
    ERR_clear_error();
    return result;
}

bool trust_problem(const VerifyProblem& problem) {
    return problem.issue == TrustIssue::UnknownIssuer || problem.issue == TrustIssue::SelfSigned;
}

// A store of what `trust` names; empty when none of it loads (the caller reports that).
StorePtr load_store(const Trust& trust, std::string* error = nullptr) {
    StorePtr store(X509_STORE_new());
    if (!store)
        return store;
    ERR_clear_error();
    bool loaded = false;
    if (!trust.file.empty())
        loaded = X509_STORE_load_file(store.get(), trust.file.c_str()) == 1;
    if (!trust.directory.empty())
        loaded = X509_STORE_load_path(store.get(), trust.directory.c_str()) == 1 || loaded;
    if (!loaded && error != nullptr)
        *error = openssl_errors();
    ERR_clear_error();
    return store;
}

// ---- TLS callbacks -----------------------------------------------------------------------------

struct X509Deleter {
    void operator()(X509* cert) const { X509_free(cert); }
};

// What the handshake showed.
struct HandshakeState {
    bool client_certificate_requested = false;
    bool done = false;
    std::string protocol;
    std::string cipher;
    int security_level = 1;
    std::vector<std::unique_ptr<X509, X509Deleter>> chain;  // as the server sent it
};

void on_handshake_info(const SSL* ssl, int where, int) {
    if ((where & SSL_CB_HANDSHAKE_DONE) == 0)
        return;
    auto* state = static_cast<HandshakeState*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
    if (state == nullptr || state->done)
        return;  // the first report; TLS 1.3 session tickets may report again
    state->done = true;
    state->protocol = SSL_get_version(ssl);
    if (const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl))
        state->cipher = SSL_CIPHER_get_name(cipher);
    state->security_level = SSL_get_security_level(ssl);
    if (STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl)) {
        for (int i = 0; i < sk_X509_num(chain); ++i) {
            X509* cert = sk_X509_value(chain, i);
            if (X509_up_ref(cert) == 1)
                state->chain.emplace_back(cert);
        }
    }
}

int on_client_cert_request(SSL* ssl, X509**, EVP_PKEY**) {
    auto* state = static_cast<HandshakeState*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
    if (state != nullptr)
        state->client_certificate_requested = true;
    return 0;  // no certificate: the probe never authenticates
}

// The TLS connections of one probe, in the order libcurl opens them: an https:// proxy's first,
// the server's last. Each SSL_CTX of libcurl serves one connection.
struct Handshakes {
    std::vector<std::unique_ptr<HandshakeState>> states;
};

CURLcode on_ssl_context(CURL*, void* context, void* user) {
    auto* ctx = static_cast<SSL_CTX*>(context);
    auto* handshakes = static_cast<Handshakes*>(user);
    try {
        handshakes->states.push_back(std::make_unique<HandshakeState>());
    } catch (...) {
        return CURLE_OUT_OF_MEMORY;
    }
    SSL_CTX_set_app_data(ctx, handshakes->states.back().get());
    SSL_CTX_set_client_cert_cb(ctx, &on_client_cert_request);
    SSL_CTX_set_info_callback(ctx, &on_handshake_info);
    return CURLE_OK;
}

}  // namespace

TcpResult probe_tcp(const std::string& address, int port, std::chrono::milliseconds timeout) {
    TcpResult result;
    // A TCP connection and nothing else: libcurl's CONNECT_ONLY on a plain http:// URL.
    std::string host = address;
    if (host.find(':') != std::string::npos) {
        if (const std::size_t zone = host.find('%'); zone != std::string::npos)
            host.replace(zone, 1, "%25");
        host = "[" + host + "]";
    }
    const std::string url = "http://" + host + ":" + std::to_string(port) + "/";
    EasyHandle easy = new_easy_handle();
    CURL* h = easy.get();
    std::array<char, CURL_ERROR_SIZE> error_buffer{};
    const long limit = static_cast<long>(std::max<long long>(1, timeout.count()));
    check_option(curl_easy_setopt(h, CURLOPT_URL, url.c_str()), "CURLOPT_URL");
    check_option(curl_easy_setopt(h, CURLOPT_PROXY, ""), "CURLOPT_PROXY");  // the address itself
    check_option(curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L), "CURLOPT_CONNECT_ONLY");
    check_option(curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, limit),
                 "CURLOPT_CONNECTTIMEOUT_MS");
    check_option(curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer.data()),
                 "CURLOPT_ERRORBUFFER");
    const CURLcode code = curl_easy_perform(h);
    curl_off_t connect_time = 0;
    curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &connect_time);
    result.elapsed = std::chrono::microseconds(connect_time);
    long os_errno = 0;
    curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
    if (code == CURLE_OK) {
        result.connected = true;
    } else if (code == CURLE_OPERATION_TIMEDOUT) {
        result.error = "no answer within " + describe_timeout(timeout) +
                       " (a firewall may be dropping the packets)";
    } else if (os_errno != 0) {
        result.error = std::system_category().message(static_cast<int>(os_errno));
    } else {
        result.error = error_buffer[0] != '\0' ? error_buffer.data() : curl_easy_strerror(code);
    }
    return result;
}

std::string format_ip_address(const unsigned char* bytes, std::size_t length) {
    if (length == 4) {
        return std::to_string(bytes[0]) + "." + std::to_string(bytes[1]) + "." +
               std::to_string(bytes[2]) + "." + std::to_string(bytes[3]);
    }
    static constexpr char hex[] = "0123456789abcdef";
    if (length != 16) {
        std::string text;
        for (std::size_t i = 0; i < length; ++i) {
            text += hex[bytes[i] >> 4];
            text += hex[bytes[i] & 0x0F];
        }
        return text;
    }
    std::array<unsigned, 8> groups{};
    for (std::size_t i = 0; i < 8; ++i)
        groups[i] = static_cast<unsigned>(bytes[2 * i] << 8 | bytes[2 * i + 1]);
    // RFC 5952: the longest run of two or more zero groups becomes "::".
    int best_start = -1;
    int best_length = 0;
    for (int i = 0; i < 8;) {
        if (groups[static_cast<std::size_t>(i)] != 0) {
            ++i;
            continue;
        }
        int j = i;
        while (j < 8 && groups[static_cast<std::size_t>(j)] == 0)
            ++j;
        if (j - i > best_length && j - i >= 2) {
            best_start = i;
            best_length = j - i;
        }
        i = j;
    }
    std::string text;
    for (int i = 0; i < 8; ++i) {
        if (i == best_start) {
            text += "::";
            i += best_length - 1;
            continue;
        }
        if (!text.empty() && text.back() != ':')
            text += ':';
        char group[8];
        std::snprintf(group, sizeof group, "%x", groups[static_cast<std::size_t>(i)]);
        text += group;
    }
    return text;
}

TlsResult probe_tls(const std::string& url, const http::Settings& settings) {
    TlsResult result;
    const auto target = http::parse_url(url);
    if (!target || target->scheme != "https") {
        result.error = "not an https:// URL";
        return result;
    }
    // Reaches the server exactly as the real requests do (the same libcurl set-up: proxy,
    // deadlines, TLS floor), but with the server's verification deferred to verify() below so
    // that every problem can be listed; libcurl stops after the handshake and nothing is sent.
    http::Settings probe_settings = settings;
    probe_settings.client_certificate.reset();
    probe_settings.trace = {};
    Handshakes handshakes;
    EasyHandle easy = new_easy_handle();
    CURL* h = easy.get();
    std::array<char, CURL_ERROR_SIZE> error_buffer{};
    http::configure(h, probe_settings);
    check_option(curl_easy_setopt(h, CURLOPT_URL, url.c_str()), "CURLOPT_URL");
    check_option(curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L), "CURLOPT_CONNECT_ONLY");
    check_option(curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L), "CURLOPT_SSL_VERIFYPEER");
    check_option(curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L), "CURLOPT_SSL_VERIFYHOST");
    check_option(curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, &on_ssl_context),
                 "CURLOPT_SSL_CTX_FUNCTION");
    check_option(curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, &handshakes), "CURLOPT_SSL_CTX_DATA");
    check_option(curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer.data()),
                 "CURLOPT_ERRORBUFFER");
    const CURLcode code = curl_easy_perform(h);
    const HandshakeState* state =
        handshakes.states.empty() ? nullptr : handshakes.states.back().get();
    if (state != nullptr)
        result.client_certificate_requested = state->client_certificate_requested;
    if (code != CURLE_OK || state == nullptr || !state->done) {
        curl_off_t connected = 0;
        curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &connected);
        if (code == CURLE_OPERATION_TIMEDOUT) {
            const auto limit = std::min(settings.connect_timeout, settings.total_timeout);
            result.error = connected == 0
                               ? "no connection within " + describe_timeout(limit)
                               : "the TLS handshake timed out after " + describe_timeout(limit);
        } else if (code == CURLE_OK) {
            result.error = "the TLS handshake completed without OpenSSL reporting it";
        } else {
            // In the words an enrollment would use (proxy refusals, resolution, TLS alerts).
            http::TransferFacts facts = http::facts_of(h, code, error_buffer.data(), url);
            facts.proxy = http::proxy_route(url, probe_settings);
            result.error = http::transfer_error(facts, probe_settings).message();
        }
        return result;
    }
    result.handshake = true;
    result.protocol = state->protocol;
    result.cipher = state->cipher;
    StackPtr chain(sk_X509_new_null());
    for (const auto& cert : state->chain) {
        if (!chain || sk_X509_push(chain.get(), cert.get()) <= 0) {
            result.problems.push_back({TrustIssue::Other, 0, "out of memory", ""});
            return result;
        }
    }
    STACK_OF(X509)* presented = chain.get();
    if (sk_X509_num(presented) == 0) {
        result.problems.push_back({TrustIssue::Other, 0, "the server sent no certificate", ""});
        return result;
    }
    for (int i = 0; i < sk_X509_num(presented); ++i)
        result.presented.push_back(summarize(sk_X509_value(presented, i)));
    const int auth_level = state->security_level;

    // The trust the real requests use (http::trust_of), loaded the same way.
    const Trust trust = trust_of(settings);
    result.trust_store = trust.source;
    StorePtr store = load_store(trust, trust.from_ca_bundle ? &result.trust_store_error : nullptr);
    if (!store) {
        result.problems.push_back({TrustIssue::Other, 0, "out of memory", ""});
        return result;
    }
    Verification verification = verify(store.get(), presented, &*target, auth_level);
    result.problems = std::move(verification.problems);
    result.path = std::move(verification.path);
    const bool untrusted =
        std::any_of(result.problems.begin(), result.problems.end(), &trust_problem);
    if (!untrusted)
        return result;
    // What would make it trusted: the root the server sends itself, or the system store.
    X509* top = sk_X509_value(presented, sk_X509_num(presented) - 1);
    if (X509_self_signed(top, 1) == 1) {
        StorePtr own(X509_STORE_new());
        if (own && X509_STORE_add_cert(own.get(), top) == 1) {
            result.trusted_with_sent_root =
                verify(own.get(), presented, nullptr, auth_level).problems.empty();
        }
    }
    if (trust.from_ca_bundle) {
        http::Settings platform = settings;
        platform.ca_bundle.clear();
        if (StorePtr fallback = load_store(trust_of(platform))) {
            const auto problems = verify(fallback.get(), presented, nullptr, auth_level).problems;
            result.trusted_by_system_store =
                std::none_of(problems.begin(), problems.end(), &trust_problem);
        }
    }
    ERR_clear_error();
    return result;
}

}  // namespace certenroll::diagnose
