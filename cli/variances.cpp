#include <fmt/format.h>

#include <iostream>
#include <map>

#include "checks/registry.hpp"
#include "cli/commands.hpp"
#include "lib/acknowledgements.hpp"
#include "lib/config.hpp"
#include "lib/errors.hpp"
#include "lib/export.hpp"
#include "lib/lifecycle.hpp"
#include "lib/migrate.hpp"
#include "lib/output.hpp"
#include "lib/utf8.hpp"

namespace reconcile {

CLI::App* setup_variances(CLI::App& app, VariancesOptions& options)
{
    auto* command = app.add_subcommand("variances", "Every break's history: new, persisting (since when) or resolved");
    command->require_subcommand(0, 1);
    command->add_option("-b,--book", options.book, "Only this book (default: every book)");
    command->add_option("--check", options.check, "Only this check");
    auto* open = command->add_flag("--open", options.open, "Only breaks still open");
    command->add_flag("--resolved", options.resolved, "Only breaks that resolved")->excludes(open);
    command->add_option("-n,--limit", options.limit, "At most this many breaks per book")
        ->check(whole_number(1, 100000))
        ->capture_default_str();
    add_table_output_option(*command, options.output);

    options.ack = command->add_subcommand("ack", "Classify breaks: still listed, but no alert and no failed check");
    options.ack->add_option("fingerprint", options.fingerprints, "Fingerprints (or unique prefixes of 8+ digits)")
        ->required();
    options.ack->add_option("--class", options.variance_class, "What the break is: data, code or timing")
        ->required()
        ->transform(one_of(variance_class_names()))
        ->type_name("data|code|timing");
    options.ack->add_option("--note", options.note, "Why (kept in the audit log)")->required();
    options.ack->add_option("--until", options.until, "The acknowledgement ends at this UTC time (ISO-8601)");
    options.ack->add_option("--by", options.by, "Who acknowledges (default: the OS user)");
    options.ack->add_option("-b,--book", options.book, "Only look in this book");

    options.unack = command->add_subcommand("unack", "End acknowledgements: the breaks count and alert again");
    options.unack->add_option("fingerprint", options.fingerprints, "Fingerprints (or unique prefixes of 8+ digits)")
        ->required();
    options.unack->add_option("--by", options.by, "Who ends them (default: the OS user)");
    options.unack->add_option("-b,--book", options.book, "Only look in this book");
    return command;
}

namespace {

int act_on_variances(const VariancesOptions& options, const Settings& settings, VarianceAction action)
{
    VarianceActionRequest request;
    request.action = action;
    request.fingerprints = options.fingerprints;
    request.book = options.book;
    request.by = options.by.value_or(os_user_name());
    if (action == VarianceAction::ack) {
        request.variance_class = parse_variance_class(options.variance_class);
        request.note = options.note;
        if (options.until) {
            request.until = parse_utc(*options.until);
            if (!request.until) {
                throw Error(
                    ExitCode::usage,
                    fmt::format("--until '{}' is not a UTC ISO-8601 time (2026-12-31T00:00:00Z)", *options.until));
            }
        }
    }
    for (const auto& done : record_variance_actions(settings, request)) {
        std::cout << fmt::format("{} {} {} {} by {} at {}\n",
                                 action == VarianceAction::ack ? "acknowledged" : "unacknowledged", done.book,
                                 done.check_name, done.fingerprint, printable(request.by), format_utc(done.at));
    }
    return 0;
}

}  // namespace

int variances_command(const VariancesOptions& options, const GlobalOptions& global)
{
    const Settings settings = load_settings_from(global.config_path);
    if (options.ack->parsed()) return act_on_variances(options, settings, VarianceAction::ack);
    if (options.unack->parsed()) return act_on_variances(options, settings, VarianceAction::unack);
    if (options.check && default_registry().find(*options.check) == nullptr) {
        throw Error(ExitCode::usage, fmt::format("unknown check '{}' (see `reconcile checks`)", *options.check));
    }
    VarianceHistoryFilter filter;
    filter.check_name = options.check;
    if (options.open) filter.status = "open";
    if (options.resolved) filter.status = "resolved";
    filter.limit = options.limit;

    std::vector<VarianceHistory> histories;
    for_each_book(settings, options.book, [&](const std::string& book, Session& session) {
        for (auto& history : list_variance_history(session, book, filter)) histories.push_back(std::move(history));
    });
    if (const auto format = record_format(options.output)) {
        RecordWriter records(std::cout, *format, variance_history_columns());
        for (const auto& history : histories) records.write(variance_history_record(history));
        return 0;
    }
    if (options.output == OutputFormat::json) {
        nlohmann::json all = nlohmann::json::array();
        for (const auto& history : histories) all.push_back(variance_history_to_json(history));
        std::cout << dump_json(std::move(all), 2) << '\n';
    } else if (histories.empty()) {
        std::cout << "no variances recorded\n";
    } else {
        std::map<std::string, std::size_t> states;
        for (const auto& history : histories) ++states[history.acknowledgement ? "acknowledged" : history.state];
        std::cout << (options.open ? render_open_variances_table(histories, std::chrono::system_clock::now())
                                   : render_variance_history_table(histories));
        std::string tally;
        for (const auto& [state, n] : states) tally += fmt::format("{}{} {}", tally.empty() ? "" : ", ", n, state);
        std::cout << fmt::format("{} break(s): {}\n", histories.size(), tally);
    }
    return 0;
}

}  // namespace reconcile
