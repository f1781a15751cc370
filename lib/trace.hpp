#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lib/config.hpp"
#include "lib/db.hpp"
#include "lib/results.hpp"

namespace reconcile {

/// What `reconcile trace` looks for: one txn_id, or every transaction carrying one source key.
struct TraceQuery {
    std::optional<std::string> txn_id;
    std::optional<std::string> source;
    std::optional<std::string> source_txn_id;
};

/// One journal line as the contract view has it (every column as text, null kept as nullopt).
struct TracedLine {
    std::string line_id;
    std::optional<std::string> account;  ///< the account_code column; `account` in every output
    std::optional<std::string> customer_id;
    std::optional<std::string> side;
    std::optional<std::string> amount;
    std::optional<std::string> currency;
};

/// How a transaction relates to another one in the trace.
struct TraceRelation {
    std::string kind;    ///< "reverses", "reversed_by" or "same_source_key"
    std::string txn_id;  ///< the other transaction
};

/// One transaction of the trace: a match of the query or a transaction related to one.
struct TracedTransaction {
    bool matched = false;  ///< named by the query itself (several when a source key repeats)
    std::vector<TraceRelation> relations;
    std::string txn_id;
    std::string source;
    std::string source_txn_id;
    std::optional<std::string> customer_id;
    std::string txn_type;
    std::string status;
    std::optional<std::string> effective_at;  ///< ISO-8601 UTC
    std::optional<std::string> posted_at;
    std::optional<std::string> symbol;
    std::optional<std::string> quantity;
    std::optional<std::string> reverses_txn_id;
    std::vector<TracedLine> lines;
};

/// A variance of the latest run of some check that names a traced transaction.
struct TracedVariance {
    std::int64_t run_id = 0;
    Category category = Category::A;
    std::string run_started_at;
    std::string check_name;
    std::string check_status;
    Variance variance;
};

/// Everything `trace` found, for text and JSON output.
struct TraceReport {
    std::string book;
    TraceQuery query;
    std::vector<TracedTransaction> transactions;  ///< matches first, then related ones
    std::int64_t transactions_total = 0;          ///< beyond the listing cap when larger
    std::int64_t lines_total = 0;                 ///< lines of the listed transactions
    std::vector<TracedVariance> variances;
};

/// At most this many transactions and lines are listed; the totals stay exact.
inline constexpr std::int64_t trace_transaction_cap = 100;
inline constexpr std::int64_t trace_line_cap = 2000;

/// Follows a transaction (or source key) through the ledger contract (contract.transactions,
/// contract.journal_lines, read in one snapshot on the book's read URL) to its lines, its
/// reversals in both directions and the transactions sharing its source key, then through
/// recon.runs on the primary to the variances that name any of them in the latest run of each
/// check. Values reach SQL only as parameters. A query that names nothing is Error(usage);
/// a database of another book is Error(config). Its sessions keep within `limits` (serve).
TraceReport trace_transaction(const Settings& settings, const std::string& book, const TraceQuery& query,
                              const SessionLimits& limits = {});

/// The trace as one JSON document (schema/trace-output.schema.json).
nlohmann::json trace_report_to_json(const TraceReport& report);

/// The trace as text for a person: each transaction with its lines and per-currency totals,
/// then the variances naming them.
std::string render_trace_text(const TraceReport& report);

}  // namespace reconcile
