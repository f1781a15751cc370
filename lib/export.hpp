#pragma once

// Exports for spreadsheets and pipelines (`--output csv|jsonl` of `variances`, `runs list` and the
// India reports): one record per row, a fixed column list in a stable order. CSV follows RFC 4180
// (header row, CRLF, fields quoted when they hold a comma, a quote or a line break, quotes
// doubled); JSON Lines writes one object per line with the same keys in the same order. Decimals
// stay exact text, timestamps UTC ISO-8601, nested values compact JSON text.

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "lib/lifecycle.hpp"
#include "lib/results.hpp"

namespace reconcile {

enum class RecordFormat { csv, jsonl };

/// A table to export: the column names and, per row, one value per column (null: empty).
struct RecordTable {
    std::vector<std::string> columns;
    std::vector<std::vector<nlohmann::json>> rows;
};

/// One CSV field, quoted when RFC 4180 needs it.
std::string csv_field(std::string_view text);

/// Writes records to `out`: the CSV header at construction, then one line per write().
class RecordWriter {
public:
    RecordWriter(std::ostream& out, RecordFormat format, std::vector<std::string> columns);
    /// One row; `values` has one entry per column (throws std::invalid_argument otherwise).
    void write(const std::vector<nlohmann::json>& values);
    /// Every row of a table built with the same columns.
    void write_all(const RecordTable& table);

private:
    std::ostream& m_out;
    RecordFormat m_format;
    std::vector<std::string> m_columns;
};

/// The columns and row of a break's history (`reconcile variances`).
const std::vector<std::string>& variance_history_columns();
std::vector<nlohmann::json> variance_history_record(const VarianceHistory& history);

/// The columns and row of a run (`reconcile runs list`).
const std::vector<std::string>& run_columns();
std::vector<nlohmann::json> run_record(const RunReport& report);

/// An India report as rows: one per compared line (cash, security or holding) of each customer,
/// or one per customer for `reconciliation` (LRS remittances vs wires); a customer without lines
/// (a fetch_error) still has one row.
RecordTable india_report_records(const nlohmann::json& report);

}  // namespace reconcile
