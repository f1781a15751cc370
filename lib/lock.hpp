#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/db.hpp"
#include "lib/run_kinds.hpp"
#include "lib/shard.hpp"

namespace reconcile {

/// The lock scope of one run: "reconcile/<book>/<category>" (plus "/shard-K-of-N" when sharded).
std::string run_lock_scope(std::string_view book, Category category, const std::optional<Shard>& shard = std::nullopt);

/// A 64-bit advisory-lock key from the first 8 bytes of SHA-256(scope), big-endian.
/// Stable across builds, hosts and PostgreSQL versions (unlike hashtext or std::hash).
std::int64_t advisory_lock_key(std::string_view scope);

/// Exclusive: one holder. Shared: any number of shared holders, but never beside an exclusive one.
enum class LockMode { exclusive, shared };

/// A session-level advisory lock held on a dedicated connection. Released explicitly, or by
/// the server when the connection ends (so a kill -9 frees it at once).
class AdvisoryLock {
public:
    /// Tries once, never waits: std::nullopt when another session holds the key.
    static std::optional<AdvisoryLock> try_acquire(Session& session, std::int64_t key,
                                                   LockMode mode = LockMode::exclusive);
    AdvisoryLock(AdvisoryLock&& other) noexcept;
    AdvisoryLock& operator=(AdvisoryLock&&) = delete;
    AdvisoryLock(const AdvisoryLock&) = delete;
    ~AdvisoryLock();

    /// The key this lock holds.
    std::int64_t key() const { return m_key; }
    /// True while this session still holds the lock (asks the server).
    bool still_held();
    /// Releases now; errors are swallowed because a lost connection released it anyway.
    void release() noexcept;

private:
    AdvisoryLock(Session& session, std::int64_t key, LockMode mode) : m_session(&session), m_key(key), m_mode(mode) {}
    Session* m_session;
    std::int64_t m_key;
    LockMode m_mode;
};

/// The locks of one run. An unsharded run holds its category's key ("reconcile/<book>/<category>")
/// exclusively. A sharded run holds the category's key shared and its shard's key
/// (".../shard-K-of-N") exclusively: shards never block each other, the same shard twice does,
/// and an unsharded run never overlaps any shard (ARCHITECTURE.md "Sharded runs").
class RunLock {
public:
    /// Tries once, never waits: std::nullopt (holding nothing) when any of the keys is taken.
    static std::optional<RunLock> try_acquire(Session& session, std::string_view book, Category category,
                                              const std::optional<Shard>& shard);
    /// The run's own key (the shard's when sharded), recorded on its run row.
    std::int64_t key() const { return m_locks.back().key(); }
    /// The category's key, held exclusively by an unsharded run and shared by a sharded one.
    std::int64_t category_key() const { return m_locks.front().key(); }
    /// True while this session still holds every lock of the run (asks the server).
    bool still_held();
    /// Releases every lock now (the run's own first); never throws.
    void release() noexcept;

private:
    explicit RunLock(std::vector<AdvisoryLock> locks) : m_locks(std::move(locks)) {}
    std::vector<AdvisoryLock> m_locks;  ///< the category's lock first
};

}  // namespace reconcile
