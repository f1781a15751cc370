#include "lib/snapshot.hpp"

namespace reconcile {

void LedgerSnapshot::open()
{
    if (m_setup.empty()) {
        m_snapshot = std::make_unique<ReadSnapshot>(m_read.connection(), "reconcile_snapshot");
        return;
    }
    // Temporary tables cannot be created in a READ ONLY transaction: the snapshot begins read
    // write, creates them, and turns read only (which PostgreSQL allows mid-transaction) before
    // any check reads; the snapshot is the one the first statement took.
    auto snapshot = std::make_unique<pqxx::transaction<pqxx::repeatable_read, pqxx::read_write>>(m_read.connection(),
                                                                                                 "reconcile_snapshot");
    if (!snapshot->exec_params1("SELECT pg_is_in_recovery() AS standby")["standby"].as<bool>()) {
        for (const auto& sql : m_setup) snapshot->exec0(sql);
    }
    snapshot->exec0("SET TRANSACTION READ ONLY");
    m_snapshot = std::move(snapshot);
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
    forget_shared();
    if (m_snapshot) {
        auto snapshot = std::move(m_snapshot);
        snapshot->commit();
    }
}

}  // namespace reconcile
