#pragma once

#include <memory>

#include "lib/check.hpp"
#include "lib/db.hpp"

namespace reconcile {

/// The ledger snapshot of a run (and of an India report): a REPEATABLE READ READ ONLY
/// transaction opened lazily, with one savepoint per check so a check that fails (statement
/// timeout included) rolls back alone and the snapshot stays usable.
class LedgerSnapshot : public SnapshotProvider {
public:
    LedgerSnapshot(Session& read, long long statement_timeout_ms)
        : m_read(read), m_statement_timeout_ms(statement_timeout_ms)
    {
    }

    /// Opens the snapshot if needed and a savepoint carrying the statement timeout.
    pqxx::transaction_base& ledger() override;

    /// Ends the current check's savepoint: released on success, rolled back on failure (which
    /// also undoes its statement timeout).
    void end_check(bool success);

    /// Category C: ends the snapshot before a broker call; ledger() opens a fresh one.
    void release() override { close(); }

    /// Ends the snapshot itself (read only: nothing to commit).
    void close();

private:
    Session& m_read;
    long long m_statement_timeout_ms;
    std::unique_ptr<ReadSnapshot> m_snapshot;
    bool m_in_check = false;
};

}  // namespace reconcile
