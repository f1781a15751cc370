#include "lib/db.hpp"

#include <fmt/format.h>

#include "lib/errors.hpp"

namespace reconcile {

Session::Session(const std::string& url, std::string purpose) : m_purpose(std::move(purpose))
{
    try {
        m_connection = std::make_unique<pqxx::connection>(url);
        // libpqxx 6 silently reconnects a broken connection at the next transaction. A session
        // is one server session: the control session's advisory lock and the read session's
        // snapshot die with it, so a reconnect must never pass for the same session.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
        m_connection->inhibit_reactivation(true);
#pragma GCC diagnostic pop
        pqxx::nontransaction txn(*m_connection);
        txn.exec_params("SELECT set_config('application_name', $1, false)", "reconcile");
    } catch (const pqxx::broken_connection& e) {
        std::string reason = e.what();
        if (const auto newline = reason.find('\n'); newline != std::string::npos) reason.resize(newline);
        throw Error(ExitCode::unavailable, fmt::format("cannot connect to the {} database: {}", m_purpose, reason));
    }
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

}  // namespace reconcile
