#include "lib/errors.hpp"

#include <fmt/format.h>

#include <pqxx/pqxx>

namespace reconcile {
namespace {

/// libpq messages span lines; an operator's log line must not.
std::string one_line(std::string text)
{
    for (char& c : text) {
        if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    return text;
}

}  // namespace

std::pair<ExitCode, std::string> classify_current_exception(bool connected)
{
    try {
        throw;
    } catch (const Error& e) {
        return {e.code(), one_line(e.what())};
    } catch (const pqxx::broken_connection& e) {
        if (connected) {
            return {ExitCode::transient, one_line(fmt::format("database connection lost: {}", e.what()))};
        }
        return {ExitCode::unavailable, one_line(fmt::format("database unreachable: {}", e.what()))};
    } catch (const pqxx::in_doubt_error& e) {
        return {ExitCode::transient, one_line(fmt::format("commit in doubt: {}", e.what()))};
    } catch (const pqxx::transaction_rollback& e) {
        return {ExitCode::transient, one_line(fmt::format("transaction rolled back: {}", e.what()))};
    } catch (const pqxx::sql_error& e) {
        // Cancellations (statement timeout), admin shutdown, connection trouble and
        // serialization failures are worth a retry; the rest is ours.
        const std::string state = e.sqlstate();
        if (state == "57014" || state.rfind("40", 0) == 0 || state.rfind("57P", 0) == 0 ||
            state.rfind("08", 0) == 0) {
            return {ExitCode::transient, one_line(fmt::format("database: {}", e.what()))};
        }
        return {ExitCode::internal, one_line(fmt::format("database error [{}]: {}", state, e.what()))};
    } catch (const std::exception& e) {
        return {ExitCode::internal, one_line(fmt::format("internal error: {}", e.what()))};
    } catch (...) {
        return {ExitCode::internal, "internal error: unknown exception"};
    }
}

}  // namespace reconcile
