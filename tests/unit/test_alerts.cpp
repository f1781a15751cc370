// Alerts without a database: which checks alert in each mode, what the payload and headers carry,
// and how delivery behaves against a real HTTP receiver on loopback (accepting, failing, silent,
// or not listening at all).
#include <doctest/doctest.h>

#include <chrono>

#include <nlohmann/json.hpp>

#include "lib/alerts.hpp"
#include "lib/errors.hpp"
#include "lib/hash.hpp"
#include "tests/support/exit_code_of.hpp"
#include "tests/support/webhook_receiver.hpp"

using namespace reconcile;
using reconcile::test::exit_code_of;
using reconcile::test::WebhookReceiver;
using namespace std::chrono_literals;

namespace {

Settings settings_with(const EnvMap& extra = {})
{
    EnvMap env{{"RECON_BOOKS", "uae"}, {"ALERT_WEBHOOK_URL", "http://127.0.0.1:9/hook"}};
    for (const auto& [key, value] : extra) env[key] = value;
    return load_settings(env);
}

Variance variance(const std::string& customer, const std::string& difference)
{
    Variance v{.kind = "wallet_mismatch",
               .keys = {{"customer_id", customer}, {"account", "CUSTOMER_WALLET"}, {"currency", "USD"}},
               .expected = "48.50",
               .actual = "40.00",
               .difference = difference};
    v.fingerprint = variance_fingerprint("wallet_derivation", v);
    return v;
}

CheckResult check(const std::string& name, CheckStatus status, std::vector<Variance> variances = {})
{
    CheckResult result;
    result.check_name = name;
    result.category = Category::B;
    result.status = status;
    result.variances_total = static_cast<std::int64_t>(variances.size());
    result.variances = std::move(variances);
    return result;
}

RunReport report_of(std::vector<CheckResult> checks)
{
    RunReport report;
    report.run_id = 42;
    report.book = "uae";
    report.category = Category::B;
    report.status = RunStatus::fail;
    report.checks = std::move(checks);
    return report;
}

Alert sample_alert()
{
    Alert alert{.check_name = "wallet_derivation", .status = "fail", .event = "problem", .dedup_key = "abc"};
    alert.payload = {{"check", "wallet_derivation"}, {"status", "fail"}};
    return alert;
}

}  // namespace

TEST_CASE("the dedup key depends on book, check, status and the set of fingerprints, not their order")
{
    const auto key = alert_dedup_key("uae", "wallet_derivation", "fail", {"b", "a"});
    CHECK(key.size() == 64);
    CHECK(key == alert_dedup_key("uae", "wallet_derivation", "fail", {"a", "b"}));
    CHECK(key == to_hex(sha256("uae\x1fwallet_derivation\x1f"
                               "fail\x1f"
                               "a\x1f"
                               "b")));
    CHECK(key != alert_dedup_key("india", "wallet_derivation", "fail", {"a", "b"}));
    CHECK(key != alert_dedup_key("uae", "account_totals", "fail", {"a", "b"}));
    CHECK(key != alert_dedup_key("uae", "wallet_derivation", "warn", {"a", "b"}));
    CHECK(key != alert_dedup_key("uae", "wallet_derivation", "fail", {"a"}));
}

TEST_CASE("mode every: each warn or fail check alerts; ok and error checks do not")
{
    const auto settings = settings_with({{"RECON_ALERT_MODE", "every"}});
    const auto report =
        report_of({check("wallet_derivation", CheckStatus::fail, {variance("C001", "-8.50")}),
                   check("account_totals", CheckStatus::ok), check("snapshot_reconcile", CheckStatus::error)});
    RunChanges changes;
    CheckChanges wallet{.check_name = "wallet_derivation"};
    wallet.alerted_dedup_key = alert_dedup_key("uae", "wallet_derivation", "fail", {variance("C001", "1").fingerprint});
    wallet.alerted_status = "fail";
    changes.checks.push_back(wallet);
    const auto alerts = plan_alerts(settings, report, changes);
    REQUIRE(alerts.size() == 1);  // sent again although nothing changed: that is what `every` means
    CHECK(alerts[0].check_name == "wallet_derivation");
    CHECK(alerts[0].event == "problem");
    CHECK(alerts[0].dedup_key == *wallet.alerted_dedup_key);
}

TEST_CASE("mode change: an unchanged situation is not sent again; a new break, a status change and a recovery are")
{
    const auto settings = settings_with();
    CHECK(settings.alert_mode == "change");
    const auto c001 = variance("C001", "-8.50");
    const auto c002 = variance("C002", "-1.00");
    CheckChanges delivered{.check_name = "wallet_derivation"};
    delivered.alerted_status = "fail";
    delivered.alerted_dedup_key = alert_dedup_key("uae", "wallet_derivation", "fail", {c001.fingerprint});
    const RunChanges history{.checks = {delivered}};

    CHECK(plan_alerts(settings, report_of({check("wallet_derivation", CheckStatus::fail, {c001})}), history).empty());
    CHECK(plan_alerts(settings, report_of({check("wallet_derivation", CheckStatus::fail, {c001, c002})}), history)
              .size() == 1);
    CHECK(plan_alerts(settings, report_of({check("wallet_derivation", CheckStatus::warn, {c001})}), history).size() ==
          1);
    const auto recovered = plan_alerts(settings, report_of({check("wallet_derivation", CheckStatus::ok)}), history);
    REQUIRE(recovered.size() == 1);
    CHECK(recovered[0].event == "recovered");
    CHECK(recovered[0].status == "ok");
    // Never alerted (or already told it recovered): an ok check stays quiet.
    CHECK(plan_alerts(settings, report_of({check("wallet_derivation", CheckStatus::ok)}), RunChanges{}).empty());
    // A check that could not complete proves nothing: no alert either way.
    CHECK(plan_alerts(settings, report_of({check("wallet_derivation", CheckStatus::error)}), history).empty());
}

TEST_CASE("the payload: identity, counts, lifecycle of the first variances, resolved ones, a one-line summary")
{
    std::vector<Variance> many;
    for (int i = 0; i < 12; ++i) many.push_back(variance("C" + std::to_string(100 + i), "-1.00"));
    many[0].keys[0].second = "C001\nInjected: line";
    many[0].fingerprint = variance_fingerprint("wallet_derivation", many[0]);
    auto failing = check("wallet_derivation", CheckStatus::fail, many);
    failing.variances_total = 30;
    CheckChanges changes{.check_name = "wallet_derivation",
                         .previous_status = CheckStatus::ok,
                         .new_count = 11,
                         .persisting_count = 1,
                         .resolved_count = 3};
    changes.states[many[0].fingerprint] =
        FingerprintState{.state = "persisting", .open_since_run = 40, .open_since_at = Timestamp{}, .occurrences = 3};
    changes.resolved.push_back(ResolvedVariance{.fingerprint = "f1",
                                                .kind = "wallet_missing",
                                                .keys = {{"customer_id", "C009"}},
                                                .open_since_run = 39,
                                                .occurrences = 4});
    const auto alerts = plan_alerts(settings_with(), report_of({failing}), RunChanges{.checks = {changes}});
    REQUIRE(alerts.size() == 1);
    const auto& payload = alerts[0].payload;
    CHECK(payload["version"] == 1);
    CHECK(payload["event"] == "problem");
    CHECK(payload["dedup_key"] == alerts[0].dedup_key);
    CHECK(payload["book"] == "uae");
    CHECK(payload["run_id"] == 42);
    CHECK(payload["category"] == "B");
    CHECK(payload["check_name"] == "wallet_derivation");
    CHECK(payload["status"] == "fail");
    CHECK(payload["previous_status"] == "ok");
    CHECK(payload["mode"] == "change");
    CHECK(payload["counts"] == nlohmann::json{{"variances_total", 30},
                                              {"listed", 12},
                                              {"acknowledged", 0},
                                              {"new", 11},
                                              {"persisting", 1},
                                              {"reopened", 0},
                                              {"resolved", 3}});
    REQUIRE(payload["variances"].size() == alert_variance_limit);
    CHECK(payload["variances"][0]["state"] == "persisting");
    CHECK(payload["variances"][0]["open_since_run"] == 40);
    CHECK(payload["variances"][0]["occurrences"] == 3);
    CHECK(payload["variances"][0]["difference"] == "-1.00");
    CHECK(payload["resolved"][0]["kind"] == "wallet_missing");
    CHECK(payload["resolved"][0]["keys"]["customer_id"] == "C009");
    const auto summary = payload["summary"].get<std::string>();
    CHECK(summary ==
          "uae/B wallet_derivation FAIL: 30 variance(s) (11 new, 1 persisting, 0 reopened, 3 resolved); first: "
          "wallet_mismatch customer_id=C001 Injected: line account=CUSTOMER_WALLET currency=USD difference=-1.00");
}

TEST_CASE("headers: event and dedup key always; timestamp and HMAC-SHA256 over timestamp.body with a secret")
{
    const auto alert = sample_alert();
    const std::string body = alert.payload.dump();
    const auto plain = alert_headers(alert, body, std::nullopt, "1764300000");
    CHECK(std::find(plain.begin(), plain.end(), "X-Reconcile-Dedup-Key: abc") != plain.end());
    CHECK(std::find(plain.begin(), plain.end(), "X-Reconcile-Event: problem") != plain.end());
    CHECK(std::none_of(plain.begin(), plain.end(),
                       [](const std::string& h) { return h.find("Signature") != std::string::npos; }));
    const auto signed_headers = alert_headers(alert, body, std::string("s3cret"), "1764300000");
    CHECK(std::find(signed_headers.begin(), signed_headers.end(), "X-Reconcile-Timestamp: 1764300000") !=
          signed_headers.end());
    CHECK(std::find(signed_headers.begin(), signed_headers.end(),
                    "X-Reconcile-Signature: sha256=" + hmac_sha256_hex("s3cret", "1764300000." + body)) !=
          signed_headers.end());
}

TEST_CASE("alert settings are validated")
{
    CHECK(settings_with().alert_timeout_ms == 3000);
    CHECK(settings_with().snapshot_window_days == 7);
    CHECK(settings_with({{"RECON_ALERT_TIMEOUT_MS", "500"}}).alert_timeout_ms == 500);
    CHECK(exit_code_of([] { settings_with({{"RECON_ALERT_MODE", "sometimes"}}); }) == ExitCode::config);
    CHECK(exit_code_of([] { settings_with({{"RECON_ALERT_TIMEOUT_MS", "0"}}); }) == ExitCode::config);
    CHECK(exit_code_of([] { settings_with({{"ALERT_WEBHOOK_URL", "ftp://example.invalid/x"}}); }) == ExitCode::config);
    CHECK(exit_code_of([] { settings_with({{"RECON_SNAPSHOT_WINDOW_DAYS", "-1"}}); }) == ExitCode::config);
}

TEST_CASE("delivery: a receiver that accepts gets the body and a signature it can verify")
{
    WebhookReceiver receiver;
    const auto alert = sample_alert();
    const auto results = deliver_alerts(receiver.url(), std::string("s3cret"), {alert, alert}, 3000ms);
    REQUIRE(results.size() == 2);
    for (const auto& result : results) {
        CHECK(result.delivered);
        CHECK(result.http_status == 204);
        CHECK(result.attempts == 1);
    }
    const auto requests = receiver.requests();
    REQUIRE(requests.size() == 2);
    const auto& request = requests[0];
    CHECK(request.body == alert.payload.dump());
    CHECK(request.headers.at("content-type") == "application/json");
    CHECK(request.headers.at("x-reconcile-signature") ==
          "sha256=" + hmac_sha256_hex("s3cret", request.headers.at("x-reconcile-timestamp") + "." + request.body));
}

TEST_CASE("delivery: HTTP 500 is a failure, not retried")
{
    WebhookReceiver receiver(WebhookReceiver::Behaviour::fail);
    const auto results = deliver_alerts(receiver.url(), std::nullopt, {sample_alert()}, 3000ms);
    CHECK_FALSE(results.at(0).delivered);
    CHECK(results.at(0).http_status == 500);
    CHECK(results.at(0).failure == "webhook answered HTTP 500");
    CHECK(receiver.requests().size() == 1);
}

TEST_CASE("delivery: a receiver that never answers costs the deadline and no more")
{
    WebhookReceiver receiver(WebhookReceiver::Behaviour::never_answer);
    const auto started = std::chrono::steady_clock::now();
    const auto results = deliver_alerts(receiver.url(), std::nullopt, {sample_alert(), sample_alert()}, 400ms);
    const auto elapsed = std::chrono::steady_clock::now() - started;
    CHECK(elapsed < 1400ms);
    CHECK(receiver.connections() == 2);
    for (const auto& result : results) {
        CHECK_FALSE(result.delivered);
        CHECK(result.failure == "no answer within the alert deadline of 400 ms");
    }
}

TEST_CASE("delivery: a refused connection is retried once, then reported")
{
    // Bind a port, then free it: nothing listens there any more.
    std::string url;
    {
        WebhookReceiver gone;
        url = gone.url();
    }
    const auto results = deliver_alerts(url, std::nullopt, {sample_alert()}, 3000ms);
    CHECK_FALSE(results.at(0).delivered);
    CHECK(results.at(0).attempts == 2);
    CHECK(results.at(0).failure == "Couldn't connect to server (after one retry)");
}

TEST_CASE("a sharded run's alerts name the shard, and its dedup key is its own")
{
    auto report = report_of({check("wallet_derivation", CheckStatus::fail, {variance("C1", "-8.50")})});
    const auto whole = plan_alerts(settings_with(), report, RunChanges{});
    REQUIRE(whole.size() == 1);
    CHECK(whole[0].payload["shard"].is_null());
    CHECK(whole[0].payload["summary"].get<std::string>().rfind("uae/B wallet_derivation FAIL", 0) == 0);

    report.shard = Shard{.index = 2, .count = 4};
    const auto sharded = plan_alerts(settings_with(), report, RunChanges{});
    REQUIRE(sharded.size() == 1);
    CHECK(sharded[0].payload["shard"] == nlohmann::json{{"index", 2}, {"count", 4}});
    CHECK(sharded[0].payload["summary"].get<std::string>().rfind("uae/B shard 2/4 wallet_derivation FAIL", 0) == 0);
    CHECK(sharded[0].dedup_key != whole[0].dedup_key);
    CHECK(sharded[0].dedup_key ==
          alert_dedup_key("uae/shard-2-of-4", "wallet_derivation", "fail", {variance("C1", "-8.50").fingerprint}));
}

TEST_CASE("acknowledged variances raise no alert: the key and the payload list only the others")
{
    const auto settings = settings_with();
    auto quiet = variance("C001", "-8.50");
    quiet.acknowledgement = Acknowledgement{.variance_class = VarianceClass::timing, .note = "slow", .by = "alice"};
    const auto loud = variance("C002", "-1.00");
    const auto report = report_of({check("wallet_derivation", CheckStatus::fail, {quiet, loud})});
    const auto alerts = plan_alerts(settings, report, RunChanges{});
    REQUIRE(alerts.size() == 1);
    CHECK(alerts[0].dedup_key == alert_dedup_key("uae", "wallet_derivation", "fail", {loud.fingerprint}));
    const auto& payload = alerts[0].payload;
    REQUIRE(payload["variances"].size() == 1);
    CHECK(payload["variances"][0]["keys"]["customer_id"] == "C002");
    CHECK(payload["counts"]["acknowledged"] == 1);
    CHECK(payload["counts"]["variances_total"] == 2);
    CHECK(payload["summary"].get<std::string>().find("first: wallet_mismatch customer_id=C002") != std::string::npos);
}
