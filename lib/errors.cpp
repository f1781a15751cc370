#include "lib/errors.hpp"

#include <fmt/format.h>

#include <pqxx/pqxx>

namespace reconcile {

std::string without_nul(const std::string& message)
{
    if (message.find('\0') == std::string::npos) return message;
    std::string text;
    for (const char c : message) {
        if (c == '\0') {
            text += "\\x00";
        } else {
            text += c;
        }
    }
    return text;
}

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

/// libpq's "ERROR:  permission denied for table runs" without the severity prefix.
std::string first_sentence(std::string text)
{
    if (text.rfind("ERROR:", 0) == 0) text.erase(0, 6);
    text.erase(0, text.find_first_not_of(' '));
    const auto newline = text.find('\n');
    if (newline != std::string::npos) text.resize(newline);
    return text;
}

}  // namespace

const std::vector<ExitCodeDoc>& exit_code_docs()
{
    static const std::vector<ExitCodeDoc> docs{
        {ExitCode::ok, "ran; every check ok or warn (`--fail-on warn` turns warn into 1)"},
        {ExitCode::check_failed, "ran; at least one check failed"},
        {ExitCode::check_error, "ran; at least one check could not complete (error), the rest are valid"},
        {ExitCode::lock_held, "skipped: another run holds the lock; nothing written"},
        {ExitCode::usage, "bad command line (also: `runs show` or `trace` naming nothing that exists)"},
        {ExitCode::unavailable,
         "database (or every broker) unreachable: nothing listening, host unknown, timed out, starting up or shutting "
         "down; retryable"},
        {ExitCode::internal, "internal error"},
        {ExitCode::io_error,
         "the report could not be written (standard output full or closed); a run's results are stored all the same"},
        {ExitCode::transient,
         "transient failure mid-run (connection lost, the lock lost, a database lock waited on past lock_timeout, "
         "the server out of disk or memory, results could not be written, the read replica too far behind); nothing "
         "partial was written; safe to retry"},
        {ExitCode::config,
         "bad configuration or unreadable secret, a database URL value libpq refuses, a database that refused the "
         "login (wrong or missing password, no such database or role, TLS it does not offer) or every write (a "
         "standby)"},
        {ExitCode::interrupted, "run stopped by SIGINT: marked `interrupted`, lock released, no results written"},
        {ExitCode::terminated, "run stopped by SIGTERM: marked `interrupted`, lock released, no results written"},
    };
    return docs;
}

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
        if (e.sqlstate() == "42501" || dynamic_cast<const pqxx::insufficient_privilege*>(&e) != nullptr) {
            // The role lacks a grant: an operator must act; retrying cannot help.
            return {ExitCode::config,
                    one_line(fmt::format("the database role lacks a privilege (SQLSTATE 42501): {}; grant it "
                                         "(docs/deployment.md) and run again",
                                         first_sentence(e.what())))};
        }
        if (e.sqlstate() == "25006") {
            // Only a server that refuses every write gets here (the engine's sessions turn a
            // read-only default off): a standby, or one in read-only mode.
            return {ExitCode::config,
                    one_line(fmt::format("the database refused a write as read only ({}): the book's database URL "
                                         "names a standby or a read-only server; point it at the primary (a standby "
                                         "serves as RECON_READ_DATABASE_URL_<BOOK>)",
                                         first_sentence(e.what())))};
        }
        // Cancellations (statement timeout), admin shutdown, connection trouble, serialization
        // failures, a lock given up on (lock_timeout) and a server out of disk or memory are worth
        // a retry; the rest is ours (a limit the server is configured with, 53400, among them).
        const std::string state = e.sqlstate();
        if (state == "57014" || state == "55P03" || state == "53100" || state == "53200" || state.rfind("40", 0) == 0 ||
            state.rfind("57P", 0) == 0 || state.rfind("08", 0) == 0) {
            return {ExitCode::transient,
                    one_line(fmt::format("database: {}; safe to retry", first_sentence(e.what())))};
        }
        return {ExitCode::internal, one_line(fmt::format("database error [{}]: {}", state, e.what()))};
    } catch (const std::exception& e) {
        return {ExitCode::internal, one_line(fmt::format("internal error: {}", e.what()))};
    } catch (...) {
        return {ExitCode::internal, "internal error: unknown exception"};
    }
}

}  // namespace reconcile
