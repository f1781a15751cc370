#include "lib/migrate.hpp"

#include <fmt/format.h>

#include "lib/errors.hpp"
#include "lib/hash.hpp"
#include "lib/lock.hpp"

namespace reconcile {
namespace {

std::string checksum(std::string_view sql)
{
    const auto digest = sha256(sql);
    return to_hex(digest);
}

}  // namespace

MigrateResult apply_migrations(Session& session, const std::string& book, bool engine_only)
{
    MigrateResult result;
    pqxx::work txn(session.connection());
    txn.exec_params("SELECT pg_advisory_xact_lock($1)", advisory_lock_key("reconcile/migrate"));
    // Migration scripts are static text compiled into the binary: they carry no values, and
    // several statements each, so they go through the simple-query protocol.
    txn.exec(
        "CREATE SCHEMA IF NOT EXISTS recon;"
        "CREATE TABLE IF NOT EXISTS recon.schema_migrations ("
        "  migration_set text NOT NULL, name text NOT NULL, checksum text NOT NULL,"
        "  applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (migration_set, name))");
    for (const auto& migration : embedded_migrations()) {
        if (engine_only && migration.set != "engine") continue;
        const std::string set{migration.set};
        const std::string name{migration.name};
        const auto recorded = txn.exec_params(
            "SELECT checksum FROM recon.schema_migrations WHERE migration_set = $1 AND name = $2", set, name);
        if (!recorded.empty()) {
            if (recorded[0]["checksum"].as<std::string>() != checksum(migration.sql)) {
                throw Error(ExitCode::config,
                            fmt::format("migration {}/{} was changed after it was applied; refusing", set, name));
            }
            ++result.already_applied;
            continue;
        }
        txn.exec(std::string(migration.sql));
        txn.exec_params("INSERT INTO recon.schema_migrations (migration_set, name, checksum) VALUES ($1, $2, $3)", set,
                        name, checksum(migration.sql));
        result.applied.push_back(set + "/" + name);
    }
    if (!engine_only) {
        const auto identity = txn.exec_params("SELECT book FROM ledger.book_identity");
        if (identity.empty()) {
            txn.exec_params("INSERT INTO ledger.book_identity (entity_id, book) VALUES ($1, $2)",
                            fmt::format("{}-entity", book), book);
        } else if (identity[0]["book"].as<std::string>() != book) {
            throw Error(ExitCode::config,
                        fmt::format("this database belongs to book '{}'; refusing to migrate it as '{}'",
                                    identity[0]["book"].as<std::string>(), book));
        }
    }
    txn.commit();
    return result;
}

void verify_book(Session& session, const std::string& book)
{
    pqxx::read_transaction txn(session.connection());
    const auto present = txn.exec_params1(
        "SELECT to_regclass('recon.runs') IS NOT NULL AS runs,"
        " to_regclass('contract.book_identity') IS NOT NULL AS book_identity,"
        " to_regclass('recon.schema_migrations') IS NOT NULL AS schema_migrations");
    if (!present["runs"].as<bool>() || !present["schema_migrations"].as<bool>()) {
        throw Error(
            ExitCode::config,
            fmt::format("the database of book '{}' is not migrated: run `reconcile migrate --book {}`", book, book));
    }
    if (!present["book_identity"].as<bool>()) {
        throw Error(ExitCode::config,
                    fmt::format("the database of book '{}' has no ledger contract view contract.book_identity", book));
    }
    std::size_t engine_known = 0;
    for (const auto& migration : embedded_migrations()) {
        if (migration.set != "engine") continue;
        ++engine_known;
    }
    const auto engine_migrations =
        txn.exec_params1("SELECT count(*) AS applied FROM recon.schema_migrations WHERE migration_set = 'engine'");
    const auto engine_applied = engine_migrations["applied"].as<std::size_t>();
    if (engine_applied < engine_known) {
        throw Error(ExitCode::config,
                    fmt::format("the engine schema of book '{}' is behind this binary: run `reconcile migrate "
                                "--book {}`",
                                book, book));
    }
    check_book_identity(txn, book);
}

void verify_book_identity(Session& session, const std::string& book)
{
    pqxx::read_transaction txn(session.connection());
    const auto present = txn.exec_params1("SELECT to_regclass('contract.book_identity') IS NOT NULL AS book_identity");
    if (!present["book_identity"].as<bool>()) {
        throw Error(ExitCode::config,
                    fmt::format("the {} database of book '{}' has no ledger contract view contract.book_identity",
                                session.purpose(), book));
    }
    check_book_identity(txn, book);
}

void check_book_identity(pqxx::transaction_base& txn, const std::string& book)
{
    const auto identity = txn.exec_params("SELECT book::text, entity_id::text FROM contract.book_identity");
    if (identity.size() != 1) {
        throw Error(ExitCode::config,
                    fmt::format("contract.book_identity of book '{}' must hold exactly one row, found {}", book,
                                identity.size()));
    }
    const auto actual = identity[0]["book"].as<std::string>();
    if (actual != book) {
        throw Error(ExitCode::config,
                    fmt::format("refusing to run: --book {} but this database belongs to book '{}' (entity {})", book,
                                actual, identity[0]["entity_id"].as<std::string>()));
    }
}

}  // namespace reconcile
