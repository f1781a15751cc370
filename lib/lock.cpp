#include "lib/lock.hpp"

#include <fmt/format.h>

#include "lib/hash.hpp"

namespace reconcile {

std::string run_lock_scope(std::string_view book, Category category, const std::optional<Shard>& shard)
{
    if (shard) return fmt::format("reconcile/{}/{}/{}", book, category, shard->scope());
    return fmt::format("reconcile/{}/{}", book, category);
}

std::int64_t advisory_lock_key(std::string_view scope)
{
    return static_cast<std::int64_t>(sha256_prefix64(scope));
}

std::optional<AdvisoryLock> AdvisoryLock::try_acquire(Session& session, std::int64_t key, LockMode mode)
{
    session.prepare("lock_try", "SELECT pg_try_advisory_lock($1) AS acquired");
    session.prepare("lock_try_shared", "SELECT pg_try_advisory_lock_shared($1) AS acquired");
    pqxx::nontransaction txn(session.connection());
    const bool acquired =
        txn.exec_prepared1(mode == LockMode::shared ? "lock_try_shared" : "lock_try", key)["acquired"].as<bool>();
    if (!acquired) return std::nullopt;
    return AdvisoryLock(session, key, mode);
}

AdvisoryLock::AdvisoryLock(AdvisoryLock&& other) noexcept
    : m_session(other.m_session), m_key(other.m_key), m_mode(other.m_mode)
{
    other.m_session = nullptr;
}

AdvisoryLock::~AdvisoryLock()
{
    release();
}

bool AdvisoryLock::still_held()
{
    if (m_session == nullptr) return false;
    m_session->prepare("lock_held",
                       "SELECT count(*) AS held FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
                       ""
                       " AND objsubid = 1 AND granted AND ((classid::bigint << 32) | objid::bigint) = $1");
    pqxx::nontransaction txn(m_session->connection());
    return txn.exec_prepared1("lock_held", m_key)["held"].as<long long>() > 0;
}

void AdvisoryLock::release() noexcept
{
    if (m_session == nullptr) return;
    Session* session = m_session;
    m_session = nullptr;
    try {
        session->prepare("lock_release", "SELECT pg_advisory_unlock($1)");
        session->prepare("lock_release_shared", "SELECT pg_advisory_unlock_shared($1)");
        pqxx::nontransaction txn(session->connection());
        txn.exec_prepared(m_mode == LockMode::shared ? "lock_release_shared" : "lock_release", m_key);
    } catch (...) {
        // A dead connection has released the lock server-side already.
    }
}

std::optional<RunLock> RunLock::try_acquire(Session& session, std::string_view book, Category category,
                                            const std::optional<Shard>& shard)
{
    std::vector<AdvisoryLock> locks;
    auto category_lock = AdvisoryLock::try_acquire(session, advisory_lock_key(run_lock_scope(book, category)),
                                                   shard ? LockMode::shared : LockMode::exclusive);
    if (!category_lock) return std::nullopt;
    locks.push_back(std::move(*category_lock));
    if (shard) {
        auto shard_lock = AdvisoryLock::try_acquire(session, advisory_lock_key(run_lock_scope(book, category, shard)));
        if (!shard_lock) return std::nullopt;  // the category lock is released with `locks`
        locks.push_back(std::move(*shard_lock));
    }
    return RunLock(std::move(locks));
}

bool RunLock::still_held()
{
    for (auto& lock : m_locks) {
        if (!lock.still_held()) return false;
    }
    return true;
}

void RunLock::release() noexcept
{
    for (auto lock = m_locks.rbegin(); lock != m_locks.rend(); ++lock) lock->release();
}

}  // namespace reconcile
