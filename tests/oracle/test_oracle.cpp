// The differential ("oracle") test of categories A, B and D (issue 14). A seeded generator makes
// small random ledgers (100-2,000 lines, several currencies, amounts of scale 0-8 up to 10^18,
// unicode ids, reversals, pending transactions, wallets, account totals, snapshots, pending
// flows) and applies random mutations of every kind these checks exist to catch. A reference
// implementation written plainly (oracle_ledger.cpp: no SQL, no code of the checks) computes the variances
// the checks must report; the real checks run on a real PostgreSQL, and the two must agree
// exactly: each check's status, every variance's kind, keys, expected, actual and difference
// (as the text PostgreSQL prints, scale included, with the documented display rule applied:
// a variance's figures share the finest scale among them) and the true totals.
//
// ORACLE_SEED=N runs one case (the seed a failure prints); ORACLE_CASES=N changes how many.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "checks/registry.hpp"
#include "lib/db.hpp"
#include "lib/runner.hpp"
#include "tests/db/fixture.hpp"
#include "tests/oracle/oracle_ledger.hpp"

using namespace reconcile::oracle;
using reconcile::test::BookDb;

namespace {

/// How often each variance kind was expected over the run: every kind must occur.
std::map<std::string, int>& kinds_seen()
{
    static std::map<std::string, int> seen;
    return seen;
}

std::vector<std::string> run_case(BookDb& db, pqxx::connection& writer, reconcile::Session& read, std::uint64_t seed)
{
    const Ledger ledger = Generator(seed).make();
    {
        // DELETE, not TRUNCATE: a few hundred rows go faster than new relation files.
        pqxx::work txn(writer);
        txn.exec(
            "DELETE FROM ledger.accounts; DELETE FROM ledger.transactions; DELETE FROM ledger.journal_lines;"
            " DELETE FROM ledger.wallets; DELETE FROM ledger.account_totals; DELETE FROM ledger.balance_snapshots;"
            " DELETE FROM ledger.pending_flows;\n" +
            ledger_sql(ledger));
        txn.commit();
    }
    const Verdict verdict = reference_verdict(ledger);
    for (const auto& [check, lines] : verdict.variances) {
        for (const auto& line : lines) ++kinds_seen()[line.substr(0, line.find(' ', check.size() + 1))];
    }

    const auto settings = db.settings({{"RECON_VARIANCE_CAP", std::to_string(ledger.cap)},
                                       {"RECON_SNAPSHOT_WINDOW_DAYS", std::to_string(ledger.window_days)},
                                       {"RECON_PENDING_WARN_HOURS", std::to_string(ledger.warn_hours)},
                                       {"RECON_PENDING_FAIL_HOURS", std::to_string(ledger.fail_hours)}});
    const auto as_of = reconcile::Timestamp(std::chrono::seconds(ledger.as_of));
    std::vector<std::string> problems;
    for (const auto category : {reconcile::Category::A, reconcile::Category::B, reconcile::Category::D}) {
        const auto checks = reconcile::default_registry().select(category, {});
        for (const auto& result : reconcile::run_checks(settings, db.book(), category, checks, read, as_of)) {
            for (auto& problem : disagreements(result, verdict, ledger.cap)) problems.push_back(std::move(problem));
        }
    }
    return problems;
}

}  // namespace

TEST_CASE("the reference arithmetic prints numeric as PostgreSQL does")
{
    CHECK(text(Num{12345, 2}) == "123.45");
    CHECK(text(Num{-5, 3}) == "-0.005");
    CHECK(text(Num{0, 2}) == "0.00");
    CHECK(text(add(Num{150, 2}, Num{25, 1})) == "4.00");
    CHECK(text(sub(Num{}, Num{700, 2})) == "-7.00");
    CHECK(text(Num{static_cast<Int>(999999999999999999LL) * 100000000 + 12345678, 8}) == "999999999999999999.12345678");
}

TEST_CASE("A, B and D agree with an independent reference on random ledgers")
{
    // Day arithmetic in the snapshot window is calendar days in the session's time zone.
    setenv("PGTZ", "UTC", 1);
    BookDb db("oracle");
    pqxx::connection writer(db.url());
    reconcile::Session read(db.url(), "read");
    const auto cases = env_number("ORACLE_CASES", 300);
    const auto first_seed = env_number("ORACLE_SEED", 1);
    const bool one_seed = std::getenv("ORACLE_SEED") != nullptr && std::getenv("ORACLE_CASES") == nullptr;
    const auto started = std::chrono::steady_clock::now();
    int failed = 0;
    const std::uint64_t count = one_seed ? 1 : cases;
    for (std::uint64_t i = 0; i < count; ++i) {
        const std::uint64_t seed = first_seed + i;
        const auto problems = run_case(db, writer, read, seed);
        if (!problems.empty()) {
            ++failed;
            std::string message = "ORACLE_SEED=" + std::to_string(seed) + " disagrees:";
            for (const auto& problem : problems) message += "\n  " + problem;
            FAIL_CHECK(message);
            if (failed >= 5) break;
        }
    }
    const auto seconds =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count() /
        1000.0;
    std::string kinds;
    for (const auto& [kind, times] : kinds_seen()) kinds += "\n  " + kind + ": " + std::to_string(times);
    MESSAGE("oracle: " << count << " seeded cases from seed " << first_seed << " in " << seconds
                       << " s; variances expected (and found) by kind:" << kinds);
    CHECK(failed == 0);
    if (count >= 100) {
        // The generator's mutations reach every kind the A, B and D checks report.
        for (const char* kind : {"trial_balance_zero unbalanced_currency",
                                 "trial_balance_zero unbalanced_txn",
                                 "journal_line_completeness too_few_lines",
                                 "journal_line_completeness one_sided_txn",
                                 "journal_line_completeness orphan_line",
                                 "journal_line_completeness unknown_account",
                                 "journal_line_completeness incomplete_line",
                                 "source_txn_uniqueness duplicate_source_txn",
                                 "dr_cr_sign_convention invalid_side",
                                 "dr_cr_sign_convention non_positive_amount",
                                 "dr_cr_sign_convention wrong_side_balance",
                                 "wallet_derivation wallet_mismatch",
                                 "wallet_derivation wallet_missing",
                                 "wallet_derivation wallet_without_lines",
                                 "account_totals account_totals_mismatch",
                                 "account_totals account_totals_missing",
                                 "account_totals account_totals_without_lines",
                                 "snapshot_reconcile snapshot_mismatch",
                                 "snapshot_reconcile future_snapshot",
                                 "pending_flow_age aged_pending"}) {
            CAPTURE(kind);
            CHECK(kinds_seen()[kind] > 0);
        }
    }
}
