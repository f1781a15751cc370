#include "lib/run_launcher.hpp"

#include <thread>

#include "lib/log.hpp"
#include "lib/output.hpp"

namespace reconcile {
namespace {

/// How often a waiting handler looks whether the server is stopping.
constexpr auto stop_poll_slice = std::chrono::milliseconds(200);

}  // namespace

LaunchedRun::State LaunchedRun::wait(std::chrono::steady_clock::time_point deadline, const std::atomic<bool>& stopping,
                                     std::chrono::steady_clock::time_point start_deadline)
{
    std::unique_lock lock(m_mutex);
    while (!m_state.done) {
        const auto now = std::chrono::steady_clock::now();
        if (stopping.load() && m_state.started) break;
        if (now >= deadline && m_state.started) break;
        if (now >= start_deadline && !m_state.started) break;
        const auto until = std::min(m_state.started ? deadline : start_deadline, now + stop_poll_slice);
        m_changed.wait_until(lock, until);
    }
    return m_state;
}

RunLauncher::RunLauncher(const Settings& settings, const CheckRegistry& registry)
    : m_settings(settings), m_registry(registry)
{
}

std::shared_ptr<LaunchedRun> RunLauncher::launch(RunRequest request)
{
    auto run = std::make_shared<LaunchedRun>(request.book, request.category);
    request.trigger = Trigger::api;
    request.on_started = [run](std::int64_t run_id) {
        {
            std::lock_guard lock(run->m_mutex);
            run->m_state.started = true;
            run->m_state.run_id = run_id;
        }
        run->m_changed.notify_all();
    };
    {
        std::lock_guard lock(m_mutex);
        ++m_active;
    }
    std::thread([this, run, request = std::move(request)] {
        LaunchedRun::State result;
        try {
            RunOutcome outcome = execute_run(m_settings, m_registry, request);
            result.lock_held = outcome.lock_held;
            if (!outcome.lock_held) {
                result.run_id = outcome.report.run_id;
                log_run_finished(outcome.report, exit_code_for(outcome.report, false));
                result.report = std::move(outcome.report);
            }
        } catch (...) {
            const auto [code, message] = classify_current_exception(false);
            result.code = code;
            result.message = message;
            log_warn("api run of {}/{} failed: {}", request.book, request.category, message);
        }
        {
            std::lock_guard lock(run->m_mutex);
            result.started = run->m_state.started;
            if (result.run_id == 0) result.run_id = run->m_state.run_id;
            result.done = true;
            run->m_state = std::move(result);
        }
        run->m_changed.notify_all();
        std::lock_guard lock(m_mutex);
        --m_active;
        m_idle.notify_all();
    }).detach();
    return run;
}

bool RunLauncher::stop(std::chrono::milliseconds grace)
{
    m_stopping = true;
    std::unique_lock lock(m_mutex);
    return m_idle.wait_for(lock, grace, [this] { return m_active == 0; });
}

}  // namespace reconcile
