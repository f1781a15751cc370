#pragma once

// When is a (book, category) due? Pure logic, no database and no real clock, so the cadence
// rules are unit-tested with an injected clock. `reconcile tick` and the scheduler inside
// `reconcile serve` both decide through here (lib/scheduler.hpp wires in the run history and
// the run path).

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lib/config.hpp"
#include "lib/errors.hpp"
#include "lib/run_kinds.hpp"
#include "lib/timeutil.hpp"

namespace reconcile {

/// One book's switch and cadences (DESIGN §5): the book's own switch and internal interval
/// (lib/books.hpp), and RECON_EXTERNAL_INTERVAL_SECONDS for category C everywhere. A scheduled
/// cycle considers every category (all_categories, in run order).
struct BookCadence {
    std::string book;
    bool enabled = true;
    std::int64_t internal_interval_seconds = 3600;   ///< A, B, D
    std::int64_t external_interval_seconds = 86400;  ///< C
    /// C after a run that reached no broker (exit 69): RECON_EXTERNAL_RETRY_SECONDS, not a day.
    std::int64_t external_retry_seconds = 900;
};

/// The cadence table of every book in RECON_BOOKS, plus how soon a failed or skipped attempt
/// is retried (in-process only: serve's scheduler; a cron tick simply retries on its next call).
struct ScheduleConfig {
    std::vector<BookCadence> books;
    std::int64_t retry_seconds = 60;
};

/// Builds the cadence table from the settings.
ScheduleConfig schedule_config(const Settings& settings);

/// The interval of one category on one book, in seconds.
std::int64_t interval_seconds(const BookCadence& cadence, Category category);

/// The newest full, completed run of one (book, category), as the cadence sees it.
struct LastFullRun {
    Timestamp started_at{};
    bool reached_no_broker = false;  ///< it ended exit 69: every broker it asked was unreachable
};

/// What is known about one (book, category) when deciding.
struct SlotHistory {
    /// started_at of the newest full, completed run (any trigger); std::nullopt: never ran.
    std::optional<Timestamp> last_started;
    /// That run reached no broker (exit 69): due again after the cadence's external retry.
    bool last_reached_no_broker = false;
    /// When this process last tried and did not complete a run (lock held, database down);
    /// holds the slot back for retry_seconds (or the slot's interval when shorter) so a dead
    /// database is not hammered.
    std::optional<Timestamp> last_failed_attempt;
};

/// The verdict for one (book, category) at `now`.
struct SlotDecision {
    std::string book;
    Category category = Category::A;
    bool enabled = true;
    bool due = false;
    Timestamp next_due{};  ///< when it becomes due (<= now when due); meaningless when disabled
    std::optional<Timestamp> last_started;
    bool down = false;  ///< the book's run history could not be read: not "not due", down
};

/// Due when enabled and (never ran, or `interval` has passed since the last run started, or
/// the external retry when that run reached no broker, whichever is shorter), and not inside
/// the retry hold of a failed attempt. Measured from starts so the cadence does
/// not drift by the runs' durations; a last start in the future (clock skew) waits for it.
SlotDecision decide_slot(const BookCadence& cadence, Category category, const SlotHistory& history,
                         std::int64_t retry_seconds, Timestamp now);

/// Decides every category of every book, in book order then A, B, C, D.
std::vector<SlotDecision> plan_cycle(
    const ScheduleConfig& config, const std::function<SlotHistory(const std::string& book, Category category)>& history,
    Timestamp now);

/// The earliest next_due among enabled slots, or std::nullopt when nothing is enabled.
std::optional<Timestamp> earliest_due(const std::vector<SlotDecision>& decisions);

/// How one scheduled slot ended, for logs, `tick --output json` and the aggregated exit code.
struct SlotOutcome {
    std::string book;
    std::optional<Category> category;  ///< std::nullopt: the outcome is the whole book's
    ExitCode code = ExitCode::ok;      ///< the run's exit code, lock_held when skipped
    std::optional<std::int64_t> run_id;
    std::optional<RunStatus> status;  ///< the run's status when it ran
    std::string detail;               ///< one line: what happened
};

/// One process-wide exit code for several slots (README "reconcile tick"): a proven break (1)
/// first, then what kept checks from completing, the most operator-dependent first (78, 70, 69,
/// 75), then an incomplete check (2); 11 only when every due slot was skipped for a held lock;
/// 0 when nothing was due or everything passed.
ExitCode aggregate_exit_codes(const std::vector<ExitCode>& codes);

/// One scheduler cycle with its dependencies injected: `history` reads the last runs of a book
/// (throws when the book cannot be read), `execute` runs slots of one book together and reports
/// how each ended, in order (never throws): the due A, B and D of a book in one call (they share
/// one snapshot and proof), C alone; `clock` says what time it is. The serve scheduler keeps one instance alive
/// (it remembers failed attempts); `reconcile tick` runs one cycle.
class ScheduleCycle {
public:
    using HistoryReader = std::function<std::map<Category, LastFullRun>(const std::string& book)>;
    using Executor =
        std::function<std::vector<SlotOutcome>(const std::string& book, const std::vector<Category>& categories)>;
    using Clock = std::function<Timestamp()>;

    ScheduleCycle(ScheduleConfig config, HistoryReader history, Executor execute, Clock clock);

    /// Runs every slot due now, in order, and returns their outcomes (a book whose history
    /// cannot be read yields one outcome for the book with the failure's exit code).
    /// With `dry_run`, decides but runs nothing (outcomes say "due").
    std::vector<SlotOutcome> run_once(bool dry_run = false);

    /// The decisions of the last run_once (for `tick --dry-run` and logs).
    const std::vector<SlotDecision>& last_decisions() const { return m_decisions; }

    /// When the next slot falls due after the last cycle, as seen by the clock; std::nullopt
    /// when every book is disabled.
    std::optional<Timestamp> next_due() const;

private:
    ScheduleConfig m_config;
    HistoryReader m_history;
    Executor m_execute;
    Clock m_clock;
    std::map<std::pair<std::string, Category>, Timestamp> m_failed_attempts;
    std::vector<SlotDecision> m_decisions;
};

}  // namespace reconcile
