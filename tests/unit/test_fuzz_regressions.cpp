// Every input the fuzz targets (scripts/fuzz, fuzz/) found to break a property, kept as a
// regression test with the fix it led to. Inputs are the fuzzer's own bytes, as found.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz/fuzz_support.hpp"
#include "lib/brokers/responses.hpp"
#include "lib/exact_json.hpp"
#include "tests/support/broker_answers.hpp"

using namespace reconcile;
using namespace reconcile::test;

namespace {

/// What the run does with a fetch_error's message: one line, into JSON (and from there jsonb).
void check_storable(const std::string& message)
{
    CAPTURE(message);
    CHECK(reconcile::fuzz::valid_utf8(message));
    CHECK(message.find_first_of("\r\n") == std::string::npos);
    CHECK_NOTHROW((void)nlohmann::json{{"error", message}}.dump());
}

}  // namespace

// fuzz_broker_gtn, fuzz_broker_zag (first seconds of their first run): a body whose bytes are
// not UTF-8 was refused with a message quoting those bytes ("last read: '\xa7\x9e'"). That message
// is a fetch_error's detail: nlohmann::json::dump throws on it (type_error 316), so one
// customer's garbage made the whole run's results write fail. Fix: printable_snippet keeps only
// well-formed UTF-8 ('?' for the rest), and parse_json_exact passes its reason through it.
TEST_CASE("fuzz: a broker body that is not UTF-8 is refused with a message JSON can hold")
{
    const std::string gtn_body =
        "{\"status\":\"SUCCESS\",\"data\":{\"cashSummary\":[{\"currency\":\"USD\",\"\xa7\x9eshBalance\":"
        "1234567889.123456789}]}}";
    const auto gtn = refusal_of(parse_gtn_cash, gtn_body);
    CHECK(gtn.find("GTN sent malformed JSON near byte 63: ") == 0);
    check_storable(gtn);
    check_storable(refusal_of(parse_gtn_token, gtn_body));

    const std::string zag_body =
        "{\"account_id\":\"Z-001\",\"as_of\":\"2026-11-28T00:00:00Z\"\xd5\xddholdings\":[{\"symbol\":\"AAPL\","
        "\"quantity\":\"0.500000\"}],\"next_page\":2}";
    const auto zag = refusal_of(parse_zag_holdings, zag_body);
    CHECK(zag.find("ZAG sent malformed JSON near byte 53: ") == 0);
    CHECK(zag.find("last read: '\"2026-11-28T00:00:00Z\"?'") != std::string::npos);
    check_storable(zag);
}

// fuzz_exact_json (same run): an error quoting a body (printable_snippet, as for an HTTP 500
// answer's body) kept raw bytes, and cut a multi-byte character in two at the limit.
TEST_CASE("fuzz: printable_snippet keeps only whole, well-formed UTF-8 characters")
{
    const std::string body =
        "[1,-0.0,1E+400,123456789012345678901.5,\"\\u00e9\\ud83?\\ude00\",true,f\x9f\x93\x8c\x9b,"
        "null],{\"a\":{\"b\":[[]]}}]";
    check_storable(printable_snippet(body));
    CHECK(printable_snippet(body).find("true,f????,null") != std::string::npos);
    try {
        parse_json_exact(body, 16);
        FAIL("accepted");
    } catch (const JsonTextError& e) {
        check_storable(e.what());
    }

    // Cut at the limit: never inside a character; control characters become spaces.
    CHECK(printable_snippet("ab\xc3\xa9", 3) == "ab...");
    CHECK(printable_snippet("ab\xc3\xa9", 4) == "ab\xc3\xa9");
    CHECK(printable_snippet("a\nb\x7f", 10) == "a b ");
    CHECK(printable_snippet("\xed\xa0\x80 \xc0\xaf \xf4\x90\x80\x80", 40) ==
          "??? ?? ????");  // surrogate, overlong, > U+10FFFF
    CHECK(printable_snippet("\xf0\x9f\x98\x80", 40) == "\xf0\x9f\x98\x80");
}
