#include "lib/schedule.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "lib/books.hpp"

namespace reconcile {
namespace {

bool completed(ExitCode code)
{
    return code == ExitCode::ok || code == ExitCode::check_failed || code == ExitCode::check_error;
}

/// Rank in the aggregation order: higher wins.
int precedence(ExitCode code)
{
    switch (code) {
        case ExitCode::check_failed:
            return 8;
        case ExitCode::config:
            return 7;
        case ExitCode::internal:
        case ExitCode::io_error:  // not produced by a cycle (its slots write no report)
            return 6;
        case ExitCode::unavailable:
            return 5;
        case ExitCode::transient:
        case ExitCode::interrupted:  // a signal stopped the slot: nothing written, worth a retry
        case ExitCode::terminated:
            return 4;
        case ExitCode::usage:
            return 4;  // not produced by a cycle; ranked with the retryable ones
        case ExitCode::check_error:
            return 3;
        case ExitCode::lock_held:
            return 1;
        case ExitCode::ok:
            return 0;
    }
    return 6;
}

}  // namespace

ScheduleConfig schedule_config(const Settings& settings)
{
    ScheduleConfig config;
    for (const auto& book : settings.books) {
        BookCadence cadence;
        cadence.book = book;
        const BookRules& rules = book_rules(book);
        cadence.enabled = settings.*rules.schedule_enabled;
        cadence.internal_interval_seconds = settings.*rules.interval_seconds;
        cadence.external_interval_seconds = settings.external_interval_seconds;
        cadence.external_retry_seconds = settings.external_retry_seconds;
        config.books.push_back(std::move(cadence));
    }
    return config;
}

std::int64_t interval_seconds(const BookCadence& cadence, Category category)
{
    return category == Category::C ? cadence.external_interval_seconds : cadence.internal_interval_seconds;
}

SlotDecision decide_slot(const BookCadence& cadence, Category category, const SlotHistory& history,
                         std::int64_t retry_seconds, Timestamp now)
{
    SlotDecision decision;
    decision.book = cadence.book;
    decision.category = category;
    decision.enabled = cadence.enabled;
    decision.last_started = history.last_started;
    Timestamp next = now;
    if (history.last_started) {
        auto wait = interval_seconds(cadence, category);
        // A run that reached no broker proved nothing: try again soon, not a whole cadence later.
        if (history.last_reached_no_broker) wait = std::min(wait, cadence.external_retry_seconds);
        next = *history.last_started + std::chrono::seconds(wait);
    }
    if (history.last_failed_attempt) {
        const auto hold = std::min(retry_seconds, interval_seconds(cadence, category));
        next = std::max(next, *history.last_failed_attempt + std::chrono::seconds(hold));
    }
    decision.next_due = next;
    decision.due = cadence.enabled && next <= now;
    return decision;
}

std::vector<SlotDecision> plan_cycle(
    const ScheduleConfig& config, const std::function<SlotHistory(const std::string& book, Category category)>& history,
    Timestamp now)
{
    std::vector<SlotDecision> decisions;
    for (const auto& cadence : config.books) {
        for (const Category category : all_categories) {
            decisions.push_back(
                decide_slot(cadence, category, history(cadence.book, category), config.retry_seconds, now));
        }
    }
    return decisions;
}

std::optional<Timestamp> earliest_due(const std::vector<SlotDecision>& decisions)
{
    std::optional<Timestamp> earliest;
    for (const auto& decision : decisions) {
        if (!decision.enabled) continue;
        if (!earliest || decision.next_due < *earliest) earliest = decision.next_due;
    }
    return earliest;
}

ExitCode aggregate_exit_codes(const std::vector<ExitCode>& codes)
{
    ExitCode result = ExitCode::ok;
    for (const ExitCode code : codes) {
        if (precedence(code) > precedence(result)) result = code;
    }
    // A held lock is another process doing the same work: it only speaks when nothing ran.
    if (result == ExitCode::lock_held) {
        const bool all_skipped =
            std::all_of(codes.begin(), codes.end(), [](ExitCode code) { return code == ExitCode::lock_held; });
        if (!all_skipped) result = ExitCode::ok;
    }
    return result;
}

ScheduleCycle::ScheduleCycle(ScheduleConfig config, HistoryReader history, Executor execute, Clock clock)
    : m_config(std::move(config)),
      m_history(std::move(history)),
      m_execute(std::move(execute)),
      m_clock(std::move(clock))
{
}

std::vector<SlotOutcome> ScheduleCycle::run_once(bool dry_run)
{
    std::vector<SlotOutcome> outcomes;
    m_decisions.clear();
    for (const auto& cadence : m_config.books) {
        if (!cadence.enabled) {
            for (const Category category : all_categories) {
                m_decisions.push_back(decide_slot(cadence, category, {}, m_config.retry_seconds, m_clock()));
            }
            continue;
        }
        std::map<Category, LastFullRun> last_started;
        try {
            last_started = m_history(cadence.book);
        } catch (...) {
            const auto [code, message] = classify_current_exception(false);
            SlotOutcome failed{.book = cadence.book, .code = code};
            failed.detail = fmt::format("cannot read the run history of book {}: {}", cadence.book, message);
            outcomes.push_back(std::move(failed));
            const Timestamp now = m_clock();
            for (const Category category : all_categories) {
                m_failed_attempts[{cadence.book, category}] = now;
                auto decision =
                    decide_slot(cadence, category, {.last_failed_attempt = now}, m_config.retry_seconds, now);
                decision.down = true;
                m_decisions.push_back(std::move(decision));
            }
            continue;
        }
        std::vector<SlotDecision> decided;
        for (const Category category : all_categories) {
            SlotHistory history;
            if (const auto found = last_started.find(category); found != last_started.end()) {
                history.last_started = found->second.started_at;
                history.last_reached_no_broker = found->second.reached_no_broker;
            }
            const auto failed = m_failed_attempts.find({cadence.book, category});
            if (failed != m_failed_attempts.end()) history.last_failed_attempt = failed->second;
            decided.push_back(decide_slot(cadence, category, history, m_config.retry_seconds, m_clock()));
        }
        // The due A, B and D run together where the first of them falls (one snapshot, one
        // proof: docs/decisions/one-snapshot-runs.md); C, which reads brokers, alone.
        std::vector<std::vector<Category>> groups;
        std::optional<std::size_t> shared;
        for (const SlotDecision& decision : decided) {
            if (!decision.due) continue;
            if (dry_run) {
                outcomes.push_back({.book = cadence.book, .category = decision.category, .detail = "due"});
            } else if (decision.category == Category::C) {
                groups.push_back({decision.category});
            } else if (shared) {
                groups[*shared].push_back(decision.category);
            } else {
                shared = groups.size();
                groups.push_back({decision.category});
            }
        }
        for (const auto& group : groups) {
            const Timestamp now = m_clock();
            for (SlotOutcome& outcome : m_execute(cadence.book, group)) {
                const Category category = outcome.category.value_or(group.front());
                SlotDecision& decision = *std::find_if(decided.begin(), decided.end(),
                                                       [&](const SlotDecision& d) { return d.category == category; });
                if (outcome.code == ExitCode::unavailable && outcome.run_id) {
                    // It ran and reached no broker: the next look at the history holds it back
                    // by the external retry (its row), this process by the same.
                    m_failed_attempts.erase({cadence.book, category});
                    decision.last_started = now;
                    decision.next_due = now + std::chrono::seconds(std::min(cadence.external_retry_seconds,
                                                                            interval_seconds(cadence, category)));
                } else if (completed(outcome.code)) {
                    m_failed_attempts.erase({cadence.book, category});
                    decision.last_started = now;
                    decision.next_due = now + std::chrono::seconds(interval_seconds(cadence, category));
                } else {
                    const Timestamp attempted = m_clock();
                    m_failed_attempts[{cadence.book, category}] = attempted;
                    decision.next_due = attempted + std::chrono::seconds(std::min(m_config.retry_seconds,
                                                                                  interval_seconds(cadence, category)));
                }
                outcomes.push_back(std::move(outcome));
            }
        }
        m_decisions.insert(m_decisions.end(), decided.begin(), decided.end());
    }
    return outcomes;
}

std::optional<Timestamp> ScheduleCycle::next_due() const
{
    return earliest_due(m_decisions);
}

}  // namespace reconcile
