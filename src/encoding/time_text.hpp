#pragma once
/// Times and durations as people type and read them.

#include <chrono>
#include <string>
#include <string_view>

namespace certenroll::encoding {

/// "2026-11-25 03:30:00 UTC"
std::string format_time_utc(std::chrono::system_clock::time_point time);
/// "2026-11-25T03:30:00Z"
std::string format_iso8601(std::chrono::system_clock::time_point time);

/// A UTC date and time as the system clock's time_point, saturated at the clock's range (its
/// nanoseconds span the years 1677-2262): RFC 5280's 99991231235959Z, "no well-defined
/// expiration", then reads as the latest time the clock holds instead of overflowing.
std::chrono::system_clock::time_point utc_time_point(std::chrono::year_month_day date, int hour,
                                                     int minute, int second);
/// The same saturation for a time in seconds.
std::chrono::system_clock::time_point saturating_time_point(std::chrono::sys_seconds time);

/// "30d", "12h", "90m", "45s", "1d12h" or plain seconds ("3600"). Anything else (or a negative
/// or absurd value) is a usage Error naming `flag`.
std::chrono::seconds parse_duration(std::string_view text, std::string_view flag);

}  // namespace certenroll::encoding
