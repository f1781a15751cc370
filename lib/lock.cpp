#include "lib/lock.hpp"

#include <fmt/format.h>

#include "lib/hash.hpp"

namespace reconcile {

std::string run_lock_scope(std::string_view book, char category)
{
    return fmt::format("reconcile/{}/{}", book, category);
}

std::int64_t advisory_lock_key(std::string_view scope)
{
    const auto digest = sha256(scope);
    std::uint64_t value = 0;
    for (int i = 0; i < 8; ++i) value = (value << 8) | digest[static_cast<std::size_t>(i)];
    return static_cast<std::int64_t>(value);
}

std::optional<AdvisoryLock> AdvisoryLock::try_acquire(Session& session, std::int64_t key)
{
    session.prepare("lock_try", "SELECT pg_try_advisory_lock($1)");
    pqxx::nontransaction txn(session.connection());
    const bool acquired = txn.exec_prepared1("lock_try", key)[0].as<bool>();
    if (!acquired) return std::nullopt;
    return AdvisoryLock(session, key);
}

AdvisoryLock::AdvisoryLock(AdvisoryLock&& other) noexcept : m_session(other.m_session), m_key(other.m_key)
{
    other.m_session = nullptr;
}

AdvisoryLock::~AdvisoryLock() { release(); }

bool AdvisoryLock::still_held()
{
    if (m_session == nullptr) return false;
    m_session->prepare("lock_held",
                       "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
                       ""
                       " AND objsubid = 1 AND granted AND ((classid::bigint << 32) | objid::bigint) = $1");
    pqxx::nontransaction txn(m_session->connection());
    return txn.exec_prepared1("lock_held", m_key)[0].as<long long>() > 0;
}

void AdvisoryLock::release() noexcept
{
    if (m_session == nullptr) return;
    Session* session = m_session;
    m_session = nullptr;
    try {
        session->prepare("lock_release", "SELECT pg_advisory_unlock($1)");
        pqxx::nontransaction txn(session->connection());
        txn.exec_prepared("lock_release", m_key);
    } catch (...) {
        // A dead connection has released the lock server-side already.
    }
}

}  // namespace reconcile
