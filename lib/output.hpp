#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "lib/errors.hpp"
#include "lib/results.hpp"

namespace reconcile {

/// Text output goes to terminals: control characters in data (a hostile symbol from a broker,
/// say) and bytes that are not UTF-8 (ledger text, docs/decisions/invalid-utf8-text.md) are shown
/// as \xNN instead of being interpreted (escape_controls). JSON output escapes only the latter.
std::string printable(std::string_view text);

/// An acknowledgement as JSON: {"class", "note", "by", "acknowledged_at", "until"} (timestamps UTC ISO-8601).
nlohmann::json acknowledgement_to_json(const Acknowledgement& acknowledgement);
/// Inverse of acknowledgement_to_json; throws on malformed input.
Acknowledgement acknowledgement_from_json(const nlohmann::json& json);

/// A variance as it appears in the JSON output and in run rows.
nlohmann::json variance_to_json(const Variance& variance);
/// Inverse of variance_to_json (reading run history back).
Variance variance_from_json(const nlohmann::json& json);

/// A check result as in the JSON output (schema/run-output.schema.json).
nlohmann::json check_result_to_json(const CheckResult& result);
/// Inverse of check_result_to_json; throws nlohmann::json::exception on malformed input.
CheckResult check_result_from_json(const nlohmann::json& json);

/// A run's shard as JSON: {"index": K, "count": N}, or null for an unsharded run.
nlohmann::json shard_to_json(const std::optional<Shard>& shard);

/// The one JSON document of a run (schema/run-output.schema.json).
nlohmann::json run_report_to_json(const RunReport& report);

/// How a run proved the ledger, as the run JSON's `proof` object (and back, from a run row).
nlohmann::json proof_to_json(const ProofSummary& proof);
std::optional<ProofSummary> proof_from_json(const nlohmann::json& json);
/// "proof: incremental since run 41 (watermark 740:744:), ..." or "proof: full (reason), ...".
std::string proof_line(const ProofSummary& proof);

/// The text a person reads: a line per check (status, key metrics, variance count), then the
/// listed variances of every check that has them.
std::string render_run_text(const RunReport& report);

/// One variance as the text output lists it: kind, keys, amounts, detail, short fingerprint.
std::string render_variance_line(const Variance& variance);

/// A text table: a header line, then one line per row, every column as wide as its widest cell
/// but at most its `max_widths` entry (0: no limit); longer cells end in "…". Widths count
/// characters, not bytes. Trailing spaces are trimmed.
std::string render_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows,
                         const std::vector<std::size_t>& max_widths = {});

/// The one log line of a finished run, whatever started it (`run`, the API, the scheduler):
/// "run <id> of <book>/<category>[ shard K/N] (<trigger>) finished <status> in <ms> ms (exit <code>)",
/// then ": <why>" (run_exit_reason) when the exit code is not 0.
std::string run_finished_message(const RunReport& report, ExitCode code);

/// Logs run_finished_message: info on exit 0, else warn (--quiet hides the all-clear, never
/// the outcome).
void log_run_finished(const RunReport& report, ExitCode code);

/// `runs list` as text: a header, then one row per run in the given order, with the checks it
/// covered counted by status (ok/warn/fail/error) and its scope (full or partial).
std::string render_runs_table(const std::vector<RunReport>& reports);

}  // namespace reconcile
