#include "lib/snapshot.hpp"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "lib/capped_rows.hpp"
#include "lib/log.hpp"

namespace reconcile {

namespace {

// Past this many transaction ids between the oldest in progress and the snapshot's xmax, their
// statuses are not asked as the snapshot is taken (about 1.5 µs each: 1.5 s for a million, paid
// only while a session holds an id open that long): all are in doubt instead. Asked in the same
// statement as the snapshot, so only a transaction ending meanwhile leaves ids in doubt.
constexpr std::int64_t max_asked_xids = 1000000;

// The first statement of a snapshot that keeps temporary tables (an A or B run's), so the ids are
// read as the snapshot is taken: whether the server is a standby, the snapshot's bounds and
// transactions in progress, and which other ids between them are still in progress.
const char* const opening_sql = R"sql(
SELECT pg_is_in_recovery() AS standby, lo AS xmin_id, hi AS xmax_id, running::text AS running,
       CASE WHEN hi - lo <= $1::bigint AND NOT pg_is_in_recovery() THEN
           (SELECT coalesce(array_agg(x ORDER BY x), '{}') FROM generate_series(lo, hi - 1) x
            WHERE x <> ALL (running) AND pg_xact_status(x::text::xid8) = 'in progress')::text
       END AS subtransactions
FROM (SELECT pg_snapshot_xmin(s)::text::bigint AS lo, pg_snapshot_xmax(s)::text::bigint AS hi,
             ARRAY(SELECT x::text::bigint FROM pg_snapshot_xip(s) x) AS running
      FROM pg_current_snapshot() s) snap
)sql";

std::vector<std::int64_t> bigint_array(const std::string& text)
{
    std::vector<std::int64_t> numbers;
    std::string digits;
    for (const char c : text + ",") {
        if (c >= '0' && c <= '9') {
            digits += c;
        } else if (!digits.empty()) {
            numbers.push_back(std::stoll(digits));
            digits.clear();
        }
    }
    return numbers;
}

/// The lowest of `running` (ids in progress in a snapshot) that has ended by now, if any.
std::optional<std::int64_t> first_ended(pqxx::transaction_base& txn, const std::vector<std::int64_t>& running)
{
    if (running.empty()) return std::nullopt;
    const NamedRow ended(txn.exec_params1(
        "SELECT min(p) AS first FROM unnest($1::bigint[]) p WHERE pg_xact_status(p::text::xid8) <> 'in progress'",
        fmt::format("{{{}}}", fmt::join(running, ","))));
    if (ended.is_null("first")) return std::nullopt;
    return ended.number("first");
}

SnapshotXids snapshot_xids_of(pqxx::transaction_base& snapshot, const NamedRow& first)
{
    SnapshotXids xids{.xmin = first.number("xmin_id"),
                      .xmax = first.number("xmax_id"),
                      .running = bigint_array(first.text("running")),
                      .subtransactions = {},
                      .doubt_from = first.number("xmax_id")};
    if (xids.running.empty()) return xids;
    if (first.is_null("subtransactions")) {
        // Not asked: any id above the oldest in progress may be a subtransaction of one.
        xids.doubt_from = *std::min_element(xids.running.begin(), xids.running.end()) + 1;
        return xids;
    }
    xids.subtransactions = bigint_array(first.text("subtransactions"));
    // Asked after the subtransactions: one still in progress now was throughout, so all its
    // subtransactions were found; above one that ended, an id not found is in doubt.
    if (const auto ended = first_ended(snapshot, xids.running)) xids.doubt_from = *ended + 1;
    return xids;
}

}  // namespace

SettledDoubt settle_in_doubt(pqxx::transaction_base& txn, const SnapshotXids& xids,
                             const std::vector<std::int64_t>& in_doubt)
{
    // One row of two lists, not a row per id: a million ids take about 1.5 s to ask (stop 31).
    const NamedRow statuses(txn.exec_params1(R"sql(
SELECT coalesce(array_agg(x) FILTER (WHERE status IS DISTINCT FROM 'committed'), '{}')::text AS unseen,
       coalesce(array_agg(x) FILTER (WHERE status = 'committed'), '{}')::text AS committed
FROM unnest($1::bigint[]) x, pg_xact_status(x::text::xid8) status WHERE status IS DISTINCT FROM 'aborted'
)sql",
                                             fmt::format("{{{}}}", fmt::join(in_doubt, ","))));
    const std::int64_t ended = first_ended(txn, xids.running).value_or(xids.xmax);
    SettledDoubt settled{.unseen = bigint_array(statuses.text("unseen")), .committed_since = {}};
    for (const auto id : bigint_array(statuses.text("committed"))) {
        if (id > ended) settled.committed_since.push_back(id);
    }
    std::sort(settled.committed_since.begin(), settled.committed_since.end());
    return settled;
}

void LedgerSnapshot::open()
{
    const bool defer_read_only = std::exchange(m_defer_read_only, false);
    if (m_setup.empty()) {
        m_snapshot = std::make_unique<ReadSnapshot>(m_read.connection(), "reconcile_snapshot");
        m_read_only = true;
        return;
    }
    // Temporary tables cannot be created in a READ ONLY transaction: the snapshot begins read
    // write, creates them, and turns read only (which PostgreSQL allows mid-transaction) before
    // any check reads (deferred: once the checks prepared it, run_checks); the snapshot is the
    // one the first statement took.
    auto snapshot = std::make_unique<WritableSnapshot>(m_read.connection(), "reconcile_snapshot");
    const NamedRow first(snapshot->exec_params1(opening_sql, max_asked_xids));
    set_snapshot_xids(snapshot_xids_of(*snapshot, first));
    m_exported.reset();
    if (!first.flag("standby")) {
        for (const auto& sql : m_setup) snapshot->exec0(sql);
        // Exported at the top level: a savepoint (every check's) cannot export.
        m_exported = NamedRow(snapshot->exec_params1("SELECT pg_export_snapshot() AS id")).text("id");
    }
    m_snapshot = std::move(snapshot);
    m_read_only = false;
    if (!defer_read_only || first.flag("standby")) seal();
}

SnapshotTwin::SnapshotTwin(const Session& of, const std::string& snapshot_id, long long statement_timeout_ms)
    : m_session(of.another(of.purpose()))
{
    auto txn = std::make_unique<WritableSnapshot>(m_session->connection(), "reconcile_snapshot_twin");
    // SET takes no parameters; the id is the server's own, quoted all the same.
    txn->exec0("SET TRANSACTION SNAPSHOT " + txn->quote(snapshot_id));
    set_local_statement_timeout(*txn, statement_timeout_ms);
    m_txn = std::move(txn);
}

std::shared_ptr<SnapshotTwin> LedgerSnapshot::twin()
{
    if (!m_exported || m_read_only) return nullptr;
    try {
        return std::make_shared<SnapshotTwin>(m_read, *m_exported, m_statement_timeout_ms);
    } catch (const std::exception& e) {
        log_info("a second session of the snapshot could not be had, its work runs in the snapshot: {}",
                 first_line(e.what()));
        return nullptr;
    }
}

void LedgerSnapshot::seal()
{
    m_defer_read_only = false;
    if (m_snapshot == nullptr || m_read_only) return;
    m_snapshot->exec0("SET TRANSACTION READ ONLY");
    m_read_only = true;
}

void LedgerSnapshot::begin_check()
{
    m_snapshot->exec0("SAVEPOINT reconcile_check");
    set_local_statement_timeout(*m_snapshot, m_statement_timeout_ms);
    m_in_check = true;
}

pqxx::transaction_base& LedgerSnapshot::ledger()
{
    if (!m_snapshot) open();
    if (!m_in_check) begin_check();
    return *m_snapshot;
}

void LedgerSnapshot::end_check(bool success)
{
    if (!m_in_check) return;
    m_in_check = false;
    m_snapshot->exec0(success ? "RELEASE SAVEPOINT reconcile_check" : "ROLLBACK TO SAVEPOINT reconcile_check");
}

void LedgerSnapshot::checkpoint()
{
    if (!m_in_check) return;
    end_check(true);
    begin_check();
}

void LedgerSnapshot::close()
{
    m_in_check = false;
    m_exported.reset();
    forget_shared();
    if (m_snapshot) {
        auto snapshot = std::move(m_snapshot);
        snapshot->commit();
    }
}

}  // namespace reconcile
