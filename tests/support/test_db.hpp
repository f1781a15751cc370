#pragma once

// Throwaway databases on the test cluster that scripts/test starts (scripts/pg-cluster), so
// every test binary works on a real PostgreSQL 15 without touching any other database.

#include <string>
#include <string_view>

namespace reconcile::test {

/// URL of `dbname` on the throwaway cluster named by RECON_TEST_PGHOST/PORT/USER (set by
/// scripts/test), e.g. "postgresql://postgres@127.0.0.1:PORT/dbname". Throws std::runtime_error
/// with a one-line hint to run the tests through scripts/test when they are unset.
std::string test_cluster_url(std::string_view dbname);

/// A fresh, empty database for one test binary (or one test), dropped WITH (FORCE) in the
/// destructor, so tests never share state and leave nothing behind.
class TestDatabase {
public:
    /// Creates recon_t_<label>_<pid>_<counter> (label lower-cased, reduced to [a-z0-9_], the
    /// whole name kept within PostgreSQL's 63 bytes). Throws when the cluster is unreachable.
    explicit TestDatabase(std::string_view label);
    /// Drops the database (terminating any sessions left on it); never throws.
    ~TestDatabase();
    TestDatabase(const TestDatabase&) = delete;
    TestDatabase& operator=(const TestDatabase&) = delete;
    /// Moving hands over the drop duty; the moved-from object drops nothing.
    TestDatabase(TestDatabase&& other) noexcept;
    /// Drops this database first, then takes over `other`'s.
    TestDatabase& operator=(TestDatabase&& other) noexcept;

    /// The database name, for SQL that has to name it.
    const std::string& name() const { return m_name; }
    /// A libpq URL for this database, to hand to the code under test.
    const std::string& url() const { return m_url; }

private:
    void drop() noexcept;

    std::string m_name;
    std::string m_url;
};

/// Drops every test database still alive and makes later TestDatabase destructors drop nothing.
/// The test main calls it after the tests: a database dropped from a static destructor would
/// use libpqxx after its own statics were destroyed.
void drop_all_test_databases() noexcept;

/// Runs fixture SQL (several statements allowed, one implicit transaction) on a URL; for test
/// fixtures only. Throws the pqxx error on failure.
void exec_sql(const std::string& url, const std::string& sql);

}  // namespace reconcile::test
