// The fault suite (ctest label `faults`): the real binary against a real PostgreSQL, broken at
// exact points of a run. After every fault: no `running` row without a live lock holder (a row
// left by a killed process is marked `abandoned` by the next run), no partial results (an
// aborted run has no results and no variance rows), and a free lock (tests/faults/
// fault_support.hpp). Broker and webhook faults are in test_broker_faults.cpp.
#include <doctest/doctest.h>

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "lib/lock.hpp"
#include "tests/db/fixture.hpp"
#include "tests/faults/fault_support.hpp"
#include "tests/support/cli.hpp"
#include "tests/support/cluster.hpp"
#include "tests/support/process.hpp"

using namespace reconcile;
using namespace reconcile::test;
using namespace std::chrono_literals;

namespace {

// A ledger with one unbalanced transaction, so a run has variances to persist.
const char* const break_sql = "UPDATE ledger.journal_lines SET amount = 90.00 WHERE line_id = 2";

bool running_row_committed(const Target& db)
{
    return db.value("SELECT count(*) FROM recon.runs WHERE status = 'running'") == "1";
}

}  // namespace

TEST_CASE("kill -9 during the checks")
{
    auto& db = suite_book();
    db.exec(slow_journal_view(30));
    BackgroundProcess run({reconcile_binary(), "run", "--book", "uae", "--category", "A"}, db.env());
    REQUIRE(wait_for([&] { return running_row_committed(db); }, 15s));
    run.send_signal(SIGKILL);
    CHECK(run.wait(10s).term_signal == SIGKILL);
    db.restore_view();
    expect_recovered(db, 1);
    CHECK(db.value("SELECT string_agg(status, ',' ORDER BY run_id) FROM recon.runs") == "abandoned,ok");
}

namespace {

/// No session of a run is left on the book within 10 s (a cancelled statement ends with its session).
bool no_run_session_left(const Target& db)
{
    return wait_for(
        [&] {
            return db.value(
                       "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'reconcile'"
                       " AND datname = current_database()") == "0";
        },
        10s);
}

// A signal while a check's statement is in flight: the statement is cancelled, the run row ends
// `interrupted` (no results, no variance rows), the lock is free, and the exit is 128 + signal.
void expect_interrupted_by(int signal, int exit_code, const char* name)
{
    auto& db = suite_book();
    db.exec(break_sql);
    db.exec(slow_journal_view(30));
    BackgroundProcess run({reconcile_binary(), "run", "--book", "uae", "--category", "A"}, db.env());
    REQUIRE(wait_for([&] { return running_row_committed(db); }, 15s));
    // The slow journal statement is running on the read session: sleeping in the slow view (its
    // text, the proof's grouping, is longer than pg_stat_activity keeps). The full proof's second
    // session sleeps beside it in its own grouping; the check below sees both end.
    REQUIRE(wait_for(
        [&] {
            return db.value(
                       "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'reconcile'"
                       " AND datname = current_database() AND state = 'active' AND wait_event = 'PgSleep'") != "0";
        },
        15s));
    const auto sent = std::chrono::steady_clock::now();
    run.send_signal(signal);
    const auto result = run.wait(30s);
    const auto took = std::chrono::steady_clock::now() - sent;
    db.restore_view();
    CHECK(result.exit_code == exit_code);
    // Stopped by the run itself (the cancelled statement), not by the grace period's fallback.
    CHECK(took < 5s);
    CHECK(result.err.find("did not stop") == std::string::npos);
    CHECK(result.out.empty());
    const auto run_id = db.value("SELECT run_id FROM recon.runs");
    const std::string message = "run " + run_id + " interrupted by " + name + "; no results written";
    CHECK(result.err.find(message) != std::string::npos);
    CHECK(db.value("SELECT status FROM recon.runs") == "interrupted");
    CHECK(db.value("SELECT error FROM recon.runs") == message);
    CHECK(db.value("SELECT finished_at IS NOT NULL FROM recon.runs") == "t");
    CHECK(db.value("SELECT metadata::text FROM recon.runs") == "{}");
    CHECK(db.value("SELECT count(*) FROM recon.reconciliation_variances") == "0");
    CHECK(db.lock_free());
    // No session of the run is left behind (the cancelled statement is gone too).
    CHECK(no_run_session_left(db));
    expect_recovered(db, 0);
    CHECK(db.value("SELECT string_agg(status, ',' ORDER BY run_id) FROM recon.runs") == "interrupted,fail");
}

/// `run --category <categories>` on the broken ledger, sent SIGTERM while it sleeps inside its
/// results transaction: the main thread cannot notice the signal, so the signal's own thread ends
/// the control session (rolling the write back), marks the rows and exits. Returns how the process
/// ended and how long after the signal.
std::pair<ProcessResult, std::chrono::steady_clock::duration> sigterm_while_writing_results(Target& db,
                                                                                            const char* categories)
{
    db.exec(break_sql);
    BackgroundProcess run({reconcile_binary(), "run", "--book", "uae", "--category", categories},
                          db.env({{"RECON_FAULT_PAUSE_BEFORE_RESULTS_COMMIT_MS", "60000"}}));
    REQUIRE(run.wait_for_output("fault hook: pausing at BEFORE_RESULTS_COMMIT", 30s));
    const auto sent = std::chrono::steady_clock::now();
    run.send_signal(SIGTERM);
    auto result = run.wait(30s);
    return {std::move(result), std::chrono::steady_clock::now() - sent};
}

}  // namespace

TEST_CASE("SIGTERM during the checks: the run ends interrupted, exit 143, lock free, nothing partial")
{
    expect_interrupted_by(SIGTERM, 143, "SIGTERM");
}

TEST_CASE("SIGINT during the checks: the run ends interrupted, exit 130, lock free, nothing partial")
{
    expect_interrupted_by(SIGINT, 130, "SIGINT");
}

TEST_CASE("SIGTERM while the full proof waits for its second session: both sessions stop at once, exit 143")
{
    auto& db = suite_book();
    db.exec(break_sql);
    // Only the second session's grouping sleeps (it reads the chart of accounts).
    const std::string accounts = db.value("SELECT pg_get_viewdef('contract.accounts')");
    db.exec(slowed_view("contract.accounts", accounts, in_twin_only(30)));
    BackgroundProcess run({reconcile_binary(), "run", "--book", "uae", "--category", "A", "--full"}, db.env());
    // The twin's statements go as one batch, so its query text holds more than the grouping.
    const auto active = [&](const char* query) {
        return db.value(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'reconcile' AND state = 'active'"
            " AND datname = current_database() AND query LIKE '%" +
            std::string(query) + "%'");
    };
    const bool waiting = wait_for(
        [&] { return active("SELECT pg_sleep(0.05)") == "1" && active("CREATE TEMP TABLE proof_beside") == "1"; }, 15s);
    const auto sent = std::chrono::steady_clock::now();
    run.send_signal(SIGTERM);
    const auto result = run.wait(30s);
    const auto took = std::chrono::steady_clock::now() - sent;
    db.exec("CREATE OR REPLACE VIEW contract.accounts AS " + accounts);
    REQUIRE(waiting);
    CHECK(result.exit_code == 143);
    CHECK(took < 5s);
    CHECK(result.err.find("did not stop") == std::string::npos);
    CHECK(db.value("SELECT status FROM recon.runs") == "interrupted");
    CHECK(db.value("SELECT count(*) FROM recon.reconciliation_variances") == "0");
    CHECK(db.lock_free());
    CHECK(no_run_session_left(db));
    expect_recovered(db, 0);
}

TEST_CASE("the full proof's second session ended by the server: the checks prove in the snapshot, the verdict stands")
{
    auto& db = suite_book();
    db.exec(break_sql);
    // Only the second session's grouping sleeps (it reads the chart of accounts).
    const std::string accounts = db.value("SELECT pg_get_viewdef('contract.accounts')");
    db.exec(slowed_view("contract.accounts", accounts, in_twin_only(30)));
    BackgroundProcess run({reconcile_binary(), "run", "--book", "uae", "--category", "A", "--full"}, db.env());
    const auto twin_pid = [&] {
        return db.value(
            "SELECT coalesce(min(pid), 0) FROM pg_stat_activity WHERE application_name = 'reconcile'"
            " AND datname = current_database() AND state = 'active' AND query LIKE '%CREATE TEMP TABLE proof_beside "
            "%'");
    };
    const bool working = wait_for([&] { return twin_pid() != "0"; }, 15s);
    if (working) db.exec("SELECT pg_terminate_backend(" + twin_pid() + ")");
    const auto result = run.wait(30s);
    db.exec("CREATE OR REPLACE VIEW contract.accounts AS " + accounts);
    REQUIRE(working);
    INFO(result.err);
    CHECK(result.exit_code == 1);
    CHECK(result.err.find("left to the checks: the second session of the snapshot was lost") != std::string::npos);
    CHECK(db.value("SELECT status FROM recon.runs") == "fail");
    // Line 2 (txn 1001's credit of 100.00) now reads 90.00.
    CHECK(db.value("SELECT string_agg(concat_ws(' ', kind, keys->>'txn_id', expected, actual, difference), ',')"
                   " FROM recon.reconciliation_variances WHERE kind = 'unbalanced_txn'") ==
          "unbalanced_txn 1001 100.00 90.00 10.00");
    CHECK(db.lock_free());
    CHECK(no_run_session_left(db));
}

TEST_CASE("SIGTERM while the results are being written: the run still ends interrupted within the grace period")
{
    auto& db = suite_book();
    const auto [result, took] = sigterm_while_writing_results(db, "A");
    CHECK(result.exit_code == 143);
    CHECK(took >= 5s);  // the grace period (lib/interrupt.hpp interrupt_grace)
    CHECK(took < 15s);
    CHECK(result.err.find("did not stop within 5 s") != std::string::npos);
    CHECK(db.value("SELECT status FROM recon.runs") == "interrupted");
    CHECK(db.value("SELECT metadata::text FROM recon.runs") == "{}");
    CHECK(db.value("SELECT count(*) FROM recon.reconciliation_variances") == "0");
    CHECK(db.lock_free());
    expect_recovered(db, 0);
}

TEST_CASE("SIGTERM while the results of run --category A,B,D are written: none of the three runs lands")
{
    auto& db = suite_book();
    // The three runs of one snapshot write their results, and the proof, in one transaction: the
    // signal's thread rolls it back and marks every one of them.
    const auto result = sigterm_while_writing_results(db, "A,B,D").first;
    CHECK(result.exit_code == 143);
    CHECK(result.err.find("did not stop within 5 s") != std::string::npos);
    CHECK(db.value("SELECT string_agg(category || ':' || status || ':' || metadata::text, ',' ORDER BY run_id) "
                   "FROM recon.runs") == "A:interrupted:{},B:interrupted:{},D:interrupted:{}");
    CHECK(db.value("SELECT count(*) FROM recon.reconciliation_variances") == "0");
    CHECK(db.value("SELECT count(*) FROM recon.proof_state") == "0");
    for (const Category category : {Category::A, Category::B, Category::D}) CHECK(db.lock_free(category));
    expect_recovered(db, 0);
}

TEST_CASE("a running row whose lock is free reads as abandoned in runs list and runs show")
{
    auto& db = suite_book();
    db.exec(slow_journal_view(30));
    BackgroundProcess run({reconcile_binary(), "run", "--book", "uae", "--category", "A"}, db.env());
    REQUIRE(wait_for([&] { return running_row_committed(db); }, 15s));
    const auto run_id = db.value("SELECT run_id FROM recon.runs");
    // While its process holds the lock it is running...
    const auto live = reconcile_cli({"runs", "show", run_id, "--book", "uae", "--output", "json"}, db.env());
    CHECK(nlohmann::json::parse(live.out)["status"] == "running");
    run.send_signal(SIGKILL);
    CHECK(run.wait(10s).term_signal == SIGKILL);
    db.restore_view();
    REQUIRE(wait_for([&] { return db.lock_free(); }, 10s));
    // ...once the lock is free nothing calls it running, though the row still says so.
    CHECK(db.value("SELECT status FROM recon.runs") == "running");
    const auto shown = reconcile_cli({"runs", "show", run_id, "--book", "uae", "--output", "json"}, db.env());
    REQUIRE_MESSAGE(shown.exit_code == 0, shown.err);
    CHECK(nlohmann::json::parse(shown.out)["status"] == "abandoned");
    const auto listed = reconcile_cli({"runs", "list", "--book", "uae", "--output", "json"}, db.env());
    CHECK(nlohmann::json::parse(listed.out)[0]["status"] == "abandoned");
    const auto running =
        reconcile_cli({"runs", "list", "--book", "uae", "--status", "running", "--output", "json"}, db.env());
    CHECK(nlohmann::json::parse(running.out).empty());
    expect_recovered(db, 1);
}

TEST_CASE("kill -9 during the results write: nothing of it lands")
{
    auto& db = suite_book();
    db.exec(break_sql);
    BackgroundProcess run({reconcile_binary(), "run", "--book", "uae", "--category", "A"},
                          db.env({{"RECON_FAULT_PAUSE_BEFORE_RESULTS_COMMIT_MS", "60000"}}));
    REQUIRE(run.wait_for_output("fault hook: pausing at BEFORE_RESULTS_COMMIT", 30s));
    // The results UPDATE, the variance INSERTs and the proof are executed, not yet committed: two
    // transactions wait, the results and the ledger snapshot the proof is copied from.
    CHECK(db.value("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'reconcile'"
                   " AND datname = current_database() AND state = 'idle in transaction'") == "2");
    run.send_signal(SIGKILL);
    CHECK(run.wait(10s).term_signal == SIGKILL);
    CHECK(wait_for([&] { return db.lock_free(); }, 10s));
    CHECK(db.value("SELECT count(*) FROM recon.reconciliation_variances") == "0");
    CHECK(db.value("SELECT metadata::text FROM recon.runs") == "{}");
    CHECK(db.value("SELECT count(*) FROM recon.proof_state") == "0");
    CHECK(db.value("SELECT count(*) FROM recon.proof_groups") == "0");
    expect_recovered(db, 1);
    // The next run wrote its own results and variances, whole.
    CHECK(db.value("SELECT string_agg(status, ',' ORDER BY run_id) FROM recon.runs") == "abandoned,fail");
    CHECK(db.value("SELECT count(*) FROM recon.reconciliation_variances") == "2");
}

TEST_CASE("20 simultaneous runs of one book and category: one runs, the rest exit 11 within a second")
{
    auto& db = suite_book();
    db.exec(slow_journal_view(3));
    const std::vector<std::string> args{reconcile_binary(), "run", "--book", "uae", "--category", "A"};
    std::vector<std::unique_ptr<BackgroundProcess>> runs;
    std::vector<std::chrono::steady_clock::time_point> started;
    for (int i = 0; i < 20; ++i) {
        started.push_back(std::chrono::steady_clock::now());
        runs.push_back(std::make_unique<BackgroundProcess>(args, db.env()));
    }
    std::vector<std::chrono::milliseconds> took(runs.size(), 0ms);
    std::set<std::size_t> pending;
    for (std::size_t i = 0; i < runs.size(); ++i) pending.insert(i);
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (!pending.empty() && std::chrono::steady_clock::now() < deadline) {
        for (auto it = pending.begin(); it != pending.end();) {
            if (!runs[*it]->running()) {
                took[*it] = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                                  started[*it]);
                it = pending.erase(it);
            } else {
                ++it;
            }
        }
        std::this_thread::sleep_for(5ms);
    }
    REQUIRE(pending.empty());
    db.exec(normal_journal_view);
    std::multiset<int> codes;
    std::string others;
    for (std::size_t i = 0; i < runs.size(); ++i) {
        const auto result = runs[i]->wait(1s);
        codes.insert(result.exit_code);
        if (result.exit_code != 11) others += std::to_string(result.exit_code) + ": " + result.err;
        if (result.exit_code == 11) {
            CAPTURE(i);
            CHECK(took[i] < 1000ms);
            CHECK(result.out.empty());
        }
    }
    CHECK_MESSAGE(codes.count(0) == 1, others);
    CHECK(codes.count(11) == 19);
    CHECK(db.value("SELECT count(*) FROM recon.runs") == "1");
    expect_recovered(db, 0);
}

TEST_CASE("the server terminates the lock's connection: the run notices before committing and exits 75")
{
    auto& db = suite_book();
    db.exec(slow_journal_view(2));
    BackgroundProcess run({reconcile_binary(), "run", "--book", "uae", "--category", "A"}, db.env());
    REQUIRE(wait_for([&] { return running_row_committed(db); }, 15s));
    // The control backend is the reconcile session holding the run's advisory lock.
    const auto key = std::to_string(advisory_lock_key(run_lock_scope("uae", Category::A)));
    const auto control_pid = db.value(
        "SELECT a.pid FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid WHERE a.application_name = 'reconcile'"
        " AND a.datname = current_database()"
        " AND l.locktype = 'advisory' AND l.granted AND ((l.classid::bigint << 32) | l.objid::bigint) = " +
        key);
    REQUIRE_FALSE(control_pid.empty());
    CHECK(db.value("SELECT pg_terminate_backend(" + control_pid + ")") == "t");
    const auto result = run.wait(60s);
    db.exec(normal_journal_view);
    CHECK(result.exit_code == 75);
    CHECK(result.out.empty());
    CHECK(result.err.find("database connection lost") != std::string::npos);
    // The run recorded its own failure on a fresh connection: nothing stale, nothing partial.
    CHECK(db.value("SELECT status FROM recon.runs") == "error");
    CHECK(db.value("SELECT metadata::text FROM recon.runs") == "{}");
    expect_recovered(db, 0);
}

TEST_CASE("a statement timeout: that check ends error and the run completes")
{
    auto& db = suite_book();
    db.exec(slow_journal_view(1));
    const auto result = reconcile_cli({"run", "--book", "uae", "--category", "A", "--output", "json"},
                                      db.env({{"RECON_STATEMENT_TIMEOUT_MS", "200"}}));
    db.exec(normal_journal_view);
    CHECK(result.exit_code == 2);
    CHECK(db.value("SELECT status FROM recon.runs") == "error");
    CHECK(db.value("SELECT error IS NULL FROM recon.runs") == "t");
    CHECK(db.value("SELECT jsonb_array_length(metadata->'checks') FROM recon.runs") == "4");
    CHECK(db.value("SELECT metadata->'checks'->2->>'status' FROM recon.runs") == "ok");  // source_txn_uniqueness
    CHECK(db.value("SELECT metadata->'checks'->0->>'status' FROM recon.runs") == "error");
    expect_recovered(db, 0);
}

TEST_CASE("a failure to write results: exit 75, nothing partial")
{
    auto& db = suite_book();
    db.exec(break_sql);
    // Results land as metadata in the same transaction as the variance rows: refuse that write.
    db.exec(
        "CREATE OR REPLACE FUNCTION recon.refuse_results() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN IF NEW.metadata <> '{}' THEN RAISE EXCEPTION 'results refused by the fault suite'; END IF;"
        " RETURN NEW; END $$;"
        "CREATE TRIGGER refuse_results BEFORE UPDATE ON recon.runs FOR EACH ROW"
        " EXECUTE FUNCTION recon.refuse_results()");
    const auto result = reconcile_cli({"run", "--book", "uae", "--category", "A"}, db.env());
    db.exec("DROP TRIGGER refuse_results ON recon.runs; DROP FUNCTION recon.refuse_results()");
    CHECK(result.exit_code == 75);
    CHECK(result.out.empty());
    CHECK(result.err.find("could not write the results of run") != std::string::npos);
    CHECK(result.err.find("results refused by the fault suite") != std::string::npos);
    CHECK(db.value("SELECT status FROM recon.runs") == "error");
    CHECK(db.value("SELECT count(*) FROM recon.reconciliation_variances") == "0");
    expect_recovered(db, 0);
}

TEST_CASE("PostgreSQL restarted mid-run (a private cluster)")
{
    PrivateCluster cluster("faults");
    exec_sql(cluster.url("postgres"), "CREATE DATABASE faults_restart");
    Target db{cluster.url("faults_restart")};
    const auto migrated = reconcile_cli({"migrate", "--book", "uae"}, db.env());
    REQUIRE_MESSAGE(migrated.exit_code == 0, migrated.err);
    db.exec(clean_ledger_sql);
    db.exec(slow_journal_view(30));

    BackgroundProcess run({reconcile_binary(), "run", "--book", "uae", "--category", "A"}, db.env());
    REQUIRE(wait_for([&] { return running_row_committed(db); }, 15s));
    const auto restarted = cluster.restart();
    REQUIRE_MESSAGE(restarted.exit_code == 0, (restarted.err + restarted.out));
    const auto result = run.wait(60s);
    CHECK(result.exit_code == 75);
    CHECK(result.out.empty());
    CHECK(std::count(result.err.begin(), result.err.end(), '\n') >= 1);
    db.exec(normal_journal_view);
    // Either the run recorded its failure once the server was back, or (server still starting)
    // it left the row for the next run to abandon.
    const int stale = db.stale_running_rows();
    CHECK(stale <= 1);
    if (stale == 0) CHECK(db.value("SELECT status FROM recon.runs") == "error");
    expect_recovered(db, stale);
}
