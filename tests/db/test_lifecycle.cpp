// Variance persistence and lifecycle through the real run path: which rows land in
// recon.reconciliation_variances (and that they land atomically with the run's results), and how
// recon.variance_fingerprints follows a break from new to persisting to resolved to reopened.
#include <doctest/doctest.h>

#include "checks/registry.hpp"
#include "lib/errors.hpp"
#include "lib/lifecycle.hpp"
#include "lib/runner.hpp"
#include "tests/db/fixture.hpp"

using namespace reconcile;
using reconcile::test::BookDb;
using reconcile::test::clean_ledger_sql;

namespace {

BookDb& book()
{
    static BookDb db("lifecycle");
    db.reset();
    db.exec("TRUNCATE recon.variance_fingerprints, recon.check_states");
    db.exec(clean_ledger_sql);
    return db;
}

RunOutcome run(const BookDb& db, Category category, std::vector<std::string> checks = {}, const EnvMap& extra = {})
{
    RunRequest request;
    request.book = db.book();
    request.category = category;
    request.check_names = std::move(checks);
    return execute_run(db.settings(extra), default_registry(), request);
}

RunOutcome run_wallets(const BookDb& db, const EnvMap& extra = {})
{
    return run(db, Category::B, {"wallet_derivation"}, extra);
}

std::vector<VarianceHistory> history(const BookDb& db, VarianceHistoryFilter filter = {})
{
    Session session(db.url(), "control");
    return list_variance_history(session, db.book(), filter);
}

const CheckChanges& changes_of(const RunOutcome& outcome, const std::string& check)
{
    const auto* changes = outcome.changes.find(check);
    REQUIRE(changes != nullptr);
    return *changes;
}

std::string customer_of(const VarianceHistory& row)
{
    return row.keys.value("customer_id", "");
}

}  // namespace

TEST_CASE("persistence on: every listed variance of a warn or fail check lands with its run")
{
    auto& db = book();
    db.exec(
        "UPDATE ledger.wallets SET balance = 40.00 WHERE customer_id = 'C001';"
        "UPDATE ledger.balance_snapshots SET balance = 90.00 WHERE customer_id = 'C001'");
    const auto outcome = run(db, Category::B, {}, {{"RECON_ALERT_PERSIST_ENABLED", "true"}});
    const auto id = std::to_string(outcome.report.run_id);
    CHECK(outcome.report.status == RunStatus::fail);
    CHECK(db.query_value("SELECT string_agg(check_name || ':' || kind || ':' || status || ':' || (keys->>'customer_id')"
                         " || ':' || expected || ':' || actual || ':' || difference, ',' ORDER BY check_name)"
                         " FROM recon.reconciliation_variances WHERE run_id = " +
                         id) ==
          "snapshot_reconcile:snapshot_mismatch:fail:C001:98.50:90.00:-8.50,"
          "wallet_derivation:wallet_mismatch:fail:C001:48.50:40.00:-8.50");
    const auto& wallet = outcome.report.checks.at(0);
    REQUIRE(wallet.check_name == "wallet_derivation");
    CHECK(db.query_value("SELECT fingerprint FROM recon.reconciliation_variances"
                         " WHERE check_name = 'wallet_derivation'") == wallet.variances.at(0).fingerprint);
    CHECK(db.query_value("SELECT detail->>'booked_lines' FROM recon.reconciliation_variances"
                         " WHERE check_name = 'wallet_derivation'") == "3");
}

TEST_CASE("persistence: warn checks persist too, ok checks and persistence off write no rows")
{
    auto& db = book();
    db.exec(
        "INSERT INTO ledger.pending_flows VALUES ('F-9', 'cash_request', 'C001', 1, 'USD', 'pending',"
        " now() - interval '30 hours', NULL, NULL)");
    const auto warned = run(db, Category::D, {}, {{"RECON_ALERT_PERSIST_ENABLED", "true"}});
    CHECK(warned.report.status == RunStatus::warn);
    CHECK(db.query_value("SELECT string_agg(kind || ':' || status, ',') FROM recon.reconciliation_variances") ==
          "aged_pending:warn");

    run(db, Category::A, {}, {{"RECON_ALERT_PERSIST_ENABLED", "true"}});  // all ok
    db.exec("UPDATE ledger.wallets SET balance = 40.00 WHERE customer_id = 'C001'");
    run_wallets(db);  // persistence off (the default)
    CHECK(db.query_value("SELECT count(*) FROM recon.reconciliation_variances") == "1");
    // The lifecycle does not depend on persistence: the wallet break is tracked all the same.
    CHECK(db.query_value("SELECT string_agg(kind, ',' ORDER BY kind) FROM recon.variance_fingerprints") ==
          "aged_pending,wallet_mismatch");
}

TEST_CASE("persistence beyond the cap: the listed variances are persisted, the run row keeps the true total")
{
    auto& db = book();
    db.exec(
        "INSERT INTO ledger.wallets (customer_id, account_code, currency, balance)"
        " SELECT 'X' || g, 'CUSTOMER_WALLET', 'USD', g FROM generate_series(1, 6) g");
    const auto outcome = run_wallets(db, {{"RECON_ALERT_PERSIST_ENABLED", "true"}, {"RECON_VARIANCE_CAP", "2"}});
    const auto id = std::to_string(outcome.report.run_id);
    CHECK(db.query_value("SELECT string_agg(keys->>'customer_id', ',' ORDER BY keys->>'customer_id')"
                         " FROM recon.reconciliation_variances WHERE run_id = " +
                         id) == "X5,X6");
    CHECK(db.query_value("SELECT metadata->'checks'->0->>'variances_total' FROM recon.runs WHERE run_id = " + id) ==
          "6");
}

TEST_CASE("persistence is atomic with the results: a failed variance insert writes no result at all")
{
    auto& db = book();
    db.exec(
        "CREATE FUNCTION recon_test_refuse() RETURNS trigger LANGUAGE plpgsql AS"
        " $$BEGIN RAISE EXCEPTION 'disk full (simulated)'; END$$;"
        "CREATE TRIGGER refuse BEFORE INSERT ON recon.reconciliation_variances"
        " FOR EACH ROW EXECUTE FUNCTION recon_test_refuse()");
    db.exec("UPDATE ledger.wallets SET balance = 40.00 WHERE customer_id = 'C001'");
    CHECK_THROWS_AS(run_wallets(db, {{"RECON_ALERT_PERSIST_ENABLED", "true"}}), Error);
    db.exec("DROP TRIGGER refuse ON recon.reconciliation_variances; DROP FUNCTION recon_test_refuse()");
    CHECK(db.query_value("SELECT status || ':' || (metadata = '{}'::jsonb)::text || ':' ||"
                         " (error LIKE '%disk full (simulated)%')::text FROM recon.runs") == "error:true:true");
    CHECK(db.query_value("SELECT count(*) FROM recon.reconciliation_variances") == "0");
    CHECK(db.query_value("SELECT count(*) FROM recon.variance_fingerprints") == "0");
    CHECK(db.query_value("SELECT count(*) FROM recon.check_states") == "0");
}

TEST_CASE("lifecycle over consecutive runs: new, persisting (same first-seen), resolved, reopened")
{
    auto& db = book();
    CHECK(run_wallets(db).report.status == RunStatus::ok);
    CHECK(history(db).empty());

    db.exec("UPDATE ledger.wallets SET balance = 40.00 WHERE customer_id = 'C001'");
    const auto first = run_wallets(db);
    CHECK(changes_of(first, "wallet_derivation").new_count == 1);
    CHECK(changes_of(first, "wallet_derivation").previous_status == CheckStatus::ok);
    auto rows = history(db);
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].state == "new");
    CHECK(rows[0].status == "open");
    CHECK(rows[0].kind == "wallet_mismatch");
    CHECK(customer_of(rows[0]) == "C001");
    CHECK(rows[0].first_seen_run == first.report.run_id);
    CHECK(rows[0].occurrences == 1);
    CHECK(rows[0].difference == "-8.50");
    const auto first_seen_at = rows[0].first_seen_at;

    db.exec("UPDATE ledger.wallets SET balance = 41.00 WHERE customer_id = 'C001'");  // same break, other size
    const auto second = run_wallets(db);
    CHECK(changes_of(second, "wallet_derivation").persisting_count == 1);
    CHECK(changes_of(second, "wallet_derivation").new_count == 0);
    const auto& state = changes_of(second, "wallet_derivation").states.begin()->second;
    CHECK(state.state == "persisting");
    CHECK(state.open_since_run == first.report.run_id);
    CHECK(state.occurrences == 2);
    rows = history(db);
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].state == "persisting");
    CHECK(rows[0].occurrences == 2);
    CHECK(rows[0].first_seen_run == first.report.run_id);
    CHECK(rows[0].first_seen_at == first_seen_at);
    CHECK(rows[0].last_seen_run == second.report.run_id);
    CHECK(rows[0].difference == "-7.50");

    db.exec("UPDATE ledger.wallets SET balance = 48.50 WHERE customer_id = 'C001'");
    const auto third = run_wallets(db);
    CHECK(third.report.status == RunStatus::ok);
    CHECK(changes_of(third, "wallet_derivation").resolved_count == 1);
    REQUIRE(changes_of(third, "wallet_derivation").resolved.size() == 1);
    CHECK(changes_of(third, "wallet_derivation").resolved[0].fingerprint == rows[0].fingerprint);
    rows = history(db);
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].state == "resolved");
    CHECK(rows[0].resolved_run == third.report.run_id);
    CHECK(rows[0].occurrences == 2);
    CHECK(rows[0].first_seen_run == first.report.run_id);

    db.exec("UPDATE ledger.wallets SET balance = 40.00 WHERE customer_id = 'C001'");
    const auto fourth = run_wallets(db);
    CHECK(changes_of(fourth, "wallet_derivation").reopened_count == 1);
    rows = history(db);
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].state == "reopened");
    CHECK(rows[0].first_seen_run == first.report.run_id);
    CHECK(rows[0].open_since_run == fourth.report.run_id);
    CHECK(rows[0].occurrences == 3);
    CHECK(rows[0].reopen_count == 1);
    CHECK_FALSE(rows[0].resolved_run.has_value());
}

TEST_CASE("lifecycle: a check that ends error resolves nothing; other checks' breaks are untouched")
{
    auto& db = book();
    db.exec(
        "UPDATE ledger.wallets SET balance = 40.00 WHERE customer_id = 'C001';"
        "UPDATE ledger.balance_snapshots SET balance = 90.00 WHERE customer_id = 'C001'");
    const auto first = run(db, Category::B);
    CHECK(history(db, {.status = "open"}).size() == 2);

    // Repaired, but the check cannot read the wallets: it proves nothing, so nothing resolves.
    db.exec(
        "UPDATE ledger.wallets SET balance = 48.50 WHERE customer_id = 'C001';"
        "CREATE OR REPLACE VIEW contract.wallets AS SELECT customer_id, account_code, currency,"
        " balance / 0 AS balance, updated_at, xmin AS row_xmin FROM ledger.wallets");
    const auto broken = run_wallets(db);
    db.exec(
        "CREATE OR REPLACE VIEW contract.wallets AS"
        " SELECT customer_id, account_code, currency, balance, updated_at, xmin AS row_xmin FROM ledger.wallets");
    CHECK(broken.report.checks.at(0).status == CheckStatus::error);
    auto wallet = history(db, {.check_name = "wallet_derivation"});
    REQUIRE(wallet.size() == 1);
    CHECK(wallet[0].status == "open");
    CHECK(wallet[0].last_seen_run == first.report.run_id);

    // A run of wallet_derivation alone resolves its own break, never the snapshot's.
    const auto repaired = run_wallets(db);
    CHECK(changes_of(repaired, "wallet_derivation").resolved_count == 1);
    CHECK(history(db, {.check_name = "wallet_derivation"}).at(0).state == "resolved");
    CHECK(history(db, {.check_name = "snapshot_reconcile"}).at(0).state == "new");
}

TEST_CASE("lifecycle beyond the cap: breaks the capped list did not name stay open until a full list")
{
    auto& db = book();
    const EnvMap cap{{"RECON_VARIANCE_CAP", "1"}};
    db.exec(
        "UPDATE ledger.wallets SET balance = 40.00 WHERE customer_id = 'C001';"
        "UPDATE ledger.wallets SET balance = 200.00 WHERE customer_id = 'C002'");
    const auto first = run_wallets(db, cap);  // lists C002 (the larger difference) only
    CHECK(changes_of(first, "wallet_derivation").resolution_skipped);
    auto rows = history(db);
    REQUIRE(rows.size() == 1);
    CHECK(customer_of(rows[0]) == "C002");

    db.exec("UPDATE ledger.wallets SET balance = 249.00 WHERE customer_id = 'C002'");  // now the smaller one
    const auto second = run_wallets(db, cap);  // lists C001 only; C002 is still broken, just unlisted
    CHECK(changes_of(second, "wallet_derivation").resolved_count == 0);
    rows = history(db, {.status = "open"});
    REQUIRE(rows.size() == 2);
    for (const auto& row : rows) {
        CAPTURE(customer_of(row));
        CHECK(row.last_seen_run == (customer_of(row) == "C001" ? second.report.run_id : first.report.run_id));
    }

    db.exec("UPDATE ledger.wallets SET balance = 48.50 WHERE customer_id = 'C001'");
    const auto third = run_wallets(db, cap);  // one break left: the list is complete again
    CHECK_FALSE(changes_of(third, "wallet_derivation").resolution_skipped);
    CHECK(changes_of(third, "wallet_derivation").resolved_count == 1);
    rows = history(db);
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].status == "open");
    CHECK(customer_of(rows[0]) == "C002");
    CHECK(rows[1].state == "resolved");
    CHECK(customer_of(rows[1]) == "C001");
}
