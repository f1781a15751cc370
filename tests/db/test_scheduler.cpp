// The scheduler's cycle on a real book database with an injected clock: the cadence is read
// back from the run rows that execute_runs wrote, so the clock alone decides what is due.
#include <doctest/doctest.h>

#include "checks/registry.hpp"
#include "lib/history.hpp"
#include "lib/runner.hpp"
#include "lib/scheduler.hpp"
#include "tests/db/fixture.hpp"

using namespace reconcile;
using namespace std::chrono_literals;
using reconcile::test::BookDb;

namespace {

BookDb& book()
{
    return reconcile::test::clean_book("uae");
}

std::string categories_run(const BookDb& db)
{
    return db.query_value(
        "SELECT coalesce(string_agg(category, '' ORDER BY run_id), '') FROM recon.runs"
        " WHERE trigger = 'schedule'");
}

}  // namespace

TEST_CASE("a cycle on the database: everything first, then only what the injected clock makes due")
{
    auto& db = book();
    const Settings settings = db.settings({{"RECON_INTERVAL_SECONDS", "3600"}});
    Timestamp now = std::chrono::system_clock::now();
    auto cycle = make_schedule_cycle(settings, default_registry(), false, [&] { return now; });

    auto outcomes = cycle.run_once();
    REQUIRE(outcomes.size() == 4);
    CHECK(outcomes[0].code == ExitCode::ok);
    CHECK(outcomes[0].run_id.has_value());
    // A, B and D ran in one snapshot (one instant, one proof for A and B), then C.
    CHECK(categories_run(db) == "ABDC");
    CHECK(db.query_value("SELECT count(DISTINCT started_at)::text FROM recon.runs WHERE category <> 'C'") == "1");
    CHECK(db.query_value("SELECT string_agg(DISTINCT metadata->'proof'->>'watermark', ',') IS NOT NULL AND "
                         "count(DISTINCT metadata->'proof'->>'watermark') = 1 FROM recon.runs "
                         "WHERE category IN ('A', 'B')") == "t");

    now += 30min;
    CHECK(cycle.run_once().empty());
    // A fresh cycle (another process, a cron tick) reads the same history: nothing is due.
    auto other = make_schedule_cycle(settings, default_registry(), false, [&] { return now; });
    CHECK(other.run_once().empty());

    now += 31min;
    CHECK(cycle.run_once().size() == 3);
    CHECK(categories_run(db) == "ABDCABD");
    now += 24h;
    CHECK(other.run_once().size() == 4);
    CHECK(categories_run(db) == "ABDCABDABDC");
}

TEST_CASE("a run narrowed to some checks, or one that was aborted, does not reset the cadence")
{
    auto& db = book();
    const Settings settings = db.settings();
    RunRequest narrowed;
    narrowed.book = "uae";
    narrowed.category = Category::A;
    narrowed.check_names = {"source_txn_uniqueness"};
    execute_run(settings, default_registry(), narrowed);
    db.exec(
        "INSERT INTO recon.runs (book, category, trigger, status, lock_key, started_at, host, pid, version, error)"
        " VALUES ('uae', 'D', 'manual', 'error', 1, now(), 'h', 1, 'v', 'database connection lost')");
    Session session(db.url(), "control");
    RunHistory history(session);
    CHECK(history.last_full_runs("uae").empty());
    RunRequest full;
    full.book = "uae";
    full.category = Category::D;
    const auto outcome = execute_run(settings, default_registry(), full);
    const auto last = history.last_full_runs("uae");
    REQUIRE(last.size() == 1);
    CHECK(format_utc(last.at(Category::D).started_at) == format_utc(outcome.report.started_at));
}
