#pragma once

// Scheduled operation on the real database: one cycle for `reconcile tick`, and the scheduler
// thread inside `reconcile serve`. Both decide with lib/schedule.hpp and run through
// execute_run (trigger "schedule") under the same advisory lock as every other run, so cron,
// timers and any number of serve processes coexist without a double run.

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "lib/check_registry.hpp"
#include "lib/config.hpp"
#include "lib/db.hpp"
#include "lib/schedule.hpp"
#include "lib/shard.hpp"

namespace reconcile {

/// The system clock, the default of every scheduler.
Timestamp system_now();

/// A cycle on the book databases: history from recon.runs (after verify_book), each due slot
/// run by execute_run with trigger "schedule"; `fail_on_warn` as for `reconcile run`. Once
/// `stopping` returns true, the remaining slots of a cycle are not started.
ScheduleCycle make_schedule_cycle(const Settings& settings, const CheckRegistry& registry, bool fail_on_warn,
                                  ScheduleCycle::Clock clock = system_now, std::function<bool()> stopping = {});

/// The newest full, completed run per category of `book` (of exactly `shard` when given) as the
/// cadence sees it: when it started, and whether it reached no broker (exit 69).
std::map<Category, LastFullRun> read_last_full_runs(Session& session, const std::string& book,
                                                    const std::optional<Shard>& shard = std::nullopt);

/// Runs the due slots of one book that share a snapshot (A, B and D: execute_runs; C alone) and
/// says how each ended, in order; never throws (failures become their exit code). A run that
/// finished is logged here (log_run_finished, the line `run` and the API write too).
std::vector<SlotOutcome> execute_scheduled_slots(const Settings& settings, const CheckRegistry& registry,
                                                 const std::string& book, const std::vector<Category>& categories,
                                                 bool fail_on_warn);

/// Logs one outcome as a single line (info when skipped for a held lock, warn otherwise); an
/// outcome with a run is not logged again (execute_scheduled_slots did).
void log_slot_outcome(const SlotOutcome& outcome);

/// serve's scheduler: after RECON_SCHEDULE_INITIAL_DELAY_SECONDS, runs a cycle, sleeps until
/// the next slot falls due (re-reading the history then, so runs made by cron or another serve
/// count), and repeats until stopped.
class BackgroundScheduler {
public:
    BackgroundScheduler(const Settings& settings, const CheckRegistry& registry);
    ~BackgroundScheduler();
    BackgroundScheduler(const BackgroundScheduler&) = delete;
    BackgroundScheduler& operator=(const BackgroundScheduler&) = delete;

    /// Starts the thread (a no-op when every book's schedule is switched off).
    void start();
    /// Asks the thread to stop after the slot it is running (returns at once).
    void request_stop();
    /// Asks the thread to stop and waits up to `grace` for a run in progress to finish.
    /// Returns false when it is still running a slot then (the caller may exit anyway: the run
    /// row stays `running` and the next run marks it abandoned).
    bool stop(std::chrono::milliseconds grace);

private:
    void loop();
    /// Sleeps until `until` or stop; false when stopping.
    bool sleep_until(std::chrono::steady_clock::time_point until);

    const Settings& m_settings;
    const CheckRegistry& m_registry;
    std::thread m_thread;
    std::mutex m_mutex;
    std::condition_variable m_changed;
    bool m_stopping = false;
    bool m_finished = false;
};

}  // namespace reconcile
