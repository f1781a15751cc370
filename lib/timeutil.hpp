#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace reconcile {

/// One clock for run times, broker dates and database timestamps.
using Timestamp = std::chrono::system_clock::time_point;

/// ISO-8601 UTC with milliseconds: "2026-11-28T02:17:47.123Z" (sub-millisecond part is
/// dropped, rounding toward the past); the form used in JSON output and logs.
std::string format_utc(Timestamp t);

/// The HTTP date (RFC 9110 5.6.7, IMF-fixdate) of `t`, to the second (toward the past):
/// "Sun, 06 Nov 1994 08:49:37 GMT", in English whatever the locale.
std::string format_http_date(Timestamp t);

/// Parses ISO-8601 / RFC 3339 "2026-11-28T02:17:47Z" with optional fractional seconds (any
/// number of digits, truncated to microseconds) and "Z" or "+05:30"/"-04:00"/"+0530"/"+05"
/// offsets; a date-only "2026-11-28" (midnight UTC); and Postgres timestamptz text output
/// "2026-11-28 02:17:47.123456+00". A time without any offset is ambiguous and rejected.
/// Returns nullopt for anything else, including values the clock cannot represent; never throws.
std::optional<Timestamp> parse_utc(std::string_view text);

/// Milliseconds between two timestamps (end - start, truncated toward zero), for durations.
std::int64_t millis_between(Timestamp start, Timestamp end);

}  // namespace reconcile
