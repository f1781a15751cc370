#include "lib/timeutil.hpp"

#include <array>

#include <fmt/core.h>

namespace reconcile {

namespace {

// Cursor over the input that reads fixed-width digit groups and literal characters.
class Scanner {
public:
    explicit Scanner(std::string_view text) : m_text(text) {}

    bool at_end() const { return m_pos == m_text.size(); }

    // Consumes c if it is next.
    bool accept(char c)
    {
        if (!at_end() && m_text[m_pos] == c) {
            ++m_pos;
            return true;
        }
        return false;
    }

    // Reads exactly `count` decimal digits.
    std::optional<int> digits(int count)
    {
        int value = 0;
        for (int i = 0; i < count; ++i) {
            if (at_end() || !is_digit(m_text[m_pos])) {
                return std::nullopt;
            }
            value = value * 10 + (m_text[m_pos] - '0');
            ++m_pos;
        }
        return value;
    }

    // Reads one or more digits as a fraction of a second, keeping microsecond precision.
    std::optional<std::int64_t> fraction_micros()
    {
        std::int64_t micros = 0;
        int kept = 0;
        const std::size_t begin = m_pos;
        while (!at_end() && is_digit(m_text[m_pos])) {
            if (kept < 6) {
                micros = micros * 10 + (m_text[m_pos] - '0');
                ++kept;
            }
            ++m_pos;
        }
        if (m_pos == begin) {
            return std::nullopt;
        }
        for (; kept < 6; ++kept) {
            micros *= 10;
        }
        return micros;
    }

    static bool is_digit(char c) { return c >= '0' && c <= '9'; }

private:
    std::string_view m_text;
    std::size_t m_pos = 0;
};

// Parses what follows the seconds: "Z", "+HH", "+HH:MM" or "+HHMM"; offset in minutes east.
std::optional<int> parse_offset_minutes(Scanner& in)
{
    if (in.accept('Z') || in.accept('z')) {
        return 0;
    }
    int sign = 0;
    if (in.accept('+')) {
        sign = 1;
    } else if (in.accept('-')) {
        sign = -1;
    } else {
        return std::nullopt;
    }
    const auto hours = in.digits(2);
    if (!hours || *hours > 23) {
        return std::nullopt;
    }
    int minutes = 0;
    if (!in.at_end()) {
        in.accept(':');
        const auto parsed = in.digits(2);
        if (!parsed || *parsed > 59) {
            return std::nullopt;
        }
        minutes = *parsed;
    }
    return sign * (*hours * 60 + minutes);
}

}  // namespace

std::string format_utc(Timestamp t)
{
    using namespace std::chrono;
    const auto millis = floor<milliseconds>(t);
    const auto day = floor<days>(millis);
    const year_month_day date{day};
    const hh_mm_ss time{millis - day};
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", static_cast<int>(date.year()),
                       static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()), time.hours().count(),
                       time.minutes().count(), time.seconds().count(), time.subseconds().count());
}

std::string format_http_date(Timestamp t)
{
    using namespace std::chrono;
    static constexpr std::array<const char*, 7> weekdays{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr std::array<const char*, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const auto seconds = floor<std::chrono::seconds>(t);
    const auto day = floor<days>(seconds);
    const year_month_day date{day};
    const hh_mm_ss time{seconds - day};
    return fmt::format("{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT", weekdays[weekday{day}.c_encoding()],
                       static_cast<unsigned>(date.day()), months[static_cast<unsigned>(date.month()) - 1],
                       static_cast<int>(date.year()), time.hours().count(), time.minutes().count(),
                       time.seconds().count());
}

std::optional<Timestamp> parse_utc(std::string_view text)
{
    using namespace std::chrono;
    Scanner in(text);

    const auto y = in.digits(4);
    if (!y || !in.accept('-')) {
        return std::nullopt;
    }
    const auto mo = in.digits(2);
    if (!mo || !in.accept('-')) {
        return std::nullopt;
    }
    const auto d = in.digits(2);
    if (!d) {
        return std::nullopt;
    }
    // Pure calendar arithmetic (days-from-civil); no mktime, no TZ environment.
    const year_month_day date{year{*y}, month{static_cast<unsigned>(*mo)}, day{static_cast<unsigned>(*d)}};
    if (!date.ok()) {
        return std::nullopt;
    }
    const std::int64_t day_number = sys_days{date}.time_since_epoch().count();

    std::int64_t seconds_of_day = 0;
    std::int64_t micros = 0;
    int offset_minutes = 0;
    if (!in.at_end()) {
        if (!(in.accept('T') || in.accept('t') || in.accept(' '))) {
            return std::nullopt;
        }
        const auto hh = in.digits(2);
        if (!hh || *hh > 23 || !in.accept(':')) {
            return std::nullopt;
        }
        const auto mm = in.digits(2);
        if (!mm || *mm > 59 || !in.accept(':')) {
            return std::nullopt;
        }
        const auto ss = in.digits(2);
        if (!ss || *ss > 59) {
            return std::nullopt;
        }
        seconds_of_day = *hh * 3600 + *mm * 60 + *ss;
        if (in.accept('.')) {
            const auto fraction = in.fraction_micros();
            if (!fraction) {
                return std::nullopt;
            }
            micros = *fraction;
        }
        const auto offset = parse_offset_minutes(in);
        if (!offset || !in.at_end()) {
            return std::nullopt;
        }
        offset_minutes = *offset;
    }

    // Local wall time = UTC + offset, so UTC = local - offset. Years 0000..9999 keep this
    // comfortably inside int64 microseconds.
    const std::int64_t total_micros =
        ((day_number * 86400 + seconds_of_day - offset_minutes * 60LL) * 1'000'000) + micros;
    const auto lowest = duration_cast<microseconds>(Timestamp::duration::min()).count();
    const auto highest = duration_cast<microseconds>(Timestamp::duration::max()).count();
    if (total_micros <= lowest || total_micros >= highest) {
        return std::nullopt;  // outside what the clock can represent
    }
    return Timestamp{duration_cast<Timestamp::duration>(microseconds{total_micros})};
}

std::int64_t millis_between(Timestamp start, Timestamp end)
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(end - start).count();
}

}  // namespace reconcile
