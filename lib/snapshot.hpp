#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lib/check.hpp"
#include "lib/db.hpp"

namespace reconcile {

/// Ids in doubt of a snapshot (see SnapshotXids), asked about after it was taken.
struct SettledDoubt {
    /// Still in progress (subtransactions of a transaction in progress) or too old to tell.
    std::vector<std::int64_t> unseen;
    /// Committed, above a transaction in progress at the snapshot that has ended since (asked
    /// after the statuses): may be its subtransactions, which only the rows the snapshot sees
    /// tell. Ascending. The other ids aborted or committed before the snapshot.
    std::vector<std::int64_t> committed_since;
};
SettledDoubt settle_in_doubt(pqxx::transaction_base& txn, const SnapshotXids& xids,
                             const std::vector<std::int64_t>& in_doubt);

/// A second session that imported the snapshot of a LedgerSnapshot (SET TRANSACTION SNAPSHOT):
/// it reads exactly what the snapshot reads and may write its own temporary tables, so a long
/// statement can run on the server while the snapshot's session runs another (PostgreSQL runs
/// each of the full proof's groupings of the journal in one process, issue 16). Nothing it
/// writes outlives it: its transaction is rolled back when it ends.
class SnapshotTwin {
public:
    SnapshotTwin(const Session& of, const std::string& snapshot_id, long long statement_timeout_ms);
    pqxx::transaction_base& txn() { return *m_txn; }

private:
    std::unique_ptr<Session> m_session;
    std::unique_ptr<pqxx::transaction_base> m_txn;
};

/// The ledger snapshot of a run (and of an India report): a REPEATABLE READ transaction opened
/// lazily, read only for everything the checks run, with one savepoint per check so a check
/// that fails (statement timeout included) rolls back alone and the snapshot stays usable.
class LedgerSnapshot : public SnapshotProvider {
public:
    /// `setup` runs when the snapshot opens, before it turns read only (the checks'
    /// snapshot_setup_sql: temporary tables); it is skipped on a standby, which cannot hold them.
    LedgerSnapshot(Session& read, long long statement_timeout_ms, std::vector<std::string> setup = {})
        : m_read(read), m_statement_timeout_ms(statement_timeout_ms), m_setup(std::move(setup))
    {
    }

    /// The session the snapshot reads in.
    Session& session() { return m_read; }

    /// Opens the snapshot if needed and a savepoint carrying the statement timeout.
    pqxx::transaction_base& ledger() override;

    /// Ends the current check's savepoint: released on success, rolled back on failure (which
    /// also undoes its statement timeout).
    void end_check(bool success);

    /// Releases the current check's savepoint and opens the next one in its place.
    void checkpoint() override;

    /// Category C: ends the snapshot before a broker call; ledger() opens a fresh one.
    void release() override { close(); }

    /// Ends the snapshot itself (read only: nothing to commit).
    void close();

    /// The next snapshot opened stays writable (its temporary tables only: nothing else is
    /// written) until seal(), so the checks' prepare_snapshot can run first.
    void defer_read_only() { m_defer_read_only = true; }
    /// True from defer_read_only() until seal().
    bool awaits_preparation() const { return m_defer_read_only || (m_snapshot != nullptr && !m_read_only); }
    /// Turns the snapshot read only (between checks, never inside one's savepoint); one not yet
    /// open will open read only.
    void seal();

    /// A twin of the snapshot while it is writable on a primary (its id exported as it opened);
    /// nullptr otherwise, or when the twin's session cannot be had (a connection limit): the
    /// caller then runs its statement in the snapshot itself.
    std::shared_ptr<SnapshotTwin> twin() override;

private:
    void open();
    void begin_check();

    Session& m_read;
    long long m_statement_timeout_ms;
    std::vector<std::string> m_setup;
    std::unique_ptr<pqxx::transaction_base> m_snapshot;
    bool m_in_check = false;
    bool m_defer_read_only = false;
    bool m_read_only = false;
    /// pg_export_snapshot() of the open snapshot, while it is writable on a primary.
    std::optional<std::string> m_exported;
};

}  // namespace reconcile
