#include "lib/cadence.hpp"

#include <fmt/format.h>

#include "lib/history.hpp"

namespace reconcile {

std::int64_t cadence_seconds(const Settings& settings, const std::string& book, char category)
{
    if (category == 'C') return settings.external_interval_seconds;
    return book == "india" ? settings.india_interval_seconds : settings.interval_seconds;
}

bool schedule_enabled(const Settings& settings, const std::string& book)
{
    return book == "india" ? settings.india_enabled : settings.schedule_enabled;
}

DueDecision decide_due(const DueInput& input, Timestamp now)
{
    DueDecision decision;
    if (!input.enabled) {
        decision.reason = "scheduled runs of this book are switched off";
        return decision;
    }
    if (!input.last_completed_started) {
        decision.due = true;
        decision.reason = "no completed run yet";
        decision.next_due = now;
        return decision;
    }
    const Timestamp last = *input.last_completed_started;
    decision.next_due = last + std::chrono::seconds(input.cadence_seconds);
    const auto age_seconds = std::chrono::duration_cast<std::chrono::seconds>(now - last).count();
    decision.due = now >= *decision.next_due;
    decision.reason = decision.due
                          ? fmt::format("the last completed run started {} s ago (cadence {} s)", age_seconds,
                                        input.cadence_seconds)
                          : fmt::format("the last completed run started {} s ago, within the cadence of {} s; next "
                                        "due at {}",
                                        std::max<std::int64_t>(0, age_seconds), input.cadence_seconds,
                                        format_utc(*decision.next_due));
    return decision;
}

DueDecision evaluate_due(const Settings& settings, Session& control, const std::string& book, char category,
                         const std::function<Timestamp()>& now)
{
    DueInput input{.enabled = schedule_enabled(settings, book),
                   .cadence_seconds = cadence_seconds(settings, book, category)};
    if (input.enabled) {
        RunHistory history(control);
        if (const auto last = history.last_completed(book, category)) input.last_completed_started = last->started_at;
    }
    return decide_due(input, now());
}

}  // namespace reconcile
