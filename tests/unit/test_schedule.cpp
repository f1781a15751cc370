// The scheduler's due-logic with an injected clock: cadences, switches, retry holds, the
// aggregated exit code, and a simulated day of cycles.
#include <doctest/doctest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "lib/schedule.hpp"

using namespace reconcile;
using namespace std::chrono_literals;

namespace {

Timestamp at(const char* iso)
{
    return parse_utc(iso).value();
}

BookCadence uae_cadence()
{
    return {.book = "uae", .enabled = true, .internal_interval_seconds = 3600, .external_interval_seconds = 86400};
}

/// A run history and a clock the test moves by hand, and a record of what the cycle ran.
struct FakeWorld {
    Timestamp now = at("2026-11-28T00:00:00Z");
    std::map<std::string, std::map<Category, LastFullRun>> history;  // book -> category -> last full run
    std::vector<std::string> executed;                               // "uae/A@<iso>"
    std::map<std::string, ExitCode> fail_with;                       // "uae/A" -> code instead of running
    std::set<std::string> unreadable_books;
    std::vector<std::string> groups;  // "uae/A,B,D": the slots each call of the executor ran together

    SlotOutcome run_slot(const std::string& book, Category category)
    {
        const std::string slot = book + "/" + std::string(to_string(category));
        executed.push_back(slot + "@" + format_utc(now));
        if (const auto failure = fail_with.find(slot); failure != fail_with.end()) {
            if (failure->second == ExitCode::unavailable) {
                // A C run that reached no broker still writes its row (status error).
                history[book][category] = {.started_at = now, .reached_no_broker = true};
                return SlotOutcome{.book = book, .category = category, .code = failure->second, .run_id = 7};
            }
            return SlotOutcome{.book = book, .category = category, .code = failure->second};
        }
        history[book][category] = {.started_at = now};  // the run row execute_runs would write
        return SlotOutcome{.book = book, .category = category, .code = ExitCode::ok};
    }

    ScheduleCycle cycle(const ScheduleConfig& config)
    {
        return ScheduleCycle(
            config,
            [this](const std::string& book) {
                if (unreadable_books.count(book) != 0) throw Error(ExitCode::unavailable, "database unreachable");
                return history[book];
            },
            [this](const std::string& book, const std::vector<Category>& categories) {
                std::vector<std::string> together;
                std::vector<SlotOutcome> outcomes;
                for (const Category category : categories) {
                    together.emplace_back(to_string(category));
                    outcomes.push_back(run_slot(book, category));
                }
                groups.push_back(book + "/" + fmt::format("{}", fmt::join(together, ",")));
                return outcomes;
            },
            [this] { return now; });
    }

    std::vector<std::string> take()
    {
        auto result = std::move(executed);
        executed.clear();
        return result;
    }
};

}  // namespace

TEST_CASE("a slot that never ran is due at once")
{
    const auto decision = decide_slot(uae_cadence(), Category::A, {}, 60, at("2026-11-28T00:00:00Z"));
    CHECK(decision.due);
    CHECK(decision.next_due == at("2026-11-28T00:00:00Z"));
}

TEST_CASE("A/B/D are due an internal interval after the last start, C an external one")
{
    const auto now = at("2026-11-28T12:00:00Z");
    const SlotHistory ran_59_minutes_ago{.last_started = now - 59min};
    const SlotHistory ran_an_hour_ago{.last_started = now - 1h};
    CHECK_FALSE(decide_slot(uae_cadence(), Category::A, ran_59_minutes_ago, 60, now).due);
    CHECK(decide_slot(uae_cadence(), Category::A, ran_59_minutes_ago, 60, now).next_due == now + 1min);
    CHECK(decide_slot(uae_cadence(), Category::A, ran_an_hour_ago, 60, now).due);  // exactly the interval: due
    CHECK(decide_slot(uae_cadence(), Category::D, ran_an_hour_ago, 60, now).due);
    CHECK_FALSE(decide_slot(uae_cadence(), Category::C, ran_an_hour_ago, 60, now).due);
    CHECK(decide_slot(uae_cadence(), Category::C, ran_an_hour_ago, 60, now).next_due == now - 1h + 24h);
    CHECK(decide_slot(uae_cadence(), Category::C, {.last_started = now - 24h}, 60, now).due);
}

TEST_CASE("a C run that reached no broker is due again after the external retry, not a day later")
{
    const auto now = at("2026-11-28T12:00:00Z");
    auto cadence = uae_cadence();
    cadence.external_retry_seconds = 900;
    const SlotHistory unreachable_10min{.last_started = now - 10min, .last_reached_no_broker = true};
    CHECK_FALSE(decide_slot(cadence, Category::C, unreachable_10min, 60, now).due);
    CHECK(decide_slot(cadence, Category::C, unreachable_10min, 60, now).next_due == now + 5min);
    CHECK(
        decide_slot(cadence, Category::C, {.last_started = now - 15min, .last_reached_no_broker = true}, 60, now).due);
    // The same run that reached its brokers waits the whole cadence.
    CHECK(decide_slot(cadence, Category::C, {.last_started = now - 15min}, 60, now).next_due == now - 15min + 24h);
    // A retry longer than the cadence never delays it.
    cadence.external_retry_seconds = 2 * 86400;
    CHECK(decide_slot(cadence, Category::C, {.last_started = now - 24h, .last_reached_no_broker = true}, 60, now).due);
}

TEST_CASE("tick retries a C run that reached no broker on the next cycle after the external retry")
{
    FakeWorld world;
    world.fail_with["uae/C"] = ExitCode::unavailable;
    auto cadence = uae_cadence();
    cadence.external_retry_seconds = 900;
    const ScheduleConfig config{.books = {cadence}};
    // Each tick is a fresh process: only the run history carries over.
    world.cycle(config).run_once();
    CHECK(world.take().size() == 4);
    world.now += 10min;
    world.cycle(config).run_once();
    CHECK(world.take().empty());
    world.now += 5min;
    world.fail_with.clear();
    world.cycle(config).run_once();
    CHECK(world.take() == std::vector<std::string>{"uae/C@2026-11-28T00:15:00.000Z"});
    // Reached its brokers this time: C waits its cadence again.
    world.now += 1h;
    world.cycle(config).run_once();
    CHECK(world.take() == std::vector<std::string>{"uae/A@2026-11-28T01:15:00.000Z", "uae/B@2026-11-28T01:15:00.000Z",
                                                   "uae/D@2026-11-28T01:15:00.000Z"});
}

TEST_CASE("serve's scheduler holds a C run that reached no broker for the external retry")
{
    FakeWorld world;
    world.fail_with["uae/C"] = ExitCode::unavailable;
    auto cadence = uae_cadence();
    cadence.external_retry_seconds = 900;
    auto cycle = world.cycle({.books = {cadence}, .retry_seconds = 60});
    cycle.run_once();
    world.take();
    CHECK(cycle.next_due() == world.now + 15min);
}

TEST_CASE("a switched-off book is never due")
{
    auto cadence = uae_cadence();
    cadence.enabled = false;
    const auto decision = decide_slot(cadence, Category::A, {}, 60, at("2026-11-28T00:00:00Z"));
    CHECK_FALSE(decision.due);
    CHECK_FALSE(decision.enabled);
}

TEST_CASE("a failed attempt holds the slot back for the retry time")
{
    const auto now = at("2026-11-28T12:00:00Z");
    const SlotHistory failed_30s_ago{.last_started = now - 5h, .last_failed_attempt = now - 30s};
    CHECK_FALSE(decide_slot(uae_cadence(), Category::A, failed_30s_ago, 60, now).due);
    CHECK(decide_slot(uae_cadence(), Category::A, failed_30s_ago, 60, now).next_due == now + 30s);
    CHECK(decide_slot(uae_cadence(), Category::A, failed_30s_ago, 30, now).due);
    // A slot whose interval is shorter than the retry time is retried on its interval.
    auto fast = uae_cadence();
    fast.internal_interval_seconds = 20;
    CHECK(decide_slot(fast, Category::A, failed_30s_ago, 60, now).due);
    CHECK_FALSE(decide_slot(fast, Category::A, {.last_failed_attempt = now - 10s}, 60, now).due);
}

TEST_CASE("a last start in the future (clock skew) waits for it plus the interval")
{
    const auto now = at("2026-11-28T12:00:00Z");
    const auto decision = decide_slot(uae_cadence(), Category::A, {.last_started = now + 10min}, 60, now);
    CHECK_FALSE(decision.due);
    CHECK(decision.next_due == now + 70min);
}

TEST_CASE("the settings' switches and cadences: india has its own, C is shared")
{
    Settings settings = load_settings({{"RECON_BOOKS", "uae,india,other"},
                                       {"RECON_INTERVAL_SECONDS", "600"},
                                       {"INDIA_RECON_ENABLED", "true"},
                                       {"INDIA_RECON_INTERVAL_SECONDS", "1200"},
                                       {"RECON_EXTERNAL_INTERVAL_SECONDS", "7200"}});
    auto config = schedule_config(settings);
    REQUIRE(config.books.size() == 3);
    CHECK(config.books[0].book == "uae");
    CHECK(config.books[0].enabled);
    CHECK(config.books[0].internal_interval_seconds == 600);
    CHECK(config.books[1].book == "india");
    CHECK(config.books[1].enabled);
    CHECK(config.books[1].internal_interval_seconds == 1200);
    CHECK(config.books[1].external_interval_seconds == 7200);
    CHECK(config.books[2].internal_interval_seconds == 600);

    settings = load_settings({{"RECON_SCHEDULE_ENABLED", "false"}});
    config = schedule_config(settings);
    CHECK_FALSE(config.books[0].enabled);  // uae follows RECON_SCHEDULE_ENABLED
    CHECK_FALSE(config.books[1].enabled);  // india is off by default (INDIA_RECON_ENABLED=false)
    settings = load_settings({{"RECON_SCHEDULE_ENABLED", "false"}, {"INDIA_RECON_ENABLED", "yes"}});
    CHECK(schedule_config(settings).books[1].enabled);
}

TEST_CASE("plan_cycle decides every category of every book in order; earliest_due skips off books")
{
    ScheduleConfig config{.books = {uae_cadence(), {.book = "india", .enabled = false}}};
    const auto now = at("2026-11-28T12:00:00Z");
    const auto decisions = plan_cycle(
        config,
        [&](const std::string& book, Category category) {
            if (book == "uae" && category != Category::B) return SlotHistory{.last_started = now - 30min};
            return SlotHistory{};
        },
        now);
    REQUIRE(decisions.size() == 8);
    std::vector<std::string> due;
    for (const auto& d : decisions) {
        if (d.due) due.push_back(d.book + "/" + std::string(to_string(d.category)));
    }
    CHECK(due == std::vector<std::string>{"uae/B"});
    CHECK(earliest_due(decisions) == now);  // B is due now
    config.books[0].enabled = false;
    CHECK_FALSE(earliest_due(plan_cycle(
        config, [](const std::string&, Category) { return SlotHistory{}; }, now)));
}

TEST_CASE("exit codes aggregate: a break first, then what kept checks from completing, lock skips last")
{
    using E = ExitCode;
    CHECK(aggregate_exit_codes({}) == E::ok);
    CHECK(aggregate_exit_codes({E::ok, E::ok}) == E::ok);
    CHECK(aggregate_exit_codes({E::ok, E::check_error}) == E::check_error);
    CHECK(aggregate_exit_codes({E::check_error, E::check_failed}) == E::check_failed);
    CHECK(aggregate_exit_codes({E::unavailable, E::check_failed}) == E::check_failed);
    CHECK(aggregate_exit_codes({E::transient, E::unavailable}) == E::unavailable);
    CHECK(aggregate_exit_codes({E::unavailable, E::internal}) == E::internal);
    CHECK(aggregate_exit_codes({E::internal, E::config}) == E::config);
    CHECK(aggregate_exit_codes({E::check_error, E::transient}) == E::transient);
    // A held lock is another process doing the work: it only speaks when nothing else ran.
    CHECK(aggregate_exit_codes({E::lock_held, E::ok}) == E::ok);
    CHECK(aggregate_exit_codes({E::lock_held, E::lock_held}) == E::lock_held);
    CHECK(aggregate_exit_codes({E::lock_held, E::check_error}) == E::check_error);
}

TEST_CASE("a simulated day with an injected clock: A/B/D hourly, C daily, india off")
{
    FakeWorld world;
    ScheduleConfig config{.books = {uae_cadence(), {.book = "india", .enabled = false}}};
    auto cycle = world.cycle(config);

    cycle.run_once();
    // A, B and D in one snapshot (one call), then C on its own.
    CHECK(world.take() == std::vector<std::string>{"uae/A@2026-11-28T00:00:00.000Z", "uae/B@2026-11-28T00:00:00.000Z",
                                                   "uae/D@2026-11-28T00:00:00.000Z", "uae/C@2026-11-28T00:00:00.000Z"});
    CHECK(world.groups == std::vector<std::string>{"uae/A,B,D", "uae/C"});
    CHECK(cycle.next_due() == at("2026-11-28T01:00:00Z"));

    world.now += 30min;
    CHECK(cycle.run_once().empty());
    CHECK(world.take().empty());
    CHECK(cycle.next_due() == at("2026-11-28T01:00:00Z"));

    world.now = at("2026-11-28T01:00:00Z");
    cycle.run_once();
    CHECK(world.take() == std::vector<std::string>{"uae/A@2026-11-28T01:00:00.000Z", "uae/B@2026-11-28T01:00:00.000Z",
                                                   "uae/D@2026-11-28T01:00:00.000Z"});

    // Another process (cron, another serve) ran A at 01:30: the 02:00 cycle leaves A alone.
    world.history["uae"][Category::A] = {.started_at = at("2026-11-28T01:30:00Z")};
    world.now = at("2026-11-28T02:00:00Z");
    cycle.run_once();
    CHECK(world.take() == std::vector<std::string>{"uae/B@2026-11-28T02:00:00.000Z", "uae/D@2026-11-28T02:00:00.000Z"});
    CHECK(world.groups.back() == "uae/B,D");
    CHECK(cycle.next_due() == at("2026-11-28T02:30:00Z"));

    int c_runs = 0;
    for (int hour = 3; hour <= 24; ++hour) {
        world.now = at("2026-11-28T00:00:00Z") + std::chrono::hours(hour);
        cycle.run_once();
        for (const auto& slot : world.take()) c_runs += slot.rfind("uae/C", 0) == 0 ? 1 : 0;
    }
    CHECK(c_runs == 1);  // C again at 24:00, not before
}

TEST_CASE("failed attempts are retried after retry_seconds, not on every cycle")
{
    FakeWorld world;
    world.fail_with["uae/A"] = ExitCode::lock_held;
    ScheduleConfig config{.books = {uae_cadence()}, .retry_seconds = 60};
    auto cycle = world.cycle(config);
    const auto outcomes = cycle.run_once();
    REQUIRE(outcomes.size() == 4);
    CHECK(outcomes[0].code == ExitCode::lock_held);
    world.take();
    CHECK(cycle.next_due() == world.now + 60s);

    world.now += 30s;
    cycle.run_once();
    CHECK(world.take().empty());
    world.now += 30s;
    world.fail_with.clear();
    cycle.run_once();
    CHECK(world.take() == std::vector<std::string>{"uae/A@2026-11-28T00:01:00.000Z"});
}

TEST_CASE("a book whose history cannot be read yields one outcome and the others still run")
{
    FakeWorld world;
    world.unreadable_books.insert("uae");
    ScheduleConfig config{.books = {uae_cadence(), {.book = "india", .enabled = true}}};
    auto cycle = world.cycle(config);
    const auto outcomes = cycle.run_once();
    REQUIRE(outcomes.size() == 5);
    CHECK(outcomes[0].book == "uae");
    CHECK_FALSE(outcomes[0].category.has_value());
    CHECK(outcomes[0].code == ExitCode::unavailable);
    CHECK(outcomes[0].detail.find("database unreachable") != std::string::npos);
    CHECK(world.take().size() == 4);  // india's four
    std::vector<ExitCode> codes;
    for (const auto& outcome : outcomes) codes.push_back(outcome.code);
    CHECK(aggregate_exit_codes(codes) == ExitCode::unavailable);
}

TEST_CASE("a dry run decides without running")
{
    FakeWorld world;
    ScheduleConfig config{.books = {uae_cadence()}};
    auto cycle = world.cycle(config);
    const auto outcomes = cycle.run_once(true);
    CHECK(outcomes.size() == 4);
    CHECK(world.take().empty());
    CHECK(outcomes[0].detail == "due");
}
