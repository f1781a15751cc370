#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "lib/db.hpp"

namespace reconcile {

/// One versioned SQL migration compiled into the binary from schema/<set>/<name>.sql.
struct Migration {
    std::string_view set;   ///< "ledger" (the bundled ledger and its contract views) or "engine"
    std::string_view name;  ///< file name without .sql, e.g. "0001_engine_tables"
    std::string_view sql;
};

/// All migrations, ledger set first, each set in file-name order (generated at build time).
const std::vector<Migration>& embedded_migrations();

/// What a migrate call did.
struct MigrateResult {
    std::vector<std::string> applied;  ///< "set/name" applied now
    std::size_t already_applied = 0;   ///< skipped because recorded earlier
};

/// Applies every pending migration in one transaction under a transaction-level advisory lock
/// (two concurrent migrates serialise; the second finds nothing to do). With `engine_only`
/// only the engine's tables are created: the ledger contract views are the adopter's.
/// Records the book identity on a fresh bundled ledger and refuses (Error(config)) a database
/// that already belongs to another book.
MigrateResult apply_migrations(Session& session, const std::string& book, bool engine_only);

/// Refuses (Error(config), one line) a database that is not migrated, is behind this binary's
/// engine schema, or belongs to a different book than `book`.
void verify_book(Session& session, const std::string& book);

/// Refuses (Error(config)) a database whose contract.book_identity does not name `book`: the
/// check on a read replica, which needs the ledger contract but not the engine's tables.
void verify_book_identity(Session& session, const std::string& book);

/// The book-identity part of both, inside an open transaction.
void check_book_identity(pqxx::transaction_base& txn, const std::string& book);

}  // namespace reconcile
