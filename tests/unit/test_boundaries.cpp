// Pure-logic thresholds at exactly their value, just below and just above: the external
// tolerances (cash, quantity, dust, LRS fee), the LRS aging and match window with a fixed as-of,
// the failed-fetch share, the schedule's due time and retry hold with an injected clock, the
// settings' integer bounds, exit-code folding, and every alert transition.
#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "checks/external_support.hpp"
#include "lib/alerts.hpp"
#include "lib/config.hpp"
#include "lib/decimal.hpp"
#include "lib/errors.hpp"
#include "lib/external_recon.hpp"
#include "lib/lock.hpp"
#include "lib/runner.hpp"
#include "lib/schedule.hpp"
#include "tests/support/exit_code_of.hpp"

using namespace reconcile;
using namespace std::chrono_literals;
using Lines = std::vector<std::string>;

namespace {

Decimal d(const char* text)
{
    return Decimal::parse(text);
}

Timestamp at(const char* text)
{
    return parse_utc(text).value();
}

/// "key outcome" for each compared line.
Lines outcomes(const std::vector<ComparedLine>& lines)
{
    Lines result;
    for (const auto& line : lines) result.push_back(line.key + " " + std::string(to_string(line.outcome)));
    return result;
}

const LrsRules rules{.fee_tolerance = d("30.00"), .cash_tolerance = d("0.01"), .window_days = 7, .aged_days = 5};

LrsRemittance remittance(const char* id, const char* usd, const char* when)
{
    return {.remittance_id = id, .usd_amount = d(usd), .remitted_at = at(when), .status = "settled", .utr = ""};
}

BrokerFunding wire(const char* id, const char* amount, const char* when)
{
    return {.funding_id = id, .amount = d(amount), .currency = "USD", .status = "completed", .completed_at = at(when)};
}

/// The bucket of the single remittance R1 against one wire.
std::string bucket_with(const char* amount, const char* received_at)
{
    const auto tie_out = tie_out_lrs({remittance("R1", "1000.00", "2026-11-10T10:00:00Z")},
                                     {wire("W1", amount, received_at)}, rules, at("2026-11-12T00:00:00Z"));
    return std::string(to_string(tie_out.remittances.at(0).bucket));
}

}  // namespace

TEST_CASE("cash tolerance: a difference of exactly RECON_CASH_TOLERANCE matches, a cent's tenth more breaks")
{
    const std::map<std::string, Decimal> ledger{
        {"AED", d("100.00")}, {"EUR", d("100.00")}, {"GBP", d("100.00")}, {"USD", d("100.00")}};
    const std::map<std::string, Decimal> broker{
        {"AED", d("100.009")}, {"EUR", d("100.01")}, {"GBP", d("100.011")}, {"USD", d("99.989")}};
    CHECK(outcomes(compare_lines(ledger, broker, d("0.01"), std::nullopt)) ==
          Lines{"AED match", "EUR match", "GBP mismatch", "USD mismatch"});
}

TEST_CASE("quantity tolerances: exactly the match tolerance matches, exactly the dust tolerance is dust")
{
    const std::map<std::string, Decimal> ledger{{"A_BELOW", d("1.0000009")},       {"B_AT", d("1.000001")},
                                                {"C_ABOVE", d("1.0000011")},       {"D_DUST_AT", d("1.0001")},
                                                {"E_DUST_ABOVE", d("1.00010001")}, {"F_NEG_AT", d("0.999999")},
                                                {"G_NEG_DUST", d("0.9999")}};
    std::map<std::string, Decimal> broker;
    for (const auto& [key, value] : ledger) broker[key] = d("1");
    CHECK(outcomes(compare_lines(ledger, broker, d("0.000001"), d("0.0001"))) ==
          Lines{"A_BELOW match", "B_AT match", "C_ABOVE quantity_dust", "D_DUST_AT quantity_dust",
                "E_DUST_ABOVE mismatch", "F_NEG_AT match", "G_NEG_DUST quantity_dust"});
}

TEST_CASE("a zero tolerance still matches an exact equality and nothing else")
{
    const std::map<std::string, Decimal> ledger{{"EQ", d("5.00")}, {"OFF", d("5.000000001")}};
    const std::map<std::string, Decimal> broker{{"EQ", d("5")}, {"OFF", d("5")}};
    CHECK(outcomes(compare_lines(ledger, broker, d("0"), d("0"))) == Lines{"EQ match", "OFF mismatch"});
}

TEST_CASE("LRS aging: exactly RECON_LRS_AGED_DAYS old is in transit; a second older is aged")
{
    const auto tie_out = tie_out_lrs(
        {remittance("R-BELOW", "1.00", "2026-11-26T00:00:01Z"), remittance("R-AT", "2.00", "2026-11-26T00:00:00Z"),
         remittance("R-ABOVE", "3.00", "2026-11-25T23:59:59Z")},
        {}, rules, at("2026-12-01T00:00:00Z"));
    Lines buckets;
    for (const auto& r : tie_out.remittances) {
        buckets.push_back(r.remittance.remittance_id + " " + std::string(to_string(r.bucket)) + " " +
                          std::to_string(r.age_days));
    }
    CHECK(buckets == Lines{"R-ABOVE aged_in_transit 5", "R-AT in_transit 5", "R-BELOW in_transit 4"});

    CustomerLrs at_edge;
    at_edge.tie_out =
        tie_out_lrs({remittance("R-AT", "2.00", "2026-11-26T00:00:00Z")}, {}, rules, at("2026-12-01T00:00:00Z"));
    CHECK(at_edge.status() == CheckStatus::ok);
    CustomerLrs past_edge;
    past_edge.tie_out =
        tie_out_lrs({remittance("R-ABOVE", "3.00", "2026-11-25T23:59:59Z")}, {}, rules, at("2026-12-01T00:00:00Z"));
    CHECK(past_edge.status() == CheckStatus::fail);
}

TEST_CASE("LRS match window: from exactly a day before to exactly RECON_LRS_MATCH_WINDOW_DAYS after")
{
    // R1 was remitted 2026-11-10T10:00:00Z.
    CHECK(bucket_with("1000.00", "2026-11-09T10:00:00Z") == "matched");     // a day before: in
    CHECK(bucket_with("1000.00", "2026-11-09T09:59:59Z") == "in_transit");  // a second earlier: out
    CHECK(bucket_with("1000.00", "2026-11-09T10:00:01Z") == "matched");
    CHECK(bucket_with("1000.00", "2026-11-17T10:00:00Z") == "matched");     // 7 days after: in
    CHECK(bucket_with("1000.00", "2026-11-17T10:00:01Z") == "in_transit");  // a second later: out
    CHECK(bucket_with("1000.00", "2026-11-17T09:59:59Z") == "matched");
}

TEST_CASE("LRS fee tolerance: a wire exactly RECON_LRS_FEE_TOLERANCE short matches; a cent shorter does not")
{
    CHECK(bucket_with("970.00", "2026-11-11T10:00:00Z") == "matched");     // 30.00 short
    CHECK(bucket_with("970.01", "2026-11-11T10:00:00Z") == "matched");     // 29.99 short
    CHECK(bucket_with("969.99", "2026-11-11T10:00:00Z") == "in_transit");  // 30.01 short
    // Above the remittance: by the cash tolerance at most.
    CHECK(bucket_with("1000.01", "2026-11-11T10:00:00Z") == "matched");
    CHECK(bucket_with("1000.00", "2026-11-11T10:00:00Z") == "matched");
    CHECK(bucket_with("1000.02", "2026-11-11T10:00:00Z") == "in_transit");
}

TEST_CASE("LRS: remittances settled together by one wire exactly the fee tolerance short")
{
    const auto tie_out = tie_out_lrs(
        {remittance("R1", "300.00", "2026-11-01T10:00:00Z"), remittance("R2", "200.00", "2026-11-02T10:00:00Z")},
        {wire("W-AT", "470.00", "2026-11-03T09:00:00Z")}, rules, at("2026-11-04T00:00:00Z"));
    CHECK(tie_out.wires.at(0).remittance_ids == Lines{"R1", "R2"});
    CHECK(tie_out.wires.at(0).fee.to_string() == "30.00");
    const auto short_by_more = tie_out_lrs(
        {remittance("R1", "300.00", "2026-11-01T10:00:00Z"), remittance("R2", "200.00", "2026-11-02T10:00:00Z")},
        {wire("W-BELOW", "469.99", "2026-11-03T09:00:00Z")}, rules, at("2026-11-04T00:00:00Z"));
    CHECK(short_by_more.wires.at(0).remittance_ids.empty());
}

TEST_CASE("RECON_BROKER_MAX_FAILED_SHARE: exactly the share of failed customers is still complete")
{
    const BrokerSettings settings = load_settings({}).brokers;  // max_failed_share 0.5
    const auto verdict = [&](std::size_t customers, std::size_t errors) {
        ExternalFetch fetch{.customers = customers, .fetch_errors = errors};
        return external_verdict(fetch, CheckStatus::warn, settings);
    };
    CHECK(verdict(4, 1).status == CheckStatus::warn);
    CHECK(verdict(4, 2).status == CheckStatus::warn);  // exactly half
    CHECK_FALSE(verdict(4, 2).incomplete.has_value());
    CHECK(verdict(4, 3).status == CheckStatus::error);
    CHECK(*verdict(4, 3).incomplete ==
          "3 of 4 customers could not be fetched from GTN (more than RECON_BROKER_MAX_FAILED_SHARE=0.5)");
    // A proven break outranks the incomplete fetch.
    ExternalFetch mostly_failed{.customers = 4, .fetch_errors = 4};
    CHECK(external_verdict(mostly_failed, CheckStatus::fail, settings).status == CheckStatus::fail);
}

TEST_CASE("schedule: due at exactly the interval after the last start, not a second before")
{
    const BookCadence cadence{
        .book = "uae", .enabled = true, .internal_interval_seconds = 3600, .external_interval_seconds = 86400};
    const SlotHistory ran{.last_started = at("2026-11-28T00:00:00Z")};
    CHECK_FALSE(decide_slot(cadence, Category::A, ran, 60, at("2026-11-28T00:59:59Z")).due);
    CHECK(decide_slot(cadence, Category::A, ran, 60, at("2026-11-28T01:00:00Z")).due);
    CHECK(decide_slot(cadence, Category::A, ran, 60, at("2026-11-28T01:00:01Z")).due);
    CHECK(decide_slot(cadence, Category::A, ran, 60, at("2026-11-28T00:00:00Z")).next_due ==
          at("2026-11-28T01:00:00Z"));
    CHECK_FALSE(decide_slot(cadence, Category::C, ran, 60, at("2026-11-28T23:59:59Z")).due);
    CHECK(decide_slot(cadence, Category::C, ran, 60, at("2026-11-29T00:00:00Z")).due);
}

TEST_CASE("schedule: a failed attempt holds the slot exactly retry_seconds, or the interval when shorter")
{
    const BookCadence cadence{
        .book = "uae", .enabled = true, .internal_interval_seconds = 3600, .external_interval_seconds = 86400};
    const SlotHistory failed{.last_failed_attempt = at("2026-11-28T00:00:00Z")};
    CHECK_FALSE(decide_slot(cadence, Category::A, failed, 60, at("2026-11-28T00:00:59Z")).due);
    CHECK(decide_slot(cadence, Category::A, failed, 60, at("2026-11-28T00:01:00Z")).due);
    const BookCadence fast{
        .book = "uae", .enabled = true, .internal_interval_seconds = 30, .external_interval_seconds = 86400};
    CHECK_FALSE(decide_slot(fast, Category::A, failed, 60, at("2026-11-28T00:00:29Z")).due);
    CHECK(decide_slot(fast, Category::A, failed, 60, at("2026-11-28T00:00:30Z")).due);
    // The earliest of several slots: by a second.
    const std::vector<SlotDecision> decisions{
        decide_slot(cadence, Category::A, SlotHistory{.last_started = at("2026-11-28T00:00:01Z")}, 60,
                    at("2026-11-28T00:10:00Z")),
        decide_slot(cadence, Category::B, SlotHistory{.last_started = at("2026-11-28T00:00:00Z")}, 60,
                    at("2026-11-28T00:10:00Z"))};
    CHECK(earliest_due(decisions) == at("2026-11-28T01:00:00Z"));
}

TEST_CASE("integer settings: the bounds are inclusive, one past them is a configuration error")
{
    CHECK(parse_int_setting("X", "1", 1, 10) == 1);
    CHECK(parse_int_setting("X", "10", 1, 10) == 10);
    CHECK(test::exit_code_of([] { parse_int_setting("X", "0", 1, 10); }) == ExitCode::config);
    CHECK(test::exit_code_of([] { parse_int_setting("X", "11", 1, 10); }) == ExitCode::config);
    CHECK(load_settings({{"RECON_BOOKS", "uae"}, {"RECON_VARIANCE_CAP", "1"}}).variance_cap == 1);
    CHECK(test::exit_code_of([] {
              load_settings({{"RECON_BOOKS", "uae"}, {"RECON_VARIANCE_CAP", "0"}});
          }) == ExitCode::config);
}

TEST_CASE("exit codes fold: fail outranks error outranks warn; warn fails only with --fail-on warn")
{
    const auto report = [](std::vector<CheckStatus> statuses) {
        RunReport r;
        for (const auto status : statuses) {
            CheckResult check;
            check.check_name = "c" + std::to_string(r.checks.size());
            check.status = status;
            r.checks.push_back(check);
        }
        return r;
    };
    CHECK(exit_code_for(report({CheckStatus::ok, CheckStatus::ok}), false) == ExitCode::ok);
    CHECK(exit_code_for(report({CheckStatus::warn}), false) == ExitCode::ok);
    CHECK(exit_code_for(report({CheckStatus::warn}), true) == ExitCode::check_failed);
    CHECK(exit_code_for(report({CheckStatus::ok}), true) == ExitCode::ok);
    CHECK(exit_code_for(report({CheckStatus::error, CheckStatus::warn}), true) == ExitCode::check_error);
    CHECK(exit_code_for(report({CheckStatus::error, CheckStatus::fail}), false) == ExitCode::check_failed);
    CHECK(exit_code_for(report({CheckStatus::fail, CheckStatus::error}), false) == ExitCode::check_failed);
    CHECK(worst(CheckStatus::error, CheckStatus::fail) == CheckStatus::fail);
    CHECK(worst(CheckStatus::warn, CheckStatus::error) == CheckStatus::error);
    CHECK(worst(CheckStatus::ok, CheckStatus::warn) == CheckStatus::warn);
    CHECK(aggregate_exit_codes({ExitCode::check_error, ExitCode::check_failed}) == ExitCode::check_failed);
    CHECK(aggregate_exit_codes({ExitCode::lock_held, ExitCode::ok}) == ExitCode::ok);
    CHECK(aggregate_exit_codes({ExitCode::lock_held, ExitCode::lock_held}) == ExitCode::lock_held);
    CHECK(aggregate_exit_codes({}) == ExitCode::ok);
}

// ---- alert transitions: what the last delivered alert said, what the check says now ----------

namespace {

Settings alert_settings()
{
    return load_settings({{"RECON_BOOKS", "uae"}, {"ALERT_WEBHOOK_URL", "http://127.0.0.1:9/hook"}});
}

Variance aged(const std::string& flow)
{
    Variance v{.kind = "aged_pending", .keys = {{"flow_id", flow}}};
    v.fingerprint = variance_fingerprint("pending_flow_age", v);
    return v;
}

RunReport run_with(CheckStatus status, std::vector<Variance> variances = {})
{
    CheckResult check;
    check.check_name = "pending_flow_age";
    check.category = Category::D;
    check.status = status;
    check.variances_total = static_cast<std::int64_t>(variances.size());
    check.variances = std::move(variances);
    RunReport report;
    report.run_id = 7;
    report.book = "uae";
    report.category = Category::D;
    report.status = run_status_of(status);
    report.checks = {check};
    return report;
}

/// History after an alert about `status` with `variances` was delivered.
RunChanges delivered(CheckStatus status, const std::vector<Variance>& variances)
{
    CheckChanges changes{.check_name = "pending_flow_age", .previous_status = status};
    std::vector<std::string> fingerprints;
    for (const auto& v : variances) fingerprints.push_back(v.fingerprint);
    changes.alerted_status = std::string(to_string(status));
    changes.alerted_dedup_key =
        alert_dedup_key("uae", "pending_flow_age", std::string(to_string(status)), std::move(fingerprints));
    return RunChanges{.checks = {changes}};
}

/// "event status" of each planned alert.
Lines planned(const RunReport& report, const RunChanges& history)
{
    Lines lines;
    for (const auto& alert : plan_alerts(alert_settings(), report, history)) {
        lines.push_back(alert.event + " " + alert.status);
    }
    return lines;
}

}  // namespace

TEST_CASE("alert transitions: fail->ok and warn->ok each send one recovered alert")
{
    const auto flows = std::vector<Variance>{aged("F-1")};
    CHECK(planned(run_with(CheckStatus::ok), delivered(CheckStatus::fail, flows)) == Lines{"recovered ok"});
    CHECK(planned(run_with(CheckStatus::ok), delivered(CheckStatus::warn, flows)) == Lines{"recovered ok"});
    const auto recovered =
        plan_alerts(alert_settings(), run_with(CheckStatus::ok), delivered(CheckStatus::warn, flows));
    REQUIRE(recovered.size() == 1);
    CHECK(recovered[0].dedup_key == alert_dedup_key("uae", "pending_flow_age", "ok", {}));
    // Once recovered (the last delivered alert said ok), ok stays quiet.
    RunChanges told = delivered(CheckStatus::ok, {});
    CHECK(planned(run_with(CheckStatus::ok), told).empty());
}

TEST_CASE("alert transitions: warn->fail and fail->warn are new situations with the same breaks")
{
    const auto flows = std::vector<Variance>{aged("F-1")};
    CHECK(planned(run_with(CheckStatus::fail, flows), delivered(CheckStatus::warn, flows)) == Lines{"problem fail"});
    CHECK(planned(run_with(CheckStatus::warn, flows), delivered(CheckStatus::fail, flows)) == Lines{"problem warn"});
    // The same status and breaks again: nothing new in mode change.
    CHECK(planned(run_with(CheckStatus::warn, flows), delivered(CheckStatus::warn, flows)).empty());
    CHECK(planned(run_with(CheckStatus::fail, flows), delivered(CheckStatus::fail, flows)).empty());
    // ok->warn and ok->fail: a problem.
    CHECK(planned(run_with(CheckStatus::warn, flows), RunChanges{}) == Lines{"problem warn"});
    CHECK(planned(run_with(CheckStatus::fail, flows), delivered(CheckStatus::ok, {})) == Lines{"problem fail"});
    // error never alerts, after anything.
    CHECK(planned(run_with(CheckStatus::error), delivered(CheckStatus::warn, flows)).empty());
}

TEST_CASE("decimal limits: 18 fractional digits and 20 integer digits are accepted, one more is not")
{
    CHECK(Decimal::parse("0.000000000000000001").to_string() == "0.000000000000000001");
    CHECK_THROWS_AS(Decimal::parse("0.0000000000000000001"), DecimalError);
    CHECK(Decimal::parse("99999999999999999999").to_string() == "99999999999999999999");
    CHECK_THROWS_AS(Decimal::parse("100000000000000000000"), DecimalError);
    CHECK(Decimal::parse("9999999999999999999").to_string() == "9999999999999999999");
}

TEST_CASE("decimal arithmetic at the edges: scale, sign, equality and abs")
{
    CHECK((d("1.5") + d("0.25")).to_string() == "1.75");
    CHECK((d("0.25") + d("1.5")).to_string() == "1.75");
    CHECK((d("1") - d("0.01")).to_string() == "0.99");
    CHECK((d("0.01") - d("1")).to_string() == "-0.99");
    CHECK((d("5.00") - d("5")).is_zero());
    CHECK_FALSE(d("1.00") < d("1"));
    CHECK_FALSE(d("1") < d("1.00"));
    CHECK(d("1.00") <= d("1"));
    CHECK(d("0.999999999999999999") < d("1"));
    CHECK(d("-0.01").abs().to_string() == "0.01");
    CHECK(d("0.01").abs().to_string() == "0.01");
    CHECK(d("-0.01").sign() == -1);
    CHECK(d("0.00").sign() == 0);
}

TEST_CASE("compared lines past every tolerance are named by which side holds the amount")
{
    const std::map<std::string, Decimal> ledger{{"L", d("5")}, {"M", d("5")}};
    const std::map<std::string, Decimal> broker{{"B", d("5")}, {"M", d("4")}};
    CHECK(outcomes(compare_lines(ledger, broker, d("0.01"), std::nullopt)) ==
          Lines{"B broker_only", "L ledger_only", "M mismatch"});
}

TEST_CASE("run lock scopes: one per book and category")
{
    CHECK(run_lock_scope("uae", Category::A) == "reconcile/uae/A");
    CHECK(run_lock_scope("uae", Category::B) == "reconcile/uae/B");
    CHECK(run_lock_scope("india", Category::A) == "reconcile/india/A");
    CHECK(advisory_lock_key("reconcile/uae/A") != advisory_lock_key("reconcile/uae/B"));
}

TEST_CASE("alert mode every: the same situation is sent again; change: once")
{
    const auto flows = std::vector<Variance>{aged("F-1")};
    const auto every = load_settings(
        {{"RECON_BOOKS", "uae"}, {"ALERT_WEBHOOK_URL", "http://127.0.0.1:9/hook"}, {"RECON_ALERT_MODE", "every"}});
    CHECK(plan_alerts(every, run_with(CheckStatus::warn, flows), delivered(CheckStatus::warn, flows)).size() == 1);
    CHECK(planned(run_with(CheckStatus::warn, flows), delivered(CheckStatus::warn, flows)).empty());
    CHECK(plan_alerts(every, run_with(CheckStatus::ok), RunChanges{}).empty());
}

// ---- the variance cap of the category C checks: every break goes through the collector -------

namespace {

/// A snapshot the comparison never reads (the recon results are built by hand here).
class NoLedger final : public SnapshotProvider {
public:
    pqxx::transaction_base& ledger() override { throw std::logic_error("no ledger in this test"); }
    void release() override {}
};

/// `n` customers, each with one cash break of 1.00.
AccountsRecon cash_breaks(int n)
{
    AccountsRecon recon;
    recon.fetch.broker = BrokerId::viewtrade;
    recon.fetch.customers = static_cast<std::size_t>(n);
    recon.with_cash = true;
    for (int i = 0; i < n; ++i) {
        CustomerRecon customer;
        customer.account = {.customer_id = "C" + std::to_string(i), .account_ref = "V-" + std::to_string(i)};
        customer.cash = compare_lines({{"USD", d("2.00")}}, {{"USD", d("1.00")}}, d("0.01"), std::nullopt);
        recon.customers.push_back(std::move(customer));
    }
    return recon;
}

}  // namespace

TEST_CASE("category C: the cap lists exactly RECON_VARIANCE_CAP breaks and counts every one")
{
    const auto settings = load_settings({{"RECON_BOOKS", "india"}, {"RECON_VARIANCE_CAP", "3"}});
    NoLedger ledger;
    for (const int n : {2, 3, 4}) {
        CAPTURE(n);
        CheckContext context(settings, "india", at("2026-12-01T00:00:00Z"), ledger);
        record_accounts_recon(context, cash_breaks(n), QuantityNaming::quantity_break);
        CHECK(context.status() == CheckStatus::fail);
        CHECK(context.variances().total() == n);
        CHECK(context.variances().listed().size() == static_cast<std::size_t>(std::min(n, 3)));
        CHECK(context.metrics()["cash_breaks"] == n);
    }
    // The LRS check: aged remittances, a second past RECON_LRS_AGED_DAYS, through the same cap.
    for (const int n : {2, 3, 4}) {
        CAPTURE(n);
        LrsRecon recon;
        recon.fetch.broker = BrokerId::viewtrade;
        recon.fetch.customers = 1;
        CustomerLrs customer;
        customer.account = {.customer_id = "C1", .account_ref = "V-1"};
        std::vector<LrsRemittance> remittances;
        for (int i = 0; i < n; ++i) {
            remittances.push_back({.remittance_id = "R" + std::to_string(i),
                                   .usd_amount = d("10.00"),
                                   .remitted_at = at("2026-11-25T23:59:59Z"),
                                   .status = "settled",
                                   .utr = ""});
        }
        customer.tie_out = tie_out_lrs(remittances, {}, rules, at("2026-12-01T00:00:00Z"));
        recon.customers.push_back(std::move(customer));
        CheckContext context(settings, "india", at("2026-12-01T00:00:00Z"), ledger);
        record_lrs_recon(context, recon);
        CHECK(context.status() == CheckStatus::fail);
        CHECK(context.variances().total() == n);
        CHECK(context.variances().listed().size() == static_cast<std::size_t>(std::min(n, 3)));
    }
}
