#include "encoding/time_text.hpp"

#include <cctype>
#include <ctime>

#include "error.hpp"

namespace certenroll::encoding {
namespace {

std::string format(std::chrono::system_clock::time_point time, const char* pattern) {
    const std::time_t t = std::chrono::system_clock::to_time_t(time);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buffer[64];
    std::strftime(buffer, sizeof buffer, pattern, &tm);
    return buffer;
}

}  // namespace

std::string format_time_utc(std::chrono::system_clock::time_point time) {
    return format(time, "%Y-%m-%d %H:%M:%S UTC");
}

std::string format_iso8601(std::chrono::system_clock::time_point time) {
    return format(time, "%Y-%m-%dT%H:%M:%SZ");
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
