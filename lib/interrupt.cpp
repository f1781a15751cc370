#include "lib/interrupt.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <pthread.h>

#include <cstdlib>
#include <memory>

#include "lib/db.hpp"
#include "lib/history.hpp"
#include "lib/log.hpp"

namespace reconcile {

ExitCode exit_code_for_signal(int signal)
{
    return signal == SIGINT ? ExitCode::interrupted : ExitCode::terminated;
}

RunInterruption::RunInterruption()
{
    sigemptyset(&m_signals);
    sigaddset(&m_signals, SIGTERM);
    sigaddset(&m_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &m_signals, nullptr);
    m_waiter = std::thread([this] { wait_for_signal(); });
}

RunInterruption::~RunInterruption()
{
    bool waiting_for_signal = false;
    {
        std::lock_guard lock(m_mutex);
        m_stopping = true;
        m_finished = true;
        waiting_for_signal = m_signal.load() == 0;
    }
    m_changed.notify_all();
    // sigwait only returns for a signal: send the waiter one of its own (it sees m_stopping).
    if (waiting_for_signal) pthread_kill(m_waiter.native_handle(), SIGTERM);
    m_waiter.join();
}

void RunInterruption::attach_sessions(const std::string& control_url, int control_pid, const std::string& read_url,
                                      int read_pid)
{
    std::lock_guard lock(m_mutex);
    m_control_url = control_url;
    m_control_pid = control_pid;
    m_read_url = read_url;
    m_read_pid = read_pid;
}

void RunInterruption::attach_run(std::int64_t run_id)
{
    std::lock_guard lock(m_mutex);
    m_run_ids.push_back(run_id);
}

void RunInterruption::finished()
{
    {
        std::lock_guard lock(m_mutex);
        m_finished = true;
    }
    m_changed.notify_all();
}

void RunInterruption::wait_for_signal()
{
    int received = 0;
    sigwait(&m_signals, &received);
    std::unique_lock lock(m_mutex);
    if (m_stopping || m_finished) return;
    m_signal = received;
    const char* name = received == SIGINT ? "SIGINT" : "SIGTERM";
    log_warn("received {}: interrupting the run (within {} s)", name, interrupt_grace.count());
    const auto deadline = std::chrono::steady_clock::now() + interrupt_grace;
    std::unique_ptr<Session> canceller;
    while (!m_finished && std::chrono::steady_clock::now() < deadline) {
        // Again and again: a statement that started after one cancel is cancelled by the next.
        if (m_read_pid != 0) {
            const std::string url = m_read_url;
            const int pid = m_read_pid;
            lock.unlock();
            try {
                if (!canceller) canceller = std::make_unique<Session>(url, "cancel");
                pqxx::nontransaction txn(canceller->connection());
                txn.exec_params("SELECT pg_cancel_backend($1)", pid);
            } catch (...) {
                canceller.reset();  // unreachable for now: the deadline still holds
            }
            lock.lock();
        }
        m_changed.wait_until(lock,
                             std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(200)),
                             [&] { return m_finished; });
    }
    if (m_finished) return;
    const std::string reason =
        fmt::format("interrupted by {}; did not stop within {} s; no results written", name, interrupt_grace.count());
    log_error("{} {} {}", m_run_ids.size() == 1 ? "run" : "runs", fmt::join(m_run_ids, ", "), reason);
    if (m_control_pid != 0) {
        try {
            Session fresh(m_control_url, "control");
            {
                // The control session may be inside the results transaction: ending it rolls that
                // back and frees the lock and the run row for the update below.
                pqxx::nontransaction txn(fresh.connection());
                txn.exec_params("SELECT pg_terminate_backend($1, 2000)", m_control_pid);
                txn.exec_params("SET lock_timeout = 2000");
            }
            for (const std::int64_t run_id : m_run_ids) RunHistory(fresh).interrupt_run(run_id, reason);
        } catch (...) {
            // Unreachable: the row stays `running` with a free lock, which reads as abandoned.
        }
    }
    // Ending the process ends its connections, and with them the run's lock.
    std::_Exit(to_int(exit_code_for_signal(received)));
}

}  // namespace reconcile
