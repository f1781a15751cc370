#include <fmt/format.h>

#include <iostream>

#include "checks/registry.hpp"
#include "cli/commands.hpp"
#include "lib/config.hpp"
#include "lib/errors.hpp"
#include "lib/export.hpp"
#include "lib/history.hpp"
#include "lib/output.hpp"

namespace reconcile {

CLI::App* setup_runs(CLI::App& app, RunsOptions& options)
{
    auto* command = app.add_subcommand("runs", "Read the run history");
    command->require_subcommand(1);
    options.list = command->add_subcommand("list", "Recent runs, newest first");
    options.list->add_option("-b,--book", options.book, "Only this book (default: every book)");
    options.list->add_option("-c,--category", options.category, "Only this category");
    options.list->add_option("--status", options.status, "Only this status")
        ->check(CLI::IsMember({"running", "ok", "warn", "fail", "error", "abandoned", "interrupted"}));
    options.list->add_option("-n,--limit", options.limit, "How many runs per book")->check(CLI::Range(1, 10000));
    add_table_output_option(*options.list, options.output);

    options.show = command->add_subcommand("show", "One run with its checks and variances");
    options.show->add_option("run_id", options.run_id, "Run id")->required()->check(CLI::PositiveNumber);
    options.show->add_option("-b,--book", options.book, "The run's book (needed when ids exist in several)");
    add_output_option(*options.show, options.output);
    return command;
}

std::vector<std::string> books_to_read(const Settings& settings, const std::optional<std::string>& book)
{
    if (book) {
        settings.require_book(*book);
        return {*book};
    }
    std::vector<std::string> books;
    for (const auto& name : settings.books) {
        if (settings.database_urls.count(name) != 0) books.push_back(name);
    }
    if (books.empty()) throw Error(ExitCode::config, "no book has a database configured (RECON_DATABASE_URL_<BOOK>)");
    return books;
}

namespace {

int list_runs(const RunsOptions& options, const Settings& settings)
{
    RunFilter filter;
    if (options.category) filter.category = std::string(1, parse_category(*options.category));
    filter.status = options.status;
    filter.limit = options.limit;
    nlohmann::json all = nlohmann::json::array();
    std::optional<RecordWriter> records;
    if (const auto format = record_format(options.output)) records.emplace(std::cout, *format, run_columns());
    for (const auto& book : books_to_read(settings, options.book)) {
        Session session(settings.database_url(book), "control");
        RunHistory history(session);
        for (const auto& report : history.list(book, filter)) {
            if (records) {
                records->write(run_record(report));
            } else if (options.output == OutputFormat::json) {
                all.push_back(run_report_to_json(report));
            } else {
                std::cout << render_run_line(report) << '\n';
            }
        }
    }
    if (options.output == OutputFormat::json) std::cout << all.dump(2) << '\n';
    return 0;
}

int show_run(const RunsOptions& options, const Settings& settings)
{
    std::vector<RunReport> found;
    for (const auto& book : books_to_read(settings, options.book)) {
        Session session(settings.database_url(book), "control");
        RunHistory history(session);
        if (auto report = history.find(options.run_id)) found.push_back(std::move(*report));
    }
    if (found.empty()) {
        throw Error(ExitCode::usage, fmt::format("no run {} in the run history", options.run_id));
    }
    if (found.size() > 1) {
        throw Error(ExitCode::usage, fmt::format("run {} exists in several books; pass --book", options.run_id));
    }
    if (options.output == OutputFormat::json) {
        std::cout << run_report_to_json(found.front()).dump(2) << '\n';
    } else {
        std::cout << render_run_text(found.front());
    }
    return 0;
}

}  // namespace

int runs_command(const RunsOptions& options, const GlobalOptions& global)
{
    const Settings settings = load_settings_from(global.config_path);
    if (options.list->parsed()) return list_runs(options, settings);
    return show_run(options, settings);
}

}  // namespace reconcile
