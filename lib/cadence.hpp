#pragma once

// When a scheduled run is due (`reconcile run --if-due`; serve's scheduler and `reconcile tick`
// reuse it): the book's switch, then the category's cadence against the last completed run.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "lib/config.hpp"
#include "lib/db.hpp"
#include "lib/timeutil.hpp"

namespace reconcile {

/// Seconds between runs of (book, category): RECON_EXTERNAL_INTERVAL_SECONDS for C;
/// INDIA_RECON_INTERVAL_SECONDS for the india book's A/B/D; RECON_INTERVAL_SECONDS otherwise.
std::int64_t cadence_seconds(const Settings& settings, const std::string& book, char category);

/// Whether scheduled runs of a book are on: INDIA_RECON_ENABLED for india,
/// RECON_SCHEDULE_ENABLED for every other book.
bool schedule_enabled(const Settings& settings, const std::string& book);

/// What the due-logic needs to know about one (book, category).
struct DueInput {
    bool enabled = true;                              ///< the book's schedule switch
    std::optional<Timestamp> last_completed_started;  ///< start of the last completed run, if any
    std::int64_t cadence_seconds = 3600;
};

/// The decision, with a one-line reason for the log.
struct DueDecision {
    bool due = false;
    std::string reason;
    std::optional<Timestamp> next_due;  ///< when it becomes due (when the switch is on)
};

/// Pure: due when the switch is on and there is no completed run, or the last one started at
/// least `cadence_seconds` before `now` (a run dated in the future counts as just run).
DueDecision decide_due(const DueInput& input, Timestamp now);

/// The decision for (book, category) from the settings and the book's run history on `control`
/// (RunHistory::last_completed); `now` is the clock, injectable for tests and the scheduler.
DueDecision evaluate_due(const Settings& settings, Session& control, const std::string& book, char category,
                         const std::function<Timestamp()>& now = [] { return std::chrono::system_clock::now(); });

}  // namespace reconcile
