#include "lib/timeutil.hpp"

#include <doctest/doctest.h>

#include <ratio>

using namespace reconcile;
using namespace std::chrono;

namespace {

Timestamp at(sys_days day, microseconds since_midnight = microseconds{0})
{
    return Timestamp{duration_cast<Timestamp::duration>(day.time_since_epoch() + since_midnight)};
}

constexpr sys_days nov28 = sys_days{2026y / November / 28};

}  // namespace

TEST_CASE("timeutil: format_utc")
{
    CHECK(format_utc(Timestamp{}) == "1970-01-01T00:00:00.000Z");
    CHECK(format_utc(at(nov28, hours{2} + minutes{17} + seconds{47} + milliseconds{123})) ==
          "2026-11-28T02:17:47.123Z");
    // Sub-millisecond parts are dropped, toward the past.
    CHECK(format_utc(at(nov28, milliseconds{999} + microseconds{999})) == "2026-11-28T00:00:00.999Z");
    CHECK(format_utc(Timestamp{} - milliseconds{1}) == "1969-12-31T23:59:59.999Z");
    CHECK(format_utc(Timestamp{} - microseconds{1}) == "1969-12-31T23:59:59.999Z");
    CHECK(format_utc(at(sys_days{2024y / February / 29}, hours{23} + minutes{59} + seconds{59})) ==
          "2024-02-29T23:59:59.000Z");
}

TEST_CASE("timeutil: format_http_date is RFC 9110's IMF-fixdate")
{
    // The example of RFC 9110 5.6.7.
    CHECK(format_http_date(at(sys_days{1994y / November / 6}, hours{8} + minutes{49} + seconds{37})) ==
          "Sun, 06 Nov 1994 08:49:37 GMT");
    CHECK(format_http_date(Timestamp{}) == "Thu, 01 Jan 1970 00:00:00 GMT");
    // Fractions of a second are dropped, toward the past.
    CHECK(format_http_date(at(nov28, hours{23} + minutes{59} + seconds{59} + milliseconds{999})) ==
          "Sat, 28 Nov 2026 23:59:59 GMT");
    CHECK(format_http_date(at(sys_days{2024y / February / 29})) == "Thu, 29 Feb 2024 00:00:00 GMT");
    CHECK(format_http_date(at(sys_days{2026y / December / 31}, hours{12})) == "Thu, 31 Dec 2026 12:00:00 GMT");
}

TEST_CASE("timeutil: parse RFC 3339 with Z")
{
    const auto t = parse_utc("2026-11-28T02:17:47Z");
    REQUIRE(t.has_value());
    CHECK(*t == at(nov28, hours{2} + minutes{17} + seconds{47}));
    CHECK(parse_utc("2026-11-28t02:17:47z") == t);
    CHECK(parse_utc("2026-11-28T02:17:47+00:00") == t);
    CHECK(parse_utc("2026-11-28T02:17:47-00:00") == t);
}

TEST_CASE("timeutil: fractional seconds truncated to microseconds")
{
    const Timestamp base = at(nov28, hours{2} + minutes{17} + seconds{47});
    CHECK(parse_utc("2026-11-28T02:17:47.1Z") == base + milliseconds{100});
    CHECK(parse_utc("2026-11-28T02:17:47.123Z") == base + milliseconds{123});
    CHECK(parse_utc("2026-11-28T02:17:47.123456Z") == base + microseconds{123456});
    CHECK(parse_utc("2026-11-28T02:17:47.123456789Z") == base + microseconds{123456});
    CHECK(parse_utc("2026-11-28T02:17:47.9999999999999999999999Z") == base + microseconds{999999});
    CHECK_FALSE(parse_utc("2026-11-28T02:17:47.Z").has_value());
}

TEST_CASE("timeutil: offsets")
{
    const Timestamp utc = at(nov28, hours{2} + minutes{17} + seconds{47});
    CHECK(parse_utc("2026-11-28T07:47:47+05:30") == utc);
    CHECK(parse_utc("2026-11-28T07:47:47+0530") == utc);
    CHECK(parse_utc("2026-11-27T22:17:47-04:00") == utc);
    CHECK(parse_utc("2026-11-27T22:17:47-04") == utc);
    CHECK(parse_utc("2026-11-28T06:17:47.000+04:00") == utc);
    // Offset crossing into the previous year.
    CHECK(parse_utc("2027-01-01T03:00:00+05:00") == at(sys_days{2026y / December / 31}, hours{22}));
    CHECK_FALSE(parse_utc("2026-11-28T02:17:47+24:00").has_value());
    CHECK_FALSE(parse_utc("2026-11-28T02:17:47+05:60").has_value());
    CHECK_FALSE(parse_utc("2026-11-28T02:17:47+5").has_value());
    CHECK_FALSE(parse_utc("2026-11-28T02:17:47+05:").has_value());
    CHECK_FALSE(parse_utc("2026-11-28T02:17:47+05:30:00").has_value());
}

TEST_CASE("timeutil: date only is midnight UTC")
{
    CHECK(parse_utc("2026-11-28") == at(nov28));
    CHECK(parse_utc("1970-01-01") == Timestamp{});
    CHECK(parse_utc("2024-02-29") == at(sys_days{2024y / February / 29}));
}

TEST_CASE("timeutil: Postgres text output")
{
    const Timestamp base = at(nov28, hours{2} + minutes{17} + seconds{47});
    CHECK(parse_utc("2026-11-28 02:17:47.123456+00") == base + microseconds{123456});
    CHECK(parse_utc("2026-11-28 02:17:47+00") == base);
    CHECK(parse_utc("2026-11-28 07:47:47.5+05:30") == base + milliseconds{500});
    CHECK(parse_utc("2026-11-27 21:17:47-05") == base);
}

TEST_CASE("timeutil: format/parse round trip")
{
    for (const Timestamp t :
         {Timestamp{}, at(nov28, hours{2} + minutes{17} + seconds{47} + milliseconds{123}),
          at(sys_days{2000y / January / 1}),
          at(sys_days{1999y / December / 31}, hours{23} + minutes{59} + seconds{59} + milliseconds{999}),
          Timestamp{} - milliseconds{1}, at(sys_days{2100y / March / 1}, milliseconds{1})}) {
        const std::string text = format_utc(t);
        CAPTURE(text);
        const auto parsed = parse_utc(text);
        REQUIRE(parsed.has_value());
        CHECK(*parsed == t);
        CHECK(format_utc(*parsed) == text);
    }
}

TEST_CASE("timeutil: garbage rejected")
{
    for (const char* text : {"",
                             "yesterday",
                             "2026-13-01",
                             "2026-00-10",
                             "2026-02-30",
                             "2025-02-29",
                             "2026-11-31",
                             "2026-11-00",
                             "2026-11-28T",
                             "2026-11-28T24:00:00Z",
                             "2026-11-28T02:60:00Z",
                             "2026-11-28T02:17:60Z",
                             "2026-11-28T02:17Z",
                             "2026-11-28T02:17:47",
                             "2026-11-28 02:17:47.123456",
                             "2026-11-28T02:17:47ZZ",
                             "2026-11-28T02:17:47Z ",
                             " 2026-11-28",
                             "2026-11-28 ",
                             "26-11-28",
                             "2026/11/28",
                             "2026-1-28",
                             "2026-11-8",
                             "+2026-11-28",
                             "2026-11-28X02:17:47Z",
                             "2026-11-28T2:17:47Z",
                             "1732760267",
                             "2026-11-28T02:17:47.123456+00 BC",
                             "2026-11-28T02:17:47 Z",
                             "２０２６-11-28"}) {
        CAPTURE(text);
        CHECK_FALSE(parse_utc(text).has_value());
    }
}

TEST_CASE("timeutil: dates the clock cannot hold are rejected, not wrapped")
{
    if constexpr (std::is_same_v<Timestamp::period, std::nano>) {
        CHECK_FALSE(parse_utc("9999-12-31T23:59:59Z").has_value());
        CHECK_FALSE(parse_utc("0001-01-01").has_value());
    }
    CHECK(parse_utc("2200-01-01").has_value());
    CHECK(parse_utc("1900-01-01").has_value());
}

TEST_CASE("timeutil: millis_between")
{
    const Timestamp start = at(nov28);
    CHECK(millis_between(start, start) == 0);
    CHECK(millis_between(start, start + milliseconds{1500}) == 1500);
    CHECK(millis_between(start + milliseconds{1500}, start) == -1500);
    CHECK(millis_between(start, start + microseconds{2999}) == 2);
    CHECK(millis_between(start, start + hours{72}) == 72LL * 3600 * 1000);
}
