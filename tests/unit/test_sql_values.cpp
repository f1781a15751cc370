#include <doctest/doctest.h>

#include "lib/sql_values.hpp"

using reconcile::text_array_elements;
using reconcile::text_array_literal;

TEST_CASE("a text array literal quotes every element; the server's text of an array reads back byte for byte")
{
    CHECK(text_array_literal({}) == "{}");
    CHECK(text_array_literal({"a", "b\"c", "d\\e", ""}) == R"({"a","b\"c","d\\e",""})");

    // As PostgreSQL prints array_agg(text)::text: bare elements, quoted ones, NULL and "NULL".
    const auto elements = text_array_elements(R"({T1,"a b","x,y","q\"q","b\\s",NULL,"NULL","{}"})");
    REQUIRE(elements.size() == 8);
    CHECK(*elements[0] == "T1");
    CHECK(*elements[1] == "a b");
    CHECK(*elements[2] == "x,y");
    CHECK(*elements[3] == "q\"q");
    CHECK(*elements[4] == "b\\s");
    CHECK_FALSE(elements[5].has_value());
    CHECK(*elements[6] == "NULL");
    CHECK(*elements[7] == "{}");

    // Bytes that are not UTF-8 (a SQL_ASCII database) pass through both ways.
    const std::string latin1 = "DEP-Jos\xe9";
    CHECK(text_array_elements("{" + latin1 + ",\"\xff\"}") == std::vector<std::optional<std::string>>{latin1, "\xff"});
    const auto round_trip = text_array_elements(text_array_literal({latin1, "\"{,}\\"}));
    CHECK(round_trip == std::vector<std::optional<std::string>>{latin1, "\"{,}\\"});
}
