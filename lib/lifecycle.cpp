#include "lib/lifecycle.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "lib/acknowledgements.hpp"
#include "lib/output.hpp"
#include "lib/sql_values.hpp"

namespace reconcile {
namespace {

/// Timestamps leave Postgres as ISO-8601 UTC text so no session time zone can skew them.
std::string utc_column(const std::string& column)
{
    return fmt::format("to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')", column);
}

Timestamp timestamp_of(const pqxx::field& field)
{
    return parse_utc(field.as<std::string>()).value_or(Timestamp{});
}

nlohmann::json optional_json(const std::optional<std::string>& value)
{
    return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

// Reads each check's previous status and last delivered alert in the run's scope ($4: '' for the
// whole book, 'shard-K-of-N' for a shard), then records this run's status there.
const std::string check_states_sql = R"sql(
WITH incoming AS (
    SELECT * FROM jsonb_to_recordset($2::jsonb) AS c(check_name text, status text, ran_at timestamptz)
),
prior AS (
    SELECT s.* FROM recon.check_states s JOIN incoming i USING (check_name) WHERE s.book = $1 AND s.scope = $4
),
upserted AS (
    INSERT INTO recon.check_states (book, check_name, scope, last_run_id, last_status, last_ran_at)
    SELECT $1, check_name, $4, $3, status, ran_at FROM incoming
    ON CONFLICT (book, check_name, scope) DO UPDATE
        SET last_run_id = EXCLUDED.last_run_id, last_status = EXCLUDED.last_status,
            last_ran_at = EXCLUDED.last_ran_at
)
SELECT i.check_name, p.last_status, p.alerted_status, p.alerted_dedup_key
FROM incoming i LEFT JOIN prior p USING (check_name)
)sql";

// Upserts the fingerprints this run reported and returns, for each, where it stood before.
const std::string seen_fingerprints_sql = fmt::format(R"sql(
WITH incoming AS (
    SELECT DISTINCT ON (check_name, fingerprint) *
    FROM jsonb_to_recordset($2::jsonb) AS v(check_name text, category text, check_status text, kind text,
                                             fingerprint text, keys jsonb, expected text, actual text,
                                             difference text, detail jsonb)
    ORDER BY check_name, fingerprint
),
prior AS (
    SELECT f.check_name, f.fingerprint, f.status, f.open_since_run, f.open_since_at, f.occurrences
    FROM recon.variance_fingerprints f JOIN incoming i USING (check_name, fingerprint)
    WHERE f.book = $1
),
upserted AS (
    INSERT INTO recon.variance_fingerprints AS f
        (book, check_name, fingerprint, category, kind, keys, status, first_seen_run, first_seen_at,
         open_since_run, open_since_at, last_seen_run, last_seen_at, occurrences, last_check_status,
         expected, actual, difference, detail)
    SELECT $1, check_name, fingerprint, category, kind, keys, 'open', $3, $4::timestamptz, $3, $4::timestamptz,
           $3, $4::timestamptz, 1, check_status, expected, actual, difference, detail
    FROM incoming
    ON CONFLICT (book, check_name, fingerprint) DO UPDATE SET
        category = EXCLUDED.category, kind = EXCLUDED.kind, keys = EXCLUDED.keys, status = 'open',
        open_since_run = CASE WHEN f.status = 'resolved' THEN EXCLUDED.open_since_run ELSE f.open_since_run END,
        open_since_at = CASE WHEN f.status = 'resolved' THEN EXCLUDED.open_since_at ELSE f.open_since_at END,
        reopen_count = f.reopen_count + CASE WHEN f.status = 'resolved' THEN 1 ELSE 0 END,
        last_seen_run = EXCLUDED.last_seen_run, last_seen_at = EXCLUDED.last_seen_at,
        occurrences = f.occurrences + 1, resolved_run = NULL, resolved_at = NULL,
        last_check_status = EXCLUDED.last_check_status, expected = EXCLUDED.expected,
        actual = EXCLUDED.actual, difference = EXCLUDED.difference, detail = EXCLUDED.detail
    WHERE f.last_seen_run <> EXCLUDED.last_seen_run
)
SELECT i.check_name, i.fingerprint, p.status, p.open_since_run, {} AS open_since_at, p.occurrences
FROM incoming i LEFT JOIN prior p USING (check_name, fingerprint)
)sql",
                                                      utc_column("p.open_since_at"));

// Resolves the open fingerprints this run did not report, for the checks that may resolve (and,
// for a sharded run, only those in $6: the ones of its shard's customers); the count per check is
// exact, the list is limited.
const std::string resolve_fingerprints_sql = fmt::format(R"sql(
WITH resolved AS (
    UPDATE recon.variance_fingerprints f SET status = 'resolved', resolved_run = $2, resolved_at = $3::timestamptz
    WHERE f.book = $1 AND f.status = 'open' AND f.last_seen_run <> $2
      AND f.check_name IN (SELECT jsonb_array_elements_text($4::jsonb))
      AND ($6::jsonb IS NULL OR f.fingerprint IN (SELECT jsonb_array_elements_text($6::jsonb)))
    RETURNING f.check_name, f.fingerprint, f.kind, f.keys, f.open_since_run, f.open_since_at, f.occurrences
),
numbered AS (
    SELECT *, count(*) OVER (PARTITION BY check_name) AS total,
           row_number() OVER (PARTITION BY check_name ORDER BY open_since_run, fingerprint) AS n
    FROM resolved
)
SELECT check_name, total, fingerprint, kind, keys::text, open_since_run, {} AS open_since_at, occurrences
FROM numbered WHERE n <= $5
)sql",
                                                         utc_column("open_since_at"));

// The open fingerprints of the checks that may resolve which this run did not report, with their
// customer: a sharded run picks those of its own shard's customers (lib/shard.hpp).
const std::string unseen_fingerprints_sql = R"sql(
SELECT f.fingerprint, f.keys->>'customer_id' AS customer_id
FROM recon.variance_fingerprints f
WHERE f.book = $1 AND f.status = 'open' AND f.last_seen_run <> $2
  AND f.check_name IN (SELECT jsonb_array_elements_text($3::jsonb))
)sql";

const std::string delivered_alerts_sql = R"sql(
UPDATE recon.check_states s
SET alerted_run_id = $2, alerted_status = a.status, alerted_dedup_key = a.dedup_key, alerted_at = now()
FROM jsonb_to_recordset($3::jsonb) AS a(check_name text, status text, dedup_key text)
WHERE s.book = $1 AND s.check_name = a.check_name AND s.scope = $4
)sql";

const std::string history_sql =
    fmt::format(R"sql(
SELECT * FROM (
    SELECT f.book, f.check_name, f.category, f.fingerprint, f.kind, f.keys::text, f.status, f.first_seen_run,
           {} AS first_seen_at, f.open_since_run, {} AS open_since_at, f.last_seen_run, {} AS last_seen_at,
           f.occurrences, f.reopen_count, f.resolved_run, {} AS resolved_at, f.last_check_status, f.expected,
           f.actual, f.difference, coalesce(f.detail, '{{}}')::text AS detail,
           {} AS ack_holds, a.class AS ack_class, a.note AS ack_note, a.acted_by AS ack_by, {} AS ack_at,
           {} AS ack_until, f.open_since_at AS open_since_order, f.resolved_at AS resolved_order
    FROM recon.variance_fingerprints f
    LEFT JOIN recon.variance_acknowledgements a USING (book, check_name, fingerprint)
    WHERE f.book = $1 AND ($2::text IS NULL OR f.check_name = $2) AND ($3::text IS NULL OR f.status = $3)
) v
WHERE ($5::boolean IS NULL OR ack_holds = $5) AND ($6::text IS NULL OR (ack_holds AND ack_class = $6))
ORDER BY status = 'resolved', CASE WHEN status = 'open' THEN open_since_order ELSE resolved_order END DESC,
         check_name, fingerprint
LIMIT $4 OFFSET $7
)sql",
                utc_column("f.first_seen_at"), utc_column("f.open_since_at"), utc_column("f.last_seen_at"),
                utc_column("f.resolved_at"), acknowledgement_holds_sql("now()", "f"), utc_column("a.acted_at"),
                utc_column("a.ack_until"));

bool tracked(CheckStatus status)
{
    return status == CheckStatus::warn || status == CheckStatus::fail;
}

/// For a sharded run, the fingerprints it may resolve: open, unreported by this run, of a check
/// that may resolve, and naming a customer of its shard. A variance without a customer belongs
/// to no shard: only an unsharded run resolves it. Unsharded: std::nullopt (no restriction).
std::optional<std::string> shard_resolvable(pqxx::transaction_base& txn, const RunReport& report,
                                            const nlohmann::json& may_resolve)
{
    if (!report.shard) return std::nullopt;
    nlohmann::json fingerprints = nlohmann::json::array();
    for (const auto& row : txn.exec_params(unseen_fingerprints_sql, report.book, report.run_id, may_resolve.dump())) {
        if (row["customer_id"].is_null() || !report.shard->contains(row["customer_id"].as<std::string>())) continue;
        fingerprints.push_back(row["fingerprint"].as<std::string>());
    }
    return fingerprints.dump();
}

}  // namespace

std::string check_state_scope(const RunReport& report)
{
    return report.shard ? report.shard->scope() : "";
}

const CheckChanges* RunChanges::find(const std::string& check_name) const
{
    for (const auto& check : checks) {
        if (check.check_name == check_name) return &check;
    }
    return nullptr;
}

nlohmann::json tracked_variance_rows(const RunReport& report)
{
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& check : report.checks) {
        // A check that is ok only because its variances are acknowledged still reports them.
        const bool acknowledged = std::any_of(check.variances.begin(), check.variances.end(),
                                              [](const Variance& v) { return v.acknowledgement.has_value(); });
        if (!tracked(check.status) && !acknowledged) continue;
        for (const auto& variance : check.variances) {
            auto row = variance_to_json(variance);
            row["check_name"] = check.check_name;
            row["category"] = check.category;
            row["check_status"] = to_string(check.status);
            rows.push_back(std::move(row));
        }
    }
    return rows;
}

RunChanges record_variance_lifecycle(pqxx::transaction_base& txn, const RunReport& report)
{
    RunChanges changes;
    std::map<std::string, std::size_t> index;
    nlohmann::json states = nlohmann::json::array();
    const nlohmann::json seen = tracked_variance_rows(report);
    nlohmann::json may_resolve = nlohmann::json::array();
    for (const auto& check : report.checks) {
        index[check.check_name] = changes.checks.size();
        changes.checks.push_back(CheckChanges{.check_name = check.check_name});
        states.push_back({{"check_name", check.check_name},
                          {"status", to_string(check.status)},
                          {"ran_at", format_utc(check.ran_at)}});
        const bool capped = static_cast<std::int64_t>(check.variances.size()) < check.variances_total;
        if (check.status == CheckStatus::error) continue;
        // A capped list cannot prove that an unlisted break healed: those stay open.
        if (tracked(check.status) && capped) {
            changes.checks.back().resolution_skipped = true;
        } else {
            may_resolve.push_back(check.check_name);
        }
    }
    if (report.checks.empty()) return changes;

    const std::string run_at = format_utc(report.started_at);
    for (const auto& row :
         txn.exec_params(check_states_sql, report.book, states.dump(), report.run_id, check_state_scope(report))) {
        auto& check = changes.checks[index.at(row["check_name"].as<std::string>())];
        if (!row["last_status"].is_null()) {
            check.previous_status = parse_check_status(row["last_status"].as<std::string>());
        }
        if (!row["alerted_status"].is_null()) check.alerted_status = row["alerted_status"].as<std::string>();
        if (!row["alerted_dedup_key"].is_null()) check.alerted_dedup_key = row["alerted_dedup_key"].as<std::string>();
    }
    if (!seen.empty()) {
        for (const auto& row :
             txn.exec_params(seen_fingerprints_sql, report.book, seen.dump(), report.run_id, run_at)) {
            auto& check = changes.checks[index.at(row["check_name"].as<std::string>())];
            FingerprintState state{
                .state = "new", .open_since_run = report.run_id, .open_since_at = report.started_at, .occurrences = 1};
            if (!row["status"].is_null()) {
                state.occurrences = row["occurrences"].as<std::int64_t>() + 1;
                if (row["status"].as<std::string>() == "open") {
                    state.state = "persisting";
                    state.open_since_run = row["open_since_run"].as<std::int64_t>();
                    state.open_since_at = timestamp_of(row["open_since_at"]);
                } else {
                    state.state = "reopened";
                }
            }
            ++(state.state == "new"        ? check.new_count
               : state.state == "reopened" ? check.reopened_count
                                           : check.persisting_count);
            check.states[row["fingerprint"].as<std::string>()] = state;
        }
    }
    if (!may_resolve.empty()) {
        const auto only = shard_resolvable(txn, report, may_resolve);
        for (const auto& row : txn.exec_params(resolve_fingerprints_sql, report.book, report.run_id, run_at,
                                               may_resolve.dump(), resolved_listing_limit, nullable(only))) {
            auto& check = changes.checks[index.at(row["check_name"].as<std::string>())];
            check.resolved_count = row["total"].as<std::int64_t>();
            check.resolved.push_back(ResolvedVariance{.fingerprint = row["fingerprint"].as<std::string>(),
                                                      .kind = row["kind"].as<std::string>(),
                                                      .keys = nlohmann::json::parse(row["keys"].as<std::string>()),
                                                      .open_since_run = row["open_since_run"].as<std::int64_t>(),
                                                      .open_since_at = timestamp_of(row["open_since_at"]),
                                                      .occurrences = row["occurrences"].as<std::int64_t>()});
        }
    }
    return changes;
}

void record_delivered_alerts(Session& session, const std::string& book, std::int64_t run_id, const std::string& scope,
                             const std::vector<DeliveredAlert>& delivered)
{
    if (delivered.empty()) return;
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& alert : delivered) {
        rows.push_back({{"check_name", alert.check_name}, {"status", alert.status}, {"dedup_key", alert.dedup_key}});
    }
    pqxx::work txn(session.connection());
    txn.exec_params(delivered_alerts_sql, book, run_id, rows.dump(), scope);
    txn.commit();
}

std::vector<VarianceHistory> list_variance_history(Session& session, const std::string& book,
                                                   const VarianceHistoryFilter& filter)
{
    pqxx::read_transaction txn(session.connection());
    std::vector<VarianceHistory> rows;
    const std::optional<std::string> variance_class =
        filter.variance_class ? std::optional(std::string(to_string(*filter.variance_class))) : std::nullopt;
    const std::optional<std::string> acknowledged =
        filter.acknowledged ? std::optional(std::string(*filter.acknowledged ? "true" : "false")) : std::nullopt;
    for (const auto& row :
         txn.exec_params(history_sql, book, nullable(filter.check_name), nullable(filter.status), filter.limit,
                         nullable(acknowledged), nullable(variance_class), filter.offset)) {
        VarianceHistory history;
        history.book = row["book"].as<std::string>();
        history.check_name = row["check_name"].as<std::string>();
        history.category = row["category"].as<std::string>();
        history.fingerprint = row["fingerprint"].as<std::string>();
        history.kind = row["kind"].as<std::string>();
        history.keys = nlohmann::json::parse(row["keys"].as<std::string>());
        history.status = row["status"].as<std::string>();
        history.first_seen_run = row["first_seen_run"].as<std::int64_t>();
        history.first_seen_at = timestamp_of(row["first_seen_at"]);
        history.open_since_run = row["open_since_run"].as<std::int64_t>();
        history.open_since_at = timestamp_of(row["open_since_at"]);
        history.last_seen_run = row["last_seen_run"].as<std::int64_t>();
        history.last_seen_at = timestamp_of(row["last_seen_at"]);
        history.occurrences = row["occurrences"].as<std::int64_t>();
        history.reopen_count = row["reopen_count"].as<std::int64_t>();
        if (!row["resolved_run"].is_null()) history.resolved_run = row["resolved_run"].as<std::int64_t>();
        if (!row["resolved_at"].is_null()) history.resolved_at = timestamp_of(row["resolved_at"]);
        history.last_check_status = row["last_check_status"].as<std::string>();
        if (!row["expected"].is_null()) history.expected = row["expected"].as<std::string>();
        if (!row["actual"].is_null()) history.actual = row["actual"].as<std::string>();
        if (!row["difference"].is_null()) history.difference = row["difference"].as<std::string>();
        history.detail = nlohmann::json::parse(row["detail"].as<std::string>());
        if (row["ack_holds"].as<bool>(false)) {
            Acknowledgement acknowledgement;
            acknowledgement.variance_class =
                parse_variance_class(row["ack_class"].as<std::string>()).value_or(VarianceClass::data);
            acknowledgement.note = row["ack_note"].as<std::string>();
            acknowledgement.by = row["ack_by"].as<std::string>();
            acknowledgement.at = timestamp_of(row["ack_at"]);
            if (!row["ack_until"].is_null()) acknowledgement.until = timestamp_of(row["ack_until"]);
            history.acknowledgement = std::move(acknowledgement);
        }
        if (history.status == "resolved") {
            history.state = "resolved";
        } else if (history.open_since_run == history.last_seen_run) {
            history.state = history.reopen_count > 0 ? "reopened" : "new";
        } else {
            history.state = "persisting";
        }
        rows.push_back(std::move(history));
    }
    return rows;
}

nlohmann::json variance_history_to_json(const VarianceHistory& history)
{
    return {{"book", history.book},
            {"check_name", history.check_name},
            {"category", history.category},
            {"fingerprint", history.fingerprint},
            {"kind", history.kind},
            {"keys", history.keys},
            {"status", history.status},
            {"state", history.state},
            {"first_seen_run", history.first_seen_run},
            {"first_seen_at", format_utc(history.first_seen_at)},
            {"open_since_run", history.open_since_run},
            {"open_since_at", format_utc(history.open_since_at)},
            {"last_seen_run", history.last_seen_run},
            {"last_seen_at", format_utc(history.last_seen_at)},
            {"occurrences", history.occurrences},
            {"reopen_count", history.reopen_count},
            {"resolved_run", history.resolved_run ? nlohmann::json(*history.resolved_run) : nullptr},
            {"resolved_at", history.resolved_at ? nlohmann::json(format_utc(*history.resolved_at)) : nullptr},
            {"last_check_status", history.last_check_status},
            {"last",
             {{"expected", optional_json(history.expected)},
              {"actual", optional_json(history.actual)},
              {"difference", optional_json(history.difference)},
              {"detail", history.detail}}},
            {"acknowledgement",
             history.acknowledgement ? acknowledgement_to_json(*history.acknowledgement) : nlohmann::json(nullptr)}};
}

std::string render_age(std::chrono::seconds age)
{
    const auto seconds = std::max<std::int64_t>(age.count(), 0);
    if (seconds >= 86400) return fmt::format("{}d {}h", seconds / 86400, seconds % 86400 / 3600);
    if (seconds >= 3600) return fmt::format("{}h {}m", seconds / 3600, seconds % 3600 / 60);
    if (seconds >= 60) return fmt::format("{}m {}s", seconds / 60, seconds % 60);
    return fmt::format("{}s", seconds);
}

namespace {

/// A break's keys as `name=value` words.
std::string keys_text(const nlohmann::json& keys)
{
    std::string text;
    for (const auto& [name, value] : keys.items()) {
        text += fmt::format("{}{}={}", text.empty() ? "" : " ", name,
                            value.is_string() ? value.get<std::string>() : value.dump());
    }
    return text;
}

}  // namespace

std::string render_variance_history_table(const std::vector<VarianceHistory>& histories)
{
    std::vector<std::vector<std::string>> rows;
    for (const auto& history : histories) {
        const bool resolved = history.state == "resolved";
        rows.push_back(
            {history.state, history.book, history.check_name, history.kind, keys_text(history.keys),
             std::to_string(history.open_since_run), format_utc(history.open_since_at),
             std::to_string(history.occurrences), std::to_string(history.reopen_count),
             resolved ? std::to_string(history.resolved_run.value_or(0)) : std::to_string(history.last_seen_run),
             history.difference.value_or("-"),
             history.acknowledgement ? std::string(to_string(history.acknowledgement->variance_class)) : "-",
             history.fingerprint.substr(0, 12)});
    }
    // Long keys are cut with an ellipsis so every row stays one line; --output json has them whole.
    return render_table({"state", "book", "check_name", "kind", "keys", "open_since_run", "open_since_at",
                         "occurrences", "reopen_count", "last_run", "difference", "class", "fingerprint"},
                        rows, {0, 0, 0, 24, 40, 0, 0, 0, 0, 0, 24, 0, 0});
}

std::string render_open_variances_table(const std::vector<VarianceHistory>& histories, Timestamp now)
{
    std::vector<std::vector<std::string>> rows;
    for (const auto& history : histories) {
        const auto& ack = history.acknowledgement;
        rows.push_back({history.book, history.check_name, history.kind, keys_text(history.keys),
                        history.difference.value_or("-"), format_utc(history.first_seen_at),
                        render_age(std::chrono::duration_cast<std::chrono::seconds>(now - history.first_seen_at)),
                        std::to_string(history.occurrences), ack ? std::string(to_string(ack->variance_class)) : "-",
                        ack ? ack->note : "-", ack ? ack->by : "-", history.fingerprint.substr(0, 12)});
    }
    return render_table({"book", "check_name", "kind", "keys", "difference", "first_seen_at", "age", "occurrences",
                         "class", "note", "by", "fingerprint"},
                        rows, {0, 0, 24, 40, 24, 0, 0, 0, 0, 60, 16, 0});
}

}  // namespace reconcile
