// Broker JSON keeps numbers exact: GTN sends amounts as JSON numbers, and none may pass through
// a double on its way to a Decimal.
#include <doctest/doctest.h>

#include "lib/decimal.hpp"
#include "lib/exact_json.hpp"

using namespace reconcile;

TEST_CASE("numbers keep their literal text, and reach Decimal exactly")
{
    const auto json = parse_json_exact(
        R"({"a": 0.1, "b": 1234567890123456.123456789, "c": 1e-7, "d": -42, "e": 18446744073709551615,
            "f": 123456789012345678901, "g": 2.50, "h": 1.5E+2, "s": "12.30", "t": true, "n": null,
            "list": [0.3, {"x": 5}]})");
    CHECK(json["a"] == "0.1");
    CHECK(json["b"] == "1234567890123456.123456789");
    CHECK(json["c"] == "1e-7");
    CHECK(json["d"] == "-42");
    CHECK(json["e"] == "18446744073709551615");
    CHECK(json["f"] == "123456789012345678901");
    CHECK(json["g"] == "2.50");
    CHECK(json["h"] == "1.5E+2");
    CHECK(json["s"] == "12.30");
    CHECK(json["t"] == true);
    CHECK(json["n"].is_null());
    CHECK(json["list"][0] == "0.3");
    CHECK(json["list"][1]["x"] == "5");

    // Through a double, 0.1 + 0.2 is not 0.3 and the long amount loses its tail.
    CHECK(Decimal::parse(json["a"].get<std::string>()) + Decimal::parse("0.2") == Decimal::parse("0.3"));
    CHECK(Decimal::parse(json["b"].get<std::string>()).to_string() == "1234567890123456.123456789");
    CHECK(Decimal::parse(json["c"].get<std::string>()).to_string() == "0.0000001");
    CHECK(Decimal::parse(json["h"].get<std::string>()).to_string() == "150");
}

TEST_CASE("malformed, truncated and hostile documents are refused with one line")
{
    for (const char* text : {"", "{", R"({"a": 1,})", R"({"status": "SUCCESS", "data": {"cash": [)", "<html>", "NaN",
                             R"({"a": 01})", "[1] [2]"}) {
        CAPTURE(text);
        CHECK_THROWS_AS(parse_json_exact(text), JsonTextError);
    }
    try {
        parse_json_exact(R"({"a": tru})");
    } catch (const JsonTextError& e) {
        CHECK(std::string(e.what()).find("malformed JSON near byte") == 0);
        CHECK(std::string(e.what()).find('\n') == std::string::npos);
    }
    const std::string deep = std::string(100, '[') + std::string(100, ']');
    CHECK_THROWS_WITH_AS(parse_json_exact(deep), "JSON nests deeper than 64 levels", JsonTextError);
    CHECK(parse_json_exact(std::string(10, '[') + std::string(10, ']')).is_array());
}
