// The fault suite, outside the database: brokers that hang, send garbage or throttle (the fake
// broker, a real HTTP server), and a webhook that never answers, each against a real run of the
// real binary. Every run must end within a bound derived from its settings, keep the fault to
// the broker (or the one account) it hit, exit as the README's table says, and leave the
// suite's invariants (tests/faults/fault_support.hpp).
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/db/broker_fixture.hpp"
#include "tests/db/fixture.hpp"
#include "tests/faults/fault_support.hpp"
#include "tests/support/cli.hpp"
#include "tests/support/fake_broker.hpp"
#include "tests/support/run_document.hpp"
#include "tests/support/webhook_receiver.hpp"

using namespace reconcile;
using namespace reconcile::test;
using namespace std::chrono_literals;
using Json = nlohmann::json;
using Lines = std::vector<std::string>;

namespace {

// Short broker limits, so a hung call costs seconds: each call makes at most `retries` + 1
// attempts of at most `timeout` each, with backoffs of at most `backoff_max` between them.
constexpr auto timeout = 1000ms;
constexpr int retries = 1;
constexpr auto backoff_max = 50ms;
constexpr int retry_after_max_seconds = 5;
/// The longest one broker call may take under those limits (Retry-After aside).
constexpr auto call_budget = (retries + 1) * timeout + retries * backoff_max;
/// What a run needs besides its broker calls: start, migrate check, snapshot, results write.
/// Generous: the suite runs on a loaded 2-core machine next to other test binaries.
constexpr auto run_overhead = 4s;

FakeBroker& fake_broker()
{
    static FakeBroker broker(clean_broker_fixture());
    return broker;
}

EnvMap broker_env(const EnvMap& extra = {})
{
    EnvMap env =
        fake_broker().settings({{"RECON_BROKER_TIMEOUT_MS", std::to_string(timeout.count())},
                                {"RECON_BROKER_RETRIES", std::to_string(retries)},
                                {"RECON_BROKER_BACKOFF_MS", "10"},
                                {"RECON_BROKER_BACKOFF_MAX_MS", std::to_string(backoff_max.count())},
                                {"RECON_BROKER_RETRY_AFTER_MAX_SECONDS", std::to_string(retry_after_max_seconds)},
                                {"RECON_BROKER_MAX_RESPONSE_BYTES", "65536"}});
    for (const auto& [key, value] : extra) env[key] = value;
    return env;
}

/// The suite's uae book with C001 and C002 at GTN (G-001, G-002) and ZAG (Z-001, Z-002), and the
/// fake broker holding what agrees with it, misbehaving as `faults` say.
Target& broker_book(const Json& faults)
{
    auto& db = suite_book();
    db.exec(uae_broker_accounts_sql);
    auto fixture = clean_broker_fixture();
    fixture["faults"] = faults;
    fake_broker().set_fixture(fixture);
    return db;
}

/// A category C run of the real binary, its JSON document and how long it took.
struct TimedRun {
    ProcessResult result;
    Json run;
    std::chrono::milliseconds elapsed{0};
};

TimedRun run_c(const Target& db, const EnvMap& extra = {})
{
    TimedRun timed;
    const auto started = std::chrono::steady_clock::now();
    timed.result =
        reconcile_cli({"run", "--book", "uae", "--category", "C", "--output", "json"}, db.env(broker_env(extra)));
    timed.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    INFO(timed.result.err);
    REQUIRE_FALSE(timed.result.out.empty());
    timed.run = Json::parse(timed.result.out);
    return timed;
}

/// "kind key=value ..." for every variance of one check, sorted.
Lines variance_lines(const Json& check)
{
    Lines lines;
    for (const auto& variance : check["variances"]) {
        std::string line = variance["kind"].get<std::string>();
        for (const auto& [key, value] : variance["keys"].items()) line += " " + key + "=" + value.get<std::string>();
        lines.push_back(std::move(line));
    }
    std::sort(lines.begin(), lines.end());
    return lines;
}

/// The fetch error recorded on the variance of `customer`.
std::string fetch_error_of(const Json& check, const std::string& customer)
{
    for (const auto& variance : check["variances"]) {
        if (variance["kind"] == "fetch_error" && variance["keys"]["customer_id"] == customer) {
            return variance["detail"]["error"].get<std::string>();
        }
    }
    return "(no fetch_error for " + customer + ")";
}

/// A broker check that compared both customers and found everything in order.
void expect_unaffected(const Json& check)
{
    CAPTURE(check.dump());
    CHECK(check["status"] == "ok");
    CHECK(check["metrics"]["broker_status"] == "reachable");
    CHECK(check["metrics"]["customers_checked"] == 2);
    CHECK(check["variances"].empty());
}

/// The run row of the last run says what the run printed, completed: results committed.
void expect_committed(const Target& db, const TimedRun& timed)
{
    CHECK(db.value("SELECT status FROM recon.runs ORDER BY run_id DESC LIMIT 1") == timed.run["status"]);
    CHECK(db.value("SELECT error IS NULL FROM recon.runs ORDER BY run_id DESC LIMIT 1") == "t");
    CHECK(db.value("SELECT jsonb_array_length(metadata->'checks') FROM recon.runs ORDER BY run_id DESC LIMIT 1") ==
          std::to_string(timed.run["checks"].size()));
}

/// After a broker fault: the broker healthy again, and the suite's invariants for uae/C (the
/// next run compares everything and passes).
void expect_recovered_c(const Target& db)
{
    broker_book(Json::array());
    expect_recovered(db, 0, Category::C, broker_env());
    CHECK(db.value("SELECT status FROM recon.runs ORDER BY run_id DESC LIMIT 1") == "ok");
}

int requests(const std::string& key)
{
    return fake_broker().requests(key);
}

/// A run against a hung call: it waited out every attempt's timeout, and no longer than that.
void expect_hang_waited_out(const TimedRun& timed)
{
    CHECK(timed.elapsed >= (retries + 1) * timeout);
    CHECK(timed.elapsed < call_budget + run_overhead);
}

}  // namespace

TEST_CASE(
    "a broker that hangs on every call: its check ends error within the timeouts; the other broker's is unaffected")
{
    auto& db = broker_book({{{"broker", "gtn"}, {"kind", "hang"}, {"ms", 60000}}});
    const auto timed = run_c(db);
    CHECK(timed.result.exit_code == 2);
    // The token exchange hung: two attempts of the timeout each, then GTN is given up as a whole.
    expect_hang_waited_out(timed);
    const auto& gtn = check_named(timed.run, "gtn_ledger_recon");
    CHECK(gtn["status"] == "error");
    CHECK(gtn["metrics"]["broker_status"] == "unreachable");
    CHECK(gtn["metrics"]["error"].get<std::string>().find("no complete answer within 1000 ms (after 2 attempts)") !=
          std::string::npos);
    // Unreachable as a whole: no customer compared, none blamed.
    CHECK(gtn["metrics"]["customers_checked"] == 0);
    CHECK(gtn["variances"].empty());
    expect_unaffected(check_named(timed.run, "zag_holdings_recon"));
    CHECK(requests("POST gtn token") == retries + 1);
    CHECK(requests("GET gtn cash G-001") + requests("GET gtn cash G-002") == 0);  // nobody asked without a token
    expect_committed(db, timed);
    expect_recovered_c(db);
}

TEST_CASE("a broker that hangs on one account: exactly one fetch_error, the rest compared, exit 0")
{
    auto& db = broker_book({{{"broker", "zag"}, {"account", "Z-002"}, {"kind", "hang"}, {"ms", 60000}}});
    const auto timed = run_c(db);
    CHECK(timed.result.exit_code == 0);
    expect_hang_waited_out(timed);
    const auto& zag = check_named(timed.run, "zag_holdings_recon");
    CHECK(zag["status"] == "warn");
    CHECK(variance_lines(zag) == Lines{"fetch_error customer_id=C002"});
    CHECK(fetch_error_of(zag, "C002").find("no complete answer within 1000 ms (after 2 attempts)") !=
          std::string::npos);
    CHECK(zag["metrics"]["customers_checked"] == 1);
    CHECK(zag["metrics"]["broker_status"] == "reachable");
    expect_unaffected(check_named(timed.run, "gtn_ledger_recon"));
    CHECK(requests("GET zag positions Z-002") == retries + 1);
    CHECK(requests("GET zag positions Z-001") == 1);
    expect_committed(db, timed);
    expect_recovered_c(db);
}

TEST_CASE("a broker sending garbage: malformed JSON, not UTF-8, a truncated body, an oversized body")
{
    // How the fetch error of the account it came for ends, per kind of garbage (a body that is
    // not UTF-8 is quoted as valid UTF-8: the error lands in JSON and jsonb).
    const std::vector<std::pair<std::string, std::string>> kinds{
        {"malformed",
         "positions: ZAG sent malformed JSON near byte 69: parse error at line 1, column 69: syntax error"
         " while parsing object key - unexpected end of input; expected string literal"},
        {"not_utf8",
         "positions: ZAG sent malformed JSON near byte 36: parse error at line 1, column 36: syntax error"
         " while parsing value - invalid string: ill-formed UTF-8 byte; last read: '\"r?s'"},
        {"truncated", ": Transferred a partial file (after 2 attempts)"},
        {"oversized", ": response larger than 65536 bytes"}};
    for (const auto& [kind, said] : kinds) {
        CAPTURE(kind);
        {
            // Every GTN answer is garbage, the token exchange's first: GTN as a whole is lost.
            auto& db = broker_book({{{"broker", "gtn"}, {"kind", kind}, {"bytes", 1 << 20}}});
            const auto timed = run_c(db);
            CHECK(timed.result.exit_code == 2);
            CHECK(timed.elapsed < call_budget + run_overhead);
            const auto& gtn = check_named(timed.run, "gtn_ledger_recon");
            CHECK(gtn["status"] == "error");
            CHECK(gtn["metrics"]["broker_status"] == "unreachable");
            CHECK(gtn["metrics"]["error"].get<std::string>().find("token exchange failed") != std::string::npos);
            CHECK(gtn["metrics"]["customers_checked"] == 0);
            CHECK(gtn["variances"].empty());
            expect_unaffected(check_named(timed.run, "zag_holdings_recon"));
            expect_committed(db, timed);
        }
        {
            // One ZAG account's answer is garbage: that customer only.
            auto& db = broker_book({{{"broker", "zag"}, {"account", "Z-002"}, {"kind", kind}, {"bytes", 1 << 20}}});
            const auto timed = run_c(db);
            CHECK(timed.result.exit_code == 0);
            CHECK(timed.elapsed < call_budget + run_overhead);
            const auto& zag = check_named(timed.run, "zag_holdings_recon");
            CHECK(zag["status"] == "warn");
            CHECK(variance_lines(zag) == Lines{"fetch_error customer_id=C002"});
            const auto error = fetch_error_of(zag, "C002");
            CHECK_MESSAGE(error.size() >= said.size(), error);
            CHECK(error.substr(error.size() - std::min(error.size(), said.size())) == said);
            CHECK(zag["metrics"]["customers_checked"] == 1);
            expect_unaffected(check_named(timed.run, "gtn_ledger_recon"));
            expect_committed(db, timed);
        }
    }
    {
        // Well-formed JSON, but a symbol with a NUL character: PostgreSQL text and jsonb cannot
        // hold it, so it must stay with its account instead of failing the results write.
        auto& db = broker_book(Json::array());
        auto fixture = clean_broker_fixture();
        fixture["zag"]["accounts"]["Z-002"]["holdings"] = {{{"symbol", std::string("AA\0PL", 5)}, {"quantity", "1"}}};
        fake_broker().set_fixture(fixture);
        const auto timed = run_c(db);
        CHECK(timed.result.exit_code == 0);
        const auto& zag = check_named(timed.run, "zag_holdings_recon");
        CHECK(variance_lines(zag) == Lines{"fetch_error customer_id=C002"});
        CHECK(fetch_error_of(zag, "C002") ==
              "positions: ZAG sent a malformed answer: 'symbol' contains a NUL character");
        expect_committed(db, timed);
    }
    expect_recovered_c(suite_book());
}

TEST_CASE("a storm of 429s: Retry-After is honoured within the retry budget, a longer one is not waited for")
{
    // ZAG throttles every call for 1 s; GTN asks for two minutes, beyond what we wait.
    constexpr int storm_retries = 2;
    constexpr auto retry_after = 1s;
    auto& db = broker_book({{{"broker", "zag"}, {"kind", "rate_limit"}, {"retry_after", retry_after.count()}},
                            {{"broker", "gtn"}, {"kind", "rate_limit"}, {"retry_after", 120}}});
    const auto timed = run_c(db, {{"RECON_BROKER_RETRIES", std::to_string(storm_retries)}});
    CHECK(timed.result.exit_code == 2);
    // Each ZAG account: 1 + 2 attempts with a Retry-After wait before each retry (the backoff
    // alone would be milliseconds); both accounts in parallel.
    CHECK(timed.elapsed >= storm_retries * retry_after);
    CHECK(timed.elapsed < storm_retries * retry_after + (storm_retries + 1) * timeout + run_overhead);
    CHECK(requests("GET zag positions Z-001") == storm_retries + 1);
    CHECK(requests("GET zag positions Z-002") == storm_retries + 1);
    CHECK(requests("POST gtn token") == 1);  // a Retry-After of 120 s: no retry at all
    CHECK(fake_broker().stats()["faults"]["rate_limit"] == 2 * (storm_retries + 1) + 1);  // nothing else asked

    const auto& zag = check_named(timed.run, "zag_holdings_recon");
    CHECK(zag["status"] == "error");
    CHECK(zag["metrics"]["broker_status"] == "reachable");
    CHECK(zag["metrics"]["error"] ==
          "2 of 2 customers could not be fetched from ZAG (more than RECON_BROKER_MAX_FAILED_SHARE=0.5)");
    CHECK(variance_lines(zag) == Lines{"fetch_error customer_id=C001", "fetch_error customer_id=C002"});
    CHECK(fetch_error_of(zag, "C001").find("HTTP 429 (after 3 attempts)") != std::string::npos);

    const auto& gtn = check_named(timed.run, "gtn_ledger_recon");
    CHECK(gtn["status"] == "error");
    CHECK(gtn["metrics"]["broker_status"] == "unreachable");
    CHECK(gtn["metrics"]["error"].get<std::string>().find("HTTP 429 with Retry-After 120 s, beyond the 5 s we wait") !=
          std::string::npos);
    expect_committed(db, timed);
    expect_recovered_c(db);
}

TEST_CASE("a webhook that hangs: the results are committed, the exit code is unchanged, the run ends by the deadline")
{
    auto& db = suite_book();
    db.exec(three_b_breaks_sql);
    const std::vector<std::string> args{"run", "--book", "uae", "--category", "B", "--output", "json"};
    // Without a webhook, the same ledger: the exit code and results the hung webhook must not change.
    const auto alone = reconcile_cli(args, db.env());
    REQUIRE(alone.exit_code == 1);
    const auto variances = db.value("SELECT count(*) FROM recon.reconciliation_variances");
    REQUIRE(variances != "0");

    constexpr auto alert_timeout = 1000ms;
    // Mode `every`: the same three alerts go out although the first run already saw the breaks.
    const auto hung =
        run_with_hung_webhook(args, db.env({{"RECON_ALERT_MODE", "every"}}), static_cast<int>(alert_timeout.count()));
    CHECK(hung.result.exit_code == alone.exit_code);
    CHECK(hung.elapsed >= alert_timeout);                // it did wait for the webhook...
    CHECK(hung.elapsed < alert_timeout + run_overhead);  // ...and no longer than the deadline
    CHECK(hung.connections == 3);
    CHECK(webhook_lines(hung.result.err).size() == 1);
    CHECK(Json::parse(hung.result.out)["status"] == "fail");
    // Committed whole: the second run's row and variance rows as the first's.
    CHECK(db.value("SELECT string_agg(status, ',' ORDER BY run_id) FROM recon.runs") == "fail,fail");
    CHECK(db.value("SELECT count(*) FROM recon.reconciliation_variances v JOIN recon.runs r USING (run_id)"
                   " WHERE r.run_id = (SELECT max(run_id) FROM recon.runs)") == variances);
    expect_recovered(db, 0, Category::B);
}
