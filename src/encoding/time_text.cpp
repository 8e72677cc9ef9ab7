#include "encoding/time_text.hpp"

#include <cctype>
#include <cstdio>

#include "error.hpp"

namespace certenroll::encoding {
namespace {

// "2026-12-06", "18:11:01": the calendar date and time of day in UTC, from <chrono> alone
// (gmtime_r is POSIX; Windows spells it gmtime_s).
struct UtcFields {
    char date[32];
    char time[16];
};

UtcFields utc_fields(std::chrono::system_clock::time_point time) {
    using namespace std::chrono;
    const auto second = floor<seconds>(time);
    const auto day = floor<days>(second);
    const year_month_day ymd{day};
    const hh_mm_ss clock{second - day};
    UtcFields fields{};
    std::snprintf(fields.date, sizeof fields.date, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
    std::snprintf(
        fields.time, sizeof fields.time, "%02d:%02d:%02d", static_cast<int>(clock.hours().count()),
        static_cast<int>(clock.minutes().count()), static_cast<int>(clock.seconds().count()));
    return fields;
}

}  // namespace

std::string format_time_utc(std::chrono::system_clock::time_point time) {
    const UtcFields fields = utc_fields(time);
    return std::string(fields.date) + " " + fields.time + " UTC";
}

std::string format_iso8601(std::chrono::system_clock::time_point time) {
    const UtcFields fields = utc_fields(time);
    return std::string(fields.date) + "T" + fields.time + "Z";
}

std::chrono::system_clock::time_point utc_time_point(std::chrono::year_month_day date, int hour,
                                                     int minute, int second) {
    using namespace std::chrono;
    return saturating_time_point(sys_days{date} + hours{hour} + minutes{minute} + seconds{second});
}

std::chrono::system_clock::time_point saturating_time_point(std::chrono::sys_seconds time) {
    using namespace std::chrono;
    using Clock = system_clock;
    if (time > time_point_cast<seconds>(Clock::time_point::max()))
        return Clock::time_point::max();
    if (time < time_point_cast<seconds>(Clock::time_point::min()))
        return Clock::time_point::min();
    return time_point_cast<Clock::duration>(time);
}

std::chrono::seconds parse_duration(std::string_view text, std::string_view flag) {
    const auto bad = [&] {
        return Error(ErrorKind::Usage,
                     "invalid duration '" + std::string(text) + "' for " + std::string(flag),
                     "write it like 30d, 12h, 90m, 45s or 1d12h");
    };
    constexpr long long kMaxSeconds = 100LL * 365 * 86400;
    if (text.empty())
        throw bad();
    long long total = 0;
    std::size_t i = 0;
    while (i < text.size()) {
        long long value = 0;
        const std::size_t start = i;
        while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
            value = value * 10 + (text[i] - '0');
            if (value > kMaxSeconds)
                throw bad();
            ++i;
        }
        if (i == start)
            throw bad();
        long long unit = 1;
        if (i < text.size()) {
            switch (text[i]) {
                case 'd':
                    unit = 86400;
                    break;
                case 'h':
                    unit = 3600;
                    break;
                case 'm':
                    unit = 60;
                    break;
                case 's':
                    unit = 1;
                    break;
                default:
                    throw bad();
            }
            ++i;
        } else if (start != 0) {
            throw bad();  // "1d12" is ambiguous
        }
        total += value * unit;
        if (total > kMaxSeconds)
            throw bad();
    }
    return std::chrono::seconds(total);
}

}  // namespace certenroll::encoding
