// The GTN, ZAG and ViewTrade adapters and the broker hub against the fake broker: the JWT
// exchange and its refresh, exact decimals, paging, envelopes, per-account isolation and the
// broker-wide circuit.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>

#include "lib/brokers/broker.hpp"
#include "lib/config.hpp"
#include "lib/http_client.hpp"
#include "lib/jwt.hpp"
#include "tests/support/broker_answers.hpp"
#include "tests/support/fake_broker.hpp"

using namespace reconcile;
using namespace reconcile::test;
using Json = nlohmann::json;

namespace {

Json gtn_fixture()
{
    return {{"gtn",
             {{"page_size", 2},
              {"accounts",
               {{"G-1",
                 {{"cash", {{{"currency", "USD"}, {"balance", "1234567890.123456789"}}}},
                  {"securities",
                   {{{"symbol", "AAPL"}, {"quantity", "0.1"}},
                    {{"symbol", "MSFT"}, {"quantity", "3"}},
                    {{"symbol", "NVDA"}, {"quantity", "1e-7"}},
                    {{"symbol", "TSLA"}, {"quantity", "2.50"}},
                    {{"symbol", "AMZN"}, {"quantity", "-1.000001"}}}}}},
                {"G-2", {{"cash", {{{"currency", "USD"}, {"balance", "0.30"}}}}}},
                {"G-FAILED", {{"failed_reason", "customer suspended"}, {"failed_code", 1126}}}}}}}};
}

Settings settings_for(const FakeBroker& broker, const EnvMap& extra = {})
{
    return load_settings(broker.settings(extra));
}

/// "CUR=amount" per cash row, in order.
std::vector<std::string> cash_lines(const std::vector<BrokerCash>& cash)
{
    std::vector<std::string> lines;
    for (const auto& c : cash) lines.push_back(c.currency + "=" + c.amount.to_string());
    return lines;
}

/// The JSON type of every field of an answer, recursively; an array as the distinct shapes of
/// its rows (so a list of any length compares by what one row looks like).
Json shape_of(const Json& value)
{
    if (value.is_object()) {
        Json shape = Json::object();
        for (const auto& [key, field] : value.items()) shape[key] = shape_of(field);
        return shape;
    }
    if (value.is_array()) {
        Json rows = Json::array();
        for (const auto& row : value) {
            Json shape = shape_of(row);
            if (std::find(rows.begin(), rows.end(), shape) == rows.end()) rows.push_back(std::move(shape));
        }
        return rows;
    }
    return value.type_name();  // "string", "number" (any number), "boolean", "null"
}

/// The health the hub recorded for one broker.
BrokerHealth health_of(const BrokerHub& hub, std::string_view broker)
{
    for (const auto& health : hub.health()) {
        if (health.broker == broker) return health;
    }
    FAIL("no health recorded for " << std::string(broker));
    return {};
}

}  // namespace

TEST_CASE("GTN: one assertion serves every account; amounts are exact; pages are walked from 1")
{
    FakeBroker broker(gtn_fixture());
    const Settings settings = settings_for(broker);
    BrokerHub hub(settings.brokers);
    const auto fetched =
        hub.fetch(BrokerId::gtn, {{"C1", "G-1"}, {"C2", "G-2"}}, {BrokerData::cash, BrokerData::positions});
    REQUIRE(fetched.failed == 0);
    const auto& first = fetched.accounts[0];
    CHECK(first.cash->items.at(0).amount.to_string() == "1234567890.123456789");
    CHECK(position_lines(first.positions->items) ==
          std::vector<std::string>{"AAPL=0.1", "MSFT=3", "NVDA=0.0000001", "TSLA=2.50", "AMZN=-1.000001"});
    CHECK(fetched.accounts[1].cash->items.at(0).amount.to_string() == "0.30");
    const auto stats = broker.stats();
    CHECK(stats["token_exchanges"] == 1);
    CHECK(stats["requests"]["GET gtn positions G-1"] == 3);  // five securities, two per page
    CHECK(stats["unauthorised"] == 0);
    // One token call, cash G-1, three pages of G-1's securities, cash G-2, G-2's empty securities.
    const auto health = health_of(hub, "GTN");
    CHECK(health.contract == BrokerContract::public_api);
    CHECK(health.requests == 7);
    CHECK(health.pages == 6);
    CHECK(health.retries == 0);
    for (const auto kind : broker_error_kinds) CHECK(health.errors_of(kind) == 0);
    CHECK(health.latency_max_ms >= health.latency_p95_ms);
    CHECK(health.latency_p95_ms >= health.latency_p50_ms);
}

TEST_CASE("GTN: published answers replayed: the cash summary read exactly, 1007 then success after a refresh")
{
    auto fixture = gtn_fixture();
    fixture["faults"] = {canned_gtn_answer("G-9", "cash", gtn_published("cash_summary.json")),
                         canned_gtn_answer("G-2", "cash", gtn_published("failed_1007.json"))};
    FakeBroker broker(fixture);
    const Settings settings = settings_for(broker);
    BrokerHub hub(settings.brokers);
    const auto fetched = hub.fetch(BrokerId::gtn, {{"C9", "G-9"}, {"C2", "G-2"}}, {BrokerData::cash});
    REQUIRE(fetched.failed == 0);
    // The ledger's cash is compared with `balance` (docs/brokers.md), not buyingPower or
    // cashForWithdrawal; amounts keep their exact text.
    CHECK(cash_lines(fetched.accounts[0].cash->items) == std::vector<std::string>{"USD=10250.75", "AED=0.00001"});
    CHECK(cash_lines(fetched.accounts[1].cash->items) == std::vector<std::string>{"USD=0.30"});
    const auto stats = broker.stats();
    CHECK(stats["token_exchanges"] == 1);  // the 1007 was answered by a refresh, not a new assertion
    CHECK(stats["token_refreshes"] == 1);
    CHECK(stats["requests"]["GET gtn cash G-2"] == 2);
    const auto health = health_of(hub, "GTN");
    CHECK(health.errors_of(BrokerErrorKind::reject_code) == 1);
    CHECK(health.retries == 1);
}

TEST_CASE("GTN: 1123 (busy) is retried with backoff within the retry budget, then a fetch_error naming it")
{
    auto fixture = gtn_fixture();
    fixture["faults"] = {canned_gtn_answer("G-1", "cash", gtn_published("failed_1123.json"), 2),
                         canned_gtn_answer("G-2", "cash", gtn_published("failed_1123.json"), 10)};
    FakeBroker broker(fixture);
    const Settings settings = settings_for(broker, {{"RECON_BROKER_RETRIES", "2"}});
    BrokerHub hub(settings.brokers);
    const auto fetched = hub.fetch(BrokerId::gtn, {{"C1", "G-1"}, {"C2", "G-2"}}, {BrokerData::cash});
    CHECK_FALSE(fetched.accounts[0].error.has_value());
    CHECK(cash_lines(fetched.accounts[0].cash->items) == std::vector<std::string>{"USD=1234567890.123456789"});
    REQUIRE(fetched.accounts[1].error.has_value());
    CHECK(*fetched.accounts[1].error ==
          "cash: GTN answered FAILED (rejectCode 1123): Server busy, please try again (after 3 attempts)");
    CHECK(broker.requests("GET gtn cash G-1") == 3);
    CHECK(broker.requests("GET gtn cash G-2") == 3);
    const auto health = health_of(hub, "GTN");
    CHECK(health.errors_of(BrokerErrorKind::reject_code) == 5);
    CHECK(health.retries == 4);
}

TEST_CASE("GTN: 1123 (busy) on the token and refresh calls is retried like any call; past the budget GTN is down")
{
    auto fixture = gtn_fixture();
    fixture["faults"] = Json::array({{{"resource", "token"}, {"kind", "reject"}, {"code", 1123}, {"count", 1}}});
    FakeBroker broker(fixture);
    const Settings settings = settings_for(broker);  // RECON_BROKER_RETRIES=1
    BrokerHub hub(settings.brokers);
    const auto fetched = hub.fetch(BrokerId::gtn, {{"C1", "G-1"}, {"C2", "G-2"}}, {BrokerData::cash});
    CHECK_FALSE(fetched.unreachable);
    REQUIRE(fetched.failed == 0);
    CHECK(cash_lines(fetched.accounts[1].cash->items) == std::vector<std::string>{"USD=0.30"});
    auto stats = broker.stats();
    CHECK(stats["requests"]["POST gtn token"] == 2);  // busy once, then the token
    CHECK(stats["token_exchanges"] == 1);
    CHECK(stats["faults"]["reject"] == 1);
    auto health = health_of(hub, "GTN");
    CHECK(health.requests == 4);  // two token calls, two cash pages
    CHECK(health.retries == 1);
    CHECK(health.errors_of(BrokerErrorKind::reject_code) == 1);

    // The refresh is busy once: retried, still a refresh (no new assertion), then the page.
    fixture["faults"] = Json::array({{{"resource", "refresh"}, {"kind", "reject"}, {"code", 1123}, {"count", 1}}});
    broker.set_fixture(fixture);
    BrokerHub refreshing(settings.brokers);
    REQUIRE(refreshing.fetch(BrokerId::gtn, {{"C1", "G-1"}}, {BrokerData::cash}).failed == 0);
    broker.revoke_gtn_tokens();
    REQUIRE(refreshing.fetch(BrokerId::gtn, {{"C2", "G-2"}}, {BrokerData::cash}).failed == 0);
    stats = broker.stats();
    CHECK(stats["requests"]["POST gtn refresh"] == 2);
    CHECK(stats["token_refreshes"] == 1);
    CHECK(stats["token_exchanges"] == 1);
    CHECK(stats["unauthorised"] == 1);  // the revoked token, once
    health = health_of(refreshing, "GTN");
    CHECK(health.retries == 2);                                  // the renewal after 1008, the busy refresh
    CHECK(health.errors_of(BrokerErrorKind::reject_code) == 2);  // 1008 (revoked), 1123
    CHECK(health.requests == 6);                                 // token, cash, cash (1008), refresh x2, cash

    // GTN stays busy on the token call: two attempts, then GTN is unreachable for the run.
    fixture["faults"] =
        Json::array({{{"resource", "token"}, {"kind", "reject"}, {"code", 1123}, {"reason", "Server busy"}}});
    broker.set_fixture(fixture);
    BrokerHub busy(settings.brokers);
    const auto refused = busy.fetch(BrokerId::gtn, {{"C1", "G-1"}, {"C2", "G-2"}}, {BrokerData::cash});
    CHECK(refused.unreachable);
    CHECK_FALSE(refused.not_configured);
    CHECK(refused.unreachable_reason ==
          "GTN unreachable: cash: token exchange failed: GTN answered FAILED (rejectCode 1123): Server busy (after 2 "
          "attempts)");
    CHECK(broker.requests("POST gtn token") == 2);
}

TEST_CASE("GTN: a token about to expire is refreshed before it is used, never refused")
{
    auto fixture = gtn_fixture();
    // Every access token lives 90 s: inside the renew margin of GTN's SDK (100 s) from the moment
    // it is issued, so each use finds it about to expire. The refresh tokens live an hour.
    fixture["gtn"]["token_ttl_seconds"] = 90;
    fixture["gtn"]["refresh_ttl_seconds"] = 3600;
    FakeBroker broker(fixture);
    const Settings settings = settings_for(broker, {{"RECON_BROKER_CONCURRENCY", "1"}});
    BrokerHub hub(settings.brokers);
    const auto fetched =
        hub.fetch(BrokerId::gtn, {{"C1", "G-1"}, {"C2", "G-2"}}, {BrokerData::cash, BrokerData::positions});
    REQUIRE(fetched.failed == 0);
    CHECK(position_lines(fetched.accounts[0].positions->items) ==
          std::vector<std::string>{"AAPL=0.1", "MSFT=3", "NVDA=0.0000001", "TSLA=2.50", "AMZN=-1.000001"});
    const auto stats = broker.stats();
    // Six pages (G-1: cash 1, securities 3; G-2: cash 1, securities 1): the first with the
    // asserted token, each of the other five with a token refreshed just before.
    CHECK(stats["token_exchanges"] == 1);
    CHECK(stats["token_refreshes"] == 5);
    CHECK(stats["requests"]["POST gtn refresh"] == 5);
    CHECK(stats["unauthorised"] == 0);  // no page was refused as unauthorised
    CHECK(health_of(hub, "GTN").retries == 0);
}

TEST_CASE("GTN: a refresh token about to expire is not used: the client asserts again")
{
    auto fixture = gtn_fixture();
    // Access tokens live 90 s (renewed before every use) and refresh tokens 40 s: inside the 50 s
    // in which GTN's SDK gives a refresh token up, so every renewal is a new assertion.
    fixture["gtn"]["token_ttl_seconds"] = 90;
    fixture["gtn"]["refresh_ttl_seconds"] = 40;
    FakeBroker broker(fixture);
    const Settings settings = settings_for(broker, {{"RECON_BROKER_CONCURRENCY", "1"}});
    BrokerHub hub(settings.brokers);
    const auto fetched = hub.fetch(BrokerId::gtn, {{"C1", "G-1"}}, {BrokerData::cash, BrokerData::positions});
    REQUIRE(fetched.failed == 0);
    const auto stats = broker.stats();
    // Four pages (cash 1, securities 3): each with a token from a new assertion.
    CHECK(stats["token_exchanges"] == 4);
    CHECK(stats["token_refreshes"] == 0);
    CHECK_FALSE(stats["requests"].contains("POST gtn refresh"));
    CHECK(stats["unauthorised"] == 0);
}

TEST_CASE("GTN assertion: iss, instCode, userId as configured; exp is iat + 3600 (an hour, as GTN's SDK)")
{
    FakeBroker broker(gtn_fixture());
    const Settings settings = settings_for(broker);
    BrokerHub hub(settings.brokers);
    const auto before =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    REQUIRE(hub.fetch(BrokerId::gtn, {{"C2", "G-2"}}, {BrokerData::cash}).failed == 0);
    const auto after =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    // The claims as the fake broker received and verified them.
    const Json claims = broker.stats()["last_assertion"];
    CHECK(claims["iss"] == "test-app");
    CHECK(claims["instCode"] == "TESTINST");
    CHECK(claims["userId"] == "test-server-user");
    const auto iat = claims["iat"].get<std::int64_t>();
    CHECK(iat >= before);
    CHECK(iat <= after);
    CHECK(claims["exp"].get<std::int64_t>() - iat == 3600);
}

TEST_CASE("the fake broker answers in the published fixtures' shapes: the same field names and JSON types")
{
    FakeBroker broker(gtn_fixture());
    HttpClient http(HttpLimits{.max_retries = 0});
    const auto now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    const Rs256Signer signer(test_keys().private_pem, "test key");
    const std::string assertion = signer.sign({{"iss", "test-app"},
                                               {"instCode", "TESTINST"},
                                               {"userId", "test-server-user"},
                                               {"iat", now},
                                               {"exp", now + 3600}});
    const auto post = [&](const std::string& path, const Json& body, bool basic) {
        HttpRequest request{.method = "POST",
                            .url = broker.url() + path,
                            .headers = {{"Content-Type", "application/json"}, {"Throttle-Key", "test-throttle"}},
                            .body = body.dump()};
        // base64("test-app:test-secret")
        if (basic) request.headers.emplace_back("Authorization", "Basic dGVzdC1hcHA6dGVzdC1zZWNyZXQ=");
        return http.send(request);
    };
    const auto get = [&](const std::string& query, const std::string& token) {
        return http.send(
            HttpRequest{.url = broker.url() + "/trade/fo/v1.2.1/customer/account/cash/summary" + query,
                        .headers = {{"Authorization", "Bearer " + token}, {"Throttle-Key", "test-throttle"}}});
    };
    const auto shape_matches = [](const HttpResponse& answer, long status, const std::string& fixture) {
        CAPTURE(fixture);
        CAPTURE(answer.body);
        CHECK(answer.status == status);
        CHECK(shape_of(Json::parse(answer.body)).dump() == shape_of(Json::parse(gtn_published(fixture))).dump());
    };

    const auto token = post("/trade/auth/token", {{"assertion", assertion}}, true);
    shape_matches(token, 200, "token.json");
    const Json issued = Json::parse(token.body);
    shape_matches(post("/trade/auth/token/refresh", {{"refreshToken", issued["refreshToken"]}}, false), 200,
                  "token.json");
    const std::string access = issued["accessToken"];
    shape_matches(get("?customerNumber=G-1&pageNo=1&pageWidth=100", access), 200, "cash_summary.json");
    // An unknown token: 401 + FAILED 1008, as GTN's error table says (the FAILED envelope's shape).
    shape_matches(get("?customerNumber=G-1&pageNo=1&pageWidth=100", "not-a-token"), 401, "failed_1007.json");
    shape_matches(get("?pageNo=1&pageWidth=100", access), 400, "failed_1001.json");
}

TEST_CASE("GTN: 1001 (HTTP 400) and an unknown rejectCode are fetch_errors naming code and reason; 1014 is ours")
{
    auto fixture = gtn_fixture();
    fixture["faults"] = {canned_gtn_answer("G-1", "cash", gtn_published("failed_1001.json"), 1, 400)};
    FakeBroker broker(fixture);
    const Settings settings = settings_for(broker);
    BrokerHub hub(settings.brokers);
    const auto fetched = hub.fetch(BrokerId::gtn, {{"C1", "G-1"}, {"C9", "G-FAILED"}}, {BrokerData::cash});
    CHECK_FALSE(fetched.unreachable);
    CHECK(*fetched.accounts[0].error == "cash: GTN answered FAILED (rejectCode 1001): Missing parameters");
    CHECK(*fetched.accounts[1].error == "cash: GTN answered FAILED (rejectCode 1126): customer suspended");

    // 1014: the assertion lacks details (here: the fake wants another server user): configuration.
    auto wrong_user = gtn_fixture();
    wrong_user["gtn"]["user_id"] = "someone-else";
    broker.set_fixture(wrong_user);
    BrokerHub other(settings.brokers);
    const auto refused = other.fetch(BrokerId::gtn, {{"C1", "G-1"}, {"C2", "G-2"}}, {BrokerData::cash});
    CHECK(refused.unreachable);
    CHECK(refused.not_configured);
    CHECK(refused.unreachable_reason.find(
              "token exchange failed: GTN answered FAILED (rejectCode 1014): insufficient details in "
              "assertion") != std::string::npos);
    CHECK(broker.stats()["token_rejections"] == 1);  // asked once, never again in this run
}

TEST_CASE("GTN: a token expiring mid-run is refreshed; an expired refresh token means a new assertion")
{
    FakeBroker broker(gtn_fixture());
    const Settings settings = settings_for(broker);
    BrokerHub hub(settings.brokers);
    REQUIRE(hub.fetch(BrokerId::gtn, {{"C1", "G-1"}}, {BrokerData::cash}).failed == 0);
    broker.revoke_gtn_tokens();
    CHECK(hub.fetch(BrokerId::gtn, {{"C2", "G-2"}}, {BrokerData::cash}).failed == 0);
    auto stats = broker.stats();
    CHECK(stats["token_exchanges"] == 1);
    CHECK(stats["token_refreshes"] == 1);
    CHECK(stats["unauthorised"] == 1);

    broker.revoke_gtn_tokens(true);
    CHECK(hub.fetch(BrokerId::gtn, {{"C1", "G-1"}}, {BrokerData::positions}).failed == 0);
    stats = broker.stats();
    CHECK(stats["token_exchanges"] == 2);  // the refresh was refused (1007): asserted again
    CHECK(stats["token_refreshes"] == 1);
    CHECK(stats["unauthorised"] == 2);

    // The fake's own expiry mid-run (fault expire_tokens on G-2's cash): the same refresh path.
    auto fixture = gtn_fixture();
    fixture["faults"] = {
        {{"broker", "gtn"}, {"account", "G-2"}, {"resource", "cash"}, {"kind", "expire_tokens"}, {"count", 1}}};
    broker.set_fixture(fixture);
    BrokerHub fresh(settings.brokers);
    const auto fetched = fresh.fetch(BrokerId::gtn, {{"C1", "G-1"}, {"C2", "G-2"}}, {BrokerData::cash});
    CHECK(fetched.failed == 0);
    stats = broker.stats();
    CHECK(stats["token_exchanges"] == 1);
    CHECK(stats["token_refreshes"] == 1);
    CHECK(stats["requests"]["GET gtn cash G-2"] == 2);

    // A server that refuses a token with HTTP 401 rather than 200 + FAILED 1007 (as GTN's SDK
    // README says calls after a session ends are answered): the same renewal, once.
    fixture["faults"] = {{{"broker", "gtn"},
                          {"account", "G-1"},
                          {"resource", "cash"},
                          {"kind", "answer"},
                          {"status", 401},
                          {"body", R"({"message":"Unauthorized"})"},
                          {"count", 1}}};
    broker.set_fixture(fixture);
    BrokerHub unauthorised(settings.brokers);
    const auto after_401 = unauthorised.fetch(BrokerId::gtn, {{"C1", "G-1"}}, {BrokerData::cash});
    REQUIRE(after_401.failed == 0);
    CHECK(cash_lines(after_401.accounts[0].cash->items) == std::vector<std::string>{"USD=1234567890.123456789"});
    stats = broker.stats();
    CHECK(stats["token_exchanges"] == 1);
    CHECK(stats["token_refreshes"] == 1);
    CHECK(stats["requests"]["GET gtn cash G-1"] == 2);
    CHECK(health_of(unauthorised, "GTN").retries == 1);

    // Refused again after the renewal: the account's fetch_error names the status, and the run
    // goes on to the next account.
    fixture["faults"][0]["count"] = 2;
    broker.set_fixture(fixture);
    BrokerHub refused(settings.brokers);
    const auto twice = refused.fetch(BrokerId::gtn, {{"C1", "G-1"}, {"C2", "G-2"}}, {BrokerData::cash});
    CHECK(twice.failed == 1);
    REQUIRE(twice.accounts[0].error.has_value());
    CHECK(twice.accounts[0].error->find("401") != std::string::npos);
    CHECK_FALSE(twice.accounts[1].error.has_value());
}

TEST_CASE("GTN paging: a 3-page cash answer is walked whole; a totalNoOfRecords lie is a fetch_error")
{
    auto fixture = gtn_fixture();
    fixture["gtn"]["accounts"]["G-3"] = {{"cash",
                                          {{{"currency", "AED"}, {"balance", "1.5"}},
                                           {{"currency", "EUR"}, {"balance", "2.25"}},
                                           {{"currency", "GBP"}, {"balance", "0.00001"}},
                                           {{"currency", "USD"}, {"balance", "-3"}},
                                           {{"currency", "INR"}, {"balance", "100"}}}}};
    FakeBroker broker(fixture);
    const Settings settings = settings_for(broker);
    BrokerHub hub(settings.brokers);
    const auto fetched = hub.fetch(BrokerId::gtn, {{"C3", "G-3"}}, {BrokerData::cash});
    REQUIRE(fetched.failed == 0);
    CHECK(cash_lines(fetched.accounts[0].cash->items) ==
          std::vector<std::string>{"AED=1.5", "EUR=2.25", "GBP=0.00001", "USD=-3", "INR=100"});
    CHECK(broker.requests("GET gtn cash G-3") == 3);

    // GTN says one more record than it sends: the rows seen disagree, nothing is silently dropped.
    fixture["faults"] = {{{"broker", "gtn"}, {"account", "G-3"}, {"kind", "records_lie"}, {"delta", 1}}};
    broker.set_fixture(fixture);
    BrokerHub lied_to(settings.brokers);
    const auto lied = lied_to.fetch(BrokerId::gtn, {{"C3", "G-3"}, {"C2", "G-2"}}, {BrokerData::cash});
    REQUIRE(lied.accounts[0].error.has_value());
    CHECK(*lied.accounts[0].error == "cash: GTN said totalNoOfRecords 6 but sent 5 rows over 3 page(s)");
    CHECK_FALSE(lied.accounts[1].error.has_value());
    CHECK(health_of(lied_to, "GTN").errors_of(BrokerErrorKind::parse) == 1);

    // Only the first page lies (count 1): page 1 says 6 records, page 2 says 5. The total moved
    // under us, so no page count can be trusted: a fetch_error, before page 3 is asked.
    fixture["faults"] = {{{"broker", "gtn"}, {"account", "G-3"}, {"kind", "records_lie"}, {"delta", 1}, {"count", 1}}};
    broker.set_fixture(fixture);
    BrokerHub moved(settings.brokers);
    const auto changed = moved.fetch(BrokerId::gtn, {{"C3", "G-3"}}, {BrokerData::cash});
    REQUIRE(changed.accounts[0].error.has_value());
    CHECK(*changed.accounts[0].error == "cash: GTN changed totalNoOfRecords from 6 to 5 on page 2");
    CHECK(broker.requests("GET gtn cash G-3") == 2);
    CHECK(health_of(moved, "GTN").errors_of(BrokerErrorKind::parse) == 1);

    // The page cap still holds: three pages needed, two allowed.
    fixture.erase("faults");
    broker.set_fixture(fixture);
    const Settings capped = settings_for(broker, {{"RECON_BROKER_MAX_PAGES", "2"}});
    BrokerHub small(capped.brokers);
    CHECK(*small.fetch(BrokerId::gtn, {{"C3", "G-3"}}, {BrokerData::cash}).accounts[0].error ==
          "cash: GTN paging did not end within 2 pages");
}

TEST_CASE("GTN: an assertion signed with the wrong key is refused; the broker is unreachable as a whole")
{
    FakeBroker broker(gtn_fixture());
    auto fixture = gtn_fixture();
    // The fake broker now trusts a different key than the one we sign with.
    fixture["gtn"]["public_key"] = unrelated_public_key();
    broker.set_fixture(fixture);
    const Settings settings = settings_for(broker);
    BrokerHub hub(settings.brokers);
    const auto fetched = hub.fetch(BrokerId::gtn, {{"C1", "G-1"}, {"C2", "G-2"}, {"C3", "G-3"}}, {BrokerData::cash});
    CHECK(fetched.unreachable);
    CHECK(fetched.failed == 3);
    CHECK(fetched.unreachable_reason.find("token exchange failed") != std::string::npos);
    CHECK(fetched.unreachable_reason.find("invalid assertion: bad signature") != std::string::npos);
    CHECK(broker.stats()["token_rejections"] == 1);  // asked once, never again in this run
}

TEST_CASE("GTN settings: a missing base URL, secret or key is a configuration failure, asked of nobody")
{
    const Settings settings = load_settings({{"RECON_BOOKS", "uae"}});
    BrokerHub hub(settings.brokers);
    const auto fetched = hub.fetch(BrokerId::gtn, {{"C1", "G-1"}}, {BrokerData::cash});
    CHECK(fetched.unreachable);
    CHECK(fetched.not_configured);
    CHECK(fetched.unreachable_reason == "GTN is not configured: set GTN_BASE_URL");

    FakeBroker broker(gtn_fixture());
    {
        auto env = broker.settings();
        env.erase("GTN_APP_SECRET");
        const Settings without = load_settings(env);
        BrokerHub other(without.brokers);
        const auto refused = other.fetch(BrokerId::gtn, {{"C1", "G-1"}}, {BrokerData::cash});
        CHECK(refused.not_configured);
        CHECK(refused.unreachable_reason == "GTN is not configured: set GTN_APP_SECRET");
    }
    auto env = broker.settings();
    env.erase("GTN_PRIVATE_KEY_FILE");
    env["GTN_PRIVATE_KEY"] = "not a key";
    const Settings bad_key = load_settings(env);
    BrokerHub other(bad_key.brokers);
    const auto refused = other.fetch(BrokerId::gtn, {{"C1", "G-1"}}, {BrokerData::cash});
    CHECK(refused.not_configured);
    CHECK(refused.unreachable_reason ==
          "GTN_PRIVATE_KEY: not an RSA private key (expected hex or base64 PKCS#8 DER, or PEM)");
    CHECK(broker.stats()["token_exchanges"] == 0);
}

TEST_CASE("ZAG and ViewTrade: the documented contract, pages, deposits; a hostile account id travels encoded")
{
    const std::string hostile = "'; DROP TABLE journal_lines; --";
    Json fixture = {
        {"zag",
         {{"page_size", 1},
          {"accounts",
           {{"Z-1",
             {{"holdings", {{{"symbol", "AAPL"}, {"quantity", "10"}}, {{"symbol", "MSFT"}, {"quantity", 2.5}}}}}},
            {hostile, {{"holdings", {{{"symbol", hostile}, {"quantity", "1"}}}}}}}}}},
        {"viewtrade",
         {{"as_of", "2026-11-27T23:59:59Z"},
          {"accounts",
           {{"V-1",
             {{"cash", {{{"currency", "USD"}, {"amount", "100.25"}}}},
              {"positions", {{{"symbol", "NVDA"}, {"quantity", "0.000001"}}}},
              {"deposits",
               {{{"deposit_id", "W-1"},
                 {"amount", "985.00"},
                 {"currency", "USD"},
                 {"status", "completed"},
                 {"initiated_at", "2026-11-20T10:00:00Z"},
                 {"completed_at", "2026-11-21T10:00:00Z"},
                 {"reference", "UTR123"}}}}}}}}}}};
    FakeBroker broker(fixture);
    const Settings settings = settings_for(broker);
    BrokerHub hub(settings.brokers);
    const auto zag = hub.fetch(BrokerId::zag, {{"C1", "Z-1"}, {"C2", hostile}}, {BrokerData::positions});
    REQUIRE(zag.failed == 0);
    CHECK(position_lines(zag.accounts[0].positions->items) == std::vector<std::string>{"AAPL=10", "MSFT=2.5"});
    CHECK(position_lines(zag.accounts[1].positions->items) == std::vector<std::string>{hostile + "=1"});
    CHECK(broker.requests("GET zag positions Z-1") == 2);
    CHECK(broker.requests("GET zag positions " + hostile) == 1);

    const auto vt =
        hub.fetch(BrokerId::viewtrade, {{"C1", "V-1"}}, {BrokerData::cash, BrokerData::positions, BrokerData::funding});
    REQUIRE(vt.failed == 0);
    const auto& account = vt.accounts[0];
    CHECK(account.cash->items.at(0).amount.to_string() == "100.25");
    CHECK(format_utc(account.cash->as_of) == "2026-11-27T23:59:59.000Z");
    CHECK(position_lines(account.positions->items) == std::vector<std::string>{"NVDA=0.000001"});
    const auto& wire = account.funding->items.at(0);
    CHECK(wire.funding_id == "W-1");
    CHECK(wire.amount.to_string() == "985.00");
    CHECK(wire.status == "completed");
    CHECK(format_utc(*wire.completed_at) == "2026-11-21T10:00:00.000Z");

    // The hub asks once per account and kind in a run: a second check gets the cached answer.
    CHECK(hub.fetch(BrokerId::viewtrade, {{"C1", "V-1"}}, {BrokerData::positions}).failed == 0);
    CHECK(broker.requests("GET viewtrade positions V-1") == 1);

    // The provisional contracts' path below the base URL is a setting: ZAG_BASE_PATH.
    const Settings moved =
        settings_for(broker, {{"ZAG_BASE_URL", broker.url()}, {"ZAG_BASE_PATH", "/zag/v1/accounts/"}});
    BrokerHub moved_hub(moved.brokers);
    const auto found = moved_hub.fetch(BrokerId::zag, {{"C1", "Z-1"}}, {BrokerData::positions});
    REQUIRE(found.failed == 0);
    CHECK(position_lines(found.accounts[0].positions->items) == std::vector<std::string>{"AAPL=10", "MSFT=2.5"});
    const Settings elsewhere = settings_for(broker, {{"ZAG_BASE_PATH", "/v2/holders"}});
    BrokerHub elsewhere_hub(elsewhere.brokers);
    const auto missing = elsewhere_hub.fetch(BrokerId::zag, {{"C1", "Z-1"}}, {BrokerData::positions});
    REQUIRE(missing.accounts[0].error.has_value());
    CHECK(missing.accounts[0].error->find("positions: ZAG answered HTTP 404") == 0);
    CHECK(health_of(elsewhere_hub, "ZAG").contract == BrokerContract::provisional);
    CHECK(health_of(elsewhere_hub, "ZAG").errors_of(BrokerErrorKind::http_status) == 1);
}

TEST_CASE("each fault stays with its account; the others are fetched")
{
    Json accounts = Json::object();
    for (const char* id : {"OK-1", "OK-2", "LATE", "E503", "E429", "BAD", "CUT", "HUGE", "HANG", "OK-3"}) {
        accounts[id] = {{"holdings", {{{"symbol", "AAPL"}, {"quantity", "1"}}}}};
    }
    const Json fixture = {{"zag", {{"accounts", accounts}}},
                          {"faults",
                           {{{"account", "LATE"}, {"kind", "latency"}, {"ms", 200}},
                            {{"account", "E503"}, {"kind", "status"}, {"status", 503}},
                            {{"account", "E429"}, {"kind", "rate_limit"}, {"retry_after", 1}},
                            {{"account", "BAD"}, {"kind", "malformed"}},
                            {{"account", "CUT"}, {"kind", "truncated"}},
                            {{"account", "HUGE"}, {"kind", "oversized"}, {"bytes", 1 << 20}},
                            {{"account", "HANG"}, {"kind", "hang"}}}}};
    FakeBroker broker(fixture);
    const Settings settings =
        settings_for(broker, {{"RECON_BROKER_TIMEOUT_MS", "800"}, {"RECON_BROKER_MAX_RESPONSE_BYTES", "65536"}});
    BrokerHub hub(settings.brokers);
    std::vector<BrokerAccount> asked;
    for (const auto& [id, data] : accounts.items()) asked.push_back({"C-" + id, id});
    const auto fetched = hub.fetch(BrokerId::zag, asked, {BrokerData::positions});
    CHECK_FALSE(fetched.unreachable);
    std::map<std::string, std::string> errors;
    for (const auto& account : fetched.accounts) {
        if (account.error) errors[account.account.account_ref] = *account.error;
    }
    CHECK(errors.size() == 6);
    CHECK(errors["E503"].find("HTTP 503 (after 2 attempts)") != std::string::npos);
    CHECK(errors["E429"].find("HTTP 429 (after 2 attempts)") != std::string::npos);
    CHECK(errors["BAD"].find("ZAG sent malformed JSON") != std::string::npos);
    CHECK(errors["CUT"].find("after 2 attempts") != std::string::npos);
    CHECK(errors["HUGE"].find("response larger than 65536 bytes") != std::string::npos);
    CHECK(errors["HANG"].find("no complete answer within 800 ms") != std::string::npos);
    CHECK(errors.count("LATE") == 0);
    CHECK(fetched.failed == 6);
}

TEST_CASE("a broker that refuses connections trips the circuit: the remaining accounts are not asked")
{
    EnvMap env{{"ZAG_BASE_URL", "http://127.0.0.1:1"},
               {"ZAG_API_KEY", "k"},
               {"RECON_BROKER_RETRIES", "0"},
               {"RECON_BROKER_CONCURRENCY", "1"}};
    const Settings settings = load_settings(env);
    BrokerHub hub(settings.brokers);
    const auto fetched = hub.fetch(BrokerId::zag, {{"C1", "A"}, {"C2", "B"}, {"C3", "C"}}, {BrokerData::positions});
    CHECK(fetched.unreachable);
    CHECK_FALSE(fetched.not_configured);
    CHECK(fetched.failed == 3);
    CAPTURE(fetched.unreachable_reason);
    CHECK(fetched.unreachable_reason.find("ZAG unreachable: positions: http://127.0.0.1:1") == 0);
    CHECK(fetched.accounts[2].error->find("not asked: ZAG unreachable") == 0);
}
