#include "lib/metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "lib/db.hpp"
#include "lib/history.hpp"
#include "lib/log.hpp"
#include "lib/results.hpp"
#include "lib/schedule.hpp"

namespace reconcile {
namespace {

constexpr const char* iso_utc = "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'";
constexpr const char* statuses[] = {"ok", "warn", "error", "fail"};

/// A category column of recon.runs (always "A".."D": written only by this program).
Category category_column(const pqxx::field& field)
{
    const auto category = parse_category_text(field.as<std::string>());
    if (!category) throw std::runtime_error("run history has an unknown category " + field.as<std::string>());
    return *category;
}

/// Prometheus label values escape backslash, double quote and newline.
std::string label(std::string_view value)
{
    std::string escaped;
    for (const char c : value) {
        if (c == '\\' || c == '"') escaped.push_back('\\');
        if (c == '\n') {
            escaped += "\\n";
            continue;
        }
        escaped.push_back(c);
    }
    return escaped;
}

double epoch_seconds(Timestamp t)
{
    return static_cast<double>(std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count()) /
           1000.0;
}

/// Collects samples per metric so each metric's HELP/TYPE header comes once, samples below it.
class Exposition {
public:
    void add(const std::string& name, const char* type, const char* help, const std::string& labels, double value)
    {
        auto& family = m_families[name];
        if (family.header.empty()) family.header = fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
        family.samples +=
            labels.empty() ? fmt::format("{} {}\n", name, value) : fmt::format("{}{{{}}} {}\n", name, labels, value);
        if (std::find(m_order.begin(), m_order.end(), name) == m_order.end()) m_order.push_back(name);
    }

    std::string text() const
    {
        std::string result;
        for (const auto& name : m_order) {
            const auto& family = m_families.at(name);
            result += family.header + family.samples;
        }
        return result;
    }

private:
    struct Family {
        std::string header;
        std::string samples;
    };
    std::map<std::string, Family> m_families;
    std::vector<std::string> m_order;
};

/// The broker series of one book, per broker with its contract (public | provisional) as a
/// label: counters from every C run added up (they never go down), the latency gauges from the
/// newest finished C run.
void add_broker_series(Exposition& out, const std::string& book_labels, const BookMetrics& book)
{
    const auto broker_labels = [&](const BrokerHealth& health) {
        return fmt::format("{},broker=\"{}\",contract=\"{}\"", book_labels, label(health.broker),
                           to_string(health.contract));
    };
    for (const auto& totals : book.broker_totals) {
        const std::string bb = broker_labels(totals);
        out.add("reconcile_broker_requests_total", "counter", "HTTP requests (attempts) sent to the broker by C runs",
                bb, static_cast<double>(totals.requests));
        out.add("reconcile_broker_retries_total", "counter", "Requests repeated by C runs", bb,
                static_cast<double>(totals.retries));
        for (const auto kind : broker_error_kinds) {
            out.add("reconcile_broker_errors_total", "counter",
                    "Broker errors by kind (timeout, connection, http_status, reject_code, parse) in C runs",
                    fmt::format("{},kind=\"{}\"", bb, to_string(kind)), static_cast<double>(totals.errors_of(kind)));
        }
        out.add("reconcile_broker_pages_total", "counter", "Answer pages walked by C runs", bb,
                static_cast<double>(totals.pages));
    }
    for (const auto& health : book.brokers) {
        const std::string bb = broker_labels(health);
        for (const auto& [stat, ms] : {std::pair<const char*, std::int64_t>{"p50", health.latency_p50_ms},
                                       {"p95", health.latency_p95_ms},
                                       {"max", health.latency_max_ms}}) {
            out.add("reconcile_broker_latency_seconds", "gauge",
                    "Latency of one broker request in the newest finished C run (stat p50, p95 or max)",
                    fmt::format("{},stat=\"{}\"", bb, stat), static_cast<double>(ms) / 1000.0);
        }
    }
}

/// The statuses of a finished run (recon.runs.status), as SQL.
constexpr const char* finished_statuses = "'ok', 'warn', 'fail', 'error'";

/// One check's result as a run row stores it, in the columns read_last_checks reads.
LastCheckMetric check_metric_of(const pqxx::row& row, const std::string& check_name, Category category)
{
    return {.check_name = check_name,
            .category = category,
            .run_id = row["run_id"].as<std::int64_t>(),
            .status = row["status"].is_null() ? "" : row["status"].as<std::string>(),
            .ran_at = row["ran_at"].is_null() ? Timestamp{}
                                              : parse_utc(row["ran_at"].as<std::string>()).value_or(Timestamp{}),
            .duration_ms = row["duration_ms"].as<std::int64_t>(),
            .variances_total = row["variances_total"].as<std::int64_t>()};
}

/// The newest result of each registered check (LastCheckMetric): the newest finished run that
/// holds it. When that run was shard K of N, a shard covers only its customers, so the check's
/// result folds the newest run of every shard of N since the check's last unsharded run, and
/// that unsharded run too while some shard has not run since (its customers' newest result).
std::vector<LastCheckMetric> read_last_checks(pqxx::read_transaction& txn, const CheckRegistry& registry,
                                              const std::string& book)
{
    constexpr const char* result_columns =
        "r.run_id, e.result->>'status' AS status, e.result->>'ran_at' AS ran_at,"
        " coalesce((e.result->>'duration_ms')::bigint, 0) AS duration_ms,"
        " coalesce((e.result->>'variances_total')::bigint, 0) AS variances_total";
    // r's result of the check named by `name_parameter`.
    const auto result_of = [](const char* name_parameter) {
        return fmt::format(
            " CROSS JOIN LATERAL (SELECT x AS result FROM jsonb_array_elements(r.metadata->'checks') x"
            "   WHERE x->>'check_name' = {} LIMIT 1) e",
            name_parameter);
    };
    // The newest finished unsharded run of book $1, category $2 holding the check ($3, as JSON).
    const std::string last_unsharded = fmt::format(
        "SELECT run_id, started_at, metadata FROM recon.runs WHERE book = $1 AND category = $2 AND status IN ({})"
        " AND shard_count IS NULL AND metadata->'checks' @> $3::jsonb ORDER BY started_at DESC LIMIT 1",
        finished_statuses);
    nlohmann::json checks = nlohmann::json::array();
    for (const auto& check : registry.all()) {
        checks.push_back({{"check_name", check->name()}, {"category", check->category()}});
    }
    std::vector<LastCheckMetric> result;
    const auto newest = txn.exec_params(
        fmt::format("SELECT c.check_name, c.category, r.shard_count, {}"
                    " FROM jsonb_to_recordset($2::jsonb) AS c(check_name text, category text)"
                    " CROSS JOIN LATERAL (SELECT run_id, shard_count, metadata FROM recon.runs"
                    "   WHERE book = $1 AND category = c.category AND status IN ({})"
                    "   AND metadata->'checks' @> jsonb_build_array(jsonb_build_object('check_name', c.check_name))"
                    "   ORDER BY started_at DESC LIMIT 1) r{}"
                    " ORDER BY c.category, c.check_name",
                    result_columns, finished_statuses, result_of("c.check_name")),
        book, checks.dump());
    for (const auto& row : newest) {
        const auto check_name = row["check_name"].as<std::string>();
        const Category category = category_column(row["category"]);
        LastCheckMetric metric = check_metric_of(row, check_name, category);
        if (row["shard_count"].is_null()) {
            result.push_back(std::move(metric));
            continue;
        }
        const int shard_count = row["shard_count"].as<int>();
        const std::string category_text(to_string(category));
        const auto holds = nlohmann::json::array({{{"check_name", check_name}}}).dump();
        const auto shards =
            txn.exec_params(fmt::format("SELECT {} FROM generate_series(1, $4::integer) AS k(shard_index)"
                                        " CROSS JOIN LATERAL (SELECT run_id, metadata FROM recon.runs"
                                        "   WHERE book = $1 AND category = $2 AND status IN ({}) AND shard_count = $4"
                                        "   AND shard_index = k.shard_index AND metadata->'checks' @> $3::jsonb"
                                        "   AND started_at > coalesce((SELECT started_at FROM ({}) u), '-infinity')"
                                        "   ORDER BY started_at DESC LIMIT 1) r{}",
                                        result_columns, finished_statuses, last_unsharded, result_of("$5")),
                            book, category_text, holds, shard_count, check_name);
        std::vector<LastCheckMetric> parts;
        for (const auto& shard : shards) parts.push_back(check_metric_of(shard, check_name, category));
        if (static_cast<int>(parts.size()) < shard_count) {
            for (const auto& whole : txn.exec_params(
                     fmt::format("SELECT {} FROM ({}) r{}", result_columns, last_unsharded, result_of("$4")), book,
                     category_text, holds, check_name)) {
                parts.push_back(check_metric_of(whole, check_name, category));
            }
        }
        // Worst status, the slowest duration, and the variances added up (with an unsharded run
        // folded in, an upper bound: its count also covers the shards that ran since).
        std::optional<CheckStatus> status;
        metric.variances_total = 0;
        for (const auto& part : parts) {
            if (const auto parsed = parse_check_status(part.status))
                status = status ? worst(*status, *parsed) : *parsed;
            metric.duration_ms = std::max(metric.duration_ms, part.duration_ms);
            metric.variances_total += part.variances_total;
        }
        if (status) metric.status = std::string(to_string(*status));
        result.push_back(std::move(metric));
    }
    return result;
}

}  // namespace

BookMetrics read_book_metrics(const Settings& settings, const CheckRegistry& registry, const std::string& book,
                              const SessionLimits& limits)
{
    BookMetrics metrics;
    metrics.book = book;
    for (const auto& cadence : schedule_config(settings).books) {
        if (cadence.book == book) metrics.schedule_enabled = cadence.enabled;
    }
    try {
        Session session(settings.database_url(book), "control", limits);
        pqxx::read_transaction txn(session.connection());
        // Newest finished full run per category: one index probe each.
        std::map<Category, LastRunMetric> full_runs;
        for (const auto& row : txn.exec_params(
                 fmt::format("SELECT c.category, r.run_id, r.status, to_char(r.started_at AT TIME ZONE 'UTC', {})"
                             " AS started_at, coalesce(r.duration_ms, 0) AS duration_ms"
                             " FROM unnest(ARRAY['A', 'B', 'C', 'D']) AS c(category)"
                             " CROSS JOIN LATERAL (SELECT run_id, status, started_at, duration_ms FROM recon.runs"
                             "   WHERE book = $1 AND category = c.category AND status IN ({})"
                             "   AND scope = 'full' AND shard_count IS NULL"
                             "   ORDER BY started_at DESC LIMIT 1) r ORDER BY c.category",
                             iso_utc, finished_statuses),
                 book)) {
            const Category category = category_column(row["category"]);
            full_runs[category] = {.category = category,
                                   .run_id = row["run_id"].as<std::int64_t>(),
                                   .status = row["status"].as<std::string>(),
                                   .started_at = parse_utc(row["started_at"].as<std::string>()).value_or(Timestamp{}),
                                   .duration_ms = row["duration_ms"].as<std::int64_t>()};
        }
        if (const auto c = full_runs.find(Category::C); c != full_runs.end()) {
            metrics.brokers = broker_health_of(txn, c->second.run_id);
        }
        metrics.broker_totals = broker_totals(txn);
        metrics.last_checks = read_last_checks(txn, registry, book);
        // The category's status is each check's latest result: a partial (--check) run updates
        // the checks it ran and never stands in for the others, and a category run only in
        // shards or only with --check still reports (issue 17).
        for (const Category category : all_categories) {
            std::optional<CheckStatus> status;
            for (const auto& check : metrics.last_checks) {
                const auto parsed = parse_check_status(check.status);
                if (check.category != category || !parsed) continue;
                status = status ? worst(*status, *parsed) : *parsed;
            }
            const auto full = full_runs.find(category);
            if (full == full_runs.end() && !status) continue;
            LastRunMetric run =
                full != full_runs.end() ? full->second : LastRunMetric{.category = category, .full_run = false};
            if (status) run.status = std::string(to_string(*status));
            metrics.last_runs.push_back(std::move(run));
        }
        for (const auto& row :
             txn.exec_params("SELECT DISTINCT ON (category) category, scope = 'partial' AS partial FROM recon.runs"
                             " WHERE book = $1 AND status IN ('ok', 'warn', 'fail', 'error') AND shard_count IS NULL"
                             " ORDER BY category, started_at DESC",
                             book)) {
            if (row["partial"].as<bool>()) metrics.newest_partial.insert(category_column(row["category"]));
        }
        // Runs in progress from the history (a `running` row whose lock is free counts as
        // abandoned, not running); finished runs from the monotonic counters
        // (schema/engine/0008_run_counts.sql), which pruning the history never lowers.
        for (const auto& row : txn.exec_params(fmt::format("SELECT category, count(*) FROM ("
                                                           "SELECT category, {} AS live_status FROM recon.runs"
                                                           " WHERE book = $1) r WHERE live_status = 'running'"
                                                           " GROUP BY 1",
                                                           live_run_status_sql),
                                               book)) {
            metrics.running[category_column(row["category"])] = row["count"].as<std::int64_t>();
        }
        for (const auto& row :
             txn.exec_params("SELECT category, status, runs FROM recon.run_counts WHERE book = $1", book)) {
            metrics.runs_by_status[{category_column(row["category"]), row["status"].as<std::string>()}] =
                row["runs"].as<std::int64_t>();
        }
        metrics.up = true;
    } catch (...) {
        const auto [code, message] = classify_current_exception(false);
        log_warn("metrics: cannot read the run history of book {}: {}", book, message);
        metrics = BookMetrics{
            .book = book, .up = false, .down_reason = message, .schedule_enabled = metrics.schedule_enabled};
    }
    return metrics;
}

BookMetrics probe_book(const Settings& settings, const std::string& book, std::chrono::milliseconds timeout)
{
    BookMetrics result{.book = book};
    try {
        Session session(settings.database_url(book), "control", limits_after_wait(timeout));
        pqxx::read_transaction txn(session.connection());
        set_local_statement_timeout(txn, timeout.count());
        txn.exec("SELECT 1 FROM recon.runs LIMIT 1");
        result.up = true;
    } catch (...) {
        result.down_reason = classify_current_exception(false).second;
    }
    return result;
}

BoundedBookCalls::BoundedBookCalls(std::chrono::milliseconds timeout) : m_timeout(timeout)
{
}

std::vector<BookMetrics> BoundedBookCalls::call(const std::string& kind, const std::vector<std::string>& books,
                                                const std::function<BookMetrics(const std::string&)>& fn)
{
    const auto deadline = std::chrono::steady_clock::now() + m_timeout;
    std::vector<std::shared_ptr<BoundedCalls::Call>> calls;
    std::vector<std::shared_ptr<std::optional<BookMetrics>>> answers;
    for (const auto& book : books) {
        auto answer = std::make_shared<std::optional<BookMetrics>>();
        answers.push_back(answer);
        calls.push_back(m_calls.start(kind + "/" + book, [answer, book, fn] { answer->emplace(fn(book)); }));
    }
    std::vector<BookMetrics> results;
    for (std::size_t i = 0; i < books.size(); ++i) {
        if (!calls[i]) {
            results.push_back(
                {.book = books[i], .up = false, .down_reason = "its database has not answered an earlier probe yet"});
        } else if (m_calls.wait(calls[i], deadline) && answers[i]->has_value()) {
            results.push_back(**answers[i]);
        } else {
            results.push_back(
                {.book = books[i],
                 .up = false,
                 .down_reason = fmt::format("its database did not answer within {} ms", m_timeout.count())});
        }
    }
    return results;
}

std::string render_prometheus(const std::vector<BookMetrics>& books, std::uint64_t rejected_connections)
{
    Exposition out;
    for (const auto& book : books) {
        const std::string b = fmt::format("book=\"{}\"", label(book.book));
        out.add("reconcile_book_up", "gauge", "1 when the book's run history could be read at this scrape", b,
                book.up ? 1 : 0);
        out.add("reconcile_schedule_enabled", "gauge", "1 when scheduled runs are switched on for the book", b,
                book.schedule_enabled ? 1 : 0);
        for (const auto& run : book.last_runs) {
            const std::string bc = fmt::format("{},category=\"{}\"", b, run.category);
            for (const char* status : statuses) {
                out.add("reconcile_run_last_status", "gauge",
                        "Status of each book and category: the worst of its checks' latest results (1 on its status)",
                        fmt::format("{},status=\"{}\"", bc, status), run.status == status ? 1 : 0);
            }
            if (!run.full_run) continue;  // a status from shards or --check runs only: no full run to time
            out.add("reconcile_run_last_id", "gauge", "run_id of the newest finished full run", bc,
                    static_cast<double>(run.run_id));
            out.add("reconcile_run_last_timestamp_seconds", "gauge",
                    "When the newest finished full run started (Unix time)", bc, epoch_seconds(run.started_at));
            out.add("reconcile_run_last_duration_seconds", "gauge", "How long the newest finished full run took", bc,
                    static_cast<double>(run.duration_ms) / 1000.0);
        }
        for (const Category category : all_categories) {
            const auto found = book.running.find(category);
            out.add("reconcile_run_running", "gauge", "Runs in progress (running rows) per book and category",
                    fmt::format("{},category=\"{}\"", b, category),
                    found == book.running.end() ? 0.0 : static_cast<double>(found->second));
            out.add("reconcile_run_newest_partial", "gauge",
                    "1 when the newest finished run covered only some of the category's checks (--check)",
                    fmt::format("{},category=\"{}\"", b, category), book.newest_partial.count(category) != 0 ? 1 : 0);
        }
        for (const auto& [key, count] : book.runs_by_status) {
            out.add("reconcile_runs_total", "counter", "Finished runs in the run history per book, category and status",
                    fmt::format("{},category=\"{}\",status=\"{}\"", b, key.first, label(key.second)),
                    static_cast<double>(count));
        }
        for (const auto& check : book.last_checks) {
            const std::string bcc =
                fmt::format("{},category=\"{}\",check_name=\"{}\"", b, check.category, label(check.check_name));
            for (const char* status : statuses) {
                out.add("reconcile_check_last_status", "gauge",
                        "Status of each check's newest result (1 on its status)",
                        fmt::format("{},status=\"{}\"", bcc, status), check.status == status ? 1 : 0);
            }
            out.add("reconcile_check_last_timestamp_seconds", "gauge",
                    "When each check's newest result ran (Unix time)", bcc, epoch_seconds(check.ran_at));
            out.add("reconcile_check_last_duration_seconds", "gauge", "How long each check's newest result took", bcc,
                    static_cast<double>(check.duration_ms) / 1000.0);
            out.add("reconcile_check_last_variances", "gauge",
                    "Variances (the true total, not the capped list) in each check's newest result", bcc,
                    static_cast<double>(check.variances_total));
            out.add("reconcile_check_last_run_id", "gauge", "run_id of the run that holds each check's newest result",
                    bcc, static_cast<double>(check.run_id));
        }
    }
    for (const auto& book : books) add_broker_series(out, fmt::format("book=\"{}\"", label(book.book)), book);
    out.add("reconcile_http_rejected_connections_total", "counter",
            "Connections and requests answered 503 because the server was at capacity", "",
            static_cast<double>(rejected_connections));
    out.add("reconcile_build_info", "gauge", "The running build (always 1)",
            fmt::format("version=\"{}\"", label(RECON_VERSION)), 1);
    return out.text();
}

}  // namespace reconcile
