#pragma once

// Runs requested over HTTP execute on their own threads, through the same execute_run (and
// advisory lock) as the CLI, so a run outlives the request that started it: the handler waits
// up to a bound and otherwise answers 202 with the run id.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "lib/check_registry.hpp"
#include "lib/config.hpp"
#include "lib/errors.hpp"
#include "lib/runner.hpp"

namespace reconcile {

/// One launched run as the waiting handler sees it.
class LaunchedRun {
public:
    /// What is known so far (a copy taken under the lock).
    struct State {
        bool started = false;    ///< the `running` row is committed (run_id is set)
        bool done = false;       ///< execute_run returned or threw
        bool lock_held = false;  ///< done: skipped, another run holds the lock
        std::int64_t run_id = 0;
        std::optional<RunReport> report;  ///< done and ran
        ExitCode code = ExitCode::ok;     ///< done and threw: the failure's exit code
        std::string message;              ///< done and threw: one line
    };

    LaunchedRun(std::string run_book, Category run_category) : book(std::move(run_book)), category(run_category) {}

    /// Waits until done, or until `deadline` has passed and the run has at least started (the
    /// 202 needs its id), or until `start_deadline` has passed and it has not (its database did
    /// not answer: the handler is never held by it).
    State wait(std::chrono::steady_clock::time_point deadline, const std::atomic<bool>& stopping,
               std::chrono::steady_clock::time_point start_deadline);

    const std::string book;
    const Category category;

private:
    friend class RunLauncher;
    std::mutex m_mutex;
    std::condition_variable m_changed;
    State m_state;
};

/// Starts runs on detached threads and counts them, so shutdown can wait for them.
class RunLauncher {
public:
    RunLauncher(const Settings& settings, const CheckRegistry& registry);

    /// Starts `request` (trigger "api") on its own thread.
    std::shared_ptr<LaunchedRun> launch(RunRequest request);

    /// Wakes every waiting handler (they answer with what they have); returns at once.
    void request_stop() { m_stopping = true; }

    /// Wakes every waiting handler (they answer with what they have) and waits up to `grace`
    /// for the launched runs to finish; false when some still run.
    bool stop(std::chrono::milliseconds grace);

    /// True once stop() was called.
    const std::atomic<bool>& stopping() const { return m_stopping; }

private:
    const Settings& m_settings;
    const CheckRegistry& m_registry;
    std::atomic<bool> m_stopping{false};
    std::mutex m_mutex;
    std::condition_variable m_idle;
    std::size_t m_active = 0;
};

}  // namespace reconcile
