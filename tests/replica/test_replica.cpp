// Beyond one machine: the checks read a real streaming standby (pg_basebackup -R) while the
// advisory lock and the run rows stay on the primary; what a lagging standby and a recovery
// conflict do to a run.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include <pqxx/pqxx>

#include "lib/lock.hpp"
#include "tests/db/fixture.hpp"
#include "tests/support/cli.hpp"
#include "tests/support/cluster.hpp"
#include "tests/support/process.hpp"
#include "tests/support/run_document.hpp"

using namespace reconcile;
using namespace reconcile::test;
using namespace std::chrono_literals;

namespace {

std::string value(const std::string& url, const std::string& sql)
{
    pqxx::connection connection(url);
    pqxx::nontransaction txn(connection);
    const auto row = txn.exec1(sql);
    return row[0].is_null() ? std::string{} : row[0].as<std::string>();
}

/// Runs one statement outside a transaction block (ALTER SYSTEM needs that).
void execute(const std::string& url, const std::string& sql)
{
    pqxx::connection connection(url);
    pqxx::nontransaction txn(connection);
    txn.exec0(sql);
}

}  // namespace

TEST_CASE("checks read a streaming standby; the lock and the run rows stay on the primary")
{
    PrivateCluster primary("replica-primary");
    exec_sql(primary.url("postgres"), "CREATE DATABASE book_uae");
    const std::string primary_url = primary.url("book_uae");
    ProcessOptions on_primary;
    on_primary.env = {{"RECON_BOOKS", "uae"}, {"RECON_DATABASE_URL_UAE", primary_url}};
    on_primary.unset_env = {"RECON_CONFIG", "ALERT_WEBHOOK_URL", "RECON_READ_DATABASE_URL_UAE"};
    REQUIRE(reconcile_cli({"migrate", "--book", "uae"}, on_primary).exit_code == 0);
    exec_sql(primary_url, clean_ledger_sql);

    PrivateCluster standby("replica-standby", primary);
    const std::string standby_url = standby.url("book_uae");
    CHECK(value(standby_url, "SELECT pg_is_in_recovery()") == "t");
    ProcessOptions on_standby = on_primary;
    on_standby.env["RECON_READ_DATABASE_URL_UAE"] = standby_url;
    on_standby.unset_env = {"RECON_CONFIG", "ALERT_WEBHOOK_URL"};
    const auto runs_on = [](const std::string& url) { return value(url, "SELECT count(*) FROM recon.runs"); };

    SUBCASE("the book's own URL naming the standby: 78, said in one line, nothing written")
    {
        ProcessOptions misplaced = on_primary;
        misplaced.env["RECON_DATABASE_URL_UAE"] = standby_url;
        const auto run = reconcile_cli({"run", "--book", "uae", "--category", "A"}, misplaced);
        CHECK(run.exit_code == 78);
        CHECK(run.err ==
              "reconcile: error: the database refused a write as read only (cannot execute UPDATE in a read-only "
              "transaction): the book's database URL names a standby or a read-only server; point it at the primary "
              "(a standby serves as RECON_READ_DATABASE_URL_<BOOK>)\n");
        CHECK(runs_on(primary_url) == "0");
    }

    SUBCASE("a run reads there and writes only to the primary")
    {
        const auto run = reconcile_cli({"run", "--book", "uae", "--category", "A"}, on_standby);
        CHECK_MESSAGE(run.exit_code == 0, run.err);
        CHECK(run.err.find("read from a standby") != std::string::npos);
        CHECK(value(primary_url, "SELECT string_agg(status, ',') FROM recon.runs") == "ok");

        REQUIRE(wait_for([&] { return runs_on(standby_url) == "1"; }, 30s));
        // Freeze the standby, then break the primary: only a run that reads the standby misses it.
        value(standby_url, "SELECT pg_wal_replay_pause()");
        REQUIRE(
            wait_for([&] { return value(standby_url, "SELECT pg_get_wal_replay_pause_state()") == "paused"; }, 10s));
        exec_sql(primary_url, "UPDATE ledger.journal_lines SET amount = 90.00 WHERE line_id = 2");
        const auto frozen = reconcile_cli({"run", "--book", "uae", "--category", "A"}, on_standby);
        CHECK_MESSAGE(frozen.exit_code == 0, frozen.err);
        const auto direct = reconcile_cli({"run", "--book", "uae", "--category", "A"}, on_primary);
        CHECK(direct.exit_code == 1);
        CHECK(runs_on(primary_url) == "3");  // every run row is on the primary
        CHECK(runs_on(standby_url) == "1");  // the frozen standby has not even seen the others

        // A lagging standby: past RECON_READ_MAX_LAG_SECONDS the run refuses, writing nothing.
        REQUIRE(wait_for(
            [&] {
                return value(standby_url,
                             "SELECT clock_timestamp() - pg_last_xact_replay_timestamp() > interval '1.2 seconds'") ==
                       "t";
            },
            10s));
        auto strict = on_standby;
        strict.env["RECON_READ_MAX_LAG_SECONDS"] = "1";
        const auto refused = reconcile_cli({"run", "--book", "uae", "--category", "A"}, strict);
        CHECK(refused.exit_code == 75);
        CHECK(refused.err.find("behind the primary, more than RECON_READ_MAX_LAG_SECONDS=1; nothing written") !=
              std::string::npos);
        CHECK(runs_on(primary_url) == "3");

        // Replay resumes: the standby catches up and the break is seen there too.
        value(standby_url, "SELECT pg_wal_replay_resume()");
        REQUIRE(wait_for(
            [&] { return value(standby_url, "SELECT amount FROM ledger.journal_lines WHERE line_id = 2") == "90.00"; },
            30s));
        const auto caught_up = reconcile_cli({"run", "--book", "uae", "--category", "A", "--output", "json"}, strict);
        CHECK_MESSAGE(caught_up.exit_code == 1, caught_up.err);
        CHECK(caught_up.out.find("\"txn_id\": \"1001\"") != std::string::npos);
    }

    SUBCASE("a standby holds no proof: its checks split a transaction that mixes currencies from its own lines")
    {
        // Transaction 1006 debits dollars and credits dirhams: unbalanced in each currency.
        exec_sql(primary_url,
                 "INSERT INTO ledger.transactions (txn_id, source, source_txn_id, customer_id, txn_type, status,"
                 " effective_at) VALUES (1006, 'fx', 'FX-1', 'C001', 'fx', 'posted', now());"
                 "INSERT INTO ledger.journal_lines VALUES (12, 1006, 'BROKER_CASH', 'C001', 'DR', 10, 'USD'),"
                 " (13, 1006, 'CUSTOMER_WALLET', 'C001', 'CR', 36.73, 'AED')");
        REQUIRE(wait_for([&] { return value(standby_url, "SELECT count(*) FROM ledger.journal_lines") == "12"; }, 30s));
        const auto run = reconcile_cli(
            {"run", "--book", "uae", "--category", "A", "--check", "trial_balance_zero", "--output", "json"},
            on_standby);
        CHECK_MESSAGE(run.exit_code == 1, run.err);
        CHECK(run_variance_lines(nlohmann::json::parse(run.out)) ==
              std::vector<std::string>{"trial_balance_zero: unbalanced_currency currency=AED",
                                       "trial_balance_zero: unbalanced_currency currency=USD",
                                       "trial_balance_zero: unbalanced_txn currency=AED txn_id=1006",
                                       "trial_balance_zero: unbalanced_txn currency=USD txn_id=1006"});
    }

    SUBCASE("a replica of another book is refused before anything is written")
    {
        exec_sql(primary.url("postgres"), "CREATE DATABASE book_india");
        auto india = on_primary;
        india.env = {{"RECON_BOOKS", "uae,india"},
                     {"RECON_DATABASE_URL_UAE", primary_url},
                     {"RECON_DATABASE_URL_INDIA", primary.url("book_india")}};
        REQUIRE(reconcile_cli({"migrate", "--book", "india"}, india).exit_code == 0);
        REQUIRE(wait_for(
            [&] {
                return value(standby.url("postgres"),
                             "SELECT count(*) FROM pg_database WHERE datname = 'book_india'") == "1";
            },
            30s));
        REQUIRE(wait_for(
            [&] {
                try {
                    return value(standby.url("book_india"), "SELECT book FROM contract.book_identity") == "india";
                } catch (const std::exception&) {
                    return false;
                }
            },
            30s));
        auto wrong = on_standby;
        wrong.env["RECON_READ_DATABASE_URL_UAE"] = standby.url("book_india");
        const auto refused = reconcile_cli({"run", "--book", "uae", "--category", "A"}, wrong);
        CHECK(refused.exit_code == 78);
        CHECK(refused.err.find("belongs to book 'india'") != std::string::npos);
        CHECK(runs_on(primary_url) == "0");
    }

    SUBCASE("a recovery conflict ends the read session: the run exits 75 and writes no results")
    {
        // The standby cancels queries that block replay for more than 100 ms.
        execute(standby.url("postgres"), "ALTER SYSTEM SET max_standby_streaming_delay = '100ms'");
        value(standby.url("postgres"), "SELECT pg_reload_conf()");
        exec_sql(primary_url, slow_journal_view(30));
        REQUIRE(wait_for(
            [&] {
                return value(standby_url,
                             "SELECT count(*) FROM pg_views WHERE viewname = 'journal_lines'"
                             " AND definition LIKE '%pg_sleep%'") == "1";
            },
            30s));
        BackgroundProcess run({reconcile_binary(), "run", "--book", "uae", "--category", "A"}, on_standby);
        // Inside the slow view's sleep, not an earlier statement of the run: were the view replaced
        // before the check read it, the check would read the replacement and the run end ok.
        REQUIRE(wait_for(
            [&] {
                return value(standby_url,
                             "SELECT count(*) FROM pg_stat_activity WHERE application_name"
                             " = 'reconcile' AND state = 'active' AND wait_event = 'PgSleep'") == "1";
            },
            30s));
        // Replaying the view's replacement needs a lock the running check holds: a conflict.
        exec_sql(primary_url, normal_journal_view);
        const auto result = run.wait(60s);
        CHECK(result.exit_code == 75);
        // libpq loses the server's reason ("terminating connection due to conflict with
        // recovery") once the socket is closed; the run names the session and the check.
        CHECK_MESSAGE(result.err.find("the read session ended during check trial_balance_zero") != std::string::npos,
                      result.err);
        CHECK(value(primary_url, "SELECT status || ' ' || metadata::text FROM recon.runs") == "error {}");
        const auto key = advisory_lock_key(run_lock_scope("uae", Category::A));
        CHECK(value(primary_url, "SELECT pg_try_advisory_lock(" + std::to_string(key) + ")") == "t");
    }
}
