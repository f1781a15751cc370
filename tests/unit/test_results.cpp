// Fingerprints, the capped variance list, status folding, the JSON round trip of results, the
// run kinds' text edges, the book rules and the exit code a run's typed results imply.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <algorithm>

#include "lib/books.hpp"
#include "lib/output.hpp"
#include "lib/results.hpp"
#include "lib/runner.hpp"

using namespace reconcile;

TEST_CASE("a fingerprint hashes check, kind and sorted keys, never amounts")
{
    Variance variance{.kind = "unbalanced_txn",
                      .keys = {{"txn_id", "1001"}, {"currency", "USD"}},
                      .expected = "100.00",
                      .actual = "90.00",
                      .difference = "10.00"};
    // Computed independently: sha256("trial_balance_zero\x1funbalanced_txn\x1fcurrency=USD\x1ftxn_id=1001\x1f").
    CHECK(variance_fingerprint("trial_balance_zero", variance) == "6345236d1a9f8861a89ba485b0b176e3");

    Variance resized = variance;
    resized.actual = "50.00";
    resized.difference = "50.00";
    std::reverse(resized.keys.begin(), resized.keys.end());
    CHECK(variance_fingerprint("trial_balance_zero", resized) == variance_fingerprint("trial_balance_zero", variance));

    Variance other_txn = variance;
    other_txn.keys[0].second = "1002";
    CHECK(variance_fingerprint("trial_balance_zero", other_txn) !=
          variance_fingerprint("trial_balance_zero", variance));
    CHECK(variance_fingerprint("account_totals", variance) != variance_fingerprint("trial_balance_zero", variance));
}

TEST_CASE("key boundaries cannot be shifted to collide")
{
    const Variance a{.kind = "k", .keys = {{"a", "bc"}}};
    const Variance b{.kind = "k", .keys = {{"ab", "c"}}};
    CHECK(variance_fingerprint("x", a) != variance_fingerprint("x", b));
}

TEST_CASE("the collector lists up to the cap and counts everything")
{
    VarianceCollector collector(2);
    for (int i = 0; i < 5; ++i) collector.add(Variance{.kind = "k", .keys = {{"i", std::to_string(i)}}});
    collector.add_unlisted(10);
    CHECK(collector.listed().size() == 2);
    CHECK(collector.total() == 15);
    CHECK(collector.remaining() == 0);
}

TEST_CASE("statuses fold to the worst, a proven break outranking an incomplete check")
{
    CHECK(worst(CheckStatus::ok, CheckStatus::warn) == CheckStatus::warn);
    CHECK(worst(CheckStatus::error, CheckStatus::warn) == CheckStatus::error);
    CHECK(worst(CheckStatus::error, CheckStatus::fail) == CheckStatus::fail);
    CHECK(parse_check_status("warn") == CheckStatus::warn);
    CHECK_FALSE(parse_check_status("WARN").has_value());
}

TEST_CASE("check results survive the JSON round trip used by the run history")
{
    CheckResult result;
    result.check_name = "trial_balance_zero";
    result.category = Category::A;
    result.status = CheckStatus::fail;
    result.metrics = {{"lines_checked", 10}};
    result.ran_at = *parse_utc("2026-11-28T02:17:47.123Z");
    result.duration_ms = 12;
    result.variances.push_back(Variance{.kind = "unbalanced_txn",
                                        .keys = {{"txn_id", "1001"}},
                                        .expected = "100.00",
                                        .actual = "90.00",
                                        .difference = "10.00"});
    result.variances_total = 1;
    finalize_variances(result);

    const auto json = check_result_to_json(result);
    CHECK(json["variances"][0]["expected"] == "100.00");
    CHECK(json["variances"][0]["keys"]["txn_id"] == "1001");
    CHECK(json["ran_at"] == "2026-11-28T02:17:47.123Z");
    const auto back = check_result_from_json(json);
    CHECK(check_result_to_json(back) == json);
}

TEST_CASE("text output neutralises control characters; JSON keeps them verbatim")
{
    RunReport report;
    report.book = "uae";
    CheckResult check;
    check.check_name = "zag_holdings_recon";
    check.status = CheckStatus::fail;
    check.variances.push_back(Variance{.kind = "broker_only", .keys = {{"symbol", "EVIL\x1b[2J\nX"}}});
    check.variances_total = 1;
    finalize_variances(check);
    report.checks.push_back(check);
    const auto text = render_run_text(report);
    CHECK(text.find("symbol=EVIL\\x1b[2J\\x0aX") != std::string::npos);
    CHECK(text.find('\x1b') == std::string::npos);
    CHECK(run_report_to_json(report)["checks"][0]["variances"][0]["keys"]["symbol"] == "EVIL\x1b[2J\nX");
}

TEST_CASE("exit 69 comes from the checks' typed broker reach, not from their metrics")
{
    const auto check = [](CheckStatus status, std::optional<BrokerReach> reach) {
        CheckResult result;
        result.category = Category::C;
        result.status = status;
        result.broker_reach = reach;
        return result;
    };
    RunReport report;
    report.category = Category::C;
    report.checks = {check(CheckStatus::error, BrokerReach::unreachable),
                     check(CheckStatus::error, BrokerReach::unreachable),
                     check(CheckStatus::ok, BrokerReach::not_contacted)};
    CHECK(to_int(exit_code_for(report, false)) == 69);

    // One broker answered: the run proved something, so an incomplete check is exit 2.
    report.checks[1] = check(CheckStatus::error, BrokerReach::reachable);
    CHECK(to_int(exit_code_for(report, false)) == 2);

    // Text in the metrics is for readers only: without a typed reach nothing is unreachable.
    CheckResult described = check(CheckStatus::error, std::nullopt);
    described.metrics["broker_status"] = "unreachable";
    report.checks = {described};
    CHECK(to_int(exit_code_for(report, false)) == 2);

    // A proven break outranks every unreachable broker.
    report.checks = {check(CheckStatus::error, BrokerReach::unreachable), check(CheckStatus::fail, std::nullopt)};
    CHECK(to_int(exit_code_for(report, false)) == 1);

    // Nobody to ask is not unreachable.
    report.checks = {check(CheckStatus::error, BrokerReach::not_contacted)};
    CHECK(to_int(exit_code_for(report, false)) == 2);
}

TEST_CASE("run kinds convert to and from their text at the edges")
{
    for (const Category category : all_categories) {
        CHECK(parse_category_text(to_string(category)) == category);
    }
    CHECK(to_string(Category::C) == "C");
    CHECK(parse_category_text("d") == Category::D);
    CHECK_FALSE(parse_category_text("E").has_value());
    CHECK_FALSE(parse_category_text("AB").has_value());
    CHECK(run_status_names() ==
          std::vector<std::string>{"running", "ok", "warn", "fail", "error", "abandoned", "interrupted"});
    for (const auto& name : run_status_names()) CHECK(to_string(parse_run_status(name).value()) == name);
    CHECK_FALSE(parse_run_status("OK").has_value());
    CHECK(trigger_names() == std::vector<std::string>{"manual", "schedule", "api"});
    CHECK(parse_trigger("api") == Trigger::api);
    CHECK_FALSE(parse_trigger("cron").has_value());
    CHECK(run_status_of(CheckStatus::warn) == RunStatus::warn);
    CHECK(check_status_of(RunStatus::fail) == CheckStatus::fail);
    CHECK_FALSE(check_status_of(RunStatus::abandoned).has_value());
    CHECK(fmt::format("{}/{} {}", "uae", Category::B, RunStatus::error) == "uae/B error");
    CHECK(nlohmann::json(Trigger::schedule) == "schedule");
}

TEST_CASE("book rules: india has its own switch and cadence, every other book the general ones")
{
    Settings settings;
    settings.schedule_enabled = true;
    settings.interval_seconds = 600;
    settings.india_enabled = false;
    settings.india_interval_seconds = 7200;
    const BookRules& india = book_rules("india");
    CHECK(india.schedule_switch == "INDIA_RECON_ENABLED");
    CHECK(india.interval_setting == "INDIA_RECON_INTERVAL_SECONDS");
    CHECK(settings.*india.schedule_enabled == false);
    CHECK(settings.*india.interval_seconds == 7200);
    const BookRules& uae = book_rules("uae");
    CHECK(uae.schedule_switch == "RECON_SCHEDULE_ENABLED");
    CHECK(settings.*uae.schedule_enabled == true);
    CHECK(settings.*uae.interval_seconds == 600);
    CHECK(&book_rules("any_other_book") == &uae);
}

TEST_CASE("run text: an ERROR check says its error, metrics wrap at 100 columns, keys print alike after a round trip")
{
    RunReport report;
    report.book = "uae";
    CheckResult broken;
    broken.check_name = "gtn_ledger_recon";
    broken.status = CheckStatus::error;
    broken.metrics["error"] = "every broker unreachable";
    CheckResult busy;
    busy.check_name = "wallet_derivation";
    busy.status = CheckStatus::fail;
    for (int i = 0; i < 30; ++i) busy.metrics[fmt::format("figure_{:02}", i)] = 1000 + i;
    busy.variances.push_back(Variance{.kind = "wallet_mismatch", .keys = {{"customer_id", "C1"}, {"account", "W"}}});
    busy.variances_total = 1;
    finalize_variances(busy);
    report.checks = {broken, busy};
    const auto text = render_run_text(report);
    CHECK(text.find("  ERROR  gtn_ledger_recon   error: every broker unreachable\n") != std::string::npos);
    CHECK(text.find("0 variance(s)") == std::string::npos);
    CHECK(text.find("  FAIL   wallet_derivation  1 variance(s)\n         figure_00=1000 figure_01=1001") !=
          std::string::npos);
    std::size_t longest = 0;
    for (std::size_t start = 0, end; start < text.size(); start = end + 1) {
        end = text.find('\n', start);
        longest = std::max(longest, end - start);
    }
    CHECK(longest <= 100);
    // `runs show` reads the stored JSON back (keys in name order): the same line as `run`.
    RunReport stored = report;
    stored.checks[1] = check_result_from_json(check_result_to_json(busy));
    CHECK(render_run_text(stored) == text);
    CHECK(text.find("wallet_mismatch account=W customer_id=C1") != std::string::npos);
}
