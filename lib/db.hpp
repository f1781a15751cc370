#pragma once

#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>

#include <pqxx/pqxx>

#include "lib/config.hpp"
#include "lib/errors.hpp"

namespace reconcile {

/// A transaction that a failed statement leaves open. libpqxx 6.4 aborts the whole transaction
/// when a statement sent by exec() fails (one sent by exec_params never does), which ended a
/// snapshot under every later check instead of rolling back to the failing check's savepoint.
template <pqxx::isolation_level Isolation, pqxx::readwrite_policy Access>
class KeptTransaction : public pqxx::transaction<Isolation, Access> {
public:
    explicit KeptTransaction(pqxx::connection_base& connection, const std::string& name = {})
        : pqxx::internal::namedclass("KeptTransaction", name), pqxx::transaction<Isolation, Access>(connection, name)
    {
    }

protected:
    pqxx::result do_exec(const char query[]) override { return this->direct_exec(query); }
};

/// The ledger snapshot type: one consistent view for all A/B/D checks of a run.
using ReadSnapshot = KeptTransaction<pqxx::repeatable_read, pqxx::read_only>;
/// The snapshot while it is still writable (its temporary tables and proof made, lib/snapshot.cpp).
using WritableSnapshot = KeptTransaction<pqxx::repeatable_read, pqxx::read_write>;

/// Bounds a session puts on its database; zero is no bound (the CLI's sessions).
struct SessionLimits {
    /// Connecting gives up after about this (libpq connect_timeout, in whole seconds).
    std::chrono::milliseconds connect_timeout{0};
    /// A peer that stops acknowledging (a network black hole) ends the session after this: TCP
    /// keepalives every second and tcp_user_timeout.
    std::chrono::milliseconds dead_peer_timeout{0};
    /// Every statement of the session is cancelled by the server past this (statement_timeout).
    std::chrono::milliseconds statement_timeout{0};
};

/// The limits of a session whose caller waits at most `wait` for it (BoundedCalls): they end the
/// session a second later, so the caller's deadline fires first and an abandoned call's thread
/// ends soon after.
SessionLimits limits_after_wait(std::chrono::milliseconds wait);

/// libpqxx 6.4's connect_direct (PQconnectdb: libpq's own hosts, connect_timeout and
/// target_session_attrs), except that a failed attempt's PGconn is asked, before it is freed,
/// whether the server refused the login: then it throws a broken_connection that says so
/// (lib/db.cpp), which Session reports as a configuration error (78) instead of 69.
class ClassifiedConnect : public pqxx::connectionpolicy {
public:
    explicit ClassifiedConnect(const std::string& options) : pqxx::connectionpolicy(options) {}
    handle do_startconnect(handle orig) override;
};

/// One PostgreSQL session. Owns its connection, names itself `reconcile` in pg_stat_activity,
/// and prepares each statement once; all SQL goes through exec_prepared/exec_params so values
/// only ever travel as parameters.
class Session {
public:
    /// Connects within `limits`; a failure to connect throws Error naming `purpose` (never the
    /// URL, which may carry a password): config when the server refused the login (a wrong or
    /// missing password, no such database or role), unavailable otherwise.
    Session(const std::string& url, std::string purpose, const SessionLimits& limits = {});
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    /// The underlying connection, for transactions.
    pqxx::connection_base& connection() { return *m_connection; }

    /// Prepares `sql` under `name` unless this session already did.
    void prepare(const std::string& name, const std::string& sql);

    /// What this connection is for ("control", "read"), used in error messages.
    const std::string& purpose() const { return m_purpose; }

    /// The server-side process id, for pg_terminate_backend in fault tests and logs.
    int backend_pid() const { return m_connection->backendpid(); }

    /// A new session to the same database, with the same limits.
    std::unique_ptr<Session> another(std::string purpose) const;

private:
    std::unique_ptr<pqxx::basic_connection_base<ClassifiedConnect>> m_connection;
    std::string m_url;
    SessionLimits m_limits;
    std::string m_purpose;
    std::set<std::string> m_prepared;
};

/// Sets a transaction-local statement timeout (SET LOCAL) in milliseconds.
void set_local_statement_timeout(pqxx::transaction_base& txn, long long milliseconds);

/// The connection string `url` with `limits` applied (connect_timeout; keepalives and
/// tcp_user_timeout); `url` itself when there is nothing to apply or it does not parse.
std::string bounded_conninfo(const std::string& url, const SessionLimits& limits);

/// Inside a catch block: the failure in flight as one line naming `book` ("book 'india': cannot
/// connect to the control database: ..."), its exit code kept (69 unreachable, 78 unmigrated);
/// a usage error (64: what was asked names nothing) keeps its words.
Error error_naming_book(const std::string& book);

/// Runs calls on threads of their own and waits for each at most until a deadline, so a caller
/// is never held by a database that does not answer (a silent server, a hung backend, a network
/// black hole). A call past its deadline is left to finish on its own (its session's timeouts end
/// it); while one with the same key still runs past its deadline, later calls with that key are
/// refused at once instead of starting another thread, so hung threads never pile up.
class BoundedCalls {
public:
    class Call;
    BoundedCalls();

    /// Starts `work` (which must own everything it uses, and catch its own exceptions) on its own
    /// thread; nullptr, without starting it, while an earlier call with `key` hangs.
    std::shared_ptr<Call> start(const std::string& key, std::function<void()> work);
    /// Waits for `call` until `deadline`: true when it returned; false marks it hanging.
    bool wait(const std::shared_ptr<Call>& call, std::chrono::steady_clock::time_point deadline);

private:
    struct State;
    std::shared_ptr<State> m_state;
};

/// Whether a book's database is verified (migrated, current, this book's) before its work.
enum class BookCheck { verify, none };

/// The books' databases as one command or request reaches them, one book at a time, every
/// failure named after its book with its exit code kept. The CLI's work runs here and now,
/// unbounded. A serve request's work runs within one deadline from the request's start: each
/// book's work on its own thread (BoundedCalls, keyed by book) with sessions bounded by the time
/// left, and a book past the deadline fails the request with Error(unavailable) naming it.
class BookDatabases {
public:
    /// Unbounded (the CLI); implicit, so a Settings is its own unbounded databases.
    BookDatabases(const Settings& settings) : m_settings(settings) {}  // NOLINT(google-explicit-constructor)
    /// Bounded: the deadline is `budget` from now.
    BookDatabases(const Settings& settings, BoundedCalls& calls, std::chrono::milliseconds budget);

    const Settings& settings() const { return m_settings; }

    /// work(limits) for `book`; the limits bound every session it opens. Bounded, `work` runs on
    /// another thread and may outlive the call: it must own what it uses (capture by value).
    template <class T>
    T call(const std::string& book, std::function<T(const SessionLimits&)> work) const
    {
        if constexpr (std::is_void_v<T>) {
            run(book, std::move(work));
        } else {
            auto result = std::make_shared<std::optional<T>>();
            run(book, [result, work = std::move(work)](const SessionLimits& limits) { result->emplace(work(limits)); });
            return std::move(**result);
        }
    }

    /// work(session) on a control session of `book`, verified first unless `check` is none.
    template <class T>
    T with_session(const std::string& book, std::function<T(Session&)> work, BookCheck check = BookCheck::verify) const
    {
        const std::string url = url_of(book);
        return call<T>(book, [url, book, check, work = std::move(work)](const SessionLimits& limits) {
            const auto session = open_book_session(url, book, check, limits);
            return work(*session);
        });
    }

private:
    std::string url_of(const std::string& book) const;
    static std::unique_ptr<Session> open_book_session(const std::string& url, const std::string& book, BookCheck check,
                                                      const SessionLimits& limits);
    void run(const std::string& book, std::function<void(const SessionLimits&)> work) const;

    const Settings& m_settings;
    BoundedCalls* m_calls = nullptr;
    std::chrono::milliseconds m_budget{0};
    std::chrono::steady_clock::time_point m_deadline{};
};

}  // namespace reconcile
