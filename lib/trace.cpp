#include "lib/trace.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "lib/contract.hpp"
#include "lib/db.hpp"
#include "lib/decimal.hpp"
#include "lib/errors.hpp"
#include "lib/migrate.hpp"
#include "lib/output.hpp"
#include "lib/sql_values.hpp"
#include "lib/utf8.hpp"

namespace reconcile {
namespace {

// The query's own parameters are compared with the view's columns untyped (`txn_id = $1`), so
// PostgreSQL types them like the column: the index on a bigint txn_id is used, and a text
// that is no valid id of that type fails the cast (SQLSTATE class 22) rather than matching.
constexpr const char* matched_by_txn_sql = "SELECT * FROM contract.transactions WHERE txn_id = $1";
constexpr const char* matched_by_key_sql =
    "SELECT * FROM contract.transactions WHERE source = $1 AND source_txn_id = $2";

// Each row reads "<txn_id> <kind> <other>": the matches themselves, the transaction a match
// reverses, the ones reversing a match, and the others sharing a match's source key. An id and
// the reverses_txn_id naming it are compared as text when their types differ (cast_txn_ids).
constexpr const char* related_sql = R"sql(
related AS (
    SELECT 'match'::text AS kind, NULL::text AS other, m.* FROM matched m
    UNION ALL
    SELECT 'reversed_by', m.txn_id::text, t.* FROM matched m
        JOIN contract.transactions t ON t.txn_id::txnid = m.reverses_txn_id::txnid
    UNION ALL
    SELECT 'reverses', m.txn_id::text, t.* FROM matched m
        JOIN contract.transactions t ON t.reverses_txn_id::txnid = m.txn_id::txnid
    UNION ALL
    SELECT 'same_source_key', m.txn_id::text, t.* FROM matched m
        JOIN contract.transactions t
          ON t.source = m.source AND t.source_txn_id = m.source_txn_id AND t.txn_id <> m.txn_id
),
involved AS (
    SELECT txn_id, min(CASE WHEN kind = 'match' THEN 0 ELSE 1 END) AS rank FROM related GROUP BY txn_id
),
listed AS (
    SELECT txn_id, rank, count(*) OVER () AS total FROM involved ORDER BY rank, txn_id LIMIT {limit}
)
SELECT r.kind, r.other, r.txn_id::text, r.source::text, r.source_txn_id::text, r.customer_id::text,
       r.txn_type::text, r.status::text, {effective_at} AS effective_at, {posted_at} AS posted_at,
       r.symbol::text, r.quantity::text, r.reverses_txn_id::text, l.total
FROM related r JOIN listed l ON l.txn_id = r.txn_id
ORDER BY l.rank, r.txn_id, r.kind, r.other
)sql";

// `txn_id = ANY($1)` types the array like the column, so the journal index is used.
constexpr const char* lines_sql = R"sql(
SELECT l.txn_id::text, l.line_id::text, l.account_code::text, l.customer_id::text, l.side::text,
       l.amount::text, l.currency::text, count(*) OVER () AS total
FROM contract.journal_lines l
WHERE l.txn_id = ANY($1)
ORDER BY l.txn_id, l.line_id
LIMIT $2
)sql";

// The latest result of each check among the last runs of every category (a run narrowed with
// --check holds only some checks), then every listed variance of those results that names one
// of the traced transactions: by txn_id key, by source key, or in a detail txn_ids list.
constexpr const char* variances_sql = R"sql(
WITH recent AS (
    SELECT r.run_id, r.category, r.started_at, r.metadata
    FROM unnest(ARRAY['A', 'B', 'C', 'D']) AS c(category)
    CROSS JOIN LATERAL (
        SELECT run_id, category, started_at, metadata FROM recon.runs
        WHERE book = $1 AND category = c.category AND status IN ('ok', 'warn', 'fail', 'error') AND error IS NULL
        ORDER BY started_at DESC LIMIT 20) r
),
latest AS (
    SELECT DISTINCT ON (chk->>'check_name') r.run_id, r.category, r.started_at, chk
    FROM recent r CROSS JOIN LATERAL jsonb_array_elements(r.metadata->'checks') chk
    ORDER BY chk->>'check_name', r.started_at DESC, r.run_id DESC
),
ids AS (SELECT jsonb_array_elements_text($2::jsonb) AS txn_id),
source_keys AS (SELECT k->>0 AS source, k->>1 AS source_txn_id FROM jsonb_array_elements($3::jsonb) k)
SELECT l.run_id, l.category, {started_at} AS started_at, l.chk->>'check_name' AS check_name,
       l.chk->>'status' AS check_status, v::text AS variance
FROM latest l CROSS JOIN LATERAL jsonb_array_elements(l.chk->'variances') v
WHERE v->'keys'->>'txn_id' IN (SELECT txn_id FROM ids)
   OR EXISTS (SELECT 1 FROM source_keys k
              WHERE v->'keys'->>'source' = k.source AND v->'keys'->>'source_txn_id' = k.source_txn_id)
   OR EXISTS (SELECT 1 FROM ids i WHERE v->'detail'->'txn_ids' ? i.txn_id)
ORDER BY l.category, l.chk->>'check_name', l.run_id
)sql";

/// ISO-8601 UTC text of a timestamptz column, whatever the session's time zone.
std::string utc_text(std::string_view column)
{
    return fmt::format("to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')", column);
}

std::optional<std::string> optional_field(const pqxx::field& field)
{
    if (field.is_null()) return std::nullopt;
    return field.as<std::string>();
}

std::string inverse_relation(const std::string& kind)
{
    if (kind == "reverses") return "reversed_by";
    if (kind == "reversed_by") return "reverses";
    return kind;
}

void add_relation(TracedTransaction& txn, std::string kind, std::string other)
{
    const bool known = std::any_of(txn.relations.begin(), txn.relations.end(),
                                   [&](const TraceRelation& r) { return r.kind == kind && r.txn_id == other; });
    if (!known) txn.relations.push_back({std::move(kind), std::move(other)});
}

std::string describe(const TraceQuery& query)
{
    if (query.txn_id) return fmt::format("txn_id '{}'", *query.txn_id);
    return fmt::format("source '{}' source_txn_id '{}'", query.source.value_or(""), query.source_txn_id.value_or(""));
}

/// Reads the traced transactions and their lines in one snapshot.
void read_transactions(Session& read, const Settings& settings, const TraceQuery& query, TraceReport& report,
                       const SessionLimits& limits)
{
    const bool by_txn = query.txn_id.has_value();
    const std::string sql = fmt::format("WITH matched AS ({}),\n{}", by_txn ? matched_by_txn_sql : matched_by_key_sql,
                                        fmt::format(related_sql, fmt::arg("limit", by_txn ? "$2" : "$3"),
                                                    fmt::arg("effective_at", utc_text("r.effective_at")),
                                                    fmt::arg("posted_at", utc_text("r.posted_at"))));
    ReadSnapshot txn(read.connection());
    const bool reverses_differ =
        txn.exec_params1(
               "SELECT count(DISTINCT a.atttypid) > 1 AS differ FROM pg_attribute a WHERE a.attrelid = "
               "'contract.transactions'::regclass AND a.attname IN ('txn_id', 'reverses_txn_id') AND NOT "
               "a.attisdropped")
            .at("differ")
            .as<bool>();
    // The shorter of the setting and the session's own bound (a serve request's deadline).
    const long long bound = limits.statement_timeout.count();
    set_local_statement_timeout(
        txn, bound > 0 ? std::min<long long>(bound, settings.statement_timeout_ms) : settings.statement_timeout_ms);
    pqxx::result rows;
    try {
        const std::string cast = cast_txn_ids(sql, reverses_differ);
        rows = by_txn ? txn.exec_params(cast, *query.txn_id, trace_transaction_cap)
                      : txn.exec_params(cast, *query.source, *query.source_txn_id, trace_transaction_cap);
    } catch (const pqxx::data_exception&) {
        // The text is not even a valid value of the column's type: no transaction carries it.
    }

    std::map<std::string, std::size_t> index;
    for (const auto& row : rows) {
        const std::string id = row["txn_id"].as<std::string>();
        report.transactions_total = row["total"].as<std::int64_t>();
        auto [found, inserted] = index.emplace(id, report.transactions.size());
        if (inserted) {
            TracedTransaction traced;
            traced.txn_id = id;
            traced.source = row["source"].is_null() ? std::string{} : row["source"].as<std::string>();
            traced.source_txn_id =
                row["source_txn_id"].is_null() ? std::string{} : row["source_txn_id"].as<std::string>();
            traced.customer_id = optional_field(row["customer_id"]);
            traced.txn_type = row["txn_type"].is_null() ? std::string{} : row["txn_type"].as<std::string>();
            traced.status = row["status"].is_null() ? std::string{} : row["status"].as<std::string>();
            traced.effective_at = optional_field(row["effective_at"]);
            traced.posted_at = optional_field(row["posted_at"]);
            traced.symbol = optional_field(row["symbol"]);
            traced.quantity = optional_field(row["quantity"]);
            traced.reverses_txn_id = optional_field(row["reverses_txn_id"]);
            report.transactions.push_back(std::move(traced));
        }
        const std::string kind = row["kind"].as<std::string>();
        if (kind == "match") report.transactions[found->second].matched = true;
    }
    // Relations go on both ends, and only between transactions that are listed.
    for (const auto& row : rows) {
        const std::string kind = row["kind"].as<std::string>();
        if (kind == "match") continue;
        const std::string id = row["txn_id"].as<std::string>();
        const std::string other = row["other"].as<std::string>();
        add_relation(report.transactions[index.at(id)], kind, other);
        if (const auto found = index.find(other); found != index.end()) {
            add_relation(report.transactions[found->second], inverse_relation(kind), id);
        }
    }
    if (report.transactions.empty()) {
        throw Error(ExitCode::usage, fmt::format("no transaction with {} in book {}", describe(query), report.book));
    }

    std::vector<std::string> ids;
    for (const auto& traced : report.transactions) ids.push_back(traced.txn_id);
    for (const auto& row : txn.exec_params(lines_sql, text_array_literal(ids), trace_line_cap)) {
        const auto found = index.find(row["txn_id"].as<std::string>());
        if (found == index.end()) continue;
        report.transactions[found->second].lines.push_back(
            TracedLine{.line_id = row["line_id"].is_null() ? std::string{} : row["line_id"].as<std::string>(),
                       .account = optional_field(row["account_code"]),
                       .customer_id = optional_field(row["customer_id"]),
                       .side = optional_field(row["side"]),
                       .amount = optional_field(row["amount"]),
                       .currency = optional_field(row["currency"])});
        report.lines_total = row["total"].as<std::int64_t>();
    }
    txn.commit();
}

/// Reads the variances naming the traced transactions from the run history on the primary. Runs
/// store ledger text escaped (docs/decisions/invalid-utf8-text.md), so the ids are looked up so.
void read_variances(Session& control, TraceReport& report)
{
    nlohmann::json ids = nlohmann::json::array();
    nlohmann::json keys = nlohmann::json::array();
    for (const auto& traced : report.transactions) {
        ids.push_back(escape_invalid_utf8(traced.txn_id));
        const nlohmann::json key = {escape_invalid_utf8(traced.source), escape_invalid_utf8(traced.source_txn_id)};
        if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
    }
    const std::string sql = fmt::format(variances_sql, fmt::arg("started_at", utc_text("l.started_at")));
    pqxx::read_transaction txn(control.connection());
    for (const auto& row : txn.exec_params(sql, report.book, ids.dump(), keys.dump())) {
        TracedVariance traced;
        traced.run_id = row["run_id"].as<std::int64_t>();
        traced.category = parse_category_text(row["category"].as<std::string>()).value_or(Category::A);
        traced.run_started_at = row["started_at"].as<std::string>();
        traced.check_name = row["check_name"].as<std::string>();
        traced.check_status = row["check_status"].as<std::string>();
        traced.variance = variance_from_json(nlohmann::json::parse(row["variance"].as<std::string>()));
        report.variances.push_back(std::move(traced));
    }
}

nlohmann::json optional_json(const std::optional<std::string>& value)
{
    return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

/// Debits and credits per currency of a transaction's listed lines.
std::map<std::string, std::pair<Decimal, Decimal>> totals_of(const TracedTransaction& traced)
{
    std::map<std::string, std::pair<Decimal, Decimal>> totals;
    for (const auto& line : traced.lines) {
        if (!line.amount || !line.currency || !line.side) continue;
        const auto amount = Decimal::try_parse(*line.amount);
        if (!amount) continue;
        auto& [debits, credits] = totals[*line.currency];
        if (*line.side == "DR") debits += *amount;
        if (*line.side == "CR") credits += *amount;
    }
    // Debits beside credits at one scale: a one-sided transaction's credits read "0.00".
    for (auto& [currency, sums] : totals) align_scales({sums.first, sums.second});
    return totals;
}

/// A ledger value for the terminal: escaped like run and variances print it, "-" when absent.
std::string value_or_dash(const std::optional<std::string>& value)
{
    return value ? printable(*value) : "-";
}

}  // namespace

TraceReport trace_transaction(const Settings& settings, const std::string& book, const TraceQuery& query,
                              const SessionLimits& limits)
{
    settings.require_book(book);
    TraceReport report;
    report.book = book;
    report.query = query;
    Session control(settings.database_url(book), "control", limits);
    verify_book(control, book);
    if (settings.read_database_url(book) == settings.database_url(book)) {
        read_transactions(control, settings, query, report, limits);
    } else {
        Session read(settings.read_database_url(book), "read", limits);
        read_transactions(read, settings, query, report, limits);
    }
    read_variances(control, report);
    return report;
}

nlohmann::json trace_report_to_json(const TraceReport& report)
{
    nlohmann::json query = nlohmann::json::object();
    if (report.query.txn_id) query["txn_id"] = *report.query.txn_id;
    if (report.query.source) query["source"] = *report.query.source;
    if (report.query.source_txn_id) query["source_txn_id"] = *report.query.source_txn_id;

    nlohmann::json transactions = nlohmann::json::array();
    for (const auto& traced : report.transactions) {
        nlohmann::json relations = nlohmann::json::array();
        for (const auto& relation : traced.relations) {
            relations.push_back({{"relation", relation.kind}, {"txn_id", relation.txn_id}});
        }
        nlohmann::json lines = nlohmann::json::array();
        for (const auto& line : traced.lines) {
            lines.push_back({{"line_id", line.line_id},
                             {"account", optional_json(line.account)},
                             {"customer_id", optional_json(line.customer_id)},
                             {"side", optional_json(line.side)},
                             {"amount", optional_json(line.amount)},
                             {"currency", optional_json(line.currency)}});
        }
        nlohmann::json totals = nlohmann::json::object();
        for (const auto& [currency, sums] : totals_of(traced)) {
            totals[currency] = {{"debits", sums.first.to_string()},
                                {"credits", sums.second.to_string()},
                                {"difference", (sums.first - sums.second).to_string()}};
        }
        transactions.push_back({{"txn_id", traced.txn_id},
                                {"matched", traced.matched},
                                {"relations", std::move(relations)},
                                {"source", traced.source},
                                {"source_txn_id", traced.source_txn_id},
                                {"customer_id", optional_json(traced.customer_id)},
                                {"txn_type", traced.txn_type},
                                {"status", traced.status},
                                {"effective_at", optional_json(traced.effective_at)},
                                {"posted_at", optional_json(traced.posted_at)},
                                {"symbol", optional_json(traced.symbol)},
                                {"quantity", optional_json(traced.quantity)},
                                {"reverses_txn_id", optional_json(traced.reverses_txn_id)},
                                {"lines", std::move(lines)},
                                {"totals", std::move(totals)}});
    }
    nlohmann::json variances = nlohmann::json::array();
    for (const auto& traced : report.variances) {
        variances.push_back({{"run_id", traced.run_id},
                             {"category", traced.category},
                             {"run_started_at", traced.run_started_at},
                             {"check_name", traced.check_name},
                             {"check_status", traced.check_status},
                             {"variance", variance_to_json(traced.variance)}});
    }
    return {{"book", report.book},
            {"query", std::move(query)},
            {"transactions", std::move(transactions)},
            {"transactions_total", report.transactions_total},
            {"lines_total", report.lines_total},
            {"variances", std::move(variances)}};
}

std::string render_trace_text(const TraceReport& report)
{
    std::size_t matched = 0;
    for (const auto& traced : report.transactions) matched += traced.matched ? 1 : 0;
    std::string text =
        fmt::format("trace of {} in book {}: {} matching transaction(s), {} related\n",
                    printable(describe(report.query)), report.book, matched, report.transactions.size() - matched);
    if (report.transactions_total > static_cast<std::int64_t>(report.transactions.size())) {
        text += fmt::format("(first {} of {} transactions listed)\n", report.transactions.size(),
                            report.transactions_total);
    }
    for (const auto& traced : report.transactions) {
        text += fmt::format("\ntxn {}  {}  {}{}\n", printable(traced.txn_id), printable(traced.txn_type),
                            printable(traced.status), traced.matched ? "  (matched)" : "");
        text += fmt::format("  source {} / {}  customer {}\n", printable(traced.source),
                            printable(traced.source_txn_id), value_or_dash(traced.customer_id));
        text += fmt::format("  effective {}  posted {}\n", value_or_dash(traced.effective_at),
                            value_or_dash(traced.posted_at));
        if (traced.symbol || traced.quantity) {
            text +=
                fmt::format("  symbol {}  quantity {}\n", value_or_dash(traced.symbol), value_or_dash(traced.quantity));
        }
        for (const auto& relation : traced.relations) {
            text += fmt::format("  {} {}\n", relation.kind, printable(relation.txn_id));
        }
        text += fmt::format("  {} line(s):\n", traced.lines.size());
        for (const auto& line : traced.lines) {
            text += fmt::format("    {:>8}  {:<2}  {:<22} {:<12} {:>16} {}\n", printable(line.line_id),
                                value_or_dash(line.side), value_or_dash(line.account), value_or_dash(line.customer_id),
                                value_or_dash(line.amount), value_or_dash(line.currency));
        }
        for (const auto& [currency, sums] : totals_of(traced)) {
            const Decimal difference = sums.first - sums.second;
            text += fmt::format("  {}: debits {} credits {}{}\n", printable(currency), sums.first.to_string(),
                                sums.second.to_string(),
                                difference.is_zero() ? "" : fmt::format("  UNBALANCED by {}", difference.to_string()));
        }
    }
    if (report.lines_total > trace_line_cap) {
        text += fmt::format("\n(first {} of {} lines listed)\n", trace_line_cap, report.lines_total);
    }
    if (report.variances.empty()) {
        text += "\nno variance in the latest run of any check names these transactions\n";
        return text;
    }
    text += "\nvariances naming these transactions (latest run of each check):\n";
    for (const auto& traced : report.variances) {
        text += fmt::format("  run {} ({} {}) {} {}: {}\n", traced.run_id, traced.category, traced.run_started_at,
                            printable(traced.check_name), traced.check_status, render_variance_line(traced.variance));
    }
    return text;
}

}  // namespace reconcile
