// libFuzzer target: Decimal::parse / try_parse (lib/decimal.cpp), the parser every amount from
// a broker, a setting or the database goes through. Properties: parse throws exactly when
// try_parse says no; a parsed value prints and re-parses to itself; x - x is zero; arithmetic
// fails only with std::overflow_error.
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string_view>

#include "lib/decimal.hpp"

using reconcile::Decimal;
using reconcile::DecimalError;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto parsed = Decimal::try_parse(text);
    try {
        const Decimal strict = Decimal::parse(text);
        if (!parsed || !(strict == *parsed)) std::abort();
    } catch (const DecimalError&) {
        if (parsed) std::abort();
    }
    if (!parsed) return 0;
    const Decimal value = *parsed;
    if (value.scale() < 0 || value.scale() > Decimal::max_scale) std::abort();
    const auto printed = value.to_string();
    const auto again = Decimal::try_parse(printed);
    if (!again || !(*again == value) || again->to_string() != printed) std::abort();
    if (!(value - value).is_zero()) std::abort();
    if ((-value).sign() != -value.sign()) std::abort();
    if (!(value.abs() >= Decimal())) std::abort();
    try {
        const Decimal doubled = value + value;
        if (!(doubled - value == value)) std::abort();
    } catch (const std::overflow_error&) {
    }
    return 0;
}
