#include "lib/snapshot.hpp"

namespace reconcile {

pqxx::transaction_base& LedgerSnapshot::ledger()
{
    if (!m_snapshot) m_snapshot = std::make_unique<ReadSnapshot>(m_read.connection(), "reconcile_snapshot");
    if (!m_in_check) {
        m_snapshot->exec0("SAVEPOINT reconcile_check");
        set_local_statement_timeout(*m_snapshot, m_statement_timeout_ms);
        m_in_check = true;
    }
    return *m_snapshot;
}

void LedgerSnapshot::end_check(bool success)
{
    if (!m_in_check) return;
    m_in_check = false;
    m_snapshot->exec0(success ? "RELEASE SAVEPOINT reconcile_check" : "ROLLBACK TO SAVEPOINT reconcile_check");
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
