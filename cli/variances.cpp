#include <fmt/format.h>

#include <iostream>
#include <map>

#include "checks/registry.hpp"
#include "cli/commands.hpp"
#include "lib/config.hpp"
#include "lib/errors.hpp"
#include "lib/lifecycle.hpp"
#include "lib/migrate.hpp"

namespace reconcile {

CLI::App* setup_variances(CLI::App& app, VariancesOptions& options)
{
    auto* command = app.add_subcommand("variances", "Every break's history: new, persisting (since when) or resolved");
    command->add_option("-b,--book", options.book, "Only this book (default: every book)");
    command->add_option("--check", options.check, "Only this check");
    auto* open = command->add_flag("--open", options.open, "Only breaks still open");
    command->add_flag("--resolved", options.resolved, "Only breaks that resolved")->excludes(open);
    command->add_option("-n,--limit", options.limit, "At most this many breaks per book")
        ->check(whole_number(1, 100000))
        ->capture_default_str();
    add_output_option(*command, options.output);
    return command;
}

int variances_command(const VariancesOptions& options, const GlobalOptions& global)
{
    const Settings settings = load_settings_from(global.config_path);
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
    if (options.output == OutputFormat::json) {
        nlohmann::json all = nlohmann::json::array();
        for (const auto& history : histories) all.push_back(variance_history_to_json(history));
        std::cout << all.dump(2) << '\n';
    } else if (histories.empty()) {
        std::cout << "no variances recorded\n";
    } else {
        std::map<std::string, std::size_t> states;
        for (const auto& history : histories) ++states[history.state];
        std::cout << render_variance_history_table(histories);
        std::string tally;
        for (const auto& [state, n] : states) tally += fmt::format("{}{} {}", tally.empty() ? "" : ", ", n, state);
        std::cout << fmt::format("{} break(s): {}\n", histories.size(), tally);
    }
    return 0;
}

}  // namespace reconcile
