// Category B checks against a real PostgreSQL: the clean ledger's stored wallets, account totals
// and snapshots derive exactly from its journal, then each kind of break is inserted on its own
// and the exact variance rows are asserted.
#include <doctest/doctest.h>

#include "tests/db/fixture.hpp"

using reconcile::CheckStatus;
using reconcile::test::BookDb;
using reconcile::test::variance_lines;
using Lines = std::vector<std::string>;

namespace {

BookDb& clean_book()
{
    return reconcile::test::clean_book("checks_b");
}

// A posted fee of `amount` charged to C001 at `effective_at`, booked on the wallet and fee income.
std::string posted_fee(int txn_id, const std::string& amount, const std::string& effective_at,
                       const std::string& status = "posted")
{
    const auto id = std::to_string(txn_id);
    return "INSERT INTO ledger.transactions (txn_id, source, source_txn_id, customer_id, txn_type, status,"
           " effective_at, posted_at) VALUES (" +
           id + ", 'fees', 'FEE-" + id + "', 'C001', 'fee', '" + status + "', '" + effective_at +
           "', now());"
           "INSERT INTO ledger.journal_lines VALUES (" +
           id + "1, " + id + ", 'CUSTOMER_WALLET', 'C001', 'DR', " + amount + ", 'USD'), (" + id + "2, " + id +
           ", 'FEE_INCOME', NULL, 'CR', " + amount + ", 'USD')";
}

std::string snapshot_id(const BookDb& db, const std::string& account, const std::string& customer_condition)
{
    return db.query_value("SELECT snapshot_id FROM ledger.balance_snapshots WHERE account_code = '" + account +
                          "' AND " + customer_condition);
}

}  // namespace

TEST_CASE("every B check passes on the clean ledger")
{
    auto& db = clean_book();
    for (const char* name : {"wallet_derivation", "account_totals", "snapshot_reconcile"}) {
        CAPTURE(name);
        const auto result = db.run_check(name);
        CHECK(result.status == CheckStatus::ok);
        CHECK(result.variances.empty());
        CHECK(result.variances_total == 0);
    }
    const auto wallets = db.run_check("wallet_derivation");
    CHECK(wallets.metrics["wallets_checked"] == 2);
    CHECK(wallets.metrics["journal_wallets"] == 2);
    CHECK(wallets.metrics["lines_checked"] == 4);
    const auto totals = db.run_check("account_totals");
    CHECK(totals.metrics["totals_checked"] == 5);
    CHECK(totals.metrics["journal_groups"] == 5);
    CHECK(totals.metrics["lines_checked"] == 10);
    const auto snapshots = db.run_check("snapshot_reconcile");
    CHECK(snapshots.metrics["snapshots_total"] == 2);
    CHECK(snapshots.metrics["snapshots_checked"] == 2);
    CHECK(snapshots.metrics["window_days"] == 7);
    CHECK(snapshots.metrics["clock"] == "effective_at");
}

TEST_CASE("B checks pass on an empty book and say so in their metrics")
{
    auto& db = clean_book();
    db.reset();
    for (const char* name : {"wallet_derivation", "account_totals", "snapshot_reconcile"}) {
        CAPTURE(name);
        CHECK(db.run_check(name).status == CheckStatus::ok);
    }
    CHECK(db.run_check("wallet_derivation").metrics["wallets_checked"] == 0);
    CHECK(db.run_check("snapshot_reconcile").metrics["snapshots_checked"] == 0);
}

TEST_CASE("wallet_derivation: a stored balance that differs from the journal")
{
    auto& db = clean_book();
    db.exec("UPDATE ledger.wallets SET balance = 40.00 WHERE customer_id = 'C001'");
    const auto result = db.run_check("wallet_derivation");
    CHECK(result.status == CheckStatus::fail);
    CHECK(variance_lines(result) == Lines{"wallet_mismatch account=CUSTOMER_WALLET currency=USD customer_id=C001"});
    const auto& variance = result.variances.at(0);
    CHECK(variance.expected == "48.50");
    CHECK(variance.actual == "40.00");
    CHECK(variance.difference == "-8.50");
    CHECK(variance.detail["booked_lines"] == 3);
    CHECK(result.metrics["mismatched"] == 1);
}

TEST_CASE("wallet_derivation: a booked line the stored wallet never absorbed")
{
    auto& db = clean_book();
    db.exec(posted_fee(2001, "2.00", "2026-11-20T10:00Z"));
    const auto result = db.run_check("wallet_derivation");
    CHECK(variance_lines(result) == Lines{"wallet_mismatch account=CUSTOMER_WALLET currency=USD customer_id=C001"});
    CHECK(result.variances.at(0).expected == "46.50");
    CHECK(result.variances.at(0).difference == "2.00");
}

TEST_CASE("wallet_derivation: journal lines without a stored wallet")
{
    auto& db = clean_book();
    db.exec("DELETE FROM ledger.wallets WHERE customer_id = 'C002'");
    const auto result = db.run_check("wallet_derivation");
    CHECK(result.status == CheckStatus::fail);
    CHECK(variance_lines(result) == Lines{"wallet_missing account=CUSTOMER_WALLET currency=USD customer_id=C002"});
    const auto& variance = result.variances.at(0);
    CHECK(variance.expected == "250.00");
    CHECK_FALSE(variance.actual.has_value());
    CHECK(variance.difference == "-250.00");
    CHECK(result.metrics["missing"] == 1);
}

TEST_CASE("wallet_derivation: a stored wallet with a balance and no booked lines")
{
    auto& db = clean_book();
    // An empty wallet without lines is a freshly opened account, not a break.
    db.exec(
        "INSERT INTO ledger.wallets (customer_id, account_code, currency, balance) VALUES"
        " ('C003', 'CUSTOMER_WALLET', 'USD', 10.00), ('C004', 'CUSTOMER_WALLET', 'USD', 0)");
    const auto result = db.run_check("wallet_derivation");
    CHECK(variance_lines(result) ==
          Lines{"wallet_without_lines account=CUSTOMER_WALLET currency=USD customer_id=C003"});
    CHECK(result.variances.at(0).expected == "0.00");  // no lines: zero, at the stored side's scale
    CHECK(result.variances.at(0).actual == "10.00");
    CHECK(result.variances.at(0).difference == "10.00");
    CHECK(result.metrics["wallets_checked"] == 4);
}

TEST_CASE("wallet_derivation counts booked lines only: pending ignored, reversed kept")
{
    auto& db = clean_book();
    db.exec(
        "INSERT INTO ledger.journal_lines VALUES (20, 1005, 'CUSTOMER_WALLET', 'C002', 'CR', 75.00, 'USD'),"
        " (21, 1005, 'BROKER_CASH', 'C002', 'DR', 75.00, 'USD');"
        "UPDATE ledger.transactions SET status = 'reversed' WHERE txn_id = 1002");
    CHECK(db.run_check("wallet_derivation").status == CheckStatus::ok);
    CHECK(db.run_check("account_totals").status == CheckStatus::ok);
    CHECK(db.run_check("snapshot_reconcile").status == CheckStatus::ok);
}

TEST_CASE("wallet_derivation: the list is capped while the true total is kept")
{
    auto& db = clean_book();
    db.exec(
        "INSERT INTO ledger.wallets (customer_id, account_code, currency, balance)"
        " SELECT 'X' || g, 'CUSTOMER_WALLET', 'USD', g FROM generate_series(1, 6) g");
    const auto result = db.run_check("wallet_derivation", {{"RECON_VARIANCE_CAP", "2"}});
    CHECK(result.variances_total == 6);
    CHECK(variance_lines(result) == Lines{"wallet_without_lines account=CUSTOMER_WALLET currency=USD customer_id=X5",
                                          "wallet_without_lines account=CUSTOMER_WALLET currency=USD customer_id=X6"});
    CHECK(result.metrics["without_lines"] == 6);
}

TEST_CASE("account_totals: one stored column that differs")
{
    auto& db = clean_book();
    db.exec("UPDATE ledger.account_totals SET debit_total = 340.00 WHERE account_code = 'BROKER_CASH'");
    const auto result = db.run_check("account_totals");
    CHECK(result.status == CheckStatus::fail);
    CHECK(variance_lines(result) ==
          Lines{"account_totals_mismatch account=BROKER_CASH column=debit_total currency=USD"});
    const auto& variance = result.variances.at(0);
    CHECK(variance.expected == "350.00");
    CHECK(variance.actual == "340.00");
    CHECK(variance.difference == "-10.00");
    CHECK(result.metrics["mismatched_columns"] == 1);
}

TEST_CASE("account_totals: a stored net that disagrees with its own debits and credits")
{
    auto& db = clean_book();
    db.exec("UPDATE ledger.account_totals SET net = 299.00 WHERE account_code = 'CUSTOMER_WALLET'");
    const auto result = db.run_check("account_totals");
    CHECK(variance_lines(result) == Lines{"account_totals_mismatch account=CUSTOMER_WALLET column=net currency=USD"});
    CHECK(result.variances.at(0).expected == "298.50");
    CHECK(result.variances.at(0).difference == "0.50");
}

TEST_CASE("account_totals: booked lines the stored totals never absorbed, one row per column")
{
    auto& db = clean_book();
    db.exec(posted_fee(2002, "2.00", "2026-11-20T10:00Z"));
    const auto result = db.run_check("account_totals");
    CHECK(variance_lines(result) ==
          Lines{"account_totals_mismatch account=CUSTOMER_WALLET column=debit_total currency=USD",
                "account_totals_mismatch account=CUSTOMER_WALLET column=net currency=USD",
                "account_totals_mismatch account=FEE_INCOME column=credit_total currency=USD",
                "account_totals_mismatch account=FEE_INCOME column=net currency=USD"});
    for (const auto& variance : result.variances) {
        CAPTURE(variance.kind);
        // Read in each account's normal direction: the CR-normal wallet's net fell by 2.00.
        const bool wallet_net = variance.keys.at(0).second == "CUSTOMER_WALLET" && variance.keys.back().second == "net";
        CHECK(variance.difference == (wallet_net ? "2.00" : "-2.00"));
    }
}

TEST_CASE("account_totals: journal lines on an account without stored totals")
{
    auto& db = clean_book();
    db.exec("DELETE FROM ledger.account_totals WHERE account_code = 'FEE_INCOME'");
    const auto result = db.run_check("account_totals");
    CHECK(variance_lines(result) == Lines{"account_totals_missing account=FEE_INCOME currency=USD"});
    const auto& variance = result.variances.at(0);
    CHECK(variance.expected == "1.50");
    CHECK_FALSE(variance.actual.has_value());
    CHECK(variance.difference == "-1.50");
    // FEE_INCOME has no debit line: its journal debit total reads 0.00 beside 1.50.
    CHECK(variance.detail["journal_debit_total"] == "0.00");
    CHECK(variance.detail["journal_credit_total"] == "1.50");
    CHECK(result.metrics["missing"] == 1);
}

TEST_CASE("account_totals: stored totals without booked lines")
{
    auto& db = clean_book();
    db.exec(
        "INSERT INTO ledger.account_totals (account_code, currency, debit_total, credit_total, net) VALUES"
        " ('FEE_INCOME', 'AED', 0, 5.00, 5.00), ('BROKER_CASH', 'AED', 0, 0, 0)");
    const auto result = db.run_check("account_totals");
    CHECK(variance_lines(result) == Lines{"account_totals_without_lines account=FEE_INCOME currency=AED"});
    CHECK(result.variances.at(0).expected == "0.00");  // no lines: zero, at the stored side's scale
    CHECK(result.variances.at(0).actual == "5.00");
    CHECK(result.variances.at(0).difference == "5.00");
    CHECK(result.variances.at(0).detail["stored_debit_total"] == "0.00");  // stored as 0, shown beside 5.00
    CHECK(result.variances.at(0).detail["stored_credit_total"] == "5.00");
}

TEST_CASE("account_totals: a stored column the journal has no line for reads 0.00 beside the stored figure")
{
    auto& db = clean_book();
    // FEE_INCOME has credits only: its journal debit total is zero, the stored one 7.25.
    db.exec("UPDATE ledger.account_totals SET debit_total = 7.25 WHERE account_code = 'FEE_INCOME'");
    const auto result = db.run_check("account_totals");
    CHECK(variance_lines(result) ==
          Lines{"account_totals_mismatch account=FEE_INCOME column=debit_total currency=USD"});
    const auto& variance = result.variances.at(0);
    CHECK(variance.expected == "0.00");
    CHECK(variance.actual == "7.25");
    CHECK(variance.difference == "7.25");
}

TEST_CASE("snapshot_reconcile: a stored snapshot that differs from the replayed journal")
{
    auto& db = clean_book();
    db.exec("UPDATE ledger.balance_snapshots SET balance = 90.00 WHERE customer_id = 'C001'");
    const auto id = snapshot_id(db, "CUSTOMER_WALLET", "customer_id = 'C001'");
    const auto result = db.run_check("snapshot_reconcile");
    CHECK(result.status == CheckStatus::fail);
    CHECK(variance_lines(result) ==
          Lines{"snapshot_mismatch account=CUSTOMER_WALLET currency=USD customer_id=C001 snapshot_id=" + id});
    const auto& variance = result.variances.at(0);
    CHECK(variance.expected == "98.50");
    CHECK(variance.actual == "90.00");
    CHECK(variance.difference == "-8.50");
    CHECK(variance.detail["as_of"] == "2026-11-02T12:00:00.000Z");
}

TEST_CASE("snapshot_reconcile: a posting back-dated into a snapshotted period is a break")
{
    auto& db = clean_book();
    db.exec(posted_fee(2003, "2.00", "2026-11-02T11:00Z"));
    const auto id = snapshot_id(db, "CUSTOMER_WALLET", "customer_id = 'C001'");
    const auto result = db.run_check("snapshot_reconcile");
    CHECK(variance_lines(result) ==
          Lines{"snapshot_mismatch account=CUSTOMER_WALLET currency=USD customer_id=C001 snapshot_id=" + id});
    CHECK(result.variances.at(0).expected == "96.50");
    CHECK(result.variances.at(0).difference == "2.00");
}

TEST_CASE("snapshot_reconcile: as_of is inclusive, later postings and pending ones do not count")
{
    auto& db = clean_book();
    db.exec(posted_fee(2004, "2.00", "2026-11-02T12:00:00.000001Z") + ";" +
            posted_fee(2005, "3.00", "2026-11-01T00:00Z", "pending"));
    CHECK(db.run_check("snapshot_reconcile").status == CheckStatus::ok);
    db.exec(posted_fee(2006, "2.00", "2026-11-02T12:00Z"));
    CHECK(db.run_check("snapshot_reconcile").variances_total == 1);
}

TEST_CASE("snapshot_reconcile: a whole-account snapshot covers every customer and lines without one")
{
    auto& db = clean_book();
    db.exec(
        "INSERT INTO ledger.transactions (txn_id, source, source_txn_id, txn_type, status, effective_at)"
        " VALUES (2007, 'bank', 'INT-1', 'interest', 'posted', '2026-11-04T00:00Z');"
        "INSERT INTO ledger.journal_lines VALUES (70, 2007, 'BROKER_CASH', NULL, 'DR', 0.40, 'USD'),"
        " (71, 2007, 'FEE_INCOME', NULL, 'CR', 0.40, 'USD')");
    const auto id = snapshot_id(db, "BROKER_CASH", "customer_id IS NULL");
    const auto result = db.run_check("snapshot_reconcile");
    CHECK(variance_lines(result) == Lines{"snapshot_mismatch account=BROKER_CASH currency=USD snapshot_id=" + id});
    CHECK(result.variances.at(0).expected == "300.40");
    CHECK(result.variances.at(0).actual == "300.00");
}

TEST_CASE("snapshot_reconcile replays the latest snapshot per key plus RECON_SNAPSHOT_WINDOW_DAYS before it")
{
    auto& db = clean_book();
    // 31 days before the latest C001 snapshot, and wrong: outside the default 7-day window.
    db.exec(
        "INSERT INTO ledger.balance_snapshots (account_code, customer_id, currency, as_of, balance)"
        " VALUES ('CUSTOMER_WALLET', 'C001', 'USD', '2026-10-02T12:00Z', 5.00),"
        " ('CUSTOMER_WALLET', 'C001', 'USD', '2026-11-01T12:00Z', 100.00)");
    const auto inside = db.run_check("snapshot_reconcile");
    CHECK(inside.status == CheckStatus::ok);
    CHECK(inside.metrics["snapshots_total"] == 4);
    CHECK(inside.metrics["snapshots_checked"] == 3);

    const auto id = snapshot_id(db, "CUSTOMER_WALLET", "as_of = '2026-10-02T12:00Z'");
    const auto wide = db.run_check("snapshot_reconcile", {{"RECON_SNAPSHOT_WINDOW_DAYS", "31"}});
    CHECK(wide.metrics["snapshots_checked"] == 4);
    CHECK(variance_lines(wide) ==
          Lines{"snapshot_mismatch account=CUSTOMER_WALLET currency=USD customer_id=C001 snapshot_id=" + id});
    CHECK(wide.variances.at(0).expected == "0.00");  // nothing to replay: zero, at the stored scale
    CHECK(wide.variances.at(0).actual == "5.00");
    CHECK(wide.variances.at(0).difference == "5.00");

    const auto latest_only = db.run_check("snapshot_reconcile", {{"RECON_SNAPSHOT_WINDOW_DAYS", "0"}});
    CHECK(latest_only.metrics["snapshots_checked"] == 2);
}

TEST_CASE("snapshot_reconcile: a snapshot dated after the run is a variance and hides no break")
{
    auto& db = clean_book();
    // A real break in C001's ordinary snapshot (replayed 98.50), and a snapshot of the same key 30
    // days after the run: anchored at it, the window would leave the break 30+ days out of reach.
    db.exec("UPDATE ledger.balance_snapshots SET balance = 90.00 WHERE customer_id = 'C001'");
    db.exec(
        "INSERT INTO ledger.balance_snapshots (account_code, customer_id, currency, as_of, balance)"
        " VALUES ('CUSTOMER_WALLET', 'C001', 'USD', now() + interval '30 days', 48.50)");
    const auto broken = snapshot_id(db, "CUSTOMER_WALLET", "as_of = '2026-11-02T12:00Z'");
    const auto future = snapshot_id(db, "CUSTOMER_WALLET", "as_of > now()");
    const auto future_as_of = db.query_value(
        "SELECT to_char(as_of AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM ledger.balance_snapshots"
        " WHERE snapshot_id = " +
        future);
    const auto result = db.run_check("snapshot_reconcile");
    CHECK(result.status == CheckStatus::fail);
    CHECK(variance_lines(result) ==
          Lines{"future_snapshot account=CUSTOMER_WALLET currency=USD customer_id=C001 snapshot_id=" + future,
                "snapshot_mismatch account=CUSTOMER_WALLET currency=USD customer_id=C001 snapshot_id=" + broken});
    REQUIRE(result.variances.size() == 2);
    // Future snapshots are listed first; they are never replayed, so nothing is expected.
    const auto& listed_future = result.variances.at(0);
    CHECK(listed_future.kind == "future_snapshot");
    CHECK_FALSE(listed_future.expected.has_value());
    CHECK(listed_future.actual == "48.50");
    CHECK_FALSE(listed_future.difference.has_value());
    CHECK(listed_future.detail["as_of"] == future_as_of);
    CHECK(listed_future.detail.contains("run_as_of"));
    const auto& mismatch = result.variances.at(1);
    CHECK(mismatch.expected == "98.50");
    CHECK(mismatch.actual == "90.00");
    CHECK(mismatch.difference == "-8.50");
    CHECK(result.variances_total == 2);
    CHECK(result.metrics["mismatched"] == 1);
    CHECK(result.metrics["future_snapshots"] == 1);
    CHECK(result.metrics["snapshots_total"] == 3);
    CHECK(result.metrics["snapshots_checked"] == 2);
}

TEST_CASE("a chart listing an account code twice doubles no sum, and journal_line_completeness names the code")
{
    BookDb db("uae");
    db.exec(reconcile::test::clean_ledger_sql);
    // BROKER_CASH listed twice alike; CUSTOMER_WALLET twice, its second row allowing the wrong side.
    db.exec(
        "DROP VIEW contract.accounts; CREATE VIEW contract.accounts AS"
        " SELECT account_code, name, account_type, normal_side, allow_wrong_side, is_customer_wallet"
        " FROM ledger.accounts"
        " UNION ALL SELECT account_code, name, account_type, normal_side, account_code = 'CUSTOMER_WALLET'"
        " OR allow_wrong_side, is_customer_wallet FROM ledger.accounts"
        " WHERE account_code IN ('BROKER_CASH', 'CUSTOMER_WALLET')");
    for (const char* name :
         {"wallet_derivation", "account_totals", "snapshot_reconcile", "trial_balance_zero", "dr_cr_sign_convention"}) {
        CAPTURE(name);
        const auto result = db.run_check(name);
        CHECK(variance_lines(result) == Lines{});
        CHECK(result.status == CheckStatus::ok);
    }
    const auto chart = db.run_check("journal_line_completeness");
    CHECK(chart.status == CheckStatus::fail);
    CHECK(variance_lines(chart) ==
          Lines{"duplicate_account account=BROKER_CASH", "duplicate_account account=CUSTOMER_WALLET"});
    REQUIRE(chart.variances.size() == 2);
    CHECK(chart.variances[0].detail == nlohmann::json{{"rows", 2}, {"conflicting", false}});
    CHECK(chart.variances[1].detail == nlohmann::json{{"rows", 2}, {"conflicting", true}});
    CHECK(chart.metrics["duplicate_accounts"] == 2);

    // C001 overdraws the wallet: the strict reading of the chart (one row forbids it) reports it.
    db.exec("UPDATE ledger.journal_lines SET amount = 500.00 WHERE line_id IN (5, 6)");
    CHECK(variance_lines(db.run_check("dr_cr_sign_convention")) ==
          Lines{"wrong_side_balance account=CUSTOMER_WALLET currency=USD customer_id=C001"});
}

TEST_CASE("B checks match keys with a null part to the same null: a wallet without a customer agrees with its lines")
{
    BookDb db("uae");
    db.exec(reconcile::test::clean_ledger_sql);
    // An unallocated sweep: booked lines on the wallet account without a customer, and the stored
    // wallet for them (the view maps the table's placeholder to null), balance right.
    db.exec(
        "INSERT INTO ledger.transactions (txn_id, source, source_txn_id, customer_id, txn_type, status,"
        " effective_at) VALUES (1006, 'sweep', 'SW-1', NULL, 'sweep', 'posted', '2026-11-06T10:00Z');"
        "INSERT INTO ledger.journal_lines VALUES (11, 1006, 'BROKER_CASH', NULL, 'DR', 7, 'USD'),"
        " (12, 1006, 'CUSTOMER_WALLET', NULL, 'CR', 7, 'USD');"
        "INSERT INTO ledger.wallets (customer_id, account_code, currency, balance) VALUES"
        " ('-', 'CUSTOMER_WALLET', 'USD', 7);"
        "UPDATE ledger.account_totals SET debit_total = debit_total + 7, net = net + 7"
        " WHERE account_code = 'BROKER_CASH';"
        "UPDATE ledger.account_totals SET credit_total = credit_total + 7, net = net + 7"
        " WHERE account_code = 'CUSTOMER_WALLET';"
        "CREATE OR REPLACE VIEW contract.wallets AS SELECT NULLIF(customer_id, '-') AS customer_id, account_code,"
        " currency, balance, updated_at, xmin AS row_xmin FROM ledger.wallets");
    const auto agreed = db.run_check("wallet_derivation");
    CHECK(variance_lines(agreed) == Lines{});
    CHECK(agreed.status == CheckStatus::ok);
    CHECK(agreed.metrics["wallets_checked"] == 3);
    CHECK(db.run_check("account_totals").status == CheckStatus::ok);

    // Off by one: one wallet_mismatch for the null customer, not a missing and an extra wallet.
    db.exec("UPDATE ledger.wallets SET balance = 8 WHERE customer_id = '-'");
    CHECK(variance_lines(db.run_check("wallet_derivation")) ==
          Lines{"wallet_mismatch account=CUSTOMER_WALLET currency=USD"});
}
