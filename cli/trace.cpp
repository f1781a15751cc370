#include <iostream>

#include "cli/commands.hpp"
#include "lib/config.hpp"
#include "lib/errors.hpp"
#include "lib/trace.hpp"
#include "lib/utf8.hpp"

namespace reconcile {

CLI::App* setup_trace(CLI::App& app, TraceOptions& options)
{
    auto* command = app.add_subcommand("trace", "A transaction or source key: its lines, relations and variances");
    command->add_option("-b,--book", options.book, "Book of the transaction (one of RECON_BOOKS)")->required();
    auto* txn = command->add_option("--txn", options.txn_id, "The transaction's txn_id");
    auto* source = command->add_option("--source", options.source, "The ingest source of the source key");
    auto* source_txn_id =
        command->add_option("--source-txn-id", options.source_txn_id, "The source's id of the source key");
    txn->excludes(source)->excludes(source_txn_id);
    source->needs(source_txn_id);
    source_txn_id->needs(source);
    add_output_option(*command, options.output);
    return command;
}

int trace_command(const TraceOptions& options, const GlobalOptions& global)
{
    if (!options.txn_id && !options.source) {
        throw Error(ExitCode::usage, "trace needs --txn ID or --source S --source-txn-id X (see reconcile --help)");
    }
    const Settings settings = load_settings_from(global.config_path);
    const TraceQuery query{.txn_id = options.txn_id, .source = options.source, .source_txn_id = options.source_txn_id};
    const TraceReport report = trace_transaction(settings, options.book, query);
    if (options.output == OutputFormat::json) {
        std::cout << dump_json(trace_report_to_json(report), 2) << '\n';
    } else {
        std::cout << render_trace_text(report);
    }
    return 0;
}

}  // namespace reconcile
