#include "lib/scheduler.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "lib/history.hpp"
#include "lib/log.hpp"
#include "lib/migrate.hpp"
#include "lib/output.hpp"
#include "lib/runner.hpp"

namespace reconcile {
namespace {

/// Longest sleep between two looks at the history, so a changed clock or a run history edited
/// by hand is noticed within minutes whatever the intervals are.
constexpr auto max_sleep = std::chrono::minutes(5);
/// Shortest sleep between two cycles: failed slots are held back by their retry time, so this
/// only absorbs the few milliseconds between our clock and the run row's started_at.
constexpr auto min_sleep = std::chrono::milliseconds(50);

/// The outcome of each slot of `categories` when none of them ran to results: one code and why.
std::vector<SlotOutcome> unfinished_slots(const std::string& book, const std::vector<Category>& categories,
                                          ExitCode code, const std::string& detail)
{
    std::vector<SlotOutcome> outcomes;
    for (const Category category : categories) {
        outcomes.push_back(SlotOutcome{.book = book, .category = category, .code = code, .detail = detail});
    }
    return outcomes;
}

}  // namespace

Timestamp system_now()
{
    return std::chrono::system_clock::now();
}

std::map<Category, LastFullRun> read_last_full_runs(Session& session, const std::string& book,
                                                    const std::optional<Shard>& shard)
{
    std::map<Category, LastFullRun> result;
    for (const auto& [category, report] : RunHistory(session).last_full_runs(book, shard)) {
        result[category] = {.started_at = report.started_at,
                            .reached_no_broker = exit_code_for(report, false) == ExitCode::unavailable};
    }
    return result;
}

std::vector<SlotOutcome> execute_scheduled_slots(const Settings& settings, const CheckRegistry& registry,
                                                 const std::string& book, const std::vector<Category>& categories,
                                                 bool fail_on_warn)
{
    std::vector<SlotOutcome> outcomes;
    try {
        RunRequest request;
        request.book = book;
        request.trigger = Trigger::schedule;
        for (const RunOutcome& run : execute_runs(settings, registry, request, categories)) {
            const Category category = run.report.category;
            SlotOutcome outcome{.book = book, .category = category};
            if (run.lock_held) {
                outcome.code = ExitCode::lock_held;
                outcome.detail = "skipped: " + lock_held_message(run, fmt::format("{}/{}", book, category));
            } else {
                outcome.code = exit_code_for(run.report, fail_on_warn);
                log_run_finished(run.report, outcome.code);
                outcome.run_id = run.report.run_id;
                outcome.status = run.report.status;
                outcome.detail = fmt::format("run {} finished {} in {} ms", run.report.run_id, run.report.status,
                                             run.report.duration_ms);
            }
            outcomes.push_back(std::move(outcome));
        }
    } catch (...) {
        // Nothing of these slots was written (their results land together or not at all).
        const auto [code, message] = classify_current_exception(false);
        return unfinished_slots(book, categories, code, message);
    }
    return outcomes;
}

void log_slot_outcome(const SlotOutcome& outcome)
{
    if (outcome.run_id) return;  // it ran: execute_scheduled_slot logged how it finished
    const std::string slot = outcome.category ? fmt::format("{}/{}", outcome.book, *outcome.category) : outcome.book;
    if (outcome.code == ExitCode::lock_held) {
        log_info("scheduled {}: {} (exit {})", slot, outcome.detail, to_int(outcome.code));
    } else {
        log_warn("scheduled {}: {} (exit {})", slot, outcome.detail, to_int(outcome.code));
    }
}

ScheduleCycle make_schedule_cycle(const Settings& settings, const CheckRegistry& registry, bool fail_on_warn,
                                  ScheduleCycle::Clock clock, std::function<bool()> stopping)
{
    auto history = [&settings](const std::string& book) {
        Session session(settings.database_url(book), "control");
        verify_book(session, book);
        return read_last_full_runs(session, book);
    };
    auto execute = [&settings, &registry, fail_on_warn, stopping = std::move(stopping)](
                       const std::string& book, const std::vector<Category>& categories) {
        if (stopping && stopping()) {
            return unfinished_slots(book, categories, ExitCode::transient, "not started: the scheduler is stopping");
        }
        return execute_scheduled_slots(settings, registry, book, categories, fail_on_warn);
    };
    return ScheduleCycle(schedule_config(settings), std::move(history), std::move(execute), std::move(clock));
}

BackgroundScheduler::BackgroundScheduler(const Settings& settings, const CheckRegistry& registry)
    : m_settings(settings), m_registry(registry)
{
}

BackgroundScheduler::~BackgroundScheduler()
{
    if (m_thread.joinable()) {
        stop(std::chrono::hours(24));
    }
}

void BackgroundScheduler::start()
{
    const auto config = schedule_config(m_settings);
    const bool any = std::any_of(config.books.begin(), config.books.end(),
                                 [](const BookCadence& cadence) { return cadence.enabled; });
    if (!any) {
        log_info("scheduler: off (RECON_SCHEDULE_ENABLED and INDIA_RECON_ENABLED switch no book on)");
        return;
    }
    std::string books;
    for (const auto& cadence : config.books) {
        if (!cadence.enabled) continue;
        books += fmt::format("{}{} (A/B/D every {} s, C every {} s)", books.empty() ? "" : ", ", cadence.book,
                             cadence.internal_interval_seconds, cadence.external_interval_seconds);
    }
    log_info("scheduler: first cycle in {} s; {}", m_settings.initial_delay_seconds, books);
    m_thread = std::thread([this] { loop(); });
}

void BackgroundScheduler::request_stop()
{
    std::lock_guard lock(m_mutex);
    m_stopping = true;
    m_changed.notify_all();
}

bool BackgroundScheduler::stop(std::chrono::milliseconds grace)
{
    if (!m_thread.joinable()) return true;
    std::unique_lock lock(m_mutex);
    m_stopping = true;
    m_changed.notify_all();
    if (!m_changed.wait_for(lock, grace, [this] { return m_finished; })) {
        m_thread.detach();
        return false;
    }
    lock.unlock();
    m_thread.join();
    return true;
}

bool BackgroundScheduler::sleep_until(std::chrono::steady_clock::time_point until)
{
    std::unique_lock lock(m_mutex);
    return !m_changed.wait_until(lock, until, [this] { return m_stopping; });
}

void BackgroundScheduler::loop()
{
    auto cycle = make_schedule_cycle(m_settings, m_registry, false, system_now, [this] {
        std::lock_guard lock(m_mutex);
        return m_stopping;
    });
    bool running =
        sleep_until(std::chrono::steady_clock::now() + std::chrono::seconds(m_settings.initial_delay_seconds));
    while (running) {
        for (const auto& outcome : cycle.run_once()) log_slot_outcome(outcome);
        auto wait = std::chrono::duration_cast<std::chrono::steady_clock::duration>(max_sleep);
        if (const auto next = cycle.next_due()) {
            const auto until_next = *next - system_now();
            wait = std::clamp(std::chrono::duration_cast<std::chrono::steady_clock::duration>(until_next),
                              std::chrono::duration_cast<std::chrono::steady_clock::duration>(min_sleep), wait);
        }
        running = sleep_until(std::chrono::steady_clock::now() + wait);
        std::lock_guard lock(m_mutex);
        if (m_stopping) running = false;
    }
    std::lock_guard lock(m_mutex);
    m_finished = true;
    m_changed.notify_all();
}

}  // namespace reconcile
