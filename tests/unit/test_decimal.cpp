#include "lib/decimal.hpp"

#include <doctest/doctest.h>

#include <optional>
#include <string>

using reconcile::Decimal;
using reconcile::DecimalError;

namespace {

std::string round_trip(std::string_view text)
{
    return Decimal::parse(text).to_string();
}

}  // namespace

TEST_CASE("decimal: default and from_int")
{
    CHECK(Decimal().to_string() == "0");
    CHECK(Decimal().scale() == 0);
    CHECK(Decimal().is_zero());
    CHECK(Decimal::from_int(42).to_string() == "42");
    CHECK(Decimal::from_int(-7).to_string() == "-7");
    CHECK(Decimal::from_int(0).sign() == 0);
    CHECK(Decimal::from_int(INT64_MAX).to_string() == "9223372036854775807");
    CHECK(Decimal::from_int(INT64_MIN).to_string() == "-9223372036854775808");
}

TEST_CASE("decimal: plain notation round trips exactly")
{
    for (const char* text :
         {"0", "42", "-42", "100.50", "-0.000001", "0.1", "123456789.123456789",
          "99999999999999999999.999999999999999999", "-99999999999999999999.999999999999999999", "0.000000000000000001",
          "-0.000000000000000001", "1.000000000000000000", "12345678901234567890"}) {
        CAPTURE(text);
        CHECK(round_trip(text) == text);
    }
}

TEST_CASE("decimal: accepted spellings normalise")
{
    CHECK(round_trip("+5") == "5");
    CHECK(round_trip(".5") == "0.5");
    CHECK(round_trip("-.25") == "-0.25");
    CHECK(round_trip("5.") == "5");
    CHECK(Decimal::parse("5.").scale() == 0);
    CHECK(round_trip("007.10") == "7.10");
    CHECK(round_trip("-0") == "0");
    CHECK(round_trip("-0.0") == "0.0");
    CHECK(round_trip("-0.000") == "0.000");
    CHECK(Decimal::parse("-0.0").sign() == 0);
    CHECK(Decimal::parse("+0").is_zero());
}

TEST_CASE("decimal: scale is as written")
{
    CHECK(Decimal::parse("100.50").scale() == 2);
    CHECK(Decimal::parse("100").scale() == 0);
    CHECK(Decimal::parse("0.000").scale() == 3);
    CHECK(Decimal::parse("1.0000000000000000000000").scale() == 18);
    CHECK(round_trip("1.0000000000000000000000") == "1.000000000000000000");
    CHECK(round_trip("0.1234567890123456780000") == "0.123456789012345678");
}

TEST_CASE("decimal: exponent forms")
{
    CHECK(round_trip("1.5e-7") == "0.00000015");
    CHECK(Decimal::parse("1.5e-7").scale() == 8);
    CHECK(round_trip("1.5E+3") == "1500");
    CHECK(Decimal::parse("1.5E+3").scale() == 0);
    CHECK(round_trip("2.50e1") == "25.0");
    CHECK(Decimal::parse("2.50e1").scale() == 1);
    CHECK(round_trip("1E+3") == "1000");
    CHECK(round_trip("1e0") == "1");
    CHECK(round_trip("-1.25e2") == "-125");
    CHECK(round_trip("12345e-2") == "123.45");
    CHECK(round_trip("0.0001e4") == "1");
    CHECK(round_trip("0e5") == "0");
    CHECK(round_trip("0e-3") == "0.000");
    CHECK(round_trip("1e-18") == "0.000000000000000001");
    CHECK(round_trip("1e19") == "10000000000000000000");
    CHECK(round_trip("1.50e-17") == "0.000000000000000015");
    CHECK(round_trip("0.00000000000000000000001e22") == "0.1");
    CHECK(Decimal::parse("1.5e-7") == Decimal::parse("0.00000015"));
    CHECK(round_trip("-0.0e10") == "0");
}

TEST_CASE("decimal: rejection classes")
{
    for (const char* text : {"",     " ",    " 1",    "1 ",  "1 000", "1\t", "nan", "NaN", "inf", "-inf", "Infinity",
                             "0x1A", "0x10", "1.2.3", "..5", "+",     "-",   "e",   "E5",  "1e",  "1e+",  "1e-",
                             ".",    "-.",   ".e1",   "1,5", "1e5.5", "++1", "--1", "abc", "1a",  "\n"}) {
        CAPTURE(text);
        CHECK_THROWS_AS(Decimal::parse(text), DecimalError);
        CHECK_FALSE(Decimal::try_parse(text).has_value());
    }
}

TEST_CASE("decimal: too many significant fractional digits rejected")
{
    CHECK_THROWS_AS(Decimal::parse("0.0000000000000000001"), DecimalError);
    CHECK_THROWS_AS(Decimal::parse("1.1234567890123456789"), DecimalError);
    CHECK_THROWS_AS(Decimal::parse("1e-19"), DecimalError);
    CHECK_THROWS_AS(Decimal::parse("1.5e-18"), DecimalError);
    CHECK_NOTHROW(Decimal::parse("1.5e-17"));
    CHECK_NOTHROW(Decimal::parse("1.100000000000000000000000000000"));
}

TEST_CASE("decimal: magnitude overflow rejected")
{
    CHECK_THROWS_AS(Decimal::parse("100000000000000000000"), DecimalError);
    CHECK_THROWS_AS(Decimal::parse("-100000000000000000000"), DecimalError);
    CHECK_THROWS_AS(Decimal::parse("1e20"), DecimalError);
    CHECK_THROWS_AS(Decimal::parse("0.1e21"), DecimalError);
    CHECK_THROWS_AS(Decimal::parse("123456789012345678901234567890"), DecimalError);
    CHECK_NOTHROW(Decimal::parse("99999999999999999999"));
    CHECK_NOTHROW(Decimal::parse("0000000000000000000000000099999999999999999999"));
}

TEST_CASE("decimal: absurd exponents rejected without hanging")
{
    for (const char* text :
         {"1e999999999", "1e-999999999", "0e999999999", "1e99999999999999999999999999999999999999999999",
          "-1E-99999999999999999999999999999999999999999999"}) {
        CAPTURE(text);
        CHECK_THROWS_AS(Decimal::parse(text), DecimalError);
        CHECK_FALSE(Decimal::try_parse(text).has_value());
    }
}

TEST_CASE("decimal: error message quotes input, truncated, on one line")
{
    try {
        (void)Decimal::parse("12x");
        FAIL("expected DecimalError");
    } catch (const DecimalError& e) {
        CHECK(std::string(e.what()).find("\"12x\"") != std::string::npos);
    }
    const std::string long_input = std::string(60, '9') + "z";
    try {
        (void)Decimal::parse(long_input);
        FAIL("expected DecimalError");
    } catch (const DecimalError& e) {
        const std::string what = e.what();
        CHECK(what.find(std::string(40, '9') + "...") != std::string::npos);
        CHECK(what.find(std::string(41, '9')) == std::string::npos);
    }
    try {
        (void)Decimal::parse("1\n2");
        FAIL("expected DecimalError");
    } catch (const DecimalError& e) {
        CHECK(std::string(e.what()).find('\n') == std::string::npos);
    }
}

TEST_CASE("decimal: try_parse success")
{
    const auto value = Decimal::try_parse("12.30");
    REQUIRE(value.has_value());
    CHECK(value->to_string() == "12.30");
}

TEST_CASE("decimal: addition and subtraction with carry, borrow and sign change")
{
    const auto d = [](std::string_view text) { return Decimal::parse(text); };
    CHECK((d("0.99") + d("0.01")).to_string() == "1.00");
    CHECK((d("999999.999") + d("0.001")).to_string() == "1000000.000");
    CHECK((d("1.00") - d("0.01")).to_string() == "0.99");
    CHECK((d("1000") - d("0.001")).to_string() == "999.999");
    CHECK((d("1.5") - d("2.25")).to_string() == "-0.75");
    CHECK((d("-1.5") + d("2.25")).to_string() == "0.75");
    CHECK((d("-0.01") - d("0.99")).to_string() == "-1.00");
    CHECK((d("1.50") + d("1")).to_string() == "2.50");
    CHECK((d("1.50") + d("1")).scale() == 2);
    CHECK((d("0.1") + d("0.2")) == d("0.3"));
    CHECK((d("5.00") - d("5")).to_string() == "0.00");
    CHECK((d("5.00") - d("5")).sign() == 0);
    CHECK((d("0.000000000000000001") + d("99999999999999999999.999999999999999998")).to_string() ==
          "99999999999999999999.999999999999999999");

    Decimal total;
    total += d("10.10");
    total += d("-20.20");
    total -= d("0.05");
    CHECK(total.to_string() == "-10.15");
    CHECK(total.scale() == 2);
}

TEST_CASE("decimal: negation, abs, sign")
{
    const Decimal x = Decimal::parse("-3.140");
    CHECK((-x).to_string() == "3.140");
    CHECK(x.abs().to_string() == "3.140");
    CHECK((-x).abs() == x.abs());
    CHECK(x.sign() == -1);
    CHECK((-x).sign() == 1);
    CHECK((-Decimal::parse("0.00")).to_string() == "0.00");
    CHECK(Decimal::parse("0.00").abs().to_string() == "0.00");
}

TEST_CASE("decimal: arithmetic overflow throws")
{
    const Decimal max = Decimal::parse("99999999999999999999.999999999999999999");
    const Decimal tiny = Decimal::parse("0.000000000000000001");
    CHECK_THROWS_AS(max + tiny, std::overflow_error);
    CHECK_THROWS_AS(max + max, std::overflow_error);
    CHECK_THROWS_AS((-max) - tiny, std::overflow_error);
    CHECK_THROWS_AS((-max) - max, std::overflow_error);
    CHECK_THROWS_AS(max - (-max), std::overflow_error);
    Decimal acc = max;
    CHECK_THROWS_AS(acc += tiny, std::overflow_error);
    CHECK(acc == max);  // unchanged after a failed update
    CHECK_NOTHROW(max - tiny);
    CHECK_NOTHROW(max + (-max));
}

TEST_CASE("decimal: comparison is by value across scales")
{
    const auto d = [](std::string_view text) { return Decimal::parse(text); };
    CHECK(d("1.50") == d("1.5"));
    CHECK(d("1.500000") == d("1.5e0"));
    CHECK(d("0") == d("-0.000"));
    CHECK(d("1.5") != d("1.51"));
    CHECK(d("1.49") < d("1.5"));
    CHECK(d("-2") < d("-1.999"));
    CHECK(d("10") > d("9.999999999999999999"));
    CHECK((d("2.0") <=> d("2")) == std::strong_ordering::equal);
    CHECK((d("-0.01") <=> d("0")) == std::strong_ordering::less);
    CHECK(d("100") >= d("1e2"));
}

TEST_CASE("decimal: with_min_scale pads but never drops digits")
{
    const Decimal x = Decimal::parse("12.5");
    CHECK(x.with_min_scale(2).to_string() == "12.50");
    CHECK(x.with_min_scale(0).to_string() == "12.5");
    CHECK(x.with_min_scale(-3).to_string() == "12.5");
    CHECK(x.with_min_scale(40).scale() == Decimal::max_scale);
    CHECK(x.with_min_scale(6) == x);
    CHECK(Decimal::from_int(-3).with_min_scale(2).to_string() == "-3.00");
}

TEST_CASE("decimal: figures shown side by side share the finest scale among them")
{
    Decimal zero;
    Decimal ten = Decimal::parse("10.00");
    Decimal fine = Decimal::parse("0.125");
    reconcile::align_scales({zero, ten, fine});
    CHECK(zero.to_string() == "0.000");
    CHECK(ten.to_string() == "10.000");
    CHECK(fine.to_string() == "0.125");

    Decimal a = Decimal::parse("2");
    Decimal b = Decimal::parse("3");
    reconcile::align_scales({a, b});  // all whole: nothing to pad
    CHECK(a.to_string() == "2");
    CHECK(b.to_string() == "3");
}

TEST_CASE("decimal: the scale of a decimal text, and only of a plain decimal")
{
    using reconcile::decimal_text_scale;
    CHECK(decimal_text_scale("0") == 0);
    CHECK(decimal_text_scale("-12") == 0);
    CHECK(decimal_text_scale("10.00") == 2);
    CHECK(decimal_text_scale("-0.000001") == 6);
    for (const char* text : {"", "-", ".5", "5.", "1e3", "+1", "1.2.3", "DR|CR", " 1", "1 ", "NaN", "0x10"}) {
        CAPTURE(text);
        CHECK_FALSE(decimal_text_scale(text).has_value());
    }
}

TEST_CASE("decimal: texts shown side by side are padded to the finest scale, whatever their size")
{
    using reconcile::align_decimal_texts;
    std::optional<std::string> expected = "0";
    std::optional<std::string> actual = "10.00";
    std::optional<std::string> difference = "10.00";
    align_decimal_texts({expected, actual, difference});
    CHECK(expected == "0.00");
    CHECK(actual == "10.00");
    CHECK(difference == "10.00");

    // Null sides stay null; a text that is not a decimal is left alone and sets no scale.
    std::optional<std::string> stored;
    std::optional<std::string> derived = "-7";
    std::optional<std::string> label = "DR|CR";
    align_decimal_texts({derived, stored, label});
    CHECK(derived == "-7");
    CHECK_FALSE(stored.has_value());
    CHECK(label == "DR|CR");

    // A coarser non-zero side is padded as well ("12.5" beside "0.125"), and a value far beyond
    // Decimal's range is padded as text, never parsed.
    std::string debits = "12.5";
    std::string credits = "0.125";
    std::string huge = "123456789012345678901234567890";
    align_decimal_texts({debits, credits, huge});
    CHECK(debits == "12.500");
    CHECK(credits == "0.125");
    CHECK(huge == "123456789012345678901234567890.000");
}
