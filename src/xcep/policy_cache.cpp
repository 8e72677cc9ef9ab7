#include "xcep/policy_cache.hpp"

#include <openssl/evp.h>

#include <array>

#include "encoding/time_text.hpp"
#include "error.hpp"

namespace certenroll::xcep {

namespace {

constexpr int cache_format_version = 1;

std::int64_t to_unix_seconds(TimePoint time) {
    return std::chrono::duration_cast<std::chrono::seconds>(time.time_since_epoch()).count();
}

TimePoint from_unix_seconds(std::int64_t seconds) {
    return TimePoint(std::chrono::seconds(seconds));
}

Error corrupt(const std::string& what) {
    return Error(ErrorKind::Local, "the policy cache entry is unreadable: " + what,
                 "run 'certenroll-cli policy --refresh' to rebuild it");
}

}  // namespace

nlohmann::json CacheEntry::to_json() const {
    return {{"version", cache_format_version},
            {"cep_url", cep_url},
            {"identity", identity},
            {"fetched_at", to_unix_seconds(fetched_at)},
            {"fetched_at_text", encoding::format_iso8601(fetched_at)},
            {"last_full_update", to_unix_seconds(last_full_update)},
            {"response_xml", response_xml}};
}

CacheEntry CacheEntry::from_json(const nlohmann::json& json) {
    if (!json.is_object())
        throw corrupt("not a JSON object");
    const auto field = [&json](const char* name) -> const nlohmann::json& {
        const auto found = json.find(name);
        if (found == json.end())
            throw corrupt(std::string("missing field '") + name + "'");
        return *found;
    };
    if (field("version") != cache_format_version)
        throw corrupt("unknown format version");
    CacheEntry entry;
    try {
        entry.cep_url = field("cep_url").get<std::string>();
        entry.identity = field("identity").get<std::string>();
        entry.fetched_at = from_unix_seconds(field("fetched_at").get<std::int64_t>());
        entry.last_full_update = from_unix_seconds(field("last_full_update").get<std::int64_t>());
        entry.response_xml = field("response_xml").get<std::string>();
    } catch (const nlohmann::json::exception& e) {
        throw corrupt(e.what());
    }
    return entry;
}

std::string CacheEntry::to_json_text() const {
    return to_json().dump(2) + "\n";
}

CacheEntry CacheEntry::from_json_text(std::string_view text) {
    nlohmann::json json;
    try {
        json = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        throw corrupt(e.what());
    }
    return from_json(json);
}

std::string cache_key(std::string_view url, std::string_view identity) {
    // A newline cannot occur in a URL, so (url, identity) pairs cannot collide by concatenation.
    std::string input;
    input.reserve(url.size() + identity.size() + 1);
    input.append(url).append("\n").append(identity);
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int length = 0;
    if (EVP_Digest(input.data(), input.size(), digest.data(), &length, EVP_sha256(), nullptr) !=
        1) {
        throw Error(ErrorKind::Internal, "SHA-256 failed while naming the policy cache entry");
    }
    static constexpr char hex[] = "0123456789abcdef";
    std::string key;
    key.reserve(length * 2);
    for (unsigned int i = 0; i < length; ++i) {
        key.push_back(hex[digest[i] >> 4]);
        key.push_back(hex[digest[i] & 0x0F]);
    }
    return key;
}

bool is_fresh(const CacheEntry& entry, const Policy& policy, TimePoint now) {
    const auto hours = policy.next_update_hours.value_or(default_next_update_hours);
    return now >= entry.fetched_at && now < entry.fetched_at + std::chrono::hours(hours);
}

CacheEntry merge_response(const CacheEntry* cached, const Policy& fetched,
                          const std::string& fetched_xml, std::string_view cep_url,
                          std::string_view identity, TimePoint now) {
    if (cached != nullptr && fetched.policies_not_changed) {
        CacheEntry kept = *cached;
        kept.fetched_at = now;
        return kept;
    }
    CacheEntry entry;
    entry.cep_url = std::string(cep_url);
    entry.identity = std::string(identity);
    entry.fetched_at = now;
    entry.last_full_update = now;
    entry.response_xml = fetched_xml;
    return entry;
}

}  // namespace certenroll::xcep
