#include <fmt/format.h>

#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "cli/commands.hpp"
#include "lib/errors.hpp"
#include "lib/log.hpp"
#include "lib/progress.hpp"

namespace reconcile {

void add_output_option(CLI::App& command, OutputFormat& format)
{
    command.add_option("-o,--output", format, "Output format: text for people, json for pipelines")
        ->transform(CLI::CheckedTransformer(
            std::map<std::string, OutputFormat>{{"text", OutputFormat::text}, {"json", OutputFormat::json}},
            CLI::ignore_case))
        ->option_text("text|json");
}

std::optional<RecordFormat> record_format(OutputFormat format)
{
    if (format == OutputFormat::csv) return RecordFormat::csv;
    if (format == OutputFormat::jsonl) return RecordFormat::jsonl;
    return std::nullopt;
}

void add_table_output_option(CLI::App& command, OutputFormat& format)
{
    command
        .add_option("-o,--output", format, "Output format: text for people, json for pipelines, csv or jsonl to export")
        ->transform(CLI::CheckedTransformer(std::map<std::string, OutputFormat>{{"text", OutputFormat::text},
                                                                                {"json", OutputFormat::json},
                                                                                {"csv", OutputFormat::csv},
                                                                                {"jsonl", OutputFormat::jsonl}},
                                            CLI::ignore_case))
        ->option_text("text|json|csv|jsonl");
}

int run_cli(int argc, char** argv)
{
    CLI::App app{"reconcile: continuously prove a double-entry ledger against itself and its brokers", "reconcile"};
    app.set_version_flag("--version", RECON_VERSION);
    app.require_subcommand(1);
    GlobalOptions global;
    app.add_option("--config", global.config_path, "Env-file (KEY=VALUE lines) with settings")->envname("RECON_CONFIG");
    app.add_flag("-q,--quiet", global.quiet, "Only warnings and errors on stderr (and no progress)");

    RunOptions run_options;
    MigrateOptions migrate_options;
    ChecksOptions checks_options;
    RunsOptions runs_options;
    IndiaOptions india_options;
    VariancesOptions variances_options;
    ServeOptions serve_options;
    TickOptions tick_options;
    CLI::App* run = setup_run(app, run_options);
    CLI::App* migrate = setup_migrate(app, migrate_options);
    CLI::App* checks = setup_checks(app, checks_options);
    CLI::App* runs = setup_runs(app, runs_options);
    CLI::App* india = setup_india(app, india_options);
    TraceOptions trace_options;
    CLI::App* trace = setup_trace(app, trace_options);
    CLI::App* help_man = setup_help_man(app);
    CLI::App* variances = setup_variances(app, variances_options);
    CLI::App* serve = setup_serve(app, serve_options);
    CLI::App* tick = setup_tick(app, tick_options);

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::Error& e) {
        log_error("{} (see reconcile --help)", first_line(e.what()));
        return to_int(ExitCode::usage);
    }

    if (global.quiet) set_log_level(LogLevel::warn);
    // Progress only where one person watches one fan-out: not serve (runs on threads at once,
    // stderr is journald) nor tick (a scheduler's command).
    if (run->parsed() || india->parsed()) {
        set_progress_enabled(progress_wanted(isatty(STDERR_FILENO) == 1, global.quiet));
    }
    // libpq would wait for the kernel's TCP timeout on a black-holed host; bound it.
    setenv("PGCONNECT_TIMEOUT", "10", 0);

    try {
        if (run->parsed()) return run_command(run_options, global);
        if (migrate->parsed()) return migrate_command(migrate_options, global);
        if (checks->parsed()) return checks_command(checks_options, global);
        if (runs->parsed()) return runs_command(runs_options, global);
        if (india->parsed()) return india_command(india_options, global);
        if (trace->parsed()) return trace_command(trace_options, global);
        if (help_man->parsed()) {
            std::cout << render_man_page(app);
            return 0;
        }
        if (variances->parsed()) return variances_command(variances_options, global);
        if (serve->parsed()) return serve_command(serve_options, global);
        if (tick->parsed()) return tick_command(tick_options, global);
        return to_int(ExitCode::usage);
    } catch (...) {
        const auto [code, message] = classify_current_exception(false);
        log_error("{}", message);
        return to_int(code);
    }
}

}  // namespace reconcile
