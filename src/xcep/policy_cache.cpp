#include "xcep/policy_cache.hpp"

#include <openssl/evp.h>

#include <array>

#include "encoding/time_text.hpp"
#include "error.hpp"

namespace certenroll::xcep {

namespace {

// 1: the response inside the JSON document (files named KEY.json); 2: a JSON header line, then
// the response (KEY.policy).
constexpr int cache_format_version = 2;

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

nlohmann::json CacheEntry::header() const {
    return {{"version", cache_format_version},
            {"cep_url", cep_url},
            {"identity", identity},
            {"fetched_at", to_unix_seconds(fetched_at)},
            {"fetched_at_text", encoding::format_iso8601(fetched_at)},
            {"last_full_update", to_unix_seconds(last_full_update)},
            {"response_bytes", response_xml.size()}};
}

std::string CacheEntry::to_file_text() const {
    // dump() without indentation escapes every newline inside strings: one line.
    const std::string line = header().dump();
    std::string text;
    text.reserve(line.size() + 1 + response_xml.size());
    text.append(line).append("\n").append(response_xml);
    return text;
}

CacheEntry CacheEntry::from_file_text(std::string_view text) {
    const auto end_of_header = text.find('\n');
    if (end_of_header == std::string_view::npos)
        throw corrupt("no header line");
    nlohmann::json json;
    try {
        json = nlohmann::json::parse(text.substr(0, end_of_header));
    } catch (const nlohmann::json::exception& e) {
        throw corrupt(e.what());
    }
    if (!json.is_object())
        throw corrupt("the header is not a JSON object");
    const auto field = [&json](const char* name) -> const nlohmann::json& {
        const auto found = json.find(name);
        if (found == json.end())
            throw corrupt(std::string("missing field '") + name + "'");
        return *found;
    };
    if (field("version") != cache_format_version)
        throw corrupt("unknown format version");
    const std::string_view response = text.substr(end_of_header + 1);
    CacheEntry entry;
    try {
        entry.cep_url = field("cep_url").get<std::string>();
        entry.identity = field("identity").get<std::string>();
        entry.fetched_at = from_unix_seconds(field("fetched_at").get<std::int64_t>());
        entry.last_full_update = from_unix_seconds(field("last_full_update").get<std::int64_t>());
        if (field("response_bytes").get<std::uint64_t>() != response.size())
            throw corrupt("the response is " + std::to_string(response.size()) +
                          " bytes, the header says " + field("response_bytes").dump());
    } catch (const nlohmann::json::exception& e) {
        throw corrupt(e.what());
    }
    entry.response_xml = std::string(response);
    return entry;
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

std::string cache_file_name(std::string_view url, std::string_view identity) {
    return cache_key(url, identity) + ".policy";
}

std::string legacy_cache_file_name(std::string_view url, std::string_view identity) {
    return cache_key(url, identity) + ".json";
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
