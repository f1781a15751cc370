#pragma once

#include <memory>
#include <set>
#include <string>
#include <string_view>

#include <pqxx/pqxx>

namespace reconcile {

/// The ledger snapshot type: one consistent view for all A/B/D checks of a run.
using ReadSnapshot = pqxx::transaction<pqxx::repeatable_read, pqxx::read_only>;

/// One PostgreSQL session. Owns its connection, names itself `reconcile` in pg_stat_activity,
/// and prepares each statement once; all SQL goes through exec_prepared/exec_params so values
/// only ever travel as parameters.
class Session {
public:
    /// Connects; a failure to connect throws Error(unavailable) naming `purpose` (never the URL,
    /// which may carry a password).
    Session(const std::string& url, std::string purpose);
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    /// The underlying connection, for transactions.
    pqxx::connection& connection() { return *m_connection; }

    /// Prepares `sql` under `name` unless this session already did.
    void prepare(const std::string& name, const std::string& sql);

    /// What this connection is for ("control", "read"), used in error messages.
    const std::string& purpose() const { return m_purpose; }

    /// The server-side process id, for pg_terminate_backend in fault tests and logs.
    int backend_pid() const { return m_connection->backendpid(); }

private:
    std::unique_ptr<pqxx::connection> m_connection;
    std::string m_purpose;
    std::set<std::string> m_prepared;
};

/// Sets a transaction-local statement timeout (SET LOCAL) in milliseconds.
void set_local_statement_timeout(pqxx::transaction_base& txn, long long milliseconds);

}  // namespace reconcile
