// The run path against a real PostgreSQL: lock, run rows, snapshot, per-check failure isolation.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <memory>

#include <pqxx/pqxx>

#include "checks/registry.hpp"
#include "lib/alerts.hpp"
#include "lib/errors.hpp"
#include "lib/history.hpp"
#include "lib/lock.hpp"
#include "lib/metrics.hpp"
#include "lib/output.hpp"
#include "lib/runner.hpp"
#include "lib/snapshot.hpp"
#include "tests/db/fixture.hpp"

using namespace reconcile;
using reconcile::test::BookDb;
using reconcile::test::normal_journal_view;
using reconcile::test::slow_journal_view;

namespace {

BookDb& book()
{
    return reconcile::test::clean_book("uae");
}

RunRequest request_for(Category category)
{
    RunRequest request;
    request.book = "uae";
    request.category = category;
    return request;
}

}  // namespace

namespace {

// Records, in a temporary table of the snapshot, what the snapshot allowed when the check was
// prepared and when it ran, and reports both as metrics.
class SnapshotProbe : public Check {
public:
    std::string_view name() const override { return "snapshot_probe"; }
    Category category() const override { return Category::A; }
    std::string_view description() const override { return "Records the snapshot's mode."; }
    std::set<ContractView> reads() const override { return {}; }
    std::string_view snapshot_setup_sql() const override
    {
        return "CREATE TEMP TABLE IF NOT EXISTS probe_seen (phase text, read_only text) ON COMMIT DELETE ROWS";
    }
    void prepare_snapshot(CheckContext& context) const override
    {
        // What only a writable transaction may do, even to a temporary table.
        context.ledger().exec0("CREATE TEMP TABLE probe_made ON COMMIT DROP AS SELECT 1 AS one");
        record(context, "prepare");
    }
    void run(CheckContext& context) const override
    {
        record(context, "run");
        for (const auto& row : context.ledger().exec("SELECT phase, read_only FROM pg_temp.probe_seen")) {
            context.metrics()[row["phase"].c_str()] = row["read_only"].c_str();
        }
    }

private:
    static void record(CheckContext& context, const char* phase)
    {
        context.ledger().exec_params0(
            "INSERT INTO pg_temp.probe_seen VALUES ($1, current_setting('transaction_read_only'))", phase);
    }
};

}  // namespace

TEST_CASE("checks run in a read-only snapshot; only their preparation before the first may write temporary tables")
{
    auto& db = book();
    const Settings config = db.settings();
    const SnapshotProbe probe;
    Session read(db.url(), "read");
    {
        LedgerSnapshot snapshot(read, config.statement_timeout_ms, {std::string(probe.snapshot_setup_sql())});
        snapshot.defer_read_only();
        const auto results = run_checks(config, db.book(), Category::A, {&probe}, snapshot,
                                        std::chrono::system_clock::now(), std::nullopt, nullptr, nullptr);
        snapshot.close();
        REQUIRE(results.size() == 1);
        CHECK(results[0].status == CheckStatus::ok);
        CHECK(results[0].metrics == nlohmann::json{{"prepare", "off"}, {"run", "on"}});
    }
    {
        // Without the deferral (a run that builds no proof) nothing is prepared and the
        // preparation's statement is refused: the snapshot is read only from the start.
        LedgerSnapshot snapshot(read, config.statement_timeout_ms, {std::string(probe.snapshot_setup_sql())});
        const auto results = run_checks(config, db.book(), Category::A, {&probe}, snapshot,
                                        std::chrono::system_clock::now(), std::nullopt, nullptr, nullptr);
        snapshot.close();
        REQUIRE(results.size() == 1);
        CHECK(results[0].metrics == nlohmann::json{{"run", "on"}});
    }
}

TEST_CASE("a run commits one row with every check's result")
{
    auto& db = book();
    std::int64_t started_id = 0;
    auto request = request_for(Category::A);
    request.on_started = [&](std::int64_t id) {
        started_id = id;
        // The running row is committed before the checks start: another session sees it.
        CHECK(db.query_value("SELECT status FROM recon.runs WHERE run_id = " + std::to_string(id)) == "running");
    };
    const auto outcome = execute_run(db.settings(), default_registry(), request);
    REQUIRE_FALSE(outcome.lock_held);
    CHECK(outcome.report.run_id == started_id);
    CHECK(outcome.report.status == RunStatus::ok);
    CHECK(outcome.report.checks.size() == default_registry().select(Category::A, {}).size());
    const auto id = std::to_string(outcome.report.run_id);
    CHECK(db.query_value("SELECT status FROM recon.runs WHERE run_id = " + id) == "ok");
    CHECK(db.query_value("SELECT jsonb_array_length(metadata->'checks') FROM recon.runs WHERE run_id = " + id) == "4");
    CHECK(exit_code_for(outcome.report, false) == ExitCode::ok);
}

TEST_CASE("a held lock skips the run and writes nothing")
{
    auto& db = book();
    pqxx::connection holder(db.url());
    pqxx::nontransaction txn(holder);
    const auto key = advisory_lock_key(run_lock_scope("uae", Category::A));
    txn.exec_params("SELECT pg_advisory_lock($1)", key);
    const auto outcome = execute_run(db.settings(), default_registry(), request_for(Category::A));
    CHECK(outcome.lock_held);
    CHECK(db.query_value("SELECT count(*) FROM recon.runs") == "0");
    // Another category has its own lock.
    CHECK_FALSE(execute_run(db.settings(), default_registry(), request_for(Category::D)).lock_held);
    txn.exec_params("SELECT pg_advisory_unlock($1)", key);
}

TEST_CASE("a running row whose lock is free is marked abandoned by the next run")
{
    auto& db = book();
    const auto key = advisory_lock_key(run_lock_scope("uae", Category::A));
    db.exec(
        "INSERT INTO recon.runs (book, category, trigger, status, lock_key, started_at, host, pid, version)"
        " VALUES ('uae', 'A', 'manual', 'running', " +
        std::to_string(key) +
        ", now() - interval '1 hour', 'gone', 1, 'old'),"
        " ('uae', 'D', 'manual', 'running', " +
        std::to_string(advisory_lock_key(run_lock_scope("uae", Category::D))) + ", now(), 'elsewhere', 2, 'old')");
    const auto outcome = execute_run(db.settings(), default_registry(), request_for(Category::A));
    CHECK(db.query_value("SELECT status FROM recon.runs WHERE host = 'gone'") == "abandoned");
    CHECK(db.query_value("SELECT status FROM recon.runs WHERE host = 'elsewhere'") == "running");
    CHECK(db.query_value("SELECT status FROM recon.runs WHERE run_id = " + std::to_string(outcome.report.run_id)) ==
          "ok");
}

TEST_CASE("a check past its statement timeout ends error and the others still run")
{
    auto& db = book();
    db.exec(slow_journal_view(1));
    const auto outcome =
        execute_run(db.settings({{"RECON_STATEMENT_TIMEOUT_MS", "200"}}), default_registry(), request_for(Category::A));
    db.exec(normal_journal_view);
    std::map<std::string, CheckStatus> statuses;
    for (const auto& check : outcome.report.checks) statuses[check.check_name] = check.status;
    // The checks that need the journal's proof end error; the one that needs only the
    // transactions reads them itself.
    CHECK(statuses["trial_balance_zero"] == CheckStatus::error);
    CHECK(statuses["journal_line_completeness"] == CheckStatus::error);
    CHECK(statuses["dr_cr_sign_convention"] == CheckStatus::error);
    CHECK(statuses["source_txn_uniqueness"] == CheckStatus::ok);
    CHECK(outcome.report.checks.front().metrics["error"].get<std::string>().find("statement timeout") !=
          std::string::npos);
    CHECK(outcome.report.status == RunStatus::error);
    CHECK(exit_code_for(outcome.report, false) == ExitCode::check_error);
}

TEST_CASE("--check narrows a run and refuses names outside the category")
{
    auto& db = book();
    auto request = request_for(Category::A);
    request.check_names = {"source_txn_uniqueness"};
    const auto outcome = execute_run(db.settings(), default_registry(), request);
    REQUIRE(outcome.report.checks.size() == 1);
    CHECK(outcome.report.checks[0].check_name == "source_txn_uniqueness");

    request.check_names = {"pending_flow_age"};
    CHECK_THROWS_AS(execute_run(db.settings(), default_registry(), request), Error);
}

TEST_CASE("a partial run (--check) never turns a failing category green: run row, JSON, runs list, metrics, alerts")
{
    auto& db = book();
    // Two A checks break; trial_balance_zero still passes (neither break touches the journal).
    db.exec(
        "INSERT INTO ledger.transactions (txn_id, source, source_txn_id, customer_id, txn_type, status,"
        " effective_at) VALUES (3001, 'bank', 'DEP-1', 'C001', 'deposit', 'reversed', now()),"
        " (2001, 'bank', 'EMPTY-1', 'C001', 'deposit', 'posted', now())");
    const Settings settings = db.settings();
    const auto full = execute_run(settings, default_registry(), request_for(Category::A));
    REQUIRE(full.report.status == RunStatus::fail);
    CHECK(full.report.scope == RunScope::full);
    {
        // The alerts that run would have delivered, as send_run_alerts records them.
        Session control(db.url(), "control");
        std::vector<DeliveredAlert> delivered;
        for (const auto& alert : plan_alerts(settings, full.report, full.changes)) {
            delivered.push_back({alert.check_name, alert.status, alert.dedup_key});
        }
        REQUIRE(delivered.size() == 2);
        record_delivered_alerts(control, "uae", full.report.run_id, "", delivered);
    }

    auto narrowed_request = request_for(Category::A);
    narrowed_request.check_names = {"trial_balance_zero"};
    const auto narrowed = execute_run(settings, default_registry(), narrowed_request);
    REQUIRE(narrowed.report.status == RunStatus::ok);
    const auto id = std::to_string(narrowed.report.run_id);

    // The run row and its JSON say partial, and which checks it covered.
    CHECK(db.query_value("SELECT scope FROM recon.runs WHERE run_id = " + id) == "partial");
    CHECK(db.query_value("SELECT scope FROM recon.runs WHERE run_id = " + std::to_string(full.report.run_id)) ==
          "full");
    Session session(db.url(), "control");
    RunHistory history(session);
    const auto stored = history.find(narrowed.report.run_id).value();
    const auto json = run_report_to_json(stored);
    CHECK(json["scope"] == "partial");
    CHECK(json["checks_requested"] == nlohmann::json::array({"trial_balance_zero"}));
    CHECK(run_report_to_json(history.find(full.report.run_id).value())["scope"] == "full");

    // runs list: the partial run reads partial, the full run keeps its 2 failing checks.
    const auto table = render_runs_table(history.list("uae", RunFilter{.category = Category::A, .limit = 2}));
    CHECK(table.find("run_id  book  category  shard  scope    status  started_at") == 0);
    CHECK(table.find(fmt::format("\n{:<6}  uae   A         -      partial  ok      ", id)) != std::string::npos);
    CHECK(table.find(fmt::format("\n{:<6}  uae   A         -      full     fail    ", full.report.run_id)) !=
          std::string::npos);
    CHECK(table.find("  1       1   0     0     0      manual\n") != std::string::npos);
    CHECK(table.find("  4       2   0     2     0      manual\n") != std::string::npos);
    CHECK(render_run_text(stored).find("  partial run: only trial_balance_zero ran; the other checks of category A "
                                       "keep their latest results\n") != std::string::npos);

    // /metrics: category A is still fail (each check's latest result), the partial run is flagged.
    const auto metrics = read_book_metrics(settings, default_registry(), "uae");
    const auto text = render_prometheus({metrics}, 0);
    CHECK(text.find("reconcile_run_last_status{book=\"uae\",category=\"A\",status=\"fail\"} 1\n") != std::string::npos);
    CHECK(text.find("reconcile_run_last_status{book=\"uae\",category=\"A\",status=\"ok\"} 0\n") != std::string::npos);
    CHECK(text.find(fmt::format("reconcile_run_last_id{{book=\"uae\",category=\"A\"}} {}\n", full.report.run_id)) !=
          std::string::npos);
    CHECK(text.find("reconcile_run_newest_partial{book=\"uae\",category=\"A\"} 1\n") != std::string::npos);
    CHECK(text.find("reconcile_check_last_status{book=\"uae\",category=\"A\",check_name=\"source_txn_uniqueness\","
                    "status=\"fail\"} 1\n") != std::string::npos);

    // Alerts: nothing recovers; the failing checks keep their state and their delivered alert.
    CHECK(plan_alerts(settings, narrowed.report, narrowed.changes).empty());
    CHECK(db.query_value("SELECT string_agg(check_name || '=' || last_status || '/' || coalesce(alerted_status, '-'),"
                         " ',' ORDER BY check_name) FROM recon.check_states WHERE book = 'uae' AND scope = ''"
                         " AND check_name IN ('journal_line_completeness', 'source_txn_uniqueness',"
                         " 'trial_balance_zero')") ==
          "journal_line_completeness=fail/fail,source_txn_uniqueness=fail/fail,trial_balance_zero=ok/-");
}

TEST_CASE("exit codes fold check statuses: fail outranks error, warn only with --fail-on warn")
{
    RunReport report;
    report.checks.resize(2);
    report.checks[0].status = CheckStatus::warn;
    CHECK(exit_code_for(report, false) == ExitCode::ok);
    CHECK(exit_code_for(report, true) == ExitCode::check_failed);
    report.checks[1].status = CheckStatus::error;
    CHECK(exit_code_for(report, false) == ExitCode::check_error);
    report.checks[0].status = CheckStatus::fail;
    CHECK(exit_code_for(report, false) == ExitCode::check_failed);
}

TEST_CASE("sharded runs: shard locks beside a shared category lock; stale rows abandoned only when proven dead")
{
    auto& db = book();
    const Shard one{.index = 1, .count = 2};
    const Shard two{.index = 2, .count = 2};
    const auto key_of = [](const std::optional<Shard>& shard) {
        return std::to_string(advisory_lock_key(run_lock_scope("uae", Category::C, shard)));
    };
    const auto stale = [&](const std::string& host, const std::optional<Shard>& shard) {
        db.exec(
            "INSERT INTO recon.runs (book, category, trigger, status, lock_key, started_at, host, pid, version,"
            " shard_index, shard_count) VALUES ('uae', 'C', 'manual', 'running', " +
            key_of(shard) + ", now(), '" + host + "', 1, 'old', " +
            (shard ? std::to_string(shard->index) + ", " + std::to_string(shard->count) : "NULL, NULL") + ")");
    };
    const auto status_of = [&](const std::string& host) {
        return db.query_value("SELECT status FROM recon.runs WHERE host = '" + host + "'");
    };
    stale("dead-shard-1", one);
    stale("dead-whole", std::nullopt);
    stale("live-shard-2", two);
    stale("dead-shard-1-of-3", Shard{.index = 1, .count = 3});

    // Another process runs shard 2: it holds the category shared and its shard exclusively.
    auto holder = std::make_unique<pqxx::connection>(db.url());
    {
        pqxx::nontransaction txn(*holder);
        txn.exec_params("SELECT pg_advisory_lock_shared($1)", advisory_lock_key(run_lock_scope("uae", Category::C)));
        txn.exec_params("SELECT pg_advisory_lock($1)", advisory_lock_key(run_lock_scope("uae", Category::C, two)));
    }

    auto request = request_for(Category::C);
    request.shard = one;
    const auto first = execute_run(db.settings(), default_registry(), request);
    REQUIRE_FALSE(first.lock_held);
    CHECK(first.report.shard == one);
    const auto id = std::to_string(first.report.run_id);
    CHECK(db.query_value("SELECT shard_index || '/' || shard_count || ' ' || status || ' ' || lock_key"
                         " FROM recon.runs WHERE run_id = " +
                         id) == "1/2 ok " + key_of(one));
    CHECK(status_of("dead-shard-1") == "abandoned");     // our own key
    CHECK(status_of("dead-whole") == "abandoned");       // the category key: no unsharded run beside us
    CHECK(status_of("live-shard-2") == "running");       // another shard, alive
    CHECK(status_of("dead-shard-1-of-3") == "running");  // not provably dead to a shard

    request.shard = two;
    CHECK(execute_run(db.settings(), default_registry(), request).lock_held);
    CHECK(execute_run(db.settings(), default_registry(), request_for(Category::C)).lock_held);

    // Shard 2's process ends: an unsharded run holds the category exclusively, so every shard
    // row still `running` is dead.
    holder.reset();
    const auto whole = execute_run(db.settings(), default_registry(), request_for(Category::C));
    REQUIRE_FALSE(whole.lock_held);
    CHECK_FALSE(whole.report.shard);
    CHECK(status_of("live-shard-2") == "abandoned");
    CHECK(status_of("dead-shard-1-of-3") == "abandoned");
    CHECK(db.query_value("SELECT shard_count IS NULL FROM recon.runs WHERE run_id = " +
                         std::to_string(whole.report.run_id)) == "t");

    // Only category C shards.
    auto sharded_a = request_for(Category::A);
    sharded_a.shard = one;
    try {
        execute_run(db.settings(), default_registry(), sharded_a);
        FAIL("a sharded category A run was accepted");
    } catch (const Error& e) {
        CHECK(e.code() == ExitCode::usage);
        CHECK(std::string(e.what()) == "--shard 1/2 applies to category C only (broker fan-out), not A");
    }
}
