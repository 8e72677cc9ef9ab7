#pragma once
/// The rules of the per-(CEP URL, identity) policy cache, without any file I/O: what an entry
/// holds, how it is named and serialised, when it is fresh and how a new response updates it.

#include <chrono>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "xcep/policy.hpp"

namespace certenroll::xcep {

using TimePoint = std::chrono::system_clock::time_point;

/// Hours a policy stays fresh when the server sends nextUpdateHours nil (Windows' default).
inline constexpr std::uint32_t default_next_update_hours = 8;

/// One cached GetPoliciesResponse.
///
/// On disk: one line of JSON with every field but the response, and the response's length;
/// then the response's XML as it is. Loading a policy of 1,000 templates then costs its XML
/// parse alone; kept inside JSON it also cost a JSON parse and the unescaping of a megabyte
/// string, which made a warm cache slower than a fetch's parse (tests/bench/README.md).
struct CacheEntry {
    std::string cep_url;
    std::string identity;
    TimePoint fetched_at{};        ///< last time the server confirmed this policy
    TimePoint last_full_update{};  ///< when the response was fetched in full: sent as lastUpdate
    std::string response_xml;      ///< the GetPoliciesResponse element, serialised

    /// The header line's fields (no response).
    nlohmann::json header() const;
    std::string to_file_text() const;
    /// Throws a local Error naming what is missing, malformed or cut short.
    static CacheEntry from_file_text(std::string_view text);
};

/// A file-name-safe key: lowercase hex SHA-256 of the URL and the identity.
std::string cache_key(std::string_view url, std::string_view identity);

/// The entry's file name in the policy cache directory: the key and ".policy".
std::string cache_file_name(std::string_view url, std::string_view identity);

/// The name an entry had in the first format (the response inside JSON), removed when the
/// entry is written again.
std::string legacy_cache_file_name(std::string_view url, std::string_view identity);

/// True while `now` is before fetched_at + nextUpdateHours (8 when nil). A clock that went
/// backwards (now before fetched_at) makes the entry stale, so a wrong clock cannot pin it.
bool is_fresh(const CacheEntry& entry, const Policy& policy, TimePoint now);

/// The cache after a successful fetch at `now`: on policiesNotChanged the cached response is kept
/// and only fetched_at moves; otherwise the new response replaces it (and last_full_update = now).
CacheEntry merge_response(const CacheEntry* cached, const Policy& fetched,
                          const std::string& fetched_xml, std::string_view cep_url,
                          std::string_view identity, TimePoint now);

}  // namespace certenroll::xcep
