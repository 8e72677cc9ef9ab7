#pragma once
/// The few libcurl entry points this module calls, reached through one table.
///
/// On Linux libcurl is loaded with dlopen on first use instead of being linked: libcurl brings 21
/// shared objects nothing else needs (GnuTLS via librtmp, LDAP, SASL, SSH, ...), whose loading and
/// relocation were about half of the instructions and 4 MB of the RSS of every run, `--version`,
/// `--help` and `renew --all` with nothing due included (tests/bench/README.md). Elsewhere the
/// table points at the linked functions.

#include <curl/curl.h>

namespace certenroll::http {

struct CurlApi {
    CURLcode (*global_init)(long flags);
    CURL* (*easy_init)();
    CURLcode (*easy_setopt)(CURL* curl, CURLoption option, ...);
    CURLcode (*easy_perform)(CURL* curl);
    CURLcode (*easy_getinfo)(CURL* curl, CURLINFO info, ...);
    void (*easy_reset)(CURL* curl);
    void (*easy_cleanup)(CURL* curl);
    const char* (*easy_strerror)(CURLcode code);
    curl_slist* (*slist_append)(curl_slist* list, const char* text);
    void (*slist_free_all)(curl_slist* list);
};

/// The table, loading libcurl the first time; throws a Local Error when libcurl is missing.
const CurlApi& curl_api();

}  // namespace certenroll::http
