#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "lib/db.hpp"

namespace reconcile {

/// The lock scope of one run: "reconcile/<book>/<category>" (plus "/shard-K-of-N" when sharded).
std::string run_lock_scope(std::string_view book, char category);

/// A 64-bit advisory-lock key from the first 8 bytes of SHA-256(scope), big-endian.
/// Stable across builds, hosts and PostgreSQL versions (unlike hashtext or std::hash).
std::int64_t advisory_lock_key(std::string_view scope);

/// A session-level advisory lock held on a dedicated connection. Released explicitly, or by
/// the server when the connection ends (so a kill -9 frees it at once).
class AdvisoryLock {
public:
    /// Tries once, never waits: std::nullopt when another session holds the key.
    static std::optional<AdvisoryLock> try_acquire(Session& session, std::int64_t key);
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
    AdvisoryLock(Session& session, std::int64_t key) : m_session(&session), m_key(key) {}
    Session* m_session;
    std::int64_t m_key;
};

}  // namespace reconcile
