#include "lib/history.hpp"

#include <fmt/format.h>

#include "lib/fault.hpp"
#include "lib/output.hpp"
#include "lib/sql_values.hpp"

namespace reconcile {

const char* const live_run_status_sql =
    "CASE WHEN status = 'running' AND NOT EXISTS ("
    " SELECT 1 FROM pg_locks l JOIN pg_database d ON d.oid = l.database AND d.datname = current_database()"
    " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
    " AND ((l.classid::bigint << 32) | l.objid::bigint) = recon.runs.lock_key)"
    " THEN 'abandoned' ELSE status END";

namespace {

/// Timestamps leave Postgres as ISO-8601 UTC text so no session time zone can skew them.
const std::string run_columns =
    std::string("run_id, book, category, trigger, ") + live_run_status_sql +
    " AS status,"
    " to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS started_at,"
    " to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS finished_at,"
    " coalesce(duration_ms, 0) AS duration_ms, error, metadata::text AS metadata, shard_index, shard_count, scope,"
    " to_json(checks_requested)::text AS checks_requested";

/// An enum column's text (the edge where SQL text becomes a type); a value this version does
/// not know is a damaged history, not a guess.
template <typename E, typename Parse>
E column_enum(const pqxx::row& row, const char* column, Parse parse)
{
    const auto text = row[column].as<std::string>();
    if (const auto value = parse(text)) return *value;
    throw std::runtime_error(fmt::format("run history has an unknown {} '{}'", column, text));
}

/// A category as a SQL parameter.
std::string sql_text(Category category)
{
    return std::string(to_string(category));
}

RunReport report_from_row(const pqxx::row& row)
{
    RunReport report;
    report.run_id = row["run_id"].as<std::int64_t>();
    report.book = row["book"].as<std::string>();
    report.category = column_enum<Category>(row, "category", parse_category_text);
    report.trigger = column_enum<Trigger>(row, "trigger", parse_trigger);
    report.status = column_enum<RunStatus>(row, "status", parse_run_status);
    report.started_at = parse_utc(row["started_at"].as<std::string>()).value_or(Timestamp{});
    if (!row["finished_at"].is_null()) report.finished_at = parse_utc(row["finished_at"].as<std::string>());
    report.duration_ms = row["duration_ms"].as<std::int64_t>();
    if (!row["error"].is_null()) report.error = row["error"].as<std::string>();
    if (!row["shard_index"].is_null() && !row["shard_count"].is_null()) {
        report.shard = Shard{.index = row["shard_index"].as<int>(), .count = row["shard_count"].as<int>()};
    }
    report.scope = column_enum<RunScope>(row, "scope", parse_run_scope);
    report.checks_requested =
        nlohmann::json::parse(row["checks_requested"].as<std::string>()).get<std::vector<std::string>>();
    const auto metadata = nlohmann::json::parse(row["metadata"].as<std::string>());
    if (const auto checks = metadata.find("checks"); checks != metadata.end()) {
        for (const auto& check : *checks) report.checks.push_back(check_result_from_json(check));
    }
    if (const auto proof = metadata.find("proof"); proof != metadata.end()) report.proof = proof_from_json(*proof);
    return report;
}

}  // namespace

RunHistory::RunHistory(Session& session) : m_session(session)
{
    // A `running` row is dead when its lock is provably free: our own key (we hold it), the
    // category's key (held by us, exclusively or shared: no unsharded run can be alive), and,
    // for an unsharded run holding the category exclusively ($3), every shard of the category
    // (each live shard would hold the category's key shared).
    m_session.prepare("run_abandon_stale",
                      "UPDATE recon.runs SET status = 'abandoned', finished_at = now(),"
                      " error = 'the process running it died (its lock was free)'"
                      " WHERE status = 'running' AND (lock_key IN ($1, $2)"
                      "   OR ($3 AND book = $4 AND category = $5 AND shard_count IS NOT NULL))");
    m_session.prepare("run_insert",
                      "INSERT INTO recon.runs (book, category, trigger, status, lock_key, checks_requested,"
                      " started_at, host, pid, version, shard_index, shard_count, scope)"
                      " VALUES ($1, $2, $3, 'running', $4, ARRAY(SELECT jsonb_array_elements_text($5::jsonb)),"
                      " $6::timestamptz, $7, $8, $9, $10, $11, $12)"
                      " RETURNING run_id");
    m_session.prepare("run_finish",
                      "UPDATE recon.runs SET status = $2, finished_at = $3::timestamptz, duration_ms = $4,"
                      " metadata = $5::jsonb WHERE run_id = $1 AND status = 'running'");
    m_session.prepare("run_abort",
                      "UPDATE recon.runs SET status = $3, finished_at = now(),"
                      " duration_ms = (extract(epoch FROM now() - started_at) * 1000)::bigint, error = $2"
                      " WHERE run_id = $1 AND status = 'running'");
    // Every persisted variance of a run in one statement: the rows travel as one JSON parameter.
    m_session.prepare("variance_insert",
                      "INSERT INTO recon.reconciliation_variances (run_id, book, check_name, category, status,"
                      " kind, fingerprint, keys, expected, actual, difference, detail)"
                      " SELECT $1, $2, v.check_name, v.category, v.check_status, v.kind, v.fingerprint, v.keys,"
                      " v.expected, v.actual, v.difference, v.detail"
                      " FROM jsonb_to_recordset($3::jsonb) AS v(check_name text, category text, check_status text,"
                      " kind text, fingerprint text, keys jsonb, expected text, actual text, difference text,"
                      " detail jsonb)");
    // Each broker's health of a category C run, in one statement: the rows travel as one JSON parameter.
    m_session.prepare("broker_health_insert",
                      "INSERT INTO recon.broker_health (run_id, broker, contract, requests, retries, errors_timeout,"
                      " errors_connection, errors_http_status, errors_reject_code, errors_parse, pages,"
                      " latency_p50_ms, latency_p95_ms, latency_max_ms)"
                      " SELECT $1, h.broker, h.contract, h.requests, h.retries, h.timeout, h.connection,"
                      " h.http_status, h.reject_code, h.parse, h.pages, h.p50, h.p95, h.max"
                      " FROM jsonb_to_recordset($2::jsonb) AS h(broker text, contract text, requests bigint,"
                      " retries bigint, timeout bigint, connection bigint, http_status bigint, reject_code bigint,"
                      " parse bigint, pages bigint, p50 bigint, p95 bigint, max bigint)");
    m_session.prepare("run_find", fmt::format("SELECT {} FROM recon.runs WHERE run_id = $1", run_columns));
    m_session.prepare("run_list", fmt::format("SELECT {} FROM recon.runs WHERE book = $1"
                                              " AND ($2::text IS NULL OR category = $2)"
                                              " AND ($3::text IS NULL OR {} = $3)"
                                              " AND ($4::timestamptz IS NULL OR started_at >= $4::timestamptz)"
                                              " AND ($5::bigint IS NULL OR run_id < $5)"
                                              " ORDER BY run_id DESC LIMIT $6",
                                              run_columns, live_run_status_sql));
    m_session.prepare("run_last_completed",
                      fmt::format("SELECT {} FROM recon.runs WHERE book = $1 AND category = $2"
                                  " AND status IN ('ok', 'warn', 'fail', 'error') AND error IS NULL"
                                  " AND shard_count IS NULL ORDER BY started_at DESC LIMIT 1",
                                  run_columns));
    m_session.prepare("run_last_full",
                      fmt::format("SELECT DISTINCT ON (category) {} FROM recon.runs WHERE book = $1"
                                  " AND status IN ('ok', 'warn', 'fail', 'error') AND error IS NULL AND scope = 'full'"
                                  " AND shard_index IS NOT DISTINCT FROM $2::integer"
                                  " AND shard_count IS NOT DISTINCT FROM $3::integer"
                                  " ORDER BY category, started_at DESC",
                                  run_columns));
    m_session.prepare("run_running", fmt::format("SELECT {} FROM recon.runs WHERE book = $1 AND category = $2"
                                                 " AND status = 'running'"
                                                 " ORDER BY shard_index IS NOT DISTINCT FROM $3::integer DESC,"
                                                 " run_id DESC LIMIT 1",
                                                 run_columns));
}

std::int64_t RunHistory::begin_run(RunReport& report, std::int64_t lock_key, std::int64_t category_key,
                                   const std::string& host, int pid)
{
    pqxx::work txn(m_session.connection());
    const std::string category = sql_text(report.category);
    const auto abandoned =
        txn.exec_prepared0("run_abandon_stale", lock_key, category_key, !report.shard, report.book, category)
            .affected_rows();
    const std::string names_json = nlohmann::json(report.checks_requested).dump();
    const auto shard_index = report.shard ? std::optional(std::to_string(report.shard->index)) : std::nullopt;
    const auto shard_count = report.shard ? std::optional(std::to_string(report.shard->count)) : std::nullopt;
    report.run_id =
        txn.exec_prepared1("run_insert", report.book, category, std::string(to_string(report.trigger)), lock_key,
                           names_json, format_utc(report.started_at), host, pid, std::string(RECON_VERSION),
                           nullable(shard_index), nullable(shard_count), std::string(to_string(report.scope)))["run_id"]
            .as<std::int64_t>();
    txn.commit();
    return static_cast<std::int64_t>(abandoned);
}

namespace {

/// One finished run's row, variances, broker health and lifecycle, in `txn`.
RunChanges write_finished_run(pqxx::transaction_base& txn, const RunReport& report, const Settings& settings)
{
    nlohmann::json checks = nlohmann::json::array();
    for (const auto& check : report.checks) checks.push_back(check_result_to_json(check));
    nlohmann::json metadata = {{"checks", std::move(checks)}};
    if (report.proof) metadata["proof"] = proof_to_json(*report.proof);

    const auto updated = txn.exec_prepared0("run_finish", report.run_id, std::string(to_string(report.status)),
                                            format_utc(report.finished_at.value_or(report.started_at)),
                                            report.duration_ms, metadata.dump())
                             .affected_rows();
    if (updated != 1) {
        throw std::runtime_error(fmt::format("run {} is no longer running; results not written", report.run_id));
    }
    if (settings.alert_persist_enabled) {
        // The listed variances of every warn/fail check: at most RECON_VARIANCE_CAP per check,
        // the true total stays in the run row's variances_total.
        const auto rows = tracked_variance_rows(report);
        if (!rows.empty()) txn.exec_prepared0("variance_insert", report.run_id, report.book, rows.dump());
    }
    if (!report.brokers.empty()) {
        nlohmann::json rows = nlohmann::json::array();
        for (const auto& health : report.brokers) {
            rows.push_back({{"broker", health.broker},
                            {"contract", to_string(health.contract)},
                            {"requests", health.requests},
                            {"retries", health.retries},
                            {"timeout", health.errors_of(BrokerErrorKind::timeout)},
                            {"connection", health.errors_of(BrokerErrorKind::connection)},
                            {"http_status", health.errors_of(BrokerErrorKind::http_status)},
                            {"reject_code", health.errors_of(BrokerErrorKind::reject_code)},
                            {"parse", health.errors_of(BrokerErrorKind::parse)},
                            {"pages", health.pages},
                            {"p50", health.latency_p50_ms},
                            {"p95", health.latency_p95_ms},
                            {"max", health.latency_max_ms}});
        }
        txn.exec_prepared0("broker_health_insert", report.run_id, rows.dump());
    }
    return record_variance_lifecycle(txn, report);
}

}  // namespace

std::vector<RunChanges> RunHistory::finish_runs(const std::vector<RunReport*>& reports, const Settings& settings,
                                                const std::function<void(pqxx::transaction_base&)>& write_first)
{
    pqxx::work txn(m_session.connection());
    // Bounded like the checks, by the engine's own limit: a database's tighter statement_timeout
    // (meant for people's queries) would fail the store of a large proof on every retry.
    set_local_statement_timeout(txn, settings.statement_timeout_ms);
    // The proof of categories A and B is stored in the same transaction as the results it
    // proved (and may say in the reports whether it was kept), so it is written first.
    if (write_first) write_first(txn);
    std::vector<RunChanges> changes;
    for (const RunReport* report : reports) changes.push_back(write_finished_run(txn, *report, settings));
    fault_pause("BEFORE_RESULTS_COMMIT");
    txn.commit();
    return changes;
}

bool RunHistory::abort_run(std::int64_t run_id, const std::string& reason) noexcept
{
    return end_run(run_id, reason, "error");
}

bool RunHistory::interrupt_run(std::int64_t run_id, const std::string& reason) noexcept
{
    return end_run(run_id, reason, "interrupted");
}

bool RunHistory::end_run(std::int64_t run_id, const std::string& reason, const char* status) noexcept
{
    try {
        pqxx::work txn(m_session.connection());
        txn.exec_prepared0("run_abort", run_id, reason, status);
        txn.commit();
        return true;
    } catch (...) {
        // The database is gone: the row stays `running`, and the next run marks it abandoned.
        return false;
    }
}

std::vector<RunReport> RunHistory::list(const std::string& book, const RunFilter& filter)
{
    const std::optional<std::string> since = filter.since ? std::optional(format_utc(*filter.since)) : std::nullopt;
    const std::optional<std::string> before =
        filter.before_run_id ? std::optional(std::to_string(*filter.before_run_id)) : std::nullopt;
    pqxx::read_transaction txn(m_session.connection());
    std::vector<RunReport> reports;
    const auto category = filter.category ? std::optional(sql_text(*filter.category)) : std::nullopt;
    const auto status = filter.status ? std::optional(std::string(to_string(*filter.status))) : std::nullopt;
    for (const auto& row : txn.exec_prepared("run_list", book, nullable(category), nullable(status), nullable(since),
                                             nullable(before), filter.limit)) {
        reports.push_back(report_from_row(row));
    }
    return reports;
}

std::optional<RunReport> RunHistory::find(std::int64_t run_id)
{
    pqxx::read_transaction txn(m_session.connection());
    const auto rows = txn.exec_prepared("run_find", run_id);
    if (rows.empty()) return std::nullopt;
    RunReport report = report_from_row(rows[0]);
    report.brokers = broker_health_of(txn, report.run_id);
    return report;
}

std::optional<RunReport> RunHistory::last_completed(const std::string& book, Category category)
{
    pqxx::read_transaction txn(m_session.connection());
    const auto rows = txn.exec_prepared("run_last_completed", book, sql_text(category));
    if (rows.empty()) return std::nullopt;
    RunReport report = report_from_row(rows[0]);
    report.brokers = broker_health_of(txn, report.run_id);
    return report;
}

std::map<Category, RunReport> RunHistory::last_full_runs(const std::string& book, const std::optional<Shard>& shard)
{
    pqxx::read_transaction txn(m_session.connection());
    std::map<Category, RunReport> result;
    const auto shard_index = shard ? std::optional(std::to_string(shard->index)) : std::nullopt;
    const auto shard_count = shard ? std::optional(std::to_string(shard->count)) : std::nullopt;
    for (const auto& row : txn.exec_prepared("run_last_full", book, nullable(shard_index), nullable(shard_count))) {
        auto report = report_from_row(row);
        const Category category = report.category;
        result.emplace(category, std::move(report));
    }
    return result;
}

std::optional<RunReport> RunHistory::running(const std::string& book, Category category,
                                             const std::optional<Shard>& shard)
{
    pqxx::read_transaction txn(m_session.connection());
    const auto shard_index = shard ? std::optional(std::to_string(shard->index)) : std::nullopt;
    const auto rows = txn.exec_prepared("run_running", book, sql_text(category), nullable(shard_index));
    if (rows.empty()) return std::nullopt;
    return report_from_row(rows[0]);
}

namespace {

/// One row of recon.broker_health or recon.broker_counts (which has no latency columns).
BrokerHealth broker_health_from_row(const pqxx::row& row, bool with_latency)
{
    BrokerHealth health;
    health.broker = row["broker"].as<std::string>();
    health.contract =
        row["contract"].as<std::string>() == "public" ? BrokerContract::public_api : BrokerContract::provisional;
    health.requests = row["requests"].as<std::int64_t>();
    health.retries = row["retries"].as<std::int64_t>();
    health.errors_of(BrokerErrorKind::timeout) = row["errors_timeout"].as<std::int64_t>();
    health.errors_of(BrokerErrorKind::connection) = row["errors_connection"].as<std::int64_t>();
    health.errors_of(BrokerErrorKind::http_status) = row["errors_http_status"].as<std::int64_t>();
    health.errors_of(BrokerErrorKind::reject_code) = row["errors_reject_code"].as<std::int64_t>();
    health.errors_of(BrokerErrorKind::parse) = row["errors_parse"].as<std::int64_t>();
    health.pages = row["pages"].as<std::int64_t>();
    if (with_latency) {
        health.latency_p50_ms = row["latency_p50_ms"].as<std::int64_t>();
        health.latency_p95_ms = row["latency_p95_ms"].as<std::int64_t>();
        health.latency_max_ms = row["latency_max_ms"].as<std::int64_t>();
    }
    return health;
}

constexpr const char* broker_count_columns =
    "broker, contract, requests, retries, errors_timeout, errors_connection,"
    " errors_http_status, errors_reject_code, errors_parse, pages";

}  // namespace

std::vector<BrokerHealth> broker_health_of(pqxx::transaction_base& txn, std::int64_t run_id)
{
    std::vector<BrokerHealth> result;
    for (const auto& row : txn.exec_params(fmt::format("SELECT {}, latency_p50_ms, latency_p95_ms, latency_max_ms"
                                                       " FROM recon.broker_health WHERE run_id = $1 ORDER BY broker",
                                                       broker_count_columns),
                                           run_id)) {
        result.push_back(broker_health_from_row(row, true));
    }
    return result;
}

std::vector<BrokerHealth> broker_totals(pqxx::transaction_base& txn)
{
    std::vector<BrokerHealth> result;
    for (const auto& row :
         txn.exec_params(fmt::format("SELECT {} FROM recon.broker_counts ORDER BY broker", broker_count_columns))) {
        result.push_back(broker_health_from_row(row, false));
    }
    return result;
}

}  // namespace reconcile
