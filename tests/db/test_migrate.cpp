// Migrations: idempotent, safe when concurrent, and bound to one book.
#include <doctest/doctest.h>

#include <thread>

#include "lib/db.hpp"
#include "lib/errors.hpp"
#include "lib/migrate.hpp"
#include "tests/db/fixture.hpp"
#include "tests/support/exit_code_of.hpp"

using namespace reconcile;
using reconcile::test::exit_code_of;
using reconcile::test::TestDatabase;

namespace {

std::string value(const std::string& url, const std::string& sql)
{
    pqxx::connection connection(url);
    pqxx::nontransaction txn(connection);
    return txn.exec_params1(sql)[0].as<std::string>();
}

}  // namespace

TEST_CASE("migrate applies every migration once; a second run is a no-op")
{
    TestDatabase db("migrate_once");
    Session session(db.url(), "control");
    const auto first = apply_migrations(session, "uae", false);
    CHECK(first.applied.size() == embedded_migrations().size());
    const auto second = apply_migrations(session, "uae", false);
    CHECK(second.applied.empty());
    CHECK(second.already_applied == embedded_migrations().size());
    CHECK(value(db.url(), "SELECT book FROM contract.book_identity") == "uae");
    CHECK_NOTHROW(verify_book(session, "uae"));
}

TEST_CASE("two migrations at once serialise and both succeed")
{
    TestDatabase db("migrate_concurrent");
    std::vector<std::string> errors(2);
    std::vector<std::size_t> applied(2);
    std::vector<std::thread> threads;
    for (int i = 0; i < 2; ++i) {
        threads.emplace_back([&, i] {
            try {
                Session session(db.url(), "control");
                applied[static_cast<std::size_t>(i)] = apply_migrations(session, "india", false).applied.size();
            } catch (const std::exception& e) {
                errors[static_cast<std::size_t>(i)] = e.what();
            }
        });
    }
    for (auto& thread : threads) thread.join();
    CHECK(errors[0].empty());
    CHECK(errors[1].empty());
    CHECK(applied[0] + applied[1] == embedded_migrations().size());
    CHECK(value(db.url(), "SELECT count(*) FROM recon.schema_migrations") ==
          std::to_string(embedded_migrations().size()));
}

TEST_CASE("a database that belongs to one book is refused as another")
{
    TestDatabase db("migrate_wrong_book");
    Session session(db.url(), "control");
    apply_migrations(session, "uae", false);
    CHECK(exit_code_of([&] { apply_migrations(session, "india", false); }) == ExitCode::config);
    CHECK(exit_code_of([&] { verify_book(session, "india"); }) == ExitCode::config);
}

TEST_CASE("an empty database is reported as not migrated")
{
    TestDatabase db("migrate_none");
    Session session(db.url(), "control");
    CHECK(exit_code_of([&] { verify_book(session, "uae"); }) == ExitCode::config);
}

TEST_CASE("a book at engine 0009 upgrades with the later migrations, in name order, and nothing else")
{
    TestDatabase db("migrate_upgrade_0010");
    Session session(db.url(), "control");
    apply_migrations(session, "uae", false);
    // The engine migrations run in name order: those added since 0009 come after every older one.
    std::vector<std::string> engine;
    for (const auto& migration : embedded_migrations()) {
        if (migration.set == "engine") engine.emplace_back(migration.name);
    }
    REQUIRE(engine.size() >= 10);
    CHECK(engine[engine.size() - 10] == "0009_run_scope");
    CHECK(engine[engine.size() - 9] == "0010_variance_actions");
    CHECK(engine[engine.size() - 8] == "0011_broker_counts");
    CHECK(engine[engine.size() - 7] == "0012_proof_state");
    CHECK(engine[engine.size() - 6] == "0013_proof_account_groups");
    CHECK(engine[engine.size() - 5] == "0014_proof_keys");
    CHECK(engine[engine.size() - 4] == "0015_proof_snapshot_checks");
    CHECK(engine[engine.size() - 3] == "0016_proof_wallet_checks");
    CHECK(engine[engine.size() - 2] == "0017_proof_id_image");
    CHECK(engine.back() == "0018_proof_contract");
    // Back to the schema of a book migrated before 0010 existed.
    {
        pqxx::connection connection(db.url());
        pqxx::work txn(connection);
        txn.exec(
            "DROP VIEW recon.variance_acknowledgements; DROP TABLE recon.variance_actions;"
            "DROP FUNCTION recon.variance_actions_append_only();"
            "DROP TRIGGER broker_health_count ON recon.broker_health; DROP FUNCTION recon.count_broker_health();"
            "DROP TABLE recon.broker_counts;"
            "DROP TABLE recon.proof_state, recon.proof_groups, recon.proof_currencies, recon.proof_breaks,"
            " recon.proof_defects, recon.proof_duplicates, recon.proof_open, recon.proof_account_groups,"
            " recon.proof_keys, recon.proof_snapshot_state, recon.proof_snapshot_keys, recon.proof_snapshot_breaks,"
            " recon.proof_dirty_keys, recon.proof_wallet_state, recon.proof_wallet_keys, recon.proof_wallet_breaks;"
            "DELETE FROM recon.schema_migrations"
            " WHERE name IN ('0010_variance_actions', '0011_broker_counts', '0012_proof_state',"
            " '0013_proof_account_groups', '0014_proof_keys', '0015_proof_snapshot_checks',"
            " '0016_proof_wallet_checks', '0017_proof_id_image', '0018_proof_contract')");
        txn.commit();
    }
    CHECK(exit_code_of([&] { verify_book(session, "uae"); }) == ExitCode::config);
    const auto upgrade = apply_migrations(session, "uae", false);
    CHECK(upgrade.applied == std::vector<std::string>{"engine/0010_variance_actions", "engine/0011_broker_counts",
                                                      "engine/0012_proof_state", "engine/0013_proof_account_groups",
                                                      "engine/0014_proof_keys", "engine/0015_proof_snapshot_checks",
                                                      "engine/0016_proof_wallet_checks", "engine/0017_proof_id_image",
                                                      "engine/0018_proof_contract"});
    CHECK_NOTHROW(verify_book(session, "uae"));
    CHECK(value(db.url(), "SELECT count(*) FROM recon.variance_acknowledgements") == "0");
}
