#include "lib/decimal.hpp"

#include <algorithm>

#include <fmt/core.h>

namespace reconcile {

namespace {

__extension__ typedef __int128 Int128;

constexpr Int128 pow10(int exponent)
{
    Int128 result = 1;
    for (int i = 0; i < exponent; ++i) {
        result *= 10;
    }
    return result;
}

// 10^-18 units per whole unit.
constexpr Int128 units_per_one = pow10(Decimal::max_scale);
// Magnitudes must stay strictly below 10^20, i.e. 10^38 units (int128 max is ~1.7e38).
constexpr int max_integer_digits = 20;
constexpr Int128 units_limit = pow10(max_integer_digits + Decimal::max_scale);
// Exponents beyond this are never meaningful for money and would only invite huge loops.
constexpr long long max_exponent = 1'000'000;
constexpr std::size_t max_quoted_chars = 40;

bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

// The input as it may appear in a one-line error message.
std::string quote_for_error(std::string_view text)
{
    std::string quoted;
    const std::size_t shown = std::min(text.size(), max_quoted_chars);
    quoted.reserve(shown + 3);
    for (std::size_t i = 0; i < shown; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        quoted.push_back(c < 0x20 || c == 0x7f ? '?' : static_cast<char>(c));
    }
    if (text.size() > shown) {
        quoted += "...";
    }
    return quoted;
}

void append_magnitude(std::string& out, Int128 magnitude)
{
    char buffer[48];
    int length = 0;
    do {
        buffer[length++] = static_cast<char>('0' + static_cast<int>(magnitude % 10));
        magnitude /= 10;
    } while (magnitude != 0);
    while (length > 0) {
        out.push_back(buffer[--length]);
    }
}

bool within_limit(Int128 units)
{
    return units < units_limit && units > -units_limit;
}

}  // namespace

const char* Decimal::parse_into(std::string_view text, Decimal& out) noexcept
{
    if (text.empty()) {
        return "empty input";
    }
    const std::size_t n = text.size();
    std::size_t i = 0;
    bool negative = false;
    if (text[0] == '+' || text[0] == '-') {
        negative = text[0] == '-';
        ++i;
    }

    const std::size_t int_begin = i;
    while (i < n && is_digit(text[i])) {
        ++i;
    }
    const std::string_view int_digits = text.substr(int_begin, i - int_begin);

    std::string_view frac_digits;
    if (i < n && text[i] == '.') {
        const std::size_t frac_begin = ++i;
        while (i < n && is_digit(text[i])) {
            ++i;
        }
        frac_digits = text.substr(frac_begin, i - frac_begin);
    }
    if (int_digits.empty() && frac_digits.empty()) {
        return "no digits";
    }

    long long exponent = 0;
    if (i < n && (text[i] == 'e' || text[i] == 'E')) {
        ++i;
        bool exponent_negative = false;
        if (i < n && (text[i] == '+' || text[i] == '-')) {
            exponent_negative = text[i] == '-';
            ++i;
        }
        const std::size_t exp_begin = i;
        while (i < n && is_digit(text[i])) {
            if (exponent <= max_exponent) {  // saturate: stays far below long long range
                exponent = exponent * 10 + (text[i] - '0');
            }
            ++i;
        }
        if (i == exp_begin) {
            return "exponent has no digits";
        }
        if (exponent > max_exponent) {
            return "exponent out of range";
        }
        if (exponent_negative) {
            exponent = -exponent;
        }
    }
    if (i != n) {
        return "unexpected character";
    }

    // Mantissa digits are int_digits followed by frac_digits; the decimal point sits after
    // `point` of them once the exponent is applied. Digit k has place value 10^(point-1-k).
    const auto int_count = static_cast<long long>(int_digits.size());
    const auto frac_count = static_cast<long long>(frac_digits.size());
    const long long total = int_count + frac_count;
    const long long point = int_count + exponent;
    auto digit_at = [&](long long k) {
        return k < int_count ? int_digits[static_cast<std::size_t>(k)]
                             : frac_digits[static_cast<std::size_t>(k - int_count)];
    };

    const long long written_scale = frac_count - exponent;
    const int scale = static_cast<int>(std::clamp<long long>(written_scale, 0, static_cast<long long>(max_scale)));

    long long first = 0;
    while (first < total && digit_at(first) == '0') {
        ++first;
    }
    if (first == total) {
        out = Decimal(0, scale);  // any zero, including "-0.0", is plain zero
        return nullptr;
    }
    long long last = total - 1;
    while (digit_at(last) == '0') {
        --last;
    }

    if (point - first > max_integer_digits) {
        return "magnitude of 10^20 or more";
    }
    if (last + 1 - point > max_scale) {
        return "more than 18 significant fractional digits";
    }

    // At most 38 significant digits remain, so this fits in int128 and stays below 10^38.
    Int128 units = 0;
    for (long long k = first; k <= last; ++k) {
        units = units * 10 + (digit_at(k) - '0');
    }
    units *= pow10(static_cast<int>(max_scale + point - 1 - last));
    out = Decimal(negative ? -units : units, scale);
    return nullptr;
}

Decimal Decimal::parse(std::string_view text)
{
    Decimal result;
    if (const char* reason = parse_into(text, result)) {
        throw DecimalError(fmt::format("invalid decimal \"{}\": {}", quote_for_error(text), reason));
    }
    return result;
}

std::optional<Decimal> Decimal::try_parse(std::string_view text) noexcept
{
    Decimal result;
    if (parse_into(text, result) != nullptr) {
        return std::nullopt;
    }
    return result;
}

Decimal Decimal::from_int(std::int64_t value)
{
    return Decimal(static_cast<Int128>(value) * units_per_one, 0);
}

std::string Decimal::to_string() const
{
    const Int128 magnitude = m_units < 0 ? -m_units : m_units;
    std::string out;
    if (m_units < 0) {
        out.push_back('-');
    }
    append_magnitude(out, magnitude / units_per_one);
    if (m_scale > 0) {
        out.push_back('.');
        // Invariant: units are a multiple of 10^(18 - scale), so this division is exact.
        Int128 fraction = (magnitude % units_per_one) / pow10(max_scale - m_scale);
        std::string digits(static_cast<std::size_t>(m_scale), '0');
        for (int pos = m_scale - 1; pos >= 0; --pos) {
            digits[static_cast<std::size_t>(pos)] = static_cast<char>('0' + static_cast<int>(fraction % 10));
            fraction /= 10;
        }
        out += digits;
    }
    return out;
}

int Decimal::scale() const
{
    return m_scale;
}

int Decimal::sign() const
{
    return m_units < 0 ? -1 : (m_units > 0 ? 1 : 0);
}

bool Decimal::is_zero() const
{
    return m_units == 0;
}

Decimal Decimal::abs() const
{
    return Decimal(m_units < 0 ? -m_units : m_units, m_scale);
}

Decimal Decimal::operator-() const
{
    return Decimal(-m_units, m_scale);
}

Decimal operator+(const Decimal& lhs, const Decimal& rhs)
{
    Int128 sum = 0;
    if (__builtin_add_overflow(lhs.m_units, rhs.m_units, &sum) || !within_limit(sum)) {
        throw std::overflow_error(fmt::format("decimal overflow: {} + {}", lhs.to_string(), rhs.to_string()));
    }
    return Decimal(sum, std::max(lhs.m_scale, rhs.m_scale));
}

Decimal operator-(const Decimal& lhs, const Decimal& rhs)
{
    Int128 difference = 0;
    if (__builtin_sub_overflow(lhs.m_units, rhs.m_units, &difference) || !within_limit(difference)) {
        throw std::overflow_error(fmt::format("decimal overflow: {} - {}", lhs.to_string(), rhs.to_string()));
    }
    return Decimal(difference, std::max(lhs.m_scale, rhs.m_scale));
}

Decimal& Decimal::operator+=(const Decimal& rhs)
{
    *this = *this + rhs;
    return *this;
}

Decimal& Decimal::operator-=(const Decimal& rhs)
{
    *this = *this - rhs;
    return *this;
}

bool operator==(const Decimal& lhs, const Decimal& rhs)
{
    return lhs.m_units == rhs.m_units;
}

std::strong_ordering operator<=>(const Decimal& lhs, const Decimal& rhs)
{
    if (lhs.m_units < rhs.m_units) {
        return std::strong_ordering::less;
    }
    if (lhs.m_units > rhs.m_units) {
        return std::strong_ordering::greater;
    }
    return std::strong_ordering::equal;
}

Decimal Decimal::with_min_scale(int scale) const
{
    const int wanted = std::clamp(scale, 0, max_scale);
    return Decimal(m_units, std::max(m_scale, wanted));
}

void align_scales(std::initializer_list<std::reference_wrapper<Decimal>> figures)
{
    int scale = 0;
    for (const Decimal& figure : figures) scale = std::max(scale, figure.scale());
    for (Decimal& figure : figures) figure = figure.with_min_scale(scale);
}

std::optional<int> decimal_text_scale(std::string_view text)
{
    std::size_t at = text.starts_with('-') ? 1 : 0;
    const auto digits = [&] {
        const std::size_t start = at;
        while (at < text.size() && text[at] >= '0' && text[at] <= '9') ++at;
        return at - start;
    };
    if (digits() == 0) return std::nullopt;
    if (at == text.size()) return 0;
    if (text[at] != '.') return std::nullopt;
    ++at;
    const std::size_t fraction = digits();
    if (fraction == 0 || at != text.size()) return std::nullopt;
    return static_cast<int>(fraction);
}

namespace {

/// A plain decimal text with fewer than `scale` fractional digits, padded with zeros to `scale`.
void pad_to_scale(std::string& text, int scale)
{
    const auto written = decimal_text_scale(text);
    if (!written || *written >= scale) return;
    if (*written == 0) text += '.';
    text.append(static_cast<std::size_t>(scale - *written), '0');
}

}  // namespace

void align_decimal_texts(std::initializer_list<std::reference_wrapper<std::optional<std::string>>> texts)
{
    int finest = 0;
    for (const std::optional<std::string>& text : texts) {
        if (text) finest = std::max(finest, decimal_text_scale(*text).value_or(0));
    }
    for (std::optional<std::string>& text : texts) {
        if (text) pad_to_scale(*text, finest);
    }
}

void align_decimal_texts(const std::vector<std::reference_wrapper<std::string>>& texts)
{
    int finest = 0;
    for (const std::string& text : texts) finest = std::max(finest, decimal_text_scale(text).value_or(0));
    for (std::string& text : texts) pad_to_scale(text, finest);
}

}  // namespace reconcile
