// The HTTP client against the fake broker over real loopback HTTP: retries with backoff,
// Retry-After, the size limit, timeouts, broken transfers, bounded concurrency.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "lib/http_client.hpp"
#include "tests/support/fake_broker.hpp"

using namespace reconcile;
using namespace reconcile::test;
using namespace std::chrono_literals;

namespace {

nlohmann::json one_account_fixture(nlohmann::json faults = nlohmann::json::array())
{
    return {{"zag", {{"accounts", {{"Z-1", {{"holdings", {{{"symbol", "AAPL"}, {"quantity", "1.5"}}}}}}}}}},
            {"faults", std::move(faults)}};
}

HttpLimits fast_limits()
{
    HttpLimits limits;
    limits.connect_timeout_ms = 1000;
    limits.total_timeout_ms = 1500;
    limits.max_retries = 2;
    limits.backoff_base_ms = 10;
    limits.backoff_max_ms = 40;
    limits.retry_after_max_seconds = 5;
    limits.max_response_bytes = 64 * 1024;
    return limits;
}

HttpRequest holdings(const FakeBroker& broker)
{
    return {.method = "GET",
            .url = broker.url() + "/zag/v1/accounts/Z-1/holdings?page=1",
            .headers = {{"X-Api-Key", "zag-test-key"}}};
}

HttpFailure failure_of(HttpClient& client, const HttpRequest& request)
{
    try {
        client.send(request);
    } catch (const HttpCallError& e) {
        return e.kind();
    }
    FAIL("expected an HttpCallError");
    return HttpFailure::transport;
}

const std::string holdings_key = "GET zag positions Z-1";

}  // namespace

TEST_CASE("5xx is retried with backoff until it succeeds, within the retry budget")
{
    FakeBroker broker(one_account_fixture({{{"kind", "status"}, {"status", 503}, {"count", 2}}}));
    HttpClient client(fast_limits());
    const auto response = client.send(holdings(broker));
    CHECK(response.status == 200);
    CHECK(response.attempts == 3);
    CHECK(broker.requests(holdings_key) == 3);

    broker.set_fixture(one_account_fixture({{{"kind", "status"}, {"status", 502}, {"count", 5}}}));
    try {
        client.send(holdings(broker));
        FAIL("expected the retries to run out");
    } catch (const HttpCallError& e) {
        CHECK(e.kind() == HttpFailure::http_status);
        CHECK(e.status() == 502);
        CHECK(std::string(e.what()).find("HTTP 502 (after 3 attempts)") != std::string::npos);
    }
    CHECK(broker.requests(holdings_key) == 3);
}

TEST_CASE("429 waits for Retry-After before asking again; a Retry-After beyond the limit is not waited for")
{
    FakeBroker broker(one_account_fixture({{{"kind", "rate_limit"}, {"retry_after", 1}, {"count", 1}}}));
    HttpClient client(fast_limits());
    const auto started = std::chrono::steady_clock::now();
    const auto response = client.send(holdings(broker));
    CHECK(response.status == 200);
    CHECK(response.attempts == 2);
    // Backoff alone is at most 40 ms: the second attempt waited for the server's second.
    CHECK(std::chrono::steady_clock::now() - started >= 1s);

    broker.set_fixture(one_account_fixture({{{"kind", "rate_limit"}, {"retry_after", 3600}}}));
    try {
        client.send(holdings(broker));
        FAIL("expected a refusal to wait an hour");
    } catch (const HttpCallError& e) {
        CHECK(e.kind() == HttpFailure::http_status);
        CHECK(std::string(e.what()).find("Retry-After 3600 s, beyond the 5 s we wait") != std::string::npos);
    }
    CHECK(broker.requests(holdings_key) == 1);
}

TEST_CASE("408 (GTN's TIMEOUT) is retried like 429: after its Retry-After")
{
    FakeBroker broker(one_account_fixture({{{"kind", "status"}, {"status", 408}, {"retry_after", 1}, {"count", 1}}}));
    HttpClient client(fast_limits());
    const auto started = std::chrono::steady_clock::now();
    const auto response = client.send(holdings(broker));
    CHECK(response.status == 200);
    CHECK(response.attempts == 2);
    CHECK(std::chrono::steady_clock::now() - started >= 1s);  // backoff alone is at most 40 ms
    CHECK(broker.requests(holdings_key) == 2);
}

TEST_CASE("an oversized answer is cut off at the limit and not retried")
{
    FakeBroker broker(one_account_fixture({{{"kind", "oversized"}, {"bytes", 1 << 20}}}));
    HttpClient client(fast_limits());
    CHECK(failure_of(client, holdings(broker)) == HttpFailure::too_large);
    CHECK(broker.requests(holdings_key) == 1);
}

TEST_CASE("a truncated body is a broken transfer, retried; a hang times out")
{
    FakeBroker broker(one_account_fixture({{{"kind", "truncated"}, {"count", 1}}}));
    HttpClient client(fast_limits());
    CHECK(client.send(holdings(broker)).attempts == 2);

    broker.set_fixture(one_account_fixture({{{"kind", "truncated"}}}));
    CHECK(failure_of(client, holdings(broker)) == HttpFailure::transport);

    auto limits = fast_limits();
    limits.total_timeout_ms = 300;
    limits.max_retries = 0;
    HttpClient impatient(limits);
    broker.set_fixture(one_account_fixture({{{"kind", "hang"}}}));
    CHECK(failure_of(impatient, holdings(broker)) == HttpFailure::timeout);
}

TEST_CASE("a hang on a kept-alive connection is a timeout, not an unreachable broker")
{
    FakeBroker broker(one_account_fixture());
    auto limits = fast_limits();
    limits.total_timeout_ms = 300;
    limits.max_retries = 0;
    HttpClient client(limits);
    REQUIRE(client.send(holdings(broker)).status == 200);  // the connection stays open for reuse
    broker.set_fixture(one_account_fixture({{{"kind", "hang"}}}));
    try {
        client.send(holdings(broker));
        FAIL("expected a timeout");
    } catch (const HttpCallError& e) {
        CHECK(e.kind() == HttpFailure::timeout);
        CHECK(std::string(e.what()).find("no complete answer within 300 ms") != std::string::npos);
    }
}

TEST_CASE("a closed port is unreachable")
{
    auto limits = fast_limits();
    limits.max_retries = 1;
    HttpClient client(limits);
    CHECK(failure_of(client, {.url = "http://127.0.0.1:1/zag/v1/accounts/x/holdings"}) == HttpFailure::unreachable);
}

TEST_CASE("run_bounded never has more calls in flight than its bound, and runs each index once")
{
    FakeBroker broker(one_account_fixture({{{"kind", "latency"}, {"ms", 100}}}));
    HttpClient client(fast_limits());
    std::vector<std::atomic<int>> seen(12);
    run_bounded(seen.size(), 3, [&](std::size_t i) {
        CHECK(client.send(holdings(broker)).status == 200);
        ++seen[i];
    });
    for (const auto& count : seen) CHECK(count == 1);
    CHECK(broker.stats()["max_in_flight"] == 3);
    CHECK(broker.requests(holdings_key) == 12);
}

TEST_CASE("backoff doubles up to its cap with equal jitter, and Retry-After wins when longer")
{
    CHECK(backoff_delay(1, 100, 1000, 0.0, std::nullopt) == 50ms);
    CHECK(backoff_delay(1, 100, 1000, 0.999, std::nullopt) == 99ms);
    CHECK(backoff_delay(3, 100, 1000, 0.0, std::nullopt) == 200ms);
    CHECK(backoff_delay(10, 100, 1000, 0.0, std::nullopt) == 500ms);
    CHECK(backoff_delay(1, 100, 1000, 0.5, 2) == 2000ms);
    CHECK(parse_retry_after("7", 0) == 7);
    CHECK(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412470) == 10);
    CHECK_FALSE(parse_retry_after("soon", 0).has_value());
}
