#include <fmt/format.h>

#include <iostream>

#include <nlohmann/json.hpp>

#include "checks/registry.hpp"
#include "cli/commands.hpp"
#include "lib/log.hpp"
#include "lib/scheduler.hpp"
#include "lib/utf8.hpp"

namespace reconcile {
namespace {

const SlotOutcome* outcome_of(const std::vector<SlotOutcome>& outcomes, const SlotDecision& decision)
{
    for (const auto& outcome : outcomes) {
        if (outcome.book == decision.book && outcome.category == decision.category) return &outcome;
    }
    return nullptr;
}

/// What happened to one slot, in words.
std::string slot_text(const SlotDecision& decision, const SlotOutcome* outcome, bool dry_run)
{
    if (!decision.enabled) return "off (its schedule switch is off)";
    if (decision.down)
        return fmt::format("down (its database cannot be read; retried from {})", format_utc(decision.next_due));
    if (outcome == nullptr) {
        return decision.due ? "due" : fmt::format("not due until {}", format_utc(decision.next_due));
    }
    if (dry_run) return "due";
    return fmt::format("{} (exit {})", outcome->detail, to_int(outcome->code));
}

nlohmann::json optional_time(const std::optional<Timestamp>& t)
{
    return t ? nlohmann::json(format_utc(*t)) : nlohmann::json(nullptr);
}

}  // namespace

CLI::App* setup_tick(CLI::App& app, TickOptions& options)
{
    auto* command = app.add_subcommand("tick", "One scheduler cycle (cron, timers): run every due book and category");
    add_output_option(*command, options.output);
    command->add_option("--fail-on", options.fail_on, "Exit 1 on: fail or warn")
        ->transform(one_of({"fail", "warn"}))
        ->type_name("fail|warn")
        ->capture_default_str();
    command->add_flag("--dry-run", options.dry_run, "Say what is due without running anything");
    return command;
}

int tick_command(const TickOptions& options, const GlobalOptions& global)
{
    const Settings settings = load_settings_from(global.config_path);
    auto cycle = make_schedule_cycle(settings, default_registry(), options.fail_on == "warn");
    const auto outcomes = cycle.run_once(options.dry_run);
    std::vector<ExitCode> codes;
    for (const auto& outcome : outcomes) {
        codes.push_back(outcome.code);
        const bool completed_or_skipped = outcome.code == ExitCode::ok || outcome.code == ExitCode::check_failed ||
                                          outcome.code == ExitCode::check_error || outcome.code == ExitCode::lock_held;
        if (!completed_or_skipped) log_slot_outcome(outcome);
    }
    const ExitCode code = aggregate_exit_codes(codes);

    if (options.output == OutputFormat::json) {
        nlohmann::json slots = nlohmann::json::array();
        for (const auto& decision : cycle.last_decisions()) {
            const SlotOutcome* outcome = outcome_of(outcomes, decision);
            nlohmann::json slot = {
                {"book", decision.book},
                {"category", decision.category},
                {"enabled", decision.enabled},
                {"due", decision.due},
                {"down", decision.down},
                {"last_started_at", optional_time(decision.last_started)},
                {"next_due_at", decision.enabled ? optional_time(decision.next_due) : nlohmann::json(nullptr)},
                {"outcome", nullptr}};
            if (outcome != nullptr && !options.dry_run) {
                slot["outcome"] = {{"exit_code", to_int(outcome->code)},
                                   {"run_id", outcome->run_id ? nlohmann::json(*outcome->run_id) : nullptr},
                                   {"status", outcome->status ? nlohmann::json(*outcome->status) : nullptr},
                                   {"detail", outcome->detail}};
            }
            slots.push_back(std::move(slot));
        }
        nlohmann::json errors = nlohmann::json::array();
        for (const auto& outcome : outcomes) {
            if (outcome.category) continue;
            errors.push_back({{"book", outcome.book}, {"exit_code", to_int(outcome.code)}, {"detail", outcome.detail}});
        }
        std::cout << dump_json({{"exit_code", to_int(code)},
                                {"dry_run", options.dry_run},
                                {"slots", std::move(slots)},
                                {"errors", std::move(errors)}},
                               2)
                  << '\n';
    } else {
        for (const auto& outcome : outcomes) {
            if (!outcome.category) std::cout << fmt::format("{:<8} *  {}\n", outcome.book, outcome.detail);
        }
        for (const auto& decision : cycle.last_decisions()) {
            const SlotOutcome* outcome = outcome_of(outcomes, decision);
            // --quiet (cron): only slots that did not end ok (a break, an error, a held lock, a
            // down book), so a clean cycle prints nothing and cron mails nothing; a dry run still
            // says what is due.
            const bool ended_ok = outcome != nullptr && !options.dry_run && outcome->code == ExitCode::ok;
            if (global.quiet && (ended_ok || (outcome == nullptr && !decision.down))) continue;
            std::cout << fmt::format("{:<8} {}  {}\n", decision.book, decision.category,
                                     slot_text(decision, outcome, options.dry_run));
        }
    }
    std::cout.flush();
    return to_int(code);
}

}  // namespace reconcile
