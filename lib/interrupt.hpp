#pragma once

#include <signal.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "lib/errors.hpp"

namespace reconcile {

/// How long a run may take to stop after SIGTERM or SIGINT before the process marks the run
/// `interrupted` from a fresh connection and exits on its own (a check waiting on a broker
/// cannot be cancelled from outside). docs/operations.md "Interrupted runs".
inline constexpr std::chrono::seconds interrupt_grace{5};

/// The exit code of a run stopped by `signal`: 128 + its number, the shell convention
/// (130 for SIGINT, 143 for SIGTERM).
ExitCode exit_code_for_signal(int signal);

/// Stops one run on SIGTERM or SIGINT (issue 14 item 9). The signals are taken by a waiter
/// thread of its own: on one it records the signal, which the runner polls between checks, and
/// keeps cancelling the read session's statement (pg_cancel_backend from a fresh connection) so
/// the check in progress ends at once. The runner then marks the run `interrupted`, writes no
/// results and releases its lock. Should that not happen within interrupt_grace (a check waiting
/// on a broker, a results write in progress), the waiter ends the control session (rolling back
/// whatever it was writing and freeing the lock), marks the row itself and exits the process.
class RunInterruption {
public:
    /// Blocks SIGTERM and SIGINT in the calling thread and every thread it starts afterwards:
    /// construct it before any other thread exists.
    RunInterruption();
    ~RunInterruption();
    RunInterruption(const RunInterruption&) = delete;
    RunInterruption& operator=(const RunInterruption&) = delete;

    /// The signal received (SIGTERM or SIGINT), 0 while none.
    int signal() const { return m_signal.load(); }
    /// The run's two sessions: the control one (run row and lock, on the primary) and the read
    /// one, whose statements a signal cancels.
    void attach_sessions(const std::string& control_url, int control_pid, const std::string& read_url, int read_pid);
    /// A row of the run (one per category of a shared snapshot), which the waiter marks
    /// `interrupted` itself if the run does not stop in time.
    void attach_run(std::int64_t run_id);
    /// The run ended (marked, or finished with results): the waiter acts no further.
    void finished();

private:
    void wait_for_signal();

    sigset_t m_signals{};
    std::atomic<int> m_signal{0};
    std::mutex m_mutex;
    std::condition_variable m_changed;
    bool m_finished = false;
    bool m_stopping = false;
    std::string m_control_url;
    int m_control_pid = 0;
    std::string m_read_url;
    int m_read_pid = 0;
    std::vector<std::int64_t> m_run_ids;
    std::thread m_waiter;
};

}  // namespace reconcile
