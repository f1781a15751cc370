// escape_invalid_utf8 (lib/utf8.hpp): which bytes count as invalid, and how ledger text that is
// not UTF-8 is carried through a check result (docs/decisions/invalid-utf8-text.md).
#include <doctest/doctest.h>

#include "lib/results.hpp"
#include "lib/utf8.hpp"

using reconcile::escape_invalid_utf8;

TEST_CASE("valid UTF-8 is left exactly as it was")
{
    for (const std::string& text :
         std::initializer_list<std::string>{"", "DEP-1", "Jos\xc3\xa9", "\xe5\xae\xa2\xe6\x88\xb7", "\xf0\x9f\x99\x82",
                                            std::string("a\0b", 3), "tab\there", "\x7f", "back\\xe9slash"}) {
        CAPTURE(text);
        CHECK(escape_invalid_utf8(text) == text);
    }
}

TEST_CASE("each byte outside a well-formed sequence becomes \\xNN")
{
    CHECK(escape_invalid_utf8("DEP-Jos\xe9") == "DEP-Jos\\xe9");
    CHECK(escape_invalid_utf8("\xff\xfe") == "\\xff\\xfe");
    CHECK(escape_invalid_utf8("\xc0\xaf") == "\\xc0\\xaf");                    // overlong "/"
    CHECK(escape_invalid_utf8("\xe0\x80\xaf") == "\\xe0\\x80\\xaf");           // overlong, three bytes
    CHECK(escape_invalid_utf8("\xed\xa0\x80") == "\\xed\\xa0\\x80");           // a UTF-16 surrogate
    CHECK(escape_invalid_utf8("\xf4\x90\x80\x80") == "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
    CHECK(escape_invalid_utf8("\xe5\xae") == "\\xe5\\xae");                    // cut short at the end
    CHECK(escape_invalid_utf8("\xe5\xaeX\xc3\xa9") == "\\xe5\\xaeX\xc3\xa9");  // cut short, then valid
    CHECK(escape_invalid_utf8("\x80"
                              "abc") == "\\x80abc");  // a lone continuation byte
}

TEST_CASE("a check result is escaped everywhere it carries text, object keys included")
{
    reconcile::CheckResult result;
    result.check_name = "source_txn_uniqueness";
    reconcile::Variance variance{.kind = "duplicate_source_txn",
                                 .keys = {{"source", "bank"}, {"source_txn_id", "DEP-Jos\xe9"}},
                                 .expected = "x\xe9",
                                 .actual = "ok",
                                 .difference = std::nullopt};
    variance.detail = {{"txn_ids", {"1", "\xe9"}}, {"k\xe9y", {{"nested", "\xfe"}}}};
    variance.fingerprint = "f";
    result.variances.push_back(variance);
    result.metrics = {{"currencies", {{"US\xe9", {{"debits", "1"}}}}}};
    reconcile::escape_invalid_utf8(result);
    const auto& escaped = result.variances.at(0);
    CHECK(escaped.keys.at(1).second == "DEP-Jos\\xe9");
    CHECK(escaped.expected == "x\\xe9");
    CHECK(escaped.actual == "ok");
    CHECK_FALSE(escaped.difference.has_value());
    CHECK(escaped.fingerprint == "f");
    CHECK(escaped.detail.dump() == R"({"k\\xe9y":{"nested":"\\xfe"},"txn_ids":["1","\\xe9"]})");
    CHECK(result.metrics.dump() == R"({"currencies":{"US\\xe9":{"debits":"1"}}})");
}
