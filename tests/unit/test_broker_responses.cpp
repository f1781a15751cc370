// The brokers' answers read without a network (lib/brokers/responses.hpp): what each adapter
// takes from a page, exactly, and the one-line account error for everything else.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "lib/brokers/responses.hpp"
#include "tests/support/broker_answers.hpp"

using namespace reconcile;
using namespace reconcile::test;

TEST_CASE("GTN token: the access token and its expiry; FAILED and nonsense are errors")
{
    const auto token = parse_gtn_token(
        R"({"status":"SUCCESS","accessToken":"abc","refreshToken":"r","accessTokenExpiresAt":1795824000000})");
    CHECK(token.access_token == "abc");
    REQUIRE(token.expires_at);
    CHECK(format_utc(*token.expires_at) == "2026-11-28T00:00:00.000Z");
    CHECK_FALSE(parse_gtn_token(R"({"status":"SUCCESS","accessToken":"abc"})").expires_at);
    CHECK(refusal_of(parse_gtn_token, R"({"status":"FAILED","reason":"bad assertion"})") ==
          "GTN token exchange FAILED: bad assertion");
    CHECK(refusal_of(parse_gtn_token, R"({"status":"SUCCESS"})") == "GTN sent a malformed answer: no 'accessToken'");
    CHECK(refusal_of(parse_gtn_token, R"({"status":"SUCCESS","accessToken":"a","accessTokenExpiresAt":1.5})") ==
          "GTN sent a malformed answer: 'accessTokenExpiresAt' is not a whole number");
    // Found reading the code for the fuzz targets: an expiry this far out overflowed the
    // nanosecond time_point (signed overflow, undefined behaviour) when the adapter converted it.
    CHECK(refusal_of(parse_gtn_token,
                     R"({"status":"SUCCESS","accessToken":"a","accessTokenExpiresAt":999999999999999999})") ==
          "GTN sent a malformed answer: 'accessTokenExpiresAt' is out of range");
    CHECK(refusal_of(parse_gtn_token, R"({"status":"SUCCESS","accessToken":"a","accessTokenExpiresAt":-1})") ==
          "GTN sent a malformed answer: 'accessTokenExpiresAt' is out of range");
}

TEST_CASE("GTN summaries: the envelope, raw-number amounts kept exact, asOf and paging")
{
    const auto cash = parse_gtn_cash(
        R"({"status":"SUCCESS","reason":"","data":{"asOf":"2026-11-28T00:00:00Z","cashSummary":)"
        R"([{"currency":"USD","cashBalance":1234567890.123456789}]},"paging":{"pageIndex":0,"totalPages":3}})");
    REQUIRE(cash.items.size() == 1);
    CHECK(cash.items[0].currency == "USD");
    CHECK(cash.items[0].amount.to_string() == "1234567890.123456789");
    CHECK(format_utc(*cash.as_of) == "2026-11-28T00:00:00.000Z");
    CHECK(cash.total_pages == 3);
    CHECK_FALSE(cash.next_page);

    const auto securities = parse_gtn_securities(
        R"({"status":"SUCCESS","data":{"securities":[{"symbol":"AAPL","quantity":0.1},{"symbol":"NVDA","quantity":1e-7}]}})");
    CHECK(position_lines(securities.items) == std::vector<std::string>{"AAPL=0.1", "NVDA=0.0000001"});
    CHECK_FALSE(securities.as_of);
    CHECK_FALSE(securities.total_pages);  // no paging: one page

    CHECK(refusal_of(parse_gtn_cash, R"({"status":"FAILED","reason":"customer\nsuspended"})") ==
          "GTN answered FAILED: customer suspended");
    CHECK(refusal_of(parse_gtn_cash, R"({"status":"SUCCESS"})") == "GTN sent a malformed answer: no 'data'");
    CHECK(refusal_of(parse_gtn_cash, R"({"status":"SUCCESS","data":{"cashSummary":{}}})") ==
          "GTN sent a malformed answer: 'cashSummary' is not a list");
    CHECK(refusal_of(parse_gtn_cash,
                     R"({"status":"SUCCESS","data":{"cashSummary":[{"currency":"USD","cashBalance":"x"}]}})") ==
          "GTN sent a malformed answer: 'cashBalance' is not an exact decimal: 'x'");
    CHECK(refusal_of(parse_gtn_securities,
                     R"({"status":"SUCCESS","data":{"securities":[]},"paging":{"totalPages":2.5}})") ==
          "GTN sent a malformed answer: 'totalPages' is not a whole number");
    CHECK(refusal_of(parse_gtn_securities, R"({"status": "SUCCESS", "data": {"securities": [)")
              .find("GTN sent malformed JSON near byte") == 0);
}

TEST_CASE("ZAG and ViewTrade pages: rows, as_of, next_page; deposits with their times")
{
    const auto holdings = parse_zag_holdings(
        R"({"account_id":"Z-1","as_of":"2026-11-28T00:00:00Z","holdings":[{"symbol":"AAPL","quantity":"0.500000"}],"next_page":2})");
    CHECK(position_lines(holdings.items) == std::vector<std::string>{"AAPL=0.500000"});
    CHECK(holdings.next_page == 2);
    CHECK_FALSE(parse_zag_holdings(R"({"holdings":null,"next_page":null})").next_page);

    const auto cash = parse_viewtrade_cash(R"({"cash":[{"currency":"USD","amount":"48.50"}]})");
    CHECK(cash.items.at(0).amount.to_string() == "48.50");
    CHECK(position_lines(parse_viewtrade_positions(R"({"positions":[{"symbol":"BRK.B","quantity":1e-6}]})").items) ==
          std::vector<std::string>{"BRK.B=0.000001"});

    const auto deposits = parse_viewtrade_deposits(
        R"({"deposits":[{"deposit_id":"W-1","amount":"100.00","currency":"USD","status":"completed",)"
        R"("initiated_at":"2026-11-01T12:00:00Z","completed_at":null,"reference":"UTR-1"},)"
        R"({"deposit_id":"W-2","amount":5,"currency":"USD","status":"pending","reference":["UTR"]}]})");
    REQUIRE(deposits.items.size() == 2);
    CHECK(deposits.items[0].funding_id == "W-1");
    CHECK(format_utc(*deposits.items[0].initiated_at) == "2026-11-01T12:00:00.000Z");
    CHECK_FALSE(deposits.items[0].completed_at);
    CHECK(deposits.items[0].reference == "UTR-1");
    CHECK(deposits.items[1].amount.to_string() == "5");
    CHECK(deposits.items[1].reference.empty());  // not text: left empty

    CHECK(refusal_of(parse_zag_holdings, R"([])") == "ZAG sent a malformed answer: expected an object");
    // Numbers arrive as their exact text, so a numeric symbol is text; true is not.
    CHECK(parse_zag_holdings(R"({"holdings":[{"symbol":7,"quantity":"1"}]})").items.at(0).symbol == "7");
    CHECK(refusal_of(parse_zag_holdings, R"({"holdings":[{"symbol":true,"quantity":"1"}]})") ==
          "ZAG sent a malformed answer: 'symbol' is not text");
    CHECK(refusal_of(parse_zag_holdings, R"({"holdings":[],"next_page":"next"})") ==
          "ZAG sent a malformed answer: 'next_page' is not a whole number");
    CHECK(refusal_of(parse_viewtrade_cash, R"({"as_of":"yesterday","cash":[]})") ==
          "VIEWTRADE sent a malformed answer: 'as_of' is not a timestamp");
    CHECK(refusal_of(parse_viewtrade_deposits, R"({"deposits":[{"deposit_id":"W-1"}]})") ==
          "VIEWTRADE sent a malformed answer: no 'amount'");
}

TEST_CASE("text with a NUL character is refused: PostgreSQL could not store it")
{
    CHECK(refusal_of(parse_zag_holdings, R"({"holdings":[{"symbol":"AA\u0000PL","quantity":"1"}]})") ==
          "ZAG sent a malformed answer: 'symbol' contains a NUL character");
    CHECK(refusal_of(
              parse_viewtrade_deposits,
              R"({"deposits":[{"deposit_id":"W","amount":"1","currency":"USD","status":"x","reference":"\u0000"}]})") ==
          "VIEWTRADE sent a malformed answer: 'reference' contains a NUL character");
}
