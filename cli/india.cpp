#include <fmt/format.h>

#include <iostream>

#include "cli/commands.hpp"
#include "lib/errors.hpp"
#include "lib/export.hpp"
#include "lib/india_reports.hpp"
#include "lib/log.hpp"
#include "lib/utf8.hpp"

namespace reconcile {

CLI::App* setup_india(CLI::App& app, IndiaOptions& options)
{
    auto* command = app.add_subcommand("india", "On-demand India reports from live ViewTrade data (no run row)");
    command->require_subcommand(1);
    const std::pair<const char*, const char*> reports[] = {
        {"ledger-recon", "Per customer: ledger cash and shares vs the ViewTrade account"},
        {"holdings-recon", "Per (customer, instrument): ledger shares vs ViewTrade positions"},
        {"reconciliation", "Per customer: USD remitted under LRS vs USD wired into ViewTrade"},
    };
    int value = 0;
    for (const auto& [name, description] : reports) {
        auto* report = command->add_subcommand(name, description);
        report->add_option("--customer", options.customer, "Only this customer id");
        add_table_output_option(*report, options.output);
        options.reports.emplace_back(report, value++);
    }
    return command;
}

int india_command(const IndiaOptions& options, const GlobalOptions& global)
{
    const Settings settings = load_settings_from(global.config_path);
    IndiaReportRequest request{.report = IndiaReport::ledger_recon, .customer_id = options.customer};
    for (const auto& [command, value] : options.reports) {
        if (command->parsed()) request.report = static_cast<IndiaReport>(value);
    }
    const nlohmann::json report = build_india_report(settings, request);
    // Unconfigured, the report is empty, not clean: say what is missing and print none.
    if (india_report_exit_code(report) == ExitCode::config) {
        throw Error(ExitCode::config,
                    fmt::format("india {}: {}", to_string(request.report),
                                report["error"].is_string() ? report["error"].get<std::string>()
                                                            : std::string("ViewTrade is not configured")));
    }
    if (const auto format = record_format(options.output)) {
        const RecordTable table = india_report_records(report);
        RecordWriter(std::cout, *format, table.columns).write_all(table);
    } else if (options.output == OutputFormat::json) {
        std::cout << dump_json(report, 2) << '\n';
    } else {
        std::cout << render_india_report_text(report);
    }
    std::cout.flush();
    if (!report["error"].is_null())
        log_warn("india {}: {}", to_string(request.report), report["error"].get<std::string>());
    return to_int(india_report_exit_code(report));
}

}  // namespace reconcile
