// Every threshold, window and cap of the A, B and D checks at exactly its value, just below it
// and just above it, against a real PostgreSQL. Time is the run's as-of, fixed here, so an age
// is exact to the second (never `now() - 30h`, far from any edge).
#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "checks/registry.hpp"
#include "lib/db.hpp"
#include "lib/lifecycle.hpp"
#include "lib/lock.hpp"
#include "lib/runner.hpp"
#include "lib/timeutil.hpp"
#include "tests/db/fixture.hpp"

using reconcile::Category;
using reconcile::CheckResult;
using reconcile::CheckStatus;
using reconcile::EnvMap;
using reconcile::Timestamp;
using reconcile::test::BookDb;
using reconcile::test::variance_lines;
using Lines = std::vector<std::string>;

namespace {

BookDb& clean_book()
{
    return reconcile::test::clean_book("boundaries");
}

/// The as-of of every run here: 2026-12-01T00:00:00Z.
const char* const as_of_text = "2026-12-01T00:00:00Z";

Timestamp as_of()
{
    return *reconcile::parse_utc(as_of_text);
}

/// Runs one check through the real runner path with the as-of fixed.
CheckResult run_at(const BookDb& db, std::string_view check_name, const EnvMap& extra = {})
{
    const reconcile::Settings config = db.settings(extra);
    const reconcile::Check* check = reconcile::default_registry().find(check_name);
    REQUIRE(check != nullptr);
    reconcile::Session read(db.url(), "read");
    auto results = reconcile::run_checks(config, db.book(), check->category(), {check}, read, as_of());
    return std::move(results.at(0));
}

/// A pending flow created `offset` (a PostgreSQL interval) before the as-of.
std::string flow(const std::string& id, const std::string& offset)
{
    return "INSERT INTO ledger.pending_flows (flow_id, flow_type, customer_id, amount, currency, status, created_at)"
           " VALUES ('" +
           id + "', 'deposit_in_transit', 'C002', 10.00, 'USD', 'pending', timestamptz '" + as_of_text +
           "' - interval '" + offset + "');";
}

/// The severity each listed aged flow carries, as "flow_id=severity".
Lines severities(const CheckResult& result)
{
    Lines lines;
    for (const auto& variance : result.variances) {
        lines.push_back(variance.keys.at(0).second + "=" + variance.detail["severity"].get<std::string>());
    }
    return lines;
}

}  // namespace

TEST_CASE("pending_flow_age: aged exactly RECON_PENDING_WARN_HOURS is not aged; a second past it warns")
{
    auto& db = clean_book();
    db.exec("DELETE FROM ledger.pending_flows;" + flow("W-BELOW", "23 hours 59 minutes 59 seconds") +
            flow("W-AT", "24 hours") + flow("W-ABOVE", "24 hours 1 second"));
    const auto result = run_at(db, "pending_flow_age");
    CHECK(result.status == CheckStatus::warn);
    CHECK(severities(result) == Lines{"W-ABOVE=warn"});
    CHECK(result.variances_total == 1);
    CHECK(result.metrics["aged_warn"] == 1);
    CHECK(result.metrics["aged_fail"] == 0);
    CHECK(result.variances[0].detail["age_hours"] == "24.00");

    // At exactly the threshold alone: ok.
    db.exec("DELETE FROM ledger.pending_flows WHERE flow_id <> 'W-AT'");
    const auto at = run_at(db, "pending_flow_age");
    CHECK(at.status == CheckStatus::ok);
    CHECK(at.variances_total == 0);
    CHECK(at.metrics["oldest_age_hours"] == "24.00");
}

TEST_CASE("pending_flow_age: aged exactly RECON_PENDING_FAIL_HOURS still warns; a second past it fails")
{
    auto& db = clean_book();
    db.exec("DELETE FROM ledger.pending_flows;" + flow("F-BELOW", "71 hours 59 minutes 59 seconds") +
            flow("F-AT", "72 hours"));
    const auto warn = run_at(db, "pending_flow_age");
    CHECK(warn.status == CheckStatus::warn);
    CHECK(severities(warn) == Lines{"F-AT=warn", "F-BELOW=warn"});  // oldest first
    CHECK(warn.metrics["aged_warn"] == 2);
    CHECK(warn.metrics["aged_fail"] == 0);

    db.exec(flow("F-ABOVE", "72 hours 1 second"));
    const auto fail = run_at(db, "pending_flow_age");
    CHECK(fail.status == CheckStatus::fail);
    CHECK(severities(fail) == Lines{"F-ABOVE=fail", "F-AT=warn", "F-BELOW=warn"});
    CHECK(fail.metrics["aged_warn"] == 2);
    CHECK(fail.metrics["aged_fail"] == 1);
}

TEST_CASE("pending_flow_age: the thresholds are the settings, not constants")
{
    auto& db = clean_book();
    db.exec("DELETE FROM ledger.pending_flows;" + flow("AT-2", "2 hours") + flow("PAST-2", "2 hours 1 second") +
            flow("AT-5", "5 hours") + flow("PAST-5", "5 hours 1 second"));
    const auto result =
        run_at(db, "pending_flow_age", {{"RECON_PENDING_WARN_HOURS", "2"}, {"RECON_PENDING_FAIL_HOURS", "5"}});
    CHECK(result.status == CheckStatus::fail);
    CHECK(severities(result) == Lines{"PAST-5=fail", "AT-5=warn", "PAST-2=warn"});
    CHECK(result.metrics["warn_hours"] == 2);
    CHECK(result.metrics["fail_hours"] == 5);
}

TEST_CASE("snapshot_reconcile: a snapshot exactly RECON_SNAPSHOT_WINDOW_DAYS before the latest is replayed")
{
    auto& db = clean_book();
    // C001's wallet: 48.50 after 2026-11-03 (the latest snapshot, right), 0 before 2026-11-01.
    db.exec(
        "DELETE FROM ledger.balance_snapshots WHERE customer_id = 'C001';"
        "INSERT INTO ledger.balance_snapshots (account_code, customer_id, currency, as_of, balance) VALUES"
        " ('CUSTOMER_WALLET', 'C001', 'USD', '2026-11-05T00:00Z', 48.50),"
        " ('CUSTOMER_WALLET', 'C001', 'USD', '2026-10-29T00:00:01Z', 1),"  // 7 days less a second: in
        " ('CUSTOMER_WALLET', 'C001', 'USD', '2026-10-29T00:00:00Z', 2),"  // exactly 7 days: in
        " ('CUSTOMER_WALLET', 'C001', 'USD', '2026-10-28T23:59:59Z', 3)"   // a second more: out
    );
    const auto result = run_at(db, "snapshot_reconcile");
    CHECK(result.status == CheckStatus::fail);
    CHECK(result.variances_total == 2);
    REQUIRE(result.variances.size() == 2);
    CHECK(result.variances[0].actual == "2");  // the larger difference first
    CHECK(result.variances[1].actual == "1");

    // With a window of 8 days the older one is replayed too; with 6 neither is.
    CHECK(run_at(db, "snapshot_reconcile", {{"RECON_SNAPSHOT_WINDOW_DAYS", "8"}}).variances_total == 3);
    const auto six = run_at(db, "snapshot_reconcile", {{"RECON_SNAPSHOT_WINDOW_DAYS", "6"}});
    CHECK(six.variances_total == 0);
    CHECK(six.status == CheckStatus::ok);
}

// ---- the variance cap of every A, B and D check, with one break fewer, exactly as many, one
// more. Each check's true total must count every kind of break it lists, listed or not.

namespace {

struct CapCase {
    const char* check;
    /// SQL that adds the n-th break (1-based) on top of the clean ledger.
    std::vector<std::string> breaks;
    /// How many variances the first n breaks make (some breaks make two).
    std::vector<int> totals;
};

void check_cap(const CapCase& c)
{
    constexpr int cap = 3;
    for (std::size_t n = 1; n <= c.breaks.size(); ++n) {
        auto& db = clean_book();
        for (std::size_t i = 0; i < n; ++i) db.exec(c.breaks[i]);
        const int total = c.totals[n - 1];
        const std::string check_name = c.check;
        CAPTURE(check_name);
        CAPTURE(n);
        const auto result = run_at(db, c.check, {{"RECON_VARIANCE_CAP", std::to_string(cap)}});
        CHECK(result.status ==
              (std::string_view(c.check) == "pending_flow_age" && n < 3 ? CheckStatus::warn : CheckStatus::fail));
        CHECK(result.variances_total == total);
        CHECK(result.variances.size() == static_cast<std::size_t>(std::min(total, cap)));
        if (total == cap) {
            const auto uncapped = run_at(db, c.check, {{"RECON_VARIANCE_CAP", std::to_string(cap + 1)}});
            CHECK(uncapped.variances_total == total);
            CHECK(variance_lines(uncapped) == variance_lines(result));  // nothing was held back
        }
    }
}

std::string empty_txn(int id)
{
    return "INSERT INTO ledger.transactions (txn_id, source, source_txn_id, txn_type, status, effective_at)"
           " VALUES (" +
           std::to_string(id) + ", 'bank', 'E-" + std::to_string(id) + "', 'deposit', 'posted', '2026-11-10T00:00Z');";
}

std::string one_line_txn(int id, const std::string& amount)
{
    return empty_txn(id) + "INSERT INTO ledger.journal_lines VALUES (" + std::to_string(id) + ", " +
           std::to_string(id) + ", 'BROKER_CASH', NULL, 'DR', " + amount + ", 'USD');";
}

std::string duplicate_of(int id, const std::string& source, const std::string& source_txn_id)
{
    return "INSERT INTO ledger.transactions (txn_id, source, source_txn_id, txn_type, status, effective_at)"
           " VALUES (" +
           std::to_string(id) + ", '" + source + "', '" + source_txn_id + "', 'deposit', 'pending', now());";
}

}  // namespace

TEST_CASE("trial_balance_zero: cap at, under and over; the currency total and every transaction counted")
{
    // One unbalanced transaction is two variances (it and the USD total), each further one more.
    check_cap({"trial_balance_zero",
               {one_line_txn(7001, "1"), one_line_txn(7002, "2"), one_line_txn(7003, "3"), one_line_txn(7004, "4")},
               {2, 3, 4, 5}});
}

TEST_CASE("journal_line_completeness: cap at, under and over; misshapen transactions and line defects both counted")
{
    check_cap({"journal_line_completeness",
               {"INSERT INTO ledger.journal_lines VALUES (80, 9999, 'BROKER_CASH', NULL, 'DR', 1, 'USD');",
                empty_txn(7101), empty_txn(7102), empty_txn(7103)},
               {1, 2, 3, 4}});
    // More misshapen transactions than the cap.
    check_cap({"journal_line_completeness",
               {empty_txn(7111), empty_txn(7112), empty_txn(7113), empty_txn(7114)},
               {1, 2, 3, 4}});
    // The other order of kinds: the line defects are the ones past the cap.
    check_cap(
        {"journal_line_completeness",
         {empty_txn(7201), "INSERT INTO ledger.journal_lines VALUES (81, 9999, 'BROKER_CASH', NULL, 'DR', 1, 'USD');",
          "UPDATE ledger.journal_lines SET account_code = 'NO_SUCH' WHERE line_id = 4;",
          "UPDATE ledger.journal_lines SET amount = NULL WHERE line_id = 3;"},
         {1, 2, 3, 4}});
}

TEST_CASE("source_txn_uniqueness: lists exactly the cap of duplicated keys and counts the rest")
{
    check_cap({"source_txn_uniqueness",
               {duplicate_of(7301, "bank", "DEP-1"), duplicate_of(7302, "bank", "DEP-2"),
                duplicate_of(7303, "bank", "DEP-3"), duplicate_of(7304, "fees", "FEE-1")},
               {1, 2, 3, 4}});
}

TEST_CASE("dr_cr_sign_convention: cap at, under and over; bad lines and wrong-side balances both counted")
{
    check_cap({"dr_cr_sign_convention",
               {// C001 overdrawn: 48.50 - 60.00 (a wrong-side balance)
                "INSERT INTO ledger.transactions (txn_id, source, source_txn_id, customer_id, txn_type, status,"
                " effective_at) VALUES (7401, 'bank', 'WD-1', 'C001', 'withdrawal', 'posted', '2026-11-10T00:00Z');"
                "INSERT INTO ledger.journal_lines VALUES (90, 7401, 'CUSTOMER_WALLET', 'C001', 'DR', 60.00, 'USD'),"
                " (91, 7401, 'BROKER_CASH', 'C001', 'CR', 60.00, 'USD');",
                "UPDATE ledger.journal_lines SET amount = 0 WHERE line_id = 1;",
                "UPDATE ledger.journal_lines SET side = 'XX' WHERE line_id = 4;",
                "UPDATE ledger.journal_lines SET amount = -1 WHERE line_id = 9;"},
               {1, 2, 3, 4}});
}

TEST_CASE("account_totals: cap at, under and over; mismatched, missing and without-lines rows all counted")
{
    check_cap({"account_totals",
               {"UPDATE ledger.account_totals SET net = 1 WHERE account_code = 'FEE_INCOME';",
                "INSERT INTO ledger.account_totals (account_code, currency, debit_total, credit_total, net) VALUES "
                "('BROKER_CASH', 'EUR', 7, 0, 7);",
                "DELETE FROM ledger.account_totals WHERE account_code = 'CUSTOMER_SECURITIES';",
                "INSERT INTO ledger.account_totals (account_code, currency, debit_total, credit_total, net) VALUES "
                "('BROKER_CASH', 'GBP', 0, 0, 5);"},
               {1, 2, 3, 4}});
}

TEST_CASE("account_totals: rows without lines past the cap are in the unlisted count")
{
    auto& db = clean_book();
    // Three stored rows with no booked lines, the largest listed first; the cap lists one.
    db.exec(
        "INSERT INTO ledger.account_totals (account_code, currency, debit_total, credit_total, net) VALUES "
        "('BROKER_CASH', 'EUR', 7, 0, 7), ('BROKER_CASH', 'GBP', 0, 0, 5),"
        " ('BROKER_CASH', 'CHF', 0, 3, 0)");
    const auto result = run_at(db, "account_totals", {{"RECON_VARIANCE_CAP", "1"}});
    CHECK(result.status == CheckStatus::fail);
    CHECK(variance_lines(result) == Lines{"account_totals_without_lines account=BROKER_CASH currency=EUR"});
    CHECK(result.variances_total == 3);
    CHECK(result.metrics["without_lines"] == 3);
}

TEST_CASE("wallet_derivation: cap at, under and over; mismatched, missing and without-lines wallets all counted")
{
    check_cap({"wallet_derivation",
               {"UPDATE ledger.wallets SET balance = 40.00 WHERE customer_id = 'C001';",
                "INSERT INTO ledger.wallets (customer_id, account_code, currency, balance) VALUES ('C002', "
                "'CUSTOMER_WALLET', 'EUR', 3);",
                "DELETE FROM ledger.wallets WHERE customer_id = 'C002' AND currency = 'USD';",
                "INSERT INTO ledger.wallets (customer_id, account_code, currency, balance) VALUES ('C001', "
                "'CUSTOMER_WALLET', 'GBP', 2);"},
               {1, 2, 3, 4}});
}

TEST_CASE("snapshot_reconcile: cap at, under and over")
{
    const auto snapshot = [](const std::string& at, const std::string& balance) {
        return "INSERT INTO ledger.balance_snapshots (account_code, customer_id, currency, as_of, balance) VALUES"
               " ('CUSTOMER_WALLET', 'C001', 'USD', '" +
               at + "', " + balance + ");";
    };
    check_cap(
        {"snapshot_reconcile",
         {"UPDATE ledger.balance_snapshots SET balance = 1 WHERE customer_id = 'C001';",
          snapshot("2026-11-01T12:00Z", "5"), snapshot("2026-11-03T12:00Z", "7"), snapshot("2026-11-04T12:00Z", "9")},
         {1, 2, 3, 4}});
}

TEST_CASE("pending_flow_age: cap at, under and over")
{
    check_cap(
        {"pending_flow_age",
         {flow("CAP-1", "25 hours"), flow("CAP-2", "26 hours"), flow("CAP-3", "80 hours"), flow("CAP-4", "27 hours")},
         {1, 2, 3, 4}});
}

TEST_CASE("pending_flow_age: pending and in_transit flows are open; completed and cancelled ones never age")
{
    auto& db = clean_book();
    db.exec(
        "DELETE FROM ledger.pending_flows;"
        "INSERT INTO ledger.pending_flows (flow_id, flow_type, customer_id, amount, currency, status, created_at)"
        " VALUES ('T-1', 'deposit_in_transit', 'C002', 1, 'USD', 'in_transit', '2026-11-28T00:00:00Z'),"
        " ('P-1', 'withdrawal', 'C001', 2, 'USD', 'pending', '2026-11-28T00:00:00Z'),"
        " ('D-1', 'withdrawal', 'C001', 3, 'USD', 'completed', '2026-11-01T00:00:00Z'),"
        " ('X-1', 'withdrawal', 'C001', 4, 'USD', 'cancelled', '2026-11-01T00:00:00Z')");
    const auto result = run_at(db, "pending_flow_age");
    CHECK(result.status == CheckStatus::warn);
    CHECK(severities(result) == Lines{"P-1=warn", "T-1=warn"});
    CHECK(result.metrics["open_flows"] == 2);
}

TEST_CASE("the run lock: a key another session holds is refused; a free one is taken and released")
{
    auto& db = clean_book();
    const auto key = reconcile::advisory_lock_key(reconcile::run_lock_scope(db.book(), Category::A));
    reconcile::Session holder(db.url(), "holder");
    reconcile::Session other(db.url(), "other");
    {
        auto held = reconcile::AdvisoryLock::try_acquire(holder, key);
        REQUIRE(held.has_value());
        CHECK(held->still_held());
        CHECK_FALSE(reconcile::AdvisoryLock::try_acquire(other, key).has_value());
        CHECK_FALSE(reconcile::AdvisoryLock::try_acquire(other, key, reconcile::LockMode::shared).has_value());
    }
    // Released with the object: the other session gets it now.
    auto taken = reconcile::AdvisoryLock::try_acquire(other, key);
    CHECK(taken.has_value());
}

namespace {

/// Runs wallet_derivation through the whole run path (results, lifecycle) on `db`.
reconcile::RunOutcome run_wallets(const BookDb& db)
{
    reconcile::RunRequest request;
    request.book = db.book();
    request.category = Category::B;
    request.check_names = {"wallet_derivation"};
    return reconcile::execute_run(db.settings(), reconcile::default_registry(), request);
}

/// `n` stored wallets without lines: C101..C1nn, balance 1.
std::string wallets_without_lines(int n)
{
    return "INSERT INTO ledger.wallets (customer_id, account_code, currency, balance)"
           " SELECT 'C' || (100 + g), 'CUSTOMER_WALLET', 'USD', 1 FROM generate_series(1, " +
           std::to_string(n) + ") g;";
}

}  // namespace

TEST_CASE("lifecycle: the resolved breaks are listed up to resolved_listing_limit and all counted")
{
    CHECK(reconcile::resolved_listing_limit == 10);
    for (const int n : {9, 10, 11}) {
        CAPTURE(n);
        auto& db = clean_book();
        db.exec("TRUNCATE recon.variance_fingerprints, recon.check_states;" + wallets_without_lines(n));
        const auto opened = run_wallets(db);
        const auto* first = opened.changes.find("wallet_derivation");
        REQUIRE(first != nullptr);
        CHECK(first->new_count == n);

        // Seen again: persisting, one occurrence more.
        const auto again = run_wallets(db);
        const auto* second = again.changes.find("wallet_derivation");
        REQUIRE(second != nullptr);
        CHECK(second->persisting_count == n);
        CHECK(second->states.begin()->second.occurrences == 2);
        CHECK(second->states.begin()->second.open_since_run == opened.report.run_id);
        CHECK(db.query_value("SELECT min(occurrences) || ',' || max(occurrences) FROM recon.variance_fingerprints") ==
              "2,2");

        db.exec("DELETE FROM ledger.wallets WHERE customer_id LIKE 'C1%' AND length(customer_id) = 4");
        const auto fixed = run_wallets(db);
        const auto* third = fixed.changes.find("wallet_derivation");
        REQUIRE(third != nullptr);
        CHECK(fixed.report.status == reconcile::RunStatus::ok);
        CHECK(third->resolved_count == n);
        CHECK(third->resolved.size() == static_cast<std::size_t>(std::min(n, 10)));
        CHECK(db.query_value("SELECT count(*) FROM recon.variance_fingerprints WHERE status = 'resolved'") ==
              std::to_string(n));

        // Broken again: reopened, open since this run.
        db.exec(wallets_without_lines(1));
        const auto reopened = run_wallets(db);
        const auto* fourth = reopened.changes.find("wallet_derivation");
        REQUIRE(fourth != nullptr);
        CHECK(fourth->reopened_count == 1);
        CHECK(fourth->states.begin()->second.open_since_run == reopened.report.run_id);
        CHECK(db.query_value("SELECT open_since_run || ',' || reopen_count || ',' || occurrences"
                             " FROM recon.variance_fingerprints WHERE status = 'open'") ==
              std::to_string(reopened.report.run_id) + ",1,3");
    }
}

TEST_CASE("dr_cr_sign_convention: wrong-side balances past a list the bad lines filled are all counted")
{
    auto& db = clean_book();
    // One bad line fills a list of one; C001 and C002 are then both overdrawn.
    db.exec(
        "UPDATE ledger.journal_lines SET side = 'XX' WHERE line_id = 4;"
        "INSERT INTO ledger.transactions (txn_id, source, source_txn_id, customer_id, txn_type, status,"
        " effective_at) VALUES (7501, 'bank', 'WD-1', 'C001', 'withdrawal', 'posted', '2026-11-10T00:00Z'),"
        " (7502, 'bank', 'WD-2', 'C002', 'withdrawal', 'posted', '2026-11-10T00:00Z');"
        "INSERT INTO ledger.journal_lines VALUES (92, 7501, 'CUSTOMER_WALLET', 'C001', 'DR', 60.00, 'USD'),"
        " (93, 7501, 'BROKER_CASH', 'C001', 'CR', 60.00, 'USD'),"
        " (94, 7502, 'CUSTOMER_WALLET', 'C002', 'DR', 300.00, 'USD'),"
        " (95, 7502, 'BROKER_CASH', 'C002', 'CR', 300.00, 'USD')");
    const auto result = run_at(db, "dr_cr_sign_convention", {{"RECON_VARIANCE_CAP", "1"}});
    CHECK(result.status == CheckStatus::fail);
    CHECK(variance_lines(result) == Lines{"invalid_side line_id=4 txn_id=1002"});
    CHECK(result.variances_total == 3);
    CHECK(result.metrics["wrong_side_balances"] == 2);
    const auto uncapped = run_at(db, "dr_cr_sign_convention", {{"RECON_VARIANCE_CAP", "3"}});
    CHECK(variance_lines(uncapped) ==
          Lines{"invalid_side line_id=4 txn_id=1002",
                "wrong_side_balance account=CUSTOMER_WALLET currency=USD customer_id=C001",
                "wrong_side_balance account=CUSTOMER_WALLET currency=USD customer_id=C002"});
}
