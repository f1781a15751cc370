// The brokers' answers read without a network (lib/brokers/responses.hpp): what each adapter
// takes from a page, exactly, and the one-line account error for everything else.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <string>
#include <vector>

#include "lib/broker_health.hpp"
#include "lib/brokers/responses.hpp"
#include "tests/support/broker_answers.hpp"
#include "tests/support/fake_broker.hpp"

using namespace reconcile;
using namespace reconcile::test;

TEST_CASE("GTN token: GTN's published answer read whole; FAILED with its rejectCode; nonsense is an error")
{
    const auto token = parse_gtn_token(gtn_published("token.json"));
    CHECK(token.access_token == "eyJhbGciOiJSUzI1NiJ9.c2VydmVy.c2lnbmF0dXJl");
    CHECK(token.refresh_token == "b1c0e5d2-6f0a-4a51-9a43-2f1d7c9e8a10");
    REQUIRE(token.expires_at);
    CHECK(format_utc(*token.expires_at) == "2026-11-28T01:00:00.000Z");
    REQUIRE(token.refresh_expires_at);
    CHECK(format_utc(*token.refresh_expires_at) == "2026-11-28T02:00:00.000Z");
    CHECK_FALSE(parse_gtn_token(R"({"status":"SUCCESS","accessToken":"abc"})").expires_at);
    CHECK(refusal_of(parse_gtn_token, gtn_published("failed_1014.json")) ==
          "GTN token exchange FAILED (rejectCode 1014): Insufficient details in assertion");
    try {
        parse_gtn_token(gtn_published("failed_1014.json"));
    } catch (const GtnRejected& e) {
        CHECK(e.code() == 1014);
        CHECK(e.reason() == "Insufficient details in assertion");
    }
    CHECK(refusal_of(parse_gtn_token, R"({"status":"SUCCESS"})") == "GTN sent a malformed answer: no 'accessToken'");
    // GTN's SDK reads the expiries with Python's int(): a server writing them as floats, with a
    // fraction or an exponent, is read the same way (the fraction dropped).
    for (const char* expiry : {"1795827600000.9", "1.7958276E12", "\"1795827600000\"", "1795827600000.0"}) {
        const auto read = parse_gtn_token(
            fmt::format(R"({{"status":"SUCCESS","accessToken":"a","accessTokenExpiresAt":{}}})", expiry));
        REQUIRE(read.expires_at);
        CHECK(format_utc(*read.expires_at) == "2026-11-28T01:00:00.000Z");
    }
    CHECK(refusal_of(parse_gtn_token, R"({"status":"SUCCESS","accessToken":"a","accessTokenExpiresAt":"soon"})") ==
          "GTN sent a malformed answer: 'accessTokenExpiresAt' is not a whole number");
    // Only the first token answer is checked for a status by GTN's SDK: an answer without one is
    // read for what it carries.
    CHECK(parse_gtn_token(R"({"accessToken":"a","refreshToken":"r"})").refresh_token == "r");
    CHECK(refusal_of(parse_gtn_token, R"({"refreshToken":"r"})") == "GTN sent a malformed answer: no 'accessToken'");
    // Found reading the code for the fuzz targets: an expiry this far out overflowed the
    // nanosecond time_point (signed overflow, undefined behaviour) when the adapter converted it.
    CHECK(refusal_of(parse_gtn_token,
                     R"({"status":"SUCCESS","accessToken":"a","accessTokenExpiresAt":999999999999999999})") ==
          "GTN sent a malformed answer: 'accessTokenExpiresAt' is out of range");
    CHECK(refusal_of(parse_gtn_token, R"({"status":"SUCCESS","accessToken":"a","refreshTokenExpiresAt":-1})") ==
          "GTN sent a malformed answer: 'refreshTokenExpiresAt' is out of range");
}

TEST_CASE("GTN token: without *ExpiresAt, expiresIn / refreshTokenExpiresIn (seconds) count from the answer")
{
    const Timestamp received = *parse_utc("2026-11-28T00:00:00.250Z");
    const auto lifetimes = parse_gtn_token_at(
        R"({"status":"SUCCESS","accessToken":"a","expiresIn":3600,"refreshTokenExpiresIn":7200.9})", received);
    REQUIRE(lifetimes.expires_at);
    CHECK(format_utc(*lifetimes.expires_at) == "2026-11-28T01:00:00.250Z");
    REQUIRE(lifetimes.refresh_expires_at);
    CHECK(format_utc(*lifetimes.refresh_expires_at) == "2026-11-28T02:00:00.250Z");  // whole seconds, as int()

    // An *ExpiresAt, when present, is GTN's SDK's field and wins; each expiry is read on its own.
    const auto mixed = parse_gtn_token_at(R"({"accessToken":"a","accessTokenExpiresAt":1795827600000,"expiresIn":60,)"
                                          R"("refreshTokenExpiresIn":"120"})",
                                          received);
    CHECK(format_utc(*mixed.expires_at) == "2026-11-28T01:00:00.000Z");
    CHECK(format_utc(*mixed.refresh_expires_at) == "2026-11-28T00:02:00.250Z");

    // Neither: no known expiry, as before.
    const auto neither = parse_gtn_token_at(R"({"accessToken":"a"})", received);
    CHECK_FALSE(neither.expires_at);
    CHECK_FALSE(neither.refresh_expires_at);

    const auto refused = [&](const std::string& body) {
        return refusal_of([&](std::string_view text) { return parse_gtn_token_at(text, received); }, body);
    };
    CHECK(refused(R"({"accessToken":"a","expiresIn":"soon"})") ==
          "GTN sent a malformed answer: 'expiresIn' is not a whole number");
    CHECK(refused(R"({"accessToken":"a","expiresIn":-1})") ==
          "GTN sent a malformed answer: 'expiresIn' is out of range");
    // Past April 2262 the nanosecond time_point would overflow.
    CHECK(refused(R"({"accessToken":"a","refreshTokenExpiresIn":9999999999999})") ==
          "GTN sent a malformed answer: 'refreshTokenExpiresIn' is out of range");
}

TEST_CASE("GTN summaries: GTN's published cash answer, no data wrapper, `balance` kept exact, the paging fields")
{
    const auto cash = parse_gtn_cash(gtn_published("cash_summary.json"));
    REQUIRE(cash.items.size() == 2);
    CHECK(cash.items[0].currency == "USD");
    CHECK(cash.items[0].amount.to_string() == "10250.75");  // balance, not buyingPower or cashForWithdrawal
    CHECK(cash.items[1].currency == "AED");
    CHECK(cash.items[1].amount.to_string() == "0.00001");
    CHECK_FALSE(cash.more);
    CHECK(cash.total_records == 2);
    CHECK_FALSE(cash.as_of);

    const auto next =
        parse_gtn_cash(R"({"status":"SUCCESS","rejectCode":0,"isNextPageAvailable":true,"pageNo":1,"pageWidth":1,)"
                       R"("totalNoOfRecords":3,"list":[{"currency":"USD","balance":1234567890.123456789}]})");
    CHECK(next.more);
    CHECK(next.total_records == 3);
    CHECK(next.items.at(0).amount.to_string() == "1234567890.123456789");

    const auto securities = parse_gtn_securities(
        R"({"status":"SUCCESS","rejectCode":0,"list":[{"symbol":"AAPL","quantity":0.1},{"symbol":"NVDA","quantity":1e-7}]})");
    CHECK(position_lines(securities.items) == std::vector<std::string>{"AAPL=0.1", "NVDA=0.0000001"});
    CHECK_FALSE(securities.more);  // absent: one page
    CHECK_FALSE(securities.total_records);

    for (const char* name : {"failed_1007.json", "failed_1123.json", "failed_1001.json"}) {
        CAPTURE(name);
        CHECK_THROWS_AS(parse_gtn_cash(gtn_published(name)), GtnRejected);
    }
    CHECK(refusal_of(parse_gtn_cash, gtn_published("failed_1123.json")) ==
          "GTN answered FAILED (rejectCode 1123): Server busy, please try again");
    CHECK(refusal_of(parse_gtn_cash, R"({"status":"FAILED","reason":"customer\nsuspended"})") ==
          "GTN answered FAILED (rejectCode 0): customer suspended");
    // A SUCCESS answer carries its rows in `list`; without it (the old invented `data` wrapper,
    // say) the rows are somewhere we do not read, so it is refused, not read as no rows. Only a
    // page that says it has no records may leave `list` out.
    CHECK(refusal_of(parse_gtn_cash,
                     R"({"status":"SUCCESS","data":{"cashSummary":[{"currency":"USD","cashBalance":1}]}})") ==
          "GTN sent a malformed answer: no 'list'");
    CHECK(refusal_of(parse_gtn_securities, R"({"status":"SUCCESS","rejectCode":0,"totalNoOfRecords":3})") ==
          "GTN sent a malformed answer: no 'list'");
    CHECK(refusal_of(parse_gtn_cash, R"({"status":"SUCCESS","list":null,"totalNoOfRecords":1})") ==
          "GTN sent a malformed answer: no 'list'");
    const auto none = parse_gtn_cash(R"({"status":"SUCCESS","rejectCode":0,"totalNoOfRecords":0})");
    CHECK(none.items.empty());
    CHECK(none.total_records == 0);
    CHECK(parse_gtn_securities(R"({"status":"SUCCESS","list":null,"totalNoOfRecords":0})").items.empty());
    CHECK(refusal_of(parse_gtn_cash, R"({"status":"SUCCESS","list":{}})") ==
          "GTN sent a malformed answer: 'list' is not a list");
    CHECK(refusal_of(parse_gtn_cash, R"({"status":"SUCCESS","list":[{"currency":"USD","balance":"x"}]})") ==
          "GTN sent a malformed answer: 'balance' is not an exact decimal: 'x'");
    CHECK(refusal_of(parse_gtn_cash, R"({"status":"SUCCESS","list":[{"currency":"USD","cashBalance":1}]})") ==
          "GTN sent a malformed answer: no 'balance'");
    CHECK(refusal_of(parse_gtn_securities, R"({"status":"SUCCESS","list":[],"totalNoOfRecords":2.5})") ==
          "GTN sent a malformed answer: 'totalNoOfRecords' is not a whole number");
    CHECK(parse_gtn_securities(R"({"status":"SUCCESS","list":[],"totalNoOfRecords":0.0})").total_records == 0);
    CHECK(parse_gtn_cash(R"({"list":[{"currency":"USD","balance":1}],"totalNoOfRecords":1E0})").items.size() == 1);
    CHECK(refusal_of(parse_gtn_cash, R"({"totalNoOfRecords":1})") == "GTN sent a malformed answer: no 'list'");
    CHECK(refusal_of(parse_gtn_cash, R"([{"currency":"USD","balance":1}])") ==
          "GTN sent a malformed answer: expected an object");
    CHECK(refusal_of(parse_gtn_securities, R"({"status":"SUCCESS","list":[],"isNextPageAvailable":"yes"})") ==
          "GTN sent a malformed answer: 'isNextPageAvailable' is not true or false");
    CHECK(refusal_of(parse_gtn_securities, R"({"status": "SUCCESS", "list": [)")
              .find("GTN sent malformed JSON near byte") == 0);
}

TEST_CASE("GTN rejections at any HTTP status: a FAILED envelope with a rejectCode is named, anything else is not")
{
    try {
        throw_if_gtn_rejected(gtn_published("failed_1001.json"));
        FAIL("accepted a FAILED answer");
    } catch (const GtnRejected& e) {
        CHECK(e.code() == 1001);
        CHECK(std::string(e.what()) == "GTN answered FAILED (rejectCode 1001): Missing parameters");
    }
    CHECK_NOTHROW(throw_if_gtn_rejected("<html>502 Bad Gateway</html>"));
    CHECK_NOTHROW(throw_if_gtn_rejected(R"({"status":"FAILED","reason":"no code"})"));
    CHECK_NOTHROW(throw_if_gtn_rejected(gtn_published("cash_summary.json")));
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

TEST_CASE("broker health: nearest-rank latency percentiles, counts by kind, and the runs show line")
{
    BrokerHealthRecorder recorder;
    for (const int ms : {5, 1, 3, 2, 4, 100, 7, 8, 9, 10}) recorder.attempt(std::chrono::milliseconds(ms));
    recorder.retry();
    recorder.error(BrokerErrorKind::reject_code);
    recorder.error(BrokerErrorKind::timeout);
    recorder.error(BrokerErrorKind::timeout);
    recorder.page();
    const auto health = recorder.summary("GTN", BrokerContract::public_api);
    CHECK(health.requests == 10);
    CHECK(health.retries == 1);
    CHECK(health.pages == 1);
    // Sorted: 1 2 3 4 5 7 8 9 10 100. p50: the 5th value; p95: the 10th (ceil(9.5)).
    CHECK(health.latency_p50_ms == 5);
    CHECK(health.latency_p95_ms == 100);
    CHECK(health.latency_max_ms == 100);
    CHECK(render_broker_health({health}) ==
          "Brokers:\n"
          "  GTN        public       requests 10, retries 1, pages 1; errors: timeout 2, connection 0, http_status 0, "
          "reject_code 1, parse 0; latency p50 5 ms, p95 100 ms, max 100 ms\n");
    CHECK(broker_health_to_json({health})[0]["errors"] ==
          nlohmann::json{{"timeout", 2}, {"connection", 0}, {"http_status", 0}, {"reject_code", 1}, {"parse", 0}});
    CHECK(render_broker_health({}).empty());
    CHECK(nearest_rank_percentile({}, 95) == 0);
    CHECK(nearest_rank_percentile({42}, 50) == 42);
}
