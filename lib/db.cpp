#include "lib/db.hpp"

#include <fmt/format.h>
#include <libpq-fe.h>

#include <algorithm>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <regex>
#include <thread>
#include <utility>
#include <vector>

#include "lib/migrate.hpp"

namespace reconcile {
namespace {

/// A libpq connection-string value, quoted (key='value', with \ and ' escaped).
std::string quoted(std::string_view value)
{
    std::string text = "'";
    for (const char c : value) {
        if (c == '\\' || c == '\'') text.push_back('\\');
        text.push_back(c);
    }
    return text + "'";
}

/// A connection attempt the server answered and refused for what the URL or the server's roles
/// say: retrying the same URL cannot help, an operator must act (78).
class RefusedLogin : public pqxx::broken_connection {
public:
    RefusedLogin(const std::string& reason, const char* hint) : pqxx::broken_connection(reason), m_hint(hint) {}
    /// What the operator should check, in the user's terms.
    const char* hint() const { return m_hint; }

private:
    const char* m_hint;
};

/// The server's own words in libpq's first line ("connection to server at ... failed: FATAL:  x"
/// gives "x"): libpq writes a server's error as its severity, a colon and two spaces, a format it
/// never translates; nothing when the line holds no server error.
std::optional<std::string> server_words(const std::string& line)
{
    const auto marker = line.find(":  ");
    if (marker == std::string::npos) return std::nullopt;
    return line.substr(marker + 3);
}

/// What a refused login asks the operator to check.
constexpr const char* password_hint = "check the user and password in the book's database URL or password file";
constexpr const char* session_hint = "check the user and database name in the book's database URL";
constexpr const char* tls_hint = "check sslmode and the certificate files in the book's database URL";

/// Throws for a connection attempt that failed: RefusedLogin when the server refused the login,
/// else a plain broken_connection (unreachable, retryable). libpq keeps no SQLSTATE of a failed
/// attempt, so the facts it keeps come first: the server asked for a password it did not get, or
/// got one and then refused. A server that needs no password (trust, peer, cert) and refused the
/// session is known only by its words, in English (docs/decisions/refused-login-exits-78.md); in
/// another language such a refusal stays 69, as before.
[[noreturn]] void throw_connect_failure(const PGconn* conn)
{
    std::string line = PQerrorMessage(conn);
    if (const auto newline = line.find('\n'); newline != std::string::npos) line.resize(newline);
    if (PQconnectionNeedsPassword(conn) != 0) throw RefusedLogin(line, password_hint);
    // The server answered but cannot give the encryption the URL demands (libpq's own words):
    // a retry will not change that.
    static const std::regex refused_tls(
        R"(does not support SSL, but SSL was required|does not support GSSAPI encryption, but it was required|)"
        R"(certificate verify failed|does not match host name|root certificate file .* does not exist|)"
        R"(could not (open|read|load) (certificate|private key|root certificate|SSL certificate))");
    if (std::regex_search(line, refused_tls)) throw RefusedLogin(line, tls_hint);
    const auto words = server_words(line);
    if (!words) throw pqxx::broken_connection(line);
    // Refused after authenticating (no such database or role, no CONNECT) or at it (pg_hba.conf,
    // peer, ident, cert): English words, as libpq keeps no SQLSTATE of a failed attempt.
    static const std::regex refused_session(
        R"(^(database|role) ".*" does not exist|^role ".*" is not permitted to log in|^permission denied for database)");
    static const std::regex refused_login(
        R"(^no pg_hba\.conf entry for |^pg_hba\.conf rejects connection |^\w+ authentication failed for )");
    if (std::regex_search(*words, refused_session)) throw RefusedLogin(*words, session_hint);
    if (PQconnectionUsedPassword(conn) != 0 || std::regex_search(*words, refused_login)) {
        throw RefusedLogin(*words, password_hint);
    }
    throw pqxx::broken_connection(line);
}

}  // namespace

ClassifiedConnect::handle ClassifiedConnect::do_startconnect(handle orig)
{
    if (orig != nullptr) return orig;
    std::unique_ptr<PGconn, decltype(&PQfinish)> conn(PQconnectdb(options().c_str()), &PQfinish);
    if (!conn) throw std::bad_alloc();
    if (PQstatus(conn.get()) != CONNECTION_OK) throw_connect_failure(conn.get());
    return conn.release();  // the connection's own from here: libpqxx finishes it
}

SessionLimits limits_after_wait(std::chrono::milliseconds wait)
{
    const auto bound = wait + std::chrono::seconds(1);
    return {.connect_timeout = bound, .dead_peer_timeout = bound, .statement_timeout = bound};
}

std::string bounded_conninfo(const std::string& url, const SessionLimits& limits)
{
    std::vector<std::pair<std::string, std::string>> bounds;
    if (const long long milliseconds = limits.connect_timeout.count(); milliseconds > 0) {
        // libpq counts connect_timeout in whole seconds on a clock that may tick at once: one
        // more second, so it never gives up before the limit.
        bounds.emplace_back("connect_timeout", std::to_string((milliseconds + 999) / 1000 + 1));
    }
    if (const long long milliseconds = limits.dead_peer_timeout.count(); milliseconds > 0) {
        bounds.emplace_back("keepalives", "1");
        bounds.emplace_back("keepalives_idle", "1");
        bounds.emplace_back("keepalives_interval", "1");
        bounds.emplace_back("keepalives_count", std::to_string(std::max(1LL, (milliseconds + 999) / 1000)));
        bounds.emplace_back("tcp_user_timeout", std::to_string(milliseconds));
    }
    if (bounds.empty()) return url;
    char* error = nullptr;
    const std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> parsed(PQconninfoParse(url.c_str(), &error),
                                                                              &PQconninfoFree);
    if (error != nullptr) PQfreemem(error);
    if (!parsed) return url;  // the connection attempt reports what is wrong with it
    std::string conninfo;
    for (const PQconninfoOption* option = parsed.get(); option->keyword != nullptr; ++option) {
        if (option->val == nullptr) continue;
        const std::string_view keyword = option->keyword;
        const bool ours = std::any_of(bounds.begin(), bounds.end(), [&](const auto& b) { return b.first == keyword; });
        if (!ours) conninfo += fmt::format("{}={} ", keyword, quoted(option->val));
    }
    for (const auto& [keyword, value] : bounds) conninfo += fmt::format("{}={} ", keyword, quoted(value));
    conninfo.pop_back();
    return conninfo;
}

Session::Session(const std::string& url, std::string purpose, const SessionLimits& limits)
    : m_url(url), m_limits(limits), m_purpose(std::move(purpose))
{
    try {
        m_connection = std::make_unique<pqxx::basic_connection_base<ClassifiedConnect>>(bounded_conninfo(url, limits));
        // libpqxx 6 silently reconnects a broken connection at the next transaction. A session
        // is one server session: the control session's advisory lock and the read session's
        // snapshot die with it, so a reconnect must never pass for the same session.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
        m_connection->inhibit_reactivation(true);
#pragma GCC diagnostic pop
        pqxx::nontransaction txn(*m_connection);
        txn.exec_params("SELECT set_config('application_name', $1, false)", "reconcile");
        // Text leaves the engine as UTF-8 JSON: a client encoding from the environment
        // (PGCLIENTENCODING) would hand it other bytes, or make the server refuse a ledger's
        // character that encoding lacks, ending a check in error. A SQL_ASCII database holds
        // bytes in no encoding: they pass as they are (lib/utf8.hpp makes them valid JSON),
        // where a UTF-8 client would have the server refuse them when the engine sends them back.
        // The engine says READ ONLY where it only reads and REPEATABLE READ where it needs a
        // snapshot. A database's or role's defaults (read only, against stray writes by people;
        // serializable) must not stop it writing its own tables, nor fail its short writes.
        txn.exec_params(
            "SELECT set_config('client_encoding', CASE current_setting('server_encoding') WHEN 'SQL_ASCII' "
            "THEN 'SQL_ASCII' ELSE 'UTF8' END, false), "
            "set_config('default_transaction_read_only', 'off', false), "
            "set_config('default_transaction_isolation', 'read committed', false)");
        if (limits.statement_timeout.count() > 0) {
            txn.exec_params("SELECT set_config('statement_timeout', $1, false)",
                            fmt::format("{}ms", limits.statement_timeout.count()));
        }
    } catch (const RefusedLogin& e) {
        throw Error(ExitCode::config,
                    fmt::format("the {} database refused the login: {} ({})", m_purpose, e.what(), e.hint()));
    } catch (const pqxx::broken_connection& e) {
        std::string reason = e.what();
        if (const auto newline = reason.find('\n'); newline != std::string::npos) reason.resize(newline);
        throw Error(ExitCode::unavailable, fmt::format("cannot connect to the {} database: {}", m_purpose, reason));
    }
}

std::unique_ptr<Session> Session::another(std::string purpose) const
{
    return std::make_unique<Session>(m_url, std::move(purpose), m_limits);
}

void Session::prepare(const std::string& name, const std::string& sql)
{
    if (m_prepared.count(name) != 0) return;
    m_connection->prepare(name, sql);
    m_prepared.insert(name);
}

void set_local_statement_timeout(pqxx::transaction_base& txn, long long milliseconds)
{
    txn.exec_params("SELECT set_config('statement_timeout', $1, true)", fmt::format("{}ms", milliseconds));
}

Error error_naming_book(const std::string& book)
{
    auto [code, message] = classify_current_exception(false);
    // With several books, the operator must learn which one is down or unmigrated; a usage error
    // is about what was asked, not about the book, and keeps its words.
    if (code != ExitCode::usage && message.find(fmt::format("book '{}'", book)) == std::string::npos) {
        message = fmt::format("book '{}': {}", book, message);
    }
    return Error(code, message);
}

class BoundedCalls::Call {
public:
    explicit Call(std::string call_key) : key(std::move(call_key)) {}
    const std::string key;
    std::mutex mutex;
    std::condition_variable done_cv;
    bool done = false;
    bool abandoned = false;  // its waiter gave up: it counts as hanging until it returns
};

struct BoundedCalls::State {
    std::mutex mutex;
    std::map<std::string, int> hanging;  // key -> calls past their deadline, not returned yet
};

BoundedCalls::BoundedCalls() : m_state(std::make_shared<State>())
{
}

std::shared_ptr<BoundedCalls::Call> BoundedCalls::start(const std::string& key, std::function<void()> work)
{
    {
        std::lock_guard lock(m_state->mutex);
        if (m_state->hanging.count(key) != 0) return nullptr;
    }
    auto call = std::make_shared<Call>(key);
    // Detached: a hanging database keeps only this thread, which ends when its session gives up.
    std::thread([state = m_state, call, work = std::move(work)] {
        try {
            work();
        } catch (...) {
            // The work reports its own failures; nothing may escape a thread.
        }
        bool abandoned = false;
        {
            std::lock_guard lock(call->mutex);
            call->done = true;
            abandoned = call->abandoned;
        }
        call->done_cv.notify_all();
        if (!abandoned) return;
        std::lock_guard lock(state->mutex);
        if (const auto found = state->hanging.find(call->key); found != state->hanging.end() && --found->second == 0) {
            state->hanging.erase(found);
        }
    }).detach();
    return call;
}

bool BoundedCalls::wait(const std::shared_ptr<Call>& call, std::chrono::steady_clock::time_point deadline)
{
    std::unique_lock lock(call->mutex);
    if (call->done_cv.wait_until(lock, deadline, [&] { return call->done; })) return true;
    // Counted under the call's lock, so its thread cannot uncount it first.
    call->abandoned = true;
    std::lock_guard state_lock(m_state->mutex);
    ++m_state->hanging[call->key];
    return false;
}

BookDatabases::BookDatabases(const Settings& settings, BoundedCalls& calls, std::chrono::milliseconds budget)
    : m_settings(settings), m_calls(&calls), m_budget(budget), m_deadline(std::chrono::steady_clock::now() + budget)
{
}

std::string BookDatabases::url_of(const std::string& book) const
{
    try {
        return m_settings.database_url(book);
    } catch (...) {
        throw error_naming_book(book);
    }
}

std::unique_ptr<Session> BookDatabases::open_book_session(const std::string& url, const std::string& book,
                                                          BookCheck check, const SessionLimits& limits)
{
    auto session = std::make_unique<Session>(url, "control", limits);
    if (check == BookCheck::verify) verify_book(*session, book);
    return session;
}

void BookDatabases::run(const std::string& book, std::function<void(const SessionLimits&)> work) const
{
    if (m_calls == nullptr) {
        try {
            work({});
        } catch (...) {
            throw error_naming_book(book);
        }
        return;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(m_deadline - std::chrono::steady_clock::now());
    const auto late = [&] {
        return Error(ExitCode::unavailable,
                     fmt::format("book '{}': its database did not answer within {} ms", book, m_budget.count()));
    };
    if (left.count() <= 0) throw late();
    const SessionLimits limits = limits_after_wait(left);
    auto failure = std::make_shared<std::exception_ptr>();
    const auto call = m_calls->start(book, [failure, limits, work = std::move(work)] {
        try {
            work(limits);
        } catch (...) {
            *failure = std::current_exception();
        }
    });
    if (!call) {
        throw Error(ExitCode::unavailable,
                    fmt::format("book '{}': its database has not answered an earlier request yet", book));
    }
    if (!m_calls->wait(call, m_deadline)) throw late();
    if (*failure) {
        try {
            std::rethrow_exception(*failure);
        } catch (...) {
            throw error_naming_book(book);
        }
    }
}

}  // namespace reconcile
