#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace reconcile {

/// Thrown when text is not an exact decimal we can represent.
class DecimalError : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

/// Exact signed decimal: a __int128 count of 10^-18 units plus a display scale.
/// Money and quantities use this end to end so no amount ever passes through a double.
/// Magnitudes are always below 10^20.
class Decimal {
public:
    /// Finest resolution we carry; quantities need 1e-6 and FX rates rarely more than 1e-12.
    static constexpr int max_scale = 18;

    /// Zero with scale 0, so default-constructed accumulators start at "0".
    Decimal() = default;

    /// Parses a plain or exponent-form decimal (JSON numbers included) exactly.
    /// Throws DecimalError naming the input when it is not representable.
    static Decimal parse(std::string_view text);

    /// As parse, but for input where a malformed value is an expected outcome.
    static std::optional<Decimal> try_parse(std::string_view text) noexcept;

    /// Exact conversion for counts and integer amounts coming from SQL or config.
    static Decimal from_int(std::int64_t value);

    /// Plain notation with exactly scale() fractional digits ("100.50", "-0.000001", "42");
    /// the form we put in JSON and reports.
    std::string to_string() const;

    /// Fractional digits as written (after exponent adjustment, capped at max_scale);
    /// +/- keep the larger of the operands' scales so "1.50" + "1" shows as "2.50".
    int scale() const;

    /// -1, 0 or +1; for side/direction decisions without comparing against a zero literal.
    int sign() const;
    /// True for any zero regardless of scale ("0", "0.00", "-0").
    bool is_zero() const;
    /// Magnitude, for tolerance checks on differences.
    Decimal abs() const;

    /// Negation keeps the scale; negating zero yields zero (never "-0").
    Decimal operator-() const;
    /// Exact sum; throws std::overflow_error if the result would reach 10^20 in magnitude.
    friend Decimal operator+(const Decimal& lhs, const Decimal& rhs);
    /// Exact difference; throws std::overflow_error like operator+.
    friend Decimal operator-(const Decimal& lhs, const Decimal& rhs);
    /// Accumulating forms of + and -, same overflow behaviour.
    Decimal& operator+=(const Decimal& rhs);
    Decimal& operator-=(const Decimal& rhs);

    /// Equality by value, ignoring scale: 1.50 == 1.5.
    friend bool operator==(const Decimal& lhs, const Decimal& rhs);
    /// Ordering by value, ignoring scale.
    friend std::strong_ordering operator<=>(const Decimal& lhs, const Decimal& rhs);

    /// Same value re-expressed with at least `scale` fractional digits (for display alignment).
    /// Requests outside [0, max_scale] are clamped into that range.
    Decimal with_min_scale(int scale) const;

private:
    __extension__ typedef __int128 Units;

    Decimal(Units units, int scale) : m_units(units), m_scale(scale) {}

    // Shared by parse and try_parse; returns nullptr on success, otherwise the reason.
    static const char* parse_into(std::string_view text, Decimal& out) noexcept;

    Units m_units = 0;  // value * 10^18
    int m_scale = 0;    // fractional digits to display
};

// Figures shown side by side keep one scale, the finest among them: a zero or absent side reads
// "0.00" beside "10.00", never "0" (docs/output-names.md, "Money and time"). These are the one
// rule every output applies: a variance's expected, actual and difference; debits beside
// credits; a compared line's two sides.

/// Re-expresses each figure at the finest scale among them (never drops a digit).
void align_scales(std::initializer_list<std::reference_wrapper<Decimal>> figures);

/// The digits after the point of a plain decimal text (`^-?[0-9]+(\.[0-9]+)?$`, as PostgreSQL
/// prints NUMERIC); std::nullopt for any other text.
std::optional<int> decimal_text_scale(std::string_view text);

/// align_scales for decimal texts (SQL results of any size: the texts are padded with zeros,
/// never parsed into a Decimal). Null texts and texts that are not plain decimals ("DR|CR") are
/// left as they are and do not count.
void align_decimal_texts(std::initializer_list<std::reference_wrapper<std::optional<std::string>>> texts);
void align_decimal_texts(const std::vector<std::reference_wrapper<std::string>>& texts);

}  // namespace reconcile
