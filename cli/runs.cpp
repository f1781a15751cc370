#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <iostream>

#include "checks/registry.hpp"
#include "cli/commands.hpp"
#include "lib/config.hpp"
#include "lib/errors.hpp"
#include "lib/export.hpp"
#include "lib/history.hpp"
#include "lib/migrate.hpp"
#include "lib/output.hpp"
#include "lib/utf8.hpp"

namespace reconcile {

CLI::App* setup_runs(CLI::App& app, RunsOptions& options)
{
    auto* command = app.add_subcommand("runs", "Read the run history");
    command->require_subcommand(1);
    options.list = command->add_subcommand("list", "Recent runs, newest first");
    options.list->add_option("-b,--book", options.book, "Only this book (default: every book)");
    options.list->add_option("-c,--category", options.category, "Only this category");
    options.list->add_option("--status", options.status, "Only this status")
        ->transform(one_of(run_status_names()))
        ->type_name("running|ok|warn|fail|error|abandoned|interrupted");
    options.list->add_option("-n,--limit", options.limit, "How many runs in all (newest first across books)")
        ->check(whole_number(1, 10000))
        ->capture_default_str();
    add_table_output_option(*options.list, options.output);

    options.show = command->add_subcommand("show", "One run with its checks and variances");
    options.show->add_option("run_id", options.run_id, "Run id (runs list shows them)")->required();
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

void for_each_book(const Settings& settings, const std::optional<std::string>& book,
                   const std::function<void(const std::string& book, Session& session)>& read)
{
    const BookDatabases databases(settings);
    for (const auto& name : books_to_read(settings, book)) {
        databases.with_session<void>(name, [&](Session& session) { read(name, session); });
    }
}

namespace {

int list_runs(const RunsOptions& options, const Settings& settings)
{
    RunFilter filter;
    if (options.category) filter.category = parse_category(*options.category);
    if (options.status) filter.status = parse_run_status(*options.status);
    filter.limit = options.limit;
    std::vector<RunReport> reports;
    for_each_book(settings, options.book, [&](const std::string& book, Session& session) {
        for (auto& report : RunHistory(session).list(book, filter)) reports.push_back(std::move(report));
    });
    // Newest first across books (as the API lists them), then the limit over them all.
    std::stable_sort(reports.begin(), reports.end(), [](const RunReport& a, const RunReport& b) {
        return a.started_at != b.started_at ? a.started_at > b.started_at : a.run_id > b.run_id;
    });
    if (reports.size() > static_cast<std::size_t>(options.limit))
        reports.resize(static_cast<std::size_t>(options.limit));
    if (const auto format = record_format(options.output)) {
        RecordWriter records(std::cout, *format, run_columns());
        for (const auto& report : reports) records.write(run_record(report));
    } else if (options.output == OutputFormat::json) {
        nlohmann::json all = nlohmann::json::array();
        for (const auto& report : reports) all.push_back(run_report_to_json(report));
        std::cout << dump_json(std::move(all), 2) << '\n';
    } else if (reports.empty()) {
        std::cout << "no runs recorded\n";
    } else {
        std::cout << render_runs_table(reports);
    }
    return 0;
}

/// A run id as typed: a whole number from 1 up; anything else is a usage error saying so.
std::int64_t parse_run_id(const std::string& text)
{
    const bool digits = !text.empty() && text.size() <= 40 &&
                        std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits) {
        throw Error(ExitCode::usage,
                    fmt::format("run id must be a whole number such as 42, not '{}' (runs list shows the ids)",
                                printable(text.substr(0, 40))));
    }
    std::int64_t id = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
    if (ec == std::errc::result_out_of_range) {
        throw Error(ExitCode::usage, fmt::format("run id {} is too large: no run has such an id", text));
    }
    if (ec != std::errc{} || id == 0) {
        throw Error(ExitCode::usage, fmt::format("run id {} does not exist: run ids start at 1", text));
    }
    return id;
}

int show_run(const RunsOptions& options, const Settings& settings)
{
    const std::int64_t run_id = parse_run_id(options.run_id);
    std::vector<RunReport> found;
    for_each_book(settings, options.book, [&](const std::string& book, Session& session) {
        if (auto report = RunHistory(session).find(run_id)) {
            // Two books may share a database with distinct run rows: only this book's runs count.
            if (report->book == book) found.push_back(std::move(*report));
        }
    });
    if (found.empty()) {
        throw Error(ExitCode::usage, fmt::format("no run {} in the run history{}", run_id,
                                                 options.book ? " of book " + *options.book : std::string{}));
    }
    if (found.size() > 1) {
        throw Error(ExitCode::usage, fmt::format("run {} exists in several books; pass --book", run_id));
    }
    if (options.output == OutputFormat::json) {
        std::cout << dump_json(run_report_to_json(found.front()), 2) << '\n';
    } else {
        std::cout << render_run_text(found.front()) << render_broker_health(found.front().brokers);
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
