#include "lib/export.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace reconcile {
namespace {

using Json = nlohmann::json;

/// A value as CSV text: strings verbatim, null empty, anything else compact JSON.
std::string field_text(const Json& value)
{
    if (value.is_null()) return {};
    if (value.is_string()) return value.get<std::string>();
    return value.dump();
}

Json text_or_null(const std::optional<std::string>& value)
{
    return value ? Json(*value) : Json(nullptr);
}

Json time_or_null(const std::optional<Timestamp>& value)
{
    return value ? Json(format_utc(*value)) : Json(nullptr);
}

Json value_of(const Json& object, const char* key)
{
    const auto found = object.find(key);
    return found == object.end() ? Json(nullptr) : *found;
}

}  // namespace

std::string csv_field(std::string_view text)
{
    if (text.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(text);
    std::string quoted = "\"";
    for (const char c : text) {
        if (c == '"') quoted += '"';
        quoted += c;
    }
    quoted += '"';
    return quoted;
}

RecordWriter::RecordWriter(std::ostream& out, RecordFormat format, std::vector<std::string> columns)
    : m_out(out), m_format(format), m_columns(std::move(columns))
{
    if (m_format != RecordFormat::csv) return;
    for (std::size_t i = 0; i < m_columns.size(); ++i) m_out << (i ? "," : "") << csv_field(m_columns[i]);
    m_out << "\r\n";
}

void RecordWriter::write(const std::vector<Json>& values)
{
    if (values.size() != m_columns.size()) {
        throw std::invalid_argument(
            fmt::format("a record has {} values for {} columns", values.size(), m_columns.size()));
    }
    if (m_format == RecordFormat::csv) {
        for (std::size_t i = 0; i < values.size(); ++i) m_out << (i ? "," : "") << csv_field(field_text(values[i]));
        m_out << "\r\n";
        return;
    }
    nlohmann::ordered_json object = nlohmann::ordered_json::object();
    for (std::size_t i = 0; i < values.size(); ++i)
        object[m_columns[i]] = nlohmann::ordered_json::parse(values[i].dump());
    m_out << object.dump() << '\n';
}

void RecordWriter::write_all(const RecordTable& table)
{
    for (const auto& row : table.rows) write(row);
}

const std::vector<std::string>& variance_history_columns()
{
    static const std::vector<std::string> columns{
        "book",         "check_name",  "category",        "fingerprint",   "kind",         "keys",
        "status",       "state",       "first_seen_at",   "open_since_at", "last_seen_at", "occurrences",
        "reopen_count", "resolved_at", "expected",        "actual",        "difference",   "class",
        "note",         "by",          "acknowledged_at", "until"};
    return columns;
}

std::vector<Json> variance_history_record(const VarianceHistory& history)
{
    const auto& ack = history.acknowledgement;
    return {history.book,
            history.check_name,
            history.category,
            history.fingerprint,
            history.kind,
            history.keys.dump(),
            history.status,
            history.state,
            format_utc(history.first_seen_at),
            format_utc(history.open_since_at),
            format_utc(history.last_seen_at),
            history.occurrences,
            history.reopen_count,
            time_or_null(history.resolved_at),
            text_or_null(history.expected),
            text_or_null(history.actual),
            text_or_null(history.difference),
            ack ? Json(std::string(to_string(ack->variance_class))) : Json(nullptr),
            ack ? Json(ack->note) : Json(nullptr),
            ack ? Json(ack->by) : Json(nullptr),
            ack ? Json(format_utc(ack->at)) : Json(nullptr),
            ack ? time_or_null(ack->until) : Json(nullptr)};
}

const std::vector<std::string>& run_columns()
{
    static const std::vector<std::string> columns{
        "run_id",     "book",        "category",    "shard",  "scope",           "trigger", "status",
        "started_at", "finished_at", "duration_ms", "checks", "variances_total", "error"};
    return columns;
}

std::vector<Json> run_record(const RunReport& report)
{
    std::int64_t variances = 0;
    for (const auto& check : report.checks) variances += check.variances_total;
    return {report.run_id,
            report.book,
            report.category,
            report.shard ? Json(report.shard->to_string()) : Json(nullptr),
            report.scope,
            report.trigger,
            report.status,
            format_utc(report.started_at),
            time_or_null(report.finished_at),
            report.duration_ms,
            report.checks.size(),
            variances,
            text_or_null(report.error)};
}

RecordTable india_report_records(const Json& report)
{
    RecordTable table;
    const std::string name = report.value("report", "");
    const Json customers = report.value("customers", Json::array());
    if (name == "reconciliation") {
        table.columns = {"report",  "customer_id",  "broker_account_ref", "status",
                         "error",   "remitted_usd", "wired_usd",          "difference_usd",
                         "matched", "in_transit",   "aged_in_transit",    "unmatched_funding"};
        for (const auto& customer : customers) {
            std::vector<Json> row{name,
                                  value_of(customer, "customer_id"),
                                  value_of(customer, "broker_account_ref"),
                                  value_of(customer, "status"),
                                  value_of(customer, "error"),
                                  value_of(customer, "remitted_usd"),
                                  value_of(customer, "wired_usd"),
                                  value_of(customer, "difference_usd")};
            const Json buckets = customer.value("buckets", Json::object());
            for (const char* bucket : {"matched", "in_transit", "aged_in_transit", "unmatched_funding"}) {
                row.push_back(buckets.contains(bucket) ? value_of(buckets[bucket], "usd") : Json(nullptr));
            }
            table.rows.push_back(std::move(row));
        }
        return table;
    }
    table.columns = {"report", "customer_id", "broker_account_ref", "status", "error", "line", "key",
                     "ledger", "broker",      "difference",         "outcome"};
    for (const auto& customer : customers) {
        const std::vector<Json> head{name, value_of(customer, "customer_id"), value_of(customer, "broker_account_ref"),
                                     value_of(customer, "status"), value_of(customer, "error")};
        bool any = false;
        for (const auto& [list, key] :
             {std::pair{"cash", "currency"}, std::pair{"securities", "symbol"}, std::pair{"holdings", "symbol"}}) {
            if (!customer.contains(list)) continue;
            for (const auto& line : customer[list]) {
                auto row = head;
                row.insert(row.end(),
                           {std::string(list), value_of(line, key), value_of(line, "ledger"), value_of(line, "broker"),
                            value_of(line, "difference"), value_of(line, "outcome")});
                table.rows.push_back(std::move(row));
                any = true;
            }
        }
        if (!any) {
            auto row = head;
            row.resize(table.columns.size());
            table.rows.push_back(std::move(row));
        }
    }
    return table;
}

}  // namespace reconcile
