#include <fmt/format.h>
#include <fmt/ranges.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "cli/commands.hpp"
#include "lib/config.hpp"
#include "lib/errors.hpp"
#include "lib/log.hpp"
#include "lib/output.hpp"
#include "lib/progress.hpp"

namespace reconcile {

CLI::Validator one_of(std::vector<std::string> words)
{
    return CLI::Validator(
        [words](std::string& value) -> std::string {
            std::string lowered = value;
            for (char& c : lowered) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            if (std::find(words.begin(), words.end(), lowered) != words.end()) {
                value = lowered;
                return {};
            }
            const std::string last = words.back();
            const std::vector<std::string> first(words.begin(), words.end() - 1);
            return fmt::format("must be {} or {}, not '{}'", fmt::join(first, ", "), last, printable(value));
        },
        "");
}

CLI::Validator whole_number(std::int64_t min, std::int64_t max)
{
    return CLI::Validator(
        [min, max](std::string& value) -> std::string {
            std::int64_t parsed = 0;
            const char* end = value.data() + value.size();
            const auto [ptr, ec] = std::from_chars(value.data(), end, parsed);
            if (ec == std::errc{} && ptr == end && parsed >= min && parsed <= max) return {};
            return fmt::format("must be a whole number from {} to {}, not '{}'", min, max, printable(value));
        },
        "");
}

void add_output_option(CLI::App& command, OutputFormat& format)
{
    command
        .add_option_function<std::string>(
            "-o,--output",
            [&format](const std::string& value) { format = value == "json" ? OutputFormat::json : OutputFormat::text; },
            "Output format: text for people, json for pipelines")
        ->transform(one_of({"text", "json"}))
        ->type_name("text|json")
        ->default_str("text");
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
        .add_option_function<std::string>(
            "-o,--output",
            [&format](const std::string& value) {
                static const std::map<std::string, OutputFormat> formats{{"text", OutputFormat::text},
                                                                         {"json", OutputFormat::json},
                                                                         {"csv", OutputFormat::csv},
                                                                         {"jsonl", OutputFormat::jsonl}};
                format = formats.at(value);
            },
            "Output format: text, json, or csv|jsonl to export")
        ->transform(one_of({"text", "json", "csv", "jsonl"}))
        ->type_name("text|json|csv|jsonl")
        ->default_str("text");
}

namespace {

/// The words a user typed that no command or option took, first one first.
std::vector<std::string> unexpected_words(const CLI::App& app)
{
    return app.remaining(true);
}

/// The command the user got to: the deepest subcommand that was matched.
const CLI::App* reached_command(const CLI::App& app)
{
    const CLI::App* at = &app;
    for (bool deeper = true; deeper;) {
        deeper = false;
        for (const CLI::App* sub : at->get_subcommands([](const CLI::App* s) { return s->parsed(); })) {
            at = sub;
            deeper = true;
            break;
        }
    }
    return at;
}

/// "reconcile runs list" for the `runs list` subcommand.
std::string command_path(const CLI::App* command)
{
    std::string path;
    for (; command != nullptr; command = command->get_parent()) {
        path = path.empty() ? command->get_name() : command->get_name() + " " + path;
    }
    return path;
}

/// Every "command subcommand" path below `app` ("run", "runs list", ...), hidden ones left out.
void command_paths(const CLI::App* app, const std::string& prefix, std::vector<std::string>& out)
{
    for (const CLI::App* sub : app->get_subcommands([](const CLI::App* s) { return !s->get_group().empty(); })) {
        const std::string path = prefix.empty() ? sub->get_name() : prefix + " " + sub->get_name();
        out.push_back(path);
        command_paths(sub, path, out);
    }
}

/// One line for a command line CLI11 refused: the word or option that is wrong, the closest
/// valid one, and the help to read. CLI11's own wording is used only when nothing better is known.
std::string usage_message(const CLI::App& app, const CLI::Error& error)
{
    const CLI::App* at = reached_command(app);
    const std::string path = command_path(at);
    const std::string help = fmt::format("see {} --help", path);
    const auto words = unexpected_words(app);
    if (!words.empty()) {
        const std::string& word = words.front();
        if (word.size() > 1 && word.front() == '-') {
            std::vector<std::string> options{"--config", "--quiet", "--help"};
            for (const CLI::App* command = at; command != nullptr; command = command->get_parent()) {
                for (const CLI::Option* option : command->get_options()) {
                    for (const auto& name : option->get_lnames()) options.push_back("--" + name);
                }
            }
            const std::string flag = word.substr(0, word.find('='));
            const auto match = closest_match(flag, options);
            return fmt::format("unknown option {} for {}{} ({})", printable(flag), path,
                               match ? fmt::format("; did you mean {}?", *match) : std::string{}, help);
        }
        std::vector<std::string> names;
        for (const CLI::App* sub : at->get_subcommands([](const CLI::App* s) { return !s->get_group().empty(); })) {
            names.push_back(sub->get_name());
        }
        if (!names.empty()) {
            if (at == &app) names.emplace_back("help");
            const auto match = closest_match(word, names);
            std::string hint;
            if (match && *match == "help") {
                hint = "; did you mean reconcile --help?";
            } else if (match) {
                hint = fmt::format("; did you mean {} {}?", path, *match);
            }
            return fmt::format("unknown command '{}' for {}{} ({})", printable(word), path, hint, help);
        }
        // A command without subcommands got a word: perhaps the user meant another command.
        std::vector<std::string> paths;
        command_paths(&app, "", paths);
        const std::string typed = command_path(at).substr(app.get_name().size() + 1) + " " + word;
        const auto match = closest_match(typed, paths);
        return fmt::format("{} takes no argument '{}'{} ({})", path, printable(word),
                           match ? fmt::format("; did you mean reconcile {}?", *match) : std::string{}, help);
    }
    std::vector<std::string> commands;
    for (const CLI::App* sub : at->get_subcommands([](const CLI::App* s) { return !s->get_group().empty(); })) {
        commands.push_back(sub->get_name());
    }
    if (!commands.empty() && dynamic_cast<const CLI::RequiredError*>(&error) != nullptr &&
        at->get_subcommands([](const CLI::App* s) { return s->parsed(); }).empty()) {
        return fmt::format("{} needs a command: {} ({})", path, fmt::join(commands, ", "), help);
    }
    std::string message = first_line(error.what());
    // CLI11's validation errors read "--output: must be ..."; ours read "--output must be ...".
    if (const auto colon = message.find(": "); dynamic_cast<const CLI::ValidationError*>(&error) != nullptr &&
                                               colon != std::string::npos && message.front() == '-') {
        message.erase(colon, 1);
    }
    return fmt::format("{} ({})", printable(message), help);
}

/// Standard output is where the reports go: a report that could not be written completely is
/// a failure (74), not a silent success.
std::optional<std::string> output_failure()
{
    // std::cout shares stdout's buffer: its flush is fflush(stdout), which sets errno on failure.
    errno = 0;
    std::cout.flush();
    int why = errno;
    const bool flushed = std::fflush(stdout) == 0;
    if (why == 0) why = errno;
    if (flushed && std::cout.good() && std::ferror(stdout) == 0) return std::nullopt;
    return fmt::format("could not write the output to standard output: {}", std::strerror(why != 0 ? why : EIO));
}

}  // namespace

int run_cli(int argc, char** argv)
{
    // A reader that went away (`reconcile runs list | head -1`) is a failed write, reported as
    // exit 74 with one line (output_failure), not a silent death by SIGPIPE (141).
    signal(SIGPIPE, SIG_IGN);
    CLI::App app{"reconcile: continuously prove a double-entry ledger against itself and its brokers", "reconcile"};
    app.set_version_flag("--version", RECON_VERSION);
    app.require_subcommand(1);
    // --config and --quiet are accepted before or after the subcommand (kubectl and gh do so).
    app.fallthrough();
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
    CLI::App* help_env = app.add_subcommand("help-env", "Print packaging/reconcile.env (every setting)")->group("");
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
        log_error("{}", usage_message(app, e));
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

    const auto run_command_chosen = [&]() -> int {
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
        if (help_env->parsed()) {
            std::cout << env_example();
            return 0;
        }
        if (variances->parsed()) return variances_command(variances_options, global);
        if (serve->parsed()) return serve_command(serve_options, global);
        if (tick->parsed()) return tick_command(tick_options, global);
        return to_int(ExitCode::usage);
    };
    const int code = [&] {
        try {
            return run_command_chosen();
        } catch (...) {
            const auto [error_code, message] = classify_current_exception(false);
            log_error("{}", message);
            return to_int(error_code);
        }
    }();
    if (const auto failure = output_failure()) {
        log_error("{}", *failure);
        return to_int(ExitCode::io_error);
    }
    return code;
}

}  // namespace reconcile
