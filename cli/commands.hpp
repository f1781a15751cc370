#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lib/export.hpp"

namespace reconcile {

struct Settings;
class Session;

/// Options every subcommand shares.
struct GlobalOptions {
    std::optional<std::string> config_path;  ///< --config FILE (env-file), or RECON_CONFIG
    bool quiet = false;                      ///< --quiet: only warnings and errors on stderr
};

/// Where a command prints its result.
enum class OutputFormat { text, json, csv, jsonl };

/// A CLI11 transform: the value is one of `words` in any case, and is kept lowered (a check would
/// lower a copy only: `--output JSON` passed and then printed text, or aborted on a lookup); the
/// error reads "must be a or b, not 'x'".
CLI::Validator one_of(std::vector<std::string> words);
/// A CLI11 check: a whole number within [min, max]; the error names the range and the value.
CLI::Validator whole_number(std::int64_t min, std::int64_t max);

/// Adds `--output text|json` (default text) to a subcommand.
void add_output_option(CLI::App& command, OutputFormat& format);
/// The export format of csv/jsonl output; std::nullopt for text and json.
std::optional<RecordFormat> record_format(OutputFormat format);
/// Adds `--output text|json|csv|jsonl` to a subcommand that lists records (lib/export.hpp).
void add_table_output_option(CLI::App& command, OutputFormat& format);

struct RunOptions {
    std::string book;
    std::vector<std::string> categories;  ///< `--category A,B`: A, B and D share one snapshot
    std::vector<std::string> checks;
    OutputFormat output = OutputFormat::text;
    std::string fail_on = "fail";
    std::string trigger;  ///< empty: "schedule" with --if-due, else "manual"
    bool if_due = false;
    std::optional<std::string> shard;  ///< --shard K/N (category C only)
    bool full = false;                 ///< --full: categories A and B prove from scratch
};
/// `reconcile run`: one category of checks on one book (or A, B and D in one snapshot).
CLI::App* setup_run(CLI::App& app, RunOptions& options);
int run_command(const RunOptions& options, const GlobalOptions& global);

struct MigrateOptions {
    std::vector<std::string> books;
    bool engine_only = false;
};
/// `reconcile migrate`: apply the schema to one or every book.
CLI::App* setup_migrate(CLI::App& app, MigrateOptions& options);
int migrate_command(const MigrateOptions& options, const GlobalOptions& global);

struct ChecksOptions {
    OutputFormat output = OutputFormat::text;
};
/// `reconcile checks`: print the registry.
CLI::App* setup_checks(CLI::App& app, ChecksOptions& options);
int checks_command(const ChecksOptions& options, const GlobalOptions& global);

struct RunsOptions {
    std::optional<std::string> book;
    std::optional<std::string> category;
    std::optional<std::string> status;
    std::int64_t limit = 20;
    std::string run_id;  ///< as typed; validated by `runs show` itself
    OutputFormat output = OutputFormat::text;
    CLI::App* list = nullptr;
    CLI::App* show = nullptr;
};
/// `reconcile runs list|show`: read the run history.
CLI::App* setup_runs(CLI::App& app, RunsOptions& options);
int runs_command(const RunsOptions& options, const GlobalOptions& global);

struct IndiaOptions {
    std::optional<std::string> customer;
    OutputFormat output = OutputFormat::text;
    std::vector<std::pair<CLI::App*, int>> reports;  ///< subcommand -> IndiaReport value
};
/// `reconcile india ledger-recon|holdings-recon|reconciliation`: the on-demand India reports.
CLI::App* setup_india(CLI::App& app, IndiaOptions& options);
int india_command(const IndiaOptions& options, const GlobalOptions& global);
struct TraceOptions {
    std::string book;
    std::optional<std::string> txn_id;
    std::optional<std::string> source;
    std::optional<std::string> source_txn_id;
    OutputFormat output = OutputFormat::text;
};
/// `reconcile trace`: a transaction, its lines, related transactions and the variances naming it.
CLI::App* setup_trace(CLI::App& app, TraceOptions& options);
int trace_command(const TraceOptions& options, const GlobalOptions& global);

/// `reconcile help-man` (hidden): prints the manual page CMake installs as reconcile.1.
CLI::App* setup_help_man(CLI::App& app);
/// The manual page in roff, from the command tree of `app` and the code's own tables.
std::string render_man_page(const CLI::App& app);

/// The books a reading command looks at: `book` (which must be one of RECON_BOOKS), else every
/// book with a database configured (Error(config) when none is).
std::vector<std::string> books_to_read(const Settings& settings, const std::optional<std::string>& book);

/// Opens each of books_to_read on its primary, verifies it is migrated (78 "run reconcile
/// migrate" when not) and hands it to `read`; any failure is rethrown naming the book
/// (lib/db.hpp BookDatabases, as every multi-book command and route does).
void for_each_book(const Settings& settings, const std::optional<std::string>& book,
                   const std::function<void(const std::string& book, Session& session)>& read);

struct VariancesOptions {
    std::optional<std::string> book;
    std::optional<std::string> check;
    bool open = false;
    bool resolved = false;
    std::int64_t limit = 200;
    OutputFormat output = OutputFormat::text;
    // `variances ack|unack FINGERPRINT...`
    CLI::App* ack = nullptr;
    CLI::App* unack = nullptr;
    std::vector<std::string> fingerprints;
    std::string variance_class;
    std::string note;
    std::optional<std::string> until;
    std::optional<std::string> by;
};
/// `reconcile variances`: which breaks are new, which persist and since when, which resolved.
CLI::App* setup_variances(CLI::App& app, VariancesOptions& options);
int variances_command(const VariancesOptions& options, const GlobalOptions& global);

struct ServeOptions {
    std::optional<std::string> address;
    std::optional<int> port;
    bool dev = false;
};
/// `reconcile serve`: the HTTP API, /metrics and the embedded scheduler.
CLI::App* setup_serve(CLI::App& app, ServeOptions& options);
int serve_command(const ServeOptions& options, const GlobalOptions& global);

struct TickOptions {
    OutputFormat output = OutputFormat::text;
    std::string fail_on = "fail";
    bool dry_run = false;
};
/// `reconcile tick`: one scheduler cycle for cron or a systemd timer.
CLI::App* setup_tick(CLI::App& app, TickOptions& options);
int tick_command(const TickOptions& options, const GlobalOptions& global);

/// Parses the command line and runs the chosen subcommand; returns the process exit code
/// (README "Exit codes"). Never throws.
int run_cli(int argc, char** argv);

}  // namespace reconcile
