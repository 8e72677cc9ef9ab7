#include "http/curl_api.hpp"

#include <cstdlib>
#include <string>

#include "error.hpp"

#if CERTENROLL_LAZY_LIBCURL
#include <dlfcn.h>
#endif

namespace certenroll::http {

namespace {

#if CERTENROLL_LAZY_LIBCURL

constexpr const char* kLibcurl = "libcurl.so.4";

Error load_error(const std::string& what) {
    return Error(ErrorKind::Local, "cannot load " + std::string(kLibcurl) + ": " + what,
                 "install libcurl 7.85 or later built with OpenSSL (Debian: libcurl4, Fedora: "
                 "libcurl)");
}

template <typename F>
void bind(void* library, F& slot, const char* name) {
    void* symbol = dlsym(library, name);
    if (symbol == nullptr)
        throw load_error(std::string("no symbol ") + name);
    slot = reinterpret_cast<F>(symbol);
}

// Debian's libcurl (OpenSSL flavour) still pulls in GnuTLS through librtmp, and GnuTLS
// initialises itself from a library constructor (RNG, config file, p11-kit): about 0.6 MB of RSS
// per run for a library only RTMP would use, a protocol we never enable. GnuTLS documents
// GNUTLS_NO_IMPLICIT_INIT for exactly this; it is set around the dlopen only, so deploy hooks and
// other children do not inherit it.
void* dlopen_without_gnutls_init(const char* name) {
    constexpr const char* kVariable = "GNUTLS_NO_IMPLICIT_INIT";
    const bool was_set = std::getenv(kVariable) != nullptr;
    if (!was_set)
        setenv(kVariable, "1", 0);
    void* library = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!was_set)
        unsetenv(kVariable);
    return library;
}

CurlApi load() {
    // Never unloaded: libcurl and OpenSSL keep process-wide state until exit.
    void* library = dlopen_without_gnutls_init(kLibcurl);
    if (library == nullptr) {
        const char* detail = dlerror();
        throw load_error(detail != nullptr ? detail : "dlopen failed");
    }
    CurlApi api{};
    bind(library, api.global_init, "curl_global_init");
    bind(library, api.easy_init, "curl_easy_init");
    bind(library, api.easy_setopt, "curl_easy_setopt");
    bind(library, api.easy_perform, "curl_easy_perform");
    bind(library, api.easy_getinfo, "curl_easy_getinfo");
    bind(library, api.easy_reset, "curl_easy_reset");
    bind(library, api.easy_cleanup, "curl_easy_cleanup");
    bind(library, api.easy_strerror, "curl_easy_strerror");
    bind(library, api.slist_append, "curl_slist_append");
    bind(library, api.slist_free_all, "curl_slist_free_all");
    return api;
}

#else

CurlApi load() {
    // Parenthesised names: curl's type-checking macros must not apply to taking an address.
    return CurlApi{(curl_global_init),   (curl_easy_init),     (curl_easy_setopt),
                   (curl_easy_perform),  (curl_easy_getinfo),  (curl_easy_reset),
                   (curl_easy_cleanup),  (curl_easy_strerror), (curl_slist_append),
                   (curl_slist_free_all)};
}

#endif

}  // namespace

const CurlApi& curl_api() {
    // A failed load throws and is retried on the next call (static initialisation rules).
    static const CurlApi api = load();
    return api;
}

}  // namespace certenroll::http
