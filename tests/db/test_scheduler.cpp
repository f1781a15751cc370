// The scheduler's cycle on a real book database with an injected clock: the cadence is read
// back from the run rows that execute_run wrote, so the clock alone decides what is due.
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
    CHECK(categories_run(db) == "ABCD");

    now += 30min;
    CHECK(cycle.run_once().empty());
    // A fresh cycle (another process, a cron tick) reads the same history: nothing is due.
    auto other = make_schedule_cycle(settings, default_registry(), false, [&] { return now; });
    CHECK(other.run_once().empty());

    now += 31min;
    CHECK(cycle.run_once().size() == 3);
    CHECK(categories_run(db) == "ABCDABD");
    now += 24h;
    CHECK(other.run_once().size() == 4);
    CHECK(categories_run(db) == "ABCDABDABCD");
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
