// Category C against a real PostgreSQL and the fake broker over real HTTP: every check passes
// when ledger and brokers agree, fails on each kind of break with the exact variances, keeps
// each customer's fetch failure to that customer, and ends error only when the broker is gone.
#include <doctest/doctest.h>

#include <future>
#include <thread>

#include "checks/registry.hpp"
#include "lib/metrics.hpp"
#include "lib/runner.hpp"
#include "tests/db/broker_fixture.hpp"
#include "tests/db/fixture.hpp"
#include "tests/support/cli.hpp"
#include "tests/support/fake_broker.hpp"

using namespace reconcile;
using namespace reconcile::test;
using Json = nlohmann::json;
using Lines = std::vector<std::string>;
using namespace std::chrono_literals;

namespace {

FakeBroker& broker()
{
    static FakeBroker instance(clean_broker_fixture());
    return instance;
}

/// The clean ledger with its broker accounts, and a broker that agrees (or `fixture`).
BookDb& book(const std::string& name, const Json& fixture = clean_broker_fixture())
{
    static BookDb uae("uae");
    static BookDb india("india");
    BookDb& db = name == "uae" ? uae : india;
    db.reset();
    db.exec(clean_ledger_sql);
    db.exec(name == "uae" ? uae_broker_accounts_sql : india_broker_accounts_sql);
    broker().set_fixture(fixture);
    return db;
}

CheckResult run(BookDb& db, const char* check, const EnvMap& extra = {})
{
    return db.run_check(check, broker().settings(extra));
}

const Variance& variance(const CheckResult& result, const std::string& kind, const std::string& key)
{
    for (const auto& v : result.variances) {
        for (const auto& [name, value] : v.keys) {
            if (v.kind == kind && (name == "symbol" || name == "currency" || name == "remittance_id") && value == key) {
                return v;
            }
        }
    }
    FAIL("no such variance: " << kind << " " << key);
    throw std::logic_error("unreachable");
}

const char* const all_c_checks[] = {"gtn_ledger_recon", "zag_holdings_recon", "viewtrade_ledger_recon",
                                    "viewtrade_holdings_recon", "lrs_viewtrade_tie_out"};

}  // namespace

TEST_CASE("every C check passes when ledger and brokers agree, on both books")
{
    for (const char* name : {"uae", "india"}) {
        auto& db = book(name);
        for (const char* check : all_c_checks) {
            CAPTURE(name);
            CAPTURE(check);
            const auto result = run(db, check);
            CHECK(result.status == CheckStatus::ok);
            CHECK(result.variances_total == 0);
            CHECK_FALSE(result.metrics.contains("error"));
        }
    }
    auto& uae = book("uae");
    const auto gtn = run(uae, "gtn_ledger_recon");
    CHECK(gtn.metrics["broker"] == "GTN");
    CHECK(gtn.metrics["broker_contract"] == "public");  // GTN's published Trade API
    CHECK(gtn.metrics["broker_status"] == "reachable");
    CHECK(gtn.metrics["customers"] == 2);
    CHECK(gtn.metrics["customers_checked"] == 2);
    CHECK(gtn.metrics["cash_compared"] == 2);
    CHECK(gtn.metrics["matched"] == 1);
    CHECK(gtn.metrics["ledger_as_of"].is_string());
    CHECK(gtn.metrics["broker_as_of"]["earliest"].is_string());

    auto& india = book("india");
    const auto lrs = run(india, "lrs_viewtrade_tie_out");
    CHECK(lrs.metrics["matched"] == 3);
    CHECK(lrs.metrics["remitted_usd"] == "370.00");
    CHECK(lrs.metrics["wired_usd"] == "350.00");
    CHECK(lrs.metrics["matched_usd"] == "370.00");
    CHECK(lrs.metrics["in_transit"] == 0);
    CHECK(lrs.metrics["in_transit_usd"] == "0.00");  // an empty bucket keeps the currency's scale
    CHECK(lrs.metrics["aged_in_transit_usd"] == "0.00");
    CHECK(lrs.metrics["unmatched_funding"] == 0);
    CHECK(lrs.metrics["unmatched_funding_usd"] == "0.00");
}

TEST_CASE("a check with nothing to check on its book is ok and asks no broker at all")
{
    auto& india = book("india");
    // No GTN or ZAG settings at all: not needed, since India has no GTN or ZAG customers.
    for (const char* check : {"gtn_ledger_recon", "zag_holdings_recon"}) {
        CAPTURE(check);
        const auto result = india.run_check(check);
        CHECK(result.status == CheckStatus::ok);
        CHECK(result.metrics["customers_checked"] == 0);
        CHECK(result.metrics["broker_status"] == "not_contacted");
        CHECK(result.metrics["broker_contract"] ==
              (std::string(check) == "gtn_ledger_recon" ? "public" : "provisional"));
        CHECK(result.metrics.size() == 5);  // broker, broker_contract, broker_status, customers, customers_checked
    }
    auto& uae = book("uae");
    for (const char* check : {"viewtrade_ledger_recon", "viewtrade_holdings_recon", "lrs_viewtrade_tie_out"}) {
        CAPTURE(check);
        const auto result = run(uae, check);
        CHECK(result.status == CheckStatus::ok);
        CHECK(result.metrics["customers_checked"] == 0);
    }
    CHECK(broker().stats()["requests"].empty());
}

TEST_CASE("gtn_ledger_recon: cash and quantity breaks, each named with both sides")
{
    auto fixture = clean_broker_fixture();
    auto& g1 = fixture["gtn"]["accounts"]["G-001"];
    g1["cash"][0]["balance"] = "48.49";  // within 0.01: a match
    g1["securities"] = {{{"symbol", "AAPL"}, {"quantity", "0.25"}}, {{"symbol", "MSFT"}, {"quantity", "2"}}};
    fixture["gtn"]["accounts"]["G-002"]["cash"][0]["balance"] = "249.00";
    auto& db = book("uae", fixture);
    // The ledger also books a sell the broker never saw.
    db.exec(
        "INSERT INTO ledger.transactions (txn_id, source, source_txn_id, customer_id, txn_type, status,"
        " effective_at, posted_at, symbol, quantity)"
        " VALUES (1010, 'gtn', 'ORD-9', 'C002', 'buy', 'posted', now(), now(), 'NVDA', 1.5)");
    const auto result = run(db, "gtn_ledger_recon");
    CHECK(result.status == CheckStatus::fail);
    CHECK(variance_lines(result) ==
          Lines{"amount_break currency=USD customer_id=C002", "quantity_break customer_id=C001 symbol=AAPL",
                "quantity_break customer_id=C001 symbol=MSFT", "quantity_break customer_id=C002 symbol=NVDA"});
    const auto& cash = variance(result, "amount_break", "USD");
    CHECK(cash.expected == "250.00");
    CHECK(cash.actual == "249.00");
    CHECK(cash.difference == "1.00");
    CHECK(cash.detail["broker_account_ref"] == "G-002");
    CHECK(cash.detail["ledger_as_of"].is_string());
    CHECK(cash.detail["broker_as_of"].is_string());
    const auto& short_position = variance(result, "quantity_break", "AAPL");
    CHECK(short_position.expected == "0.50");  // at the finer side's scale
    CHECK(short_position.actual == "0.25");
    CHECK(short_position.difference == "0.25");
    CHECK(short_position.detail["outcome"] == "mismatch");
    CHECK(variance(result, "quantity_break", "MSFT").detail["outcome"] == "broker_only");
    CHECK(variance(result, "quantity_break", "NVDA").detail["outcome"] == "ledger_only");
    CHECK(result.metrics["cash_breaks"] == 1);
    CHECK(result.metrics["mismatch"] == 1);
}

TEST_CASE("gtn_ledger_recon: a difference up to the dust tolerance warns; tolerances are settings")
{
    auto fixture = clean_broker_fixture();
    fixture["gtn"]["accounts"]["G-001"]["securities"][0]["quantity"] = "0.49995";
    auto& db = book("uae", fixture);
    const auto result = run(db, "gtn_ledger_recon");
    CHECK(result.status == CheckStatus::warn);
    CHECK(variance_lines(result) == Lines{"quantity_dust customer_id=C001 symbol=AAPL"});
    CHECK(result.variances[0].difference == "0.00005");
    CHECK(run(db, "gtn_ledger_recon", {{"RECON_QUANTITY_TOLERANCE", "0.0001"}}).status == CheckStatus::ok);
    CHECK(run(db, "gtn_ledger_recon", {{"RECON_QUANTITY_DUST_TOLERANCE", "0.00001"}}).status == CheckStatus::fail);
}

TEST_CASE("zag_holdings_recon: mismatch, ledger_only (a missed sell), broker_only (a missing buy), dust")
{
    auto fixture = clean_broker_fixture();
    fixture["zag"]["accounts"]["Z-001"]["holdings"] = {{{"symbol", "AAPL"}, {"quantity", "0.4"}},
                                                       {{"symbol", "MSFT"}, {"quantity", "0.00005"}}};
    fixture["zag"]["accounts"]["Z-002"]["holdings"] = {{{"symbol", "TSLA"}, {"quantity", "3"}}};
    auto& db = book("uae", fixture);
    db.exec(
        "INSERT INTO ledger.transactions (txn_id, source, source_txn_id, customer_id, txn_type, status,"
        " effective_at, posted_at, symbol, quantity)"
        " VALUES (1010, 'zag', 'ORD-9', 'C002', 'buy', 'posted', now(), now(), 'NVDA', 2),"
        "        (1011, 'zag', 'ORD-10', 'C002', 'buy', 'pending', now(), NULL, 'AMZN', 5)");
    const auto result = run(db, "zag_holdings_recon");
    CHECK(result.status == CheckStatus::fail);
    CHECK(variance_lines(result) ==
          Lines{"broker_only customer_id=C002 symbol=TSLA", "ledger_only customer_id=C002 symbol=NVDA",
                "mismatch customer_id=C001 symbol=AAPL", "quantity_dust customer_id=C001 symbol=MSFT"});
    CHECK(variance(result, "ledger_only", "NVDA").expected == "2");
    CHECK(variance(result, "ledger_only", "NVDA").actual == "0");  // the finer side has no decimals either
    CHECK(variance(result, "broker_only", "TSLA").difference == "-3");
    CHECK(result.metrics["instruments_compared"] == 4);
    CHECK(result.metrics["matched"] == 0);
    CHECK_FALSE(result.metrics.contains("cash_compared"));
}

TEST_CASE("viewtrade_ledger_recon: the ledger's wallet journal against ViewTrade's cash; booked lines only")
{
    auto& db = book("india");
    // A second deposit booked for C002 that never reached ViewTrade; a pending one does not count.
    db.exec(
        "INSERT INTO ledger.transactions (txn_id, source, source_txn_id, customer_id, txn_type, status,"
        " effective_at, posted_at) VALUES (1010, 'bank', 'DEP-9', 'C002', 'deposit', 'posted', now(), now());"
        "INSERT INTO ledger.journal_lines VALUES (20, 1010, 'BROKER_CASH', 'C002', 'DR', 750.00, 'USD'),"
        " (21, 1010, 'CUSTOMER_WALLET', 'C002', 'CR', 750.00, 'USD'),"
        " (22, 1005, 'CUSTOMER_WALLET', 'C002', 'CR', 75.00, 'USD')");
    const auto result = run(db, "viewtrade_ledger_recon");
    CHECK(result.status == CheckStatus::fail);
    CHECK(variance_lines(result) == Lines{"amount_break currency=USD customer_id=C002"});
    CHECK(result.variances[0].expected == "1000.00");
    CHECK(result.variances[0].actual == "250.00");
    CHECK(result.variances[0].difference == "750.00");
    CHECK(result.variances[0].detail["outcome"] == "mismatch");
}

TEST_CASE("viewtrade_holdings_recon: share-count rows against ViewTrade positions")
{
    auto fixture = clean_broker_fixture();
    fixture["viewtrade"]["accounts"]["V-001"]["positions"] = Json::array();
    fixture["viewtrade"]["accounts"]["V-002"]["positions"] = {{{"symbol", "AAPL"}, {"quantity", "1"}}};
    auto& db = book("india", fixture);
    const auto result = run(db, "viewtrade_holdings_recon");
    CHECK(result.status == CheckStatus::fail);
    CHECK(variance_lines(result) ==
          Lines{"broker_only customer_id=C002 symbol=AAPL", "ledger_only customer_id=C001 symbol=AAPL"});
}

TEST_CASE("lrs_viewtrade_tie_out: a missing wire ages into a break; a young one is in transit; stray wires inform")
{
    auto fixture = clean_broker_fixture();
    fixture["viewtrade"]["accounts"]["V-002"]["deposits"] = Json::array();  // R-2 and R-3's wire never came
    fixture["viewtrade"]["accounts"]["V-001"]["deposits"].push_back({{"deposit_id", "W-STRAY"},
                                                                     {"amount", "42.00"},
                                                                     {"currency", "USD"},
                                                                     {"status", "completed"},
                                                                     {"completed_at", "2026-11-05T12:00:00Z"}});
    auto& db = book("india", fixture);
    db.exec(
        "INSERT INTO ledger.lrs_remittances VALUES ('R-4', 'C001', 'ABCDE1234F', 4175.00, 50.00, 83.50,"
        " 'S0001', 'UTR-4', 'sent', now() - interval '1 day', now() - interval '1 day', current_date),"
        " ('R-5', 'C001', 'ABCDE1234F', 4175.00, 50.00, 83.50, 'S0001', NULL, 'initiated', now(), NULL, NULL)");
    const auto result = run(db, "lrs_viewtrade_tie_out");
    CHECK(result.status == CheckStatus::fail);
    CHECK(variance_lines(result) == Lines{"aged_in_transit customer_id=C002 remittance_id=R-2",
                                          "aged_in_transit customer_id=C002 remittance_id=R-3"});
    const auto& aged = variance(result, "aged_in_transit", "R-2");
    CHECK(aged.expected == "130.00");
    CHECK(aged.detail["utr"] == "UTR-2");
    CHECK(aged.detail["broker_account_ref"] == "V-002");
    CHECK(aged.detail["age_days"].get<int>() > 5);
    CHECK(result.metrics["matched"] == 1);
    CHECK(result.metrics["in_transit"] == 1);
    CHECK(result.metrics["in_transit_usd"] == "50.00");
    CHECK(result.metrics["aged_in_transit"] == 2);
    CHECK(result.metrics["aged_in_transit_usd"] == "255.00");
    CHECK(result.metrics["unmatched_funding"] == 1);
    CHECK(result.metrics["unmatched_funding_usd"] == "42.00");
    CHECK(result.metrics["remittances_excluded"] == 1);

    // With a longer aged threshold the same money is only in transit: ok.
    CHECK(run(db, "lrs_viewtrade_tie_out", {{"RECON_LRS_AGED_DAYS", "3650"}}).status == CheckStatus::ok);
}

TEST_CASE("one customer's broker fault is a fetch_error on that customer; the rest are compared")
{
    for (const char* fault : {"status", "rate_limit", "malformed", "truncated", "oversized", "hang"}) {
        CAPTURE(fault);
        auto fixture = clean_broker_fixture();
        fixture["viewtrade"]["accounts"]["V-001"]["cash"][0]["amount"] = "40.00";  // a real break elsewhere
        fixture["faults"] = {{{"broker", "viewtrade"},
                              {"account", "V-002"},
                              {"kind", fault},
                              {"retry_after", 1},
                              {"status", 500},
                              {"bytes", 1 << 20}}};
        auto& db = book("india", fixture);
        const auto result = run(db, "viewtrade_ledger_recon",
                                {{"RECON_BROKER_TIMEOUT_MS", "700"},
                                 {"RECON_BROKER_MAX_RESPONSE_BYTES", "65536"},
                                 {"RECON_BROKER_RETRIES", "0"}});
        CHECK(result.status == CheckStatus::fail);
        CHECK(variance_lines(result) ==
              Lines{"amount_break currency=USD customer_id=C001", "fetch_error customer_id=C002"});
        CHECK(result.metrics["fetch_errors"] == 1);
        CHECK(result.metrics["customers_checked"] == 1);
        CHECK(result.metrics["broker_status"] == "reachable");
        CHECK_FALSE(result.metrics.contains("error"));
        const auto& error = result.variances[1];
        CHECK(error.detail["broker_account_ref"] == "V-002");
        CHECK(error.detail["error"].get<std::string>().find("cash: ") == 0);
    }
}

TEST_CASE("a fetch error alone warns; past the failed share the check is error; a dead broker is error")
{
    auto fixture = clean_broker_fixture();
    fixture["faults"] = {{{"account", "V-002"}, {"kind", "status"}, {"status", 503}}};
    auto& db = book("india", fixture);
    const auto one = run(db, "viewtrade_holdings_recon");
    CHECK(one.status == CheckStatus::warn);
    CHECK(variance_lines(one) == Lines{"fetch_error customer_id=C002"});

    const auto strict = run(db, "viewtrade_holdings_recon", {{"RECON_BROKER_MAX_FAILED_SHARE", "0.25"}});
    CHECK(strict.status == CheckStatus::error);
    CHECK(strict.metrics["error"] ==
          "1 of 2 customers could not be fetched from VIEWTRADE (more than RECON_BROKER_MAX_FAILED_SHARE=0.25)");
    CHECK(variance_lines(strict) == Lines{"fetch_error customer_id=C002"});

    const auto dead =
        db.run_check("viewtrade_ledger_recon", broker().settings({{"VIEWTRADE_BASE_URL", "http://127.0.0.1:1"}}));
    CHECK(dead.status == CheckStatus::error);
    CHECK(dead.metrics["broker_status"] == "unreachable");
    CHECK(dead.metrics["broker_unreachable"] == true);
    CHECK(dead.metrics["customers_checked"] == 0);
    CHECK(dead.metrics["error"].get<std::string>().find("VIEWTRADE unreachable: cash: http://127.0.0.1:1") == 0);
    CHECK(dead.metrics["ledger_as_of"].is_null());
}

TEST_CASE("no ledger snapshot is open while the broker is being asked")
{
    auto fixture = clean_broker_fixture();
    fixture["faults"] = {{{"broker", "gtn"}, {"resource", "cash"}, {"kind", "latency"}, {"ms", 1500}}};
    auto& db = book("uae", fixture);
    auto running = std::async(std::launch::async, [&] { return run(db, "gtn_ledger_recon"); });
    // The check has read its accounts and waits on GTN once the broker has a request in hand.
    REQUIRE(wait_for([] { return !broker().stats()["requests"].empty(); }, 10s));
    const std::string open = db.query_value(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'reconcile' AND datname = current_database()"
        " AND xact_start IS NOT NULL AND pid <> pg_backend_pid()");
    const std::string connected = db.query_value(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'reconcile' AND datname = current_database()"
        " AND pid <> pg_backend_pid()");
    const auto result = running.get();
    CHECK(result.status == CheckStatus::ok);
    CHECK(connected == "1");
    CHECK(open == "0");
}

TEST_CASE("hostile ids and symbols from the broker are stored and read back verbatim")
{
    const std::string hostile = "'; DROP TABLE journal_lines; --";
    auto fixture = clean_broker_fixture();
    fixture["gtn"]["accounts"][hostile] = {{"cash", {{{"currency", "USD"}, {"balance", "0"}}}},
                                           {"securities", {{{"symbol", hostile}, {"quantity", "7"}}}}};
    auto& db = book("uae", fixture);
    db.exec("INSERT INTO ledger.broker_accounts (customer_id, broker, broker_account_ref) VALUES ('" +
            std::string("'';"
                        " DROP TABLE journal_lines; --") +
            "', 'GTN', '" + "''; DROP TABLE journal_lines; --" + "')");
    RunRequest request{.book = "uae", .category = Category::C, .check_names = {"gtn_ledger_recon"}};
    const auto outcome = execute_run(db.settings(broker().settings({{"RECON_ALERT_PERSIST_ENABLED", "true"}})),
                                     default_registry(), request);
    REQUIRE(outcome.report.checks.size() == 1);
    const auto& result = outcome.report.checks[0];
    CHECK(result.status == CheckStatus::fail);
    CHECK(variance_lines(result) == Lines{"quantity_break customer_id=" + hostile + " symbol=" + hostile});
    CHECK(db.query_value("SELECT keys->>'symbol' FROM recon.reconciliation_variances") == hostile);
    CHECK(db.query_value("SELECT keys->>'customer_id' FROM recon.reconciliation_variances") == hostile);
    CHECK(db.query_value("SELECT count(*) FROM ledger.journal_lines") == "10");
}

TEST_CASE("metrics: a category run only in shards or only with --check reports each check's latest result")
{
    // C001 is short at GTN: gtn_ledger_recon fails in C001's shard, and only there.
    auto short_c001 = clean_broker_fixture();
    short_c001["gtn"]["accounts"]["G-001"]["cash"][0]["balance"] = "40.00";
    auto& db = book("uae", short_c001);
    const Settings settings = db.settings(broker().settings());
    const auto run_c = [&](std::optional<Shard> shard) {
        RunRequest request{.book = "uae", .category = Category::C};
        request.shard = shard;
        const auto outcome = execute_run(settings, default_registry(), request);
        REQUIRE_FALSE(outcome.lock_held);
        return outcome.report;
    };
    const auto run_shard = [&](int index) { return run_c(Shard{.index = index, .count = 2}); };
    const auto metrics = [&] { return render_prometheus({read_book_metrics(settings, default_registry(), "uae")}, 0); };
    const auto gtn = [](const std::string& series, const std::string& value) {
        return series + "{book=\"uae\",category=\"C\",check_name=\"gtn_ledger_recon\"} " + value + "\n";
    };
    constexpr const char* c_fail = "reconcile_run_last_status{book=\"uae\",category=\"C\",status=\"fail\"} 1\n";
    constexpr const char* c_ok = "reconcile_run_last_status{book=\"uae\",category=\"C\",status=\"ok\"} 1\n";

    const auto first = run_shard(1);
    const auto second = run_shard(2);
    REQUIRE(((first.status == RunStatus::fail) != (second.status == RunStatus::fail)));
    const int clean_shard = first.status == RunStatus::fail ? 2 : 1;
    const int short_shard = 3 - clean_shard;
    // The newest C run is the clean shard's ok: C stays fail, with no full run to time.
    const auto newest = run_shard(clean_shard);
    REQUIRE(newest.status == RunStatus::ok);
    auto text = metrics();
    CHECK(text.find(c_fail) != std::string::npos);
    CHECK(text.find("reconcile_run_last_status{book=\"uae\",category=\"C\",status=\"ok\"} 0\n") != std::string::npos);
    CHECK(text.find("reconcile_run_last_id{book=\"uae\",category=\"C\"}") == std::string::npos);
    CHECK(text.find("reconcile_check_last_status{book=\"uae\",category=\"C\",check_name=\"gtn_ledger_recon\","
                    "status=\"fail\"} 1\n") != std::string::npos);
    CHECK(text.find("reconcile_check_last_status{book=\"uae\",category=\"C\",check_name=\"zag_holdings_recon\","
                    "status=\"ok\"} 1\n") != std::string::npos);
    CHECK(text.find(gtn("reconcile_check_last_run_id", std::to_string(newest.run_id))) != std::string::npos);
    CHECK(text.find(gtn("reconcile_check_last_variances", "1")) != std::string::npos);  // C001's amount_break

    // The short shard heals: every shard's newest result is ok.
    broker().set_fixture(clean_broker_fixture());
    REQUIRE(run_shard(short_shard).status == RunStatus::ok);
    text = metrics();
    CHECK(text.find(c_ok) != std::string::npos);
    CHECK(text.find(gtn("reconcile_check_last_variances", "0")) != std::string::npos);

    // An unsharded run fails; one shard ok since then leaves the other shard's customers at the
    // unsharded run's result, until that shard runs too.
    broker().set_fixture(short_c001);
    const auto whole = run_c(std::nullopt);
    REQUIRE(whole.status == RunStatus::fail);
    broker().set_fixture(clean_broker_fixture());
    REQUIRE(run_shard(clean_shard).status == RunStatus::ok);
    text = metrics();
    CHECK(text.find(c_fail) != std::string::npos);
    CHECK(text.find("reconcile_run_last_id{book=\"uae\",category=\"C\"} " + std::to_string(whole.run_id) + "\n") !=
          std::string::npos);
    REQUIRE(run_shard(short_shard).status == RunStatus::ok);
    CHECK(metrics().find(c_ok) != std::string::npos);

    // Category A only ever run with --check: it reports from the checks that ran.
    db.exec("UPDATE ledger.journal_lines SET amount = 90.00 WHERE line_id = 2");
    RunRequest narrowed{.book = "uae", .category = Category::A, .check_names = {"trial_balance_zero"}};
    REQUIRE(execute_run(settings, default_registry(), narrowed).report.status == RunStatus::fail);
    text = metrics();
    CHECK(text.find("reconcile_run_last_status{book=\"uae\",category=\"A\",status=\"fail\"} 1\n") != std::string::npos);
    CHECK(text.find("reconcile_run_last_id{book=\"uae\",category=\"A\"}") == std::string::npos);
    CHECK(text.find("reconcile_run_newest_partial{book=\"uae\",category=\"A\"} 1\n") != std::string::npos);
    CHECK(text.find("check_name=\"journal_line_completeness\"") == std::string::npos);               // never ran
    CHECK(text.find("reconcile_run_last_status{book=\"uae\",category=\"B\"") == std::string::npos);  // never ran
}
