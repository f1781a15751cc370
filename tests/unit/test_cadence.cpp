// The due-logic of scheduled runs (`run --if-due`, serve's scheduler, `reconcile tick`), with
// an injected clock.
#include <doctest/doctest.h>

#include "lib/cadence.hpp"

using namespace reconcile;
using namespace std::chrono_literals;

namespace {

Timestamp at(const char* text) { return *parse_utc(text); }

}  // namespace

TEST_CASE("a run is due with no history, and again once its cadence has passed")
{
    const Timestamp now = at("2026-11-28T12:00:00Z");
    CHECK(decide_due({.enabled = true, .cadence_seconds = 3600}, now).due);
    CHECK(decide_due({.enabled = true, .cadence_seconds = 3600}, now).reason == "no completed run yet");

    const DueInput recent{.enabled = true, .last_completed_started = now - 3599s, .cadence_seconds = 3600};
    const auto young = decide_due(recent, now);
    CHECK_FALSE(young.due);
    CHECK(young.reason ==
          "the last completed run started 3599 s ago, within the cadence of 3600 s; next due at 2026-11-28T12:00:01.000Z");
    CHECK(format_utc(*young.next_due) == "2026-11-28T12:00:01.000Z");
    CHECK(decide_due(recent, now + 1s).due);
    CHECK(decide_due({.enabled = true, .last_completed_started = now - 86400s, .cadence_seconds = 86400}, now).due);
}

TEST_CASE("a switched-off book is never due; a run dated in the future counts as just run")
{
    const Timestamp now = at("2026-11-28T12:00:00Z");
    const auto off = decide_due({.enabled = false, .cadence_seconds = 1}, now);
    CHECK_FALSE(off.due);
    CHECK(off.reason == "scheduled runs of this book are switched off");
    CHECK_FALSE(decide_due({.enabled = true, .last_completed_started = now + 600s, .cadence_seconds = 60}, now).due);
}

TEST_CASE("cadences and switches come from the settings, per book and category")
{
    const Settings settings = load_settings({{"RECON_INTERVAL_SECONDS", "600"},
                                             {"INDIA_RECON_INTERVAL_SECONDS", "900"},
                                             {"RECON_EXTERNAL_INTERVAL_SECONDS", "7200"},
                                             {"INDIA_RECON_ENABLED", "true"},
                                             {"RECON_SCHEDULE_ENABLED", "false"}});
    CHECK(cadence_seconds(settings, "uae", 'A') == 600);
    CHECK(cadence_seconds(settings, "uae", 'D') == 600);
    CHECK(cadence_seconds(settings, "india", 'B') == 900);
    CHECK(cadence_seconds(settings, "india", 'C') == 7200);
    CHECK(cadence_seconds(settings, "uae", 'C') == 7200);
    CHECK(schedule_enabled(settings, "india"));
    CHECK_FALSE(schedule_enabled(settings, "uae"));
    CHECK_FALSE(schedule_enabled(load_settings({}), "india"));  // INDIA_RECON_ENABLED defaults to false
}
