#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <iostream>

#include "checks/registry.hpp"
#include "cli/commands.hpp"
#include "lib/books.hpp"
#include "lib/history.hpp"
#include "lib/interrupt.hpp"
#include "lib/log.hpp"
#include "lib/migrate.hpp"
#include "lib/output.hpp"
#include "lib/runner.hpp"
#include "lib/schedule.hpp"
#include "lib/scheduler.hpp"
#include "lib/shard.hpp"
#include "lib/utf8.hpp"

namespace reconcile {

CLI::App* setup_run(CLI::App& app, RunOptions& options)
{
    auto* command = app.add_subcommand("run", "Run one category of checks on one book");
    command->add_option("-b,--book", options.book, "Book to reconcile (one of RECON_BOOKS)")->required();
    command
        ->add_option("-c,--category", options.categories, "Category: A, B, C or D; A,B (or A,B,D) shares one snapshot")
        ->delimiter(',')
        ->required();
    command->add_option("--check", options.checks, "Only this check (repeatable); must be in the category");
    add_output_option(*command, options.output);
    command->add_option("--fail-on", options.fail_on, "Exit 1 on: fail or warn")
        ->transform(one_of({"fail", "warn"}))
        ->type_name("fail|warn")
        ->capture_default_str();
    command->add_option("--trigger", options.trigger, "Recorded on the run row: manual, schedule or api")
        ->transform(one_of(trigger_names()))
        ->type_name("manual|schedule|api");
    command->add_flag("--if-due", options.if_due, "Skip (exit 0) unless due, as `reconcile tick` decides");
    command->add_option("--shard", options.shard, "Category C only: the customers in shard K of N (e.g. 2/4), own lock")
        ->option_text("K/N");
    command->add_flag("--full", options.full, "A and B: prove the whole ledger, not what changed since");
    return command;
}

namespace {

/// `--if-due`: the scheduler's own decision (lib/schedule.hpp decide_slot) for this book and
/// category against its run history; std::nullopt when due, else why not (one line).
std::optional<std::string> not_due_reason(const Settings& settings, const std::string& book, Category category,
                                          const std::optional<Shard>& shard)
{
    settings.require_book(book);
    const ScheduleConfig config = schedule_config(settings);
    const auto cadence =
        std::find_if(config.books.begin(), config.books.end(), [&](const BookCadence& c) { return c.book == book; });
    if (!cadence->enabled) {
        return fmt::format("scheduled runs of book {} are switched off ({})", book, book_rules(book).schedule_switch);
    }
    Session control(settings.database_url(book), "control");
    verify_book(control, book);
    SlotHistory history;
    const auto last = read_last_full_runs(control, book, shard);
    if (const auto found = last.find(category); found != last.end()) {
        history.last_started = found->second.started_at;
        history.last_reached_no_broker = found->second.reached_no_broker;
    }
    const Timestamp now = system_now();
    const SlotDecision decision = decide_slot(*cadence, category, history, config.retry_seconds, now);
    if (decision.due) return std::nullopt;
    return fmt::format(
        "the last full run{} started {} s ago, within {}; next due at {}",
        shard ? " of shard " + shard->to_string() : std::string{},
        std::chrono::duration_cast<std::chrono::seconds>(now - *history.last_started).count(),
        history.last_reached_no_broker
            ? fmt::format("the retry of {} s after reaching no broker",
                          std::min(cadence->external_retry_seconds, interval_seconds(*cadence, category)))
            : fmt::format("the cadence of {} s", interval_seconds(*cadence, category)),
        format_utc(decision.next_due));
}

/// "book/category", plus " shard K/N" when sharded, for log lines.
std::string run_label(const RunRequest& request)
{
    std::string label = fmt::format("{}/{}", request.book, request.category);
    if (request.shard) label += " shard " + request.shard->to_string();
    return label;
}

}  // namespace

int run_command(const RunOptions& options, const GlobalOptions& global)
{
    // First, before any thread exists: SIGTERM and SIGINT end the run `interrupted`.
    RunInterruption interruption;
    RunRequest request;
    request.interruption = &interruption;
    request.book = options.book;
    std::vector<Category> categories;
    for (const auto& name : options.categories) categories.push_back(parse_category(name));
    request.category = categories.front();
    request.check_names = options.checks;
    request.force_full_proof = options.full;
    if (options.full && std::none_of(categories.begin(), categories.end(), keeps_stored_proof)) {
        throw Error(ExitCode::usage, fmt::format("--full applies to categories A and B (which keep a stored proof), "
                                                 "not {}",
                                                 fmt::join(options.categories, ",")));
    }
    if (options.shard) request.shard = parse_shard(*options.shard);
    require_one_snapshot(categories, request);
    const Settings settings = load_settings_from(global.config_path);
    request.trigger = !options.trigger.empty() ? parse_trigger(options.trigger).value_or(Trigger::manual)
                      : options.if_due         ? Trigger::schedule
                                               : Trigger::manual;

    if (options.if_due) {
        std::vector<Category> due;
        for (const Category category : categories) {
            request.category = category;
            if (const auto reason = not_due_reason(settings, request.book, category, request.shard)) {
                log_info("skipped {}: not due: {}", run_label(request), *reason);
            } else {
                due.push_back(category);
            }
        }
        if (due.empty()) return to_int(ExitCode::ok);
        categories = due;
    }

    std::vector<ExitCode> codes;
    for (const RunOutcome& outcome : execute_runs(settings, default_registry(), request, categories)) {
        const RunReport& report = outcome.report;
        request.category = report.category;
        if (outcome.lock_held) {
            log_warn("skipped: {}", lock_held_message(outcome, run_label(request)));
            codes.push_back(ExitCode::lock_held);
            continue;
        }
        // Several runs print one document each, in the order asked (a stream jq reads as is).
        if (options.output == OutputFormat::json) {
            std::cout << dump_json(run_report_to_json(report), 2) << '\n';
        } else {
            std::cout << render_run_text(report);
        }
        std::cout.flush();
        const ExitCode code = exit_code_for(report, options.fail_on == "warn");
        log_run_finished(report, code);
        codes.push_back(code);
    }
    return to_int(aggregate_exit_codes(codes));
}

}  // namespace reconcile
