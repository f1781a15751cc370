#include "tests/faults/fault_support.hpp"

#include <doctest/doctest.h>

#include <pqxx/pqxx>

#include "lib/lock.hpp"
#include "tests/db/fixture.hpp"
#include "tests/support/cli.hpp"

namespace reconcile::test {

using namespace std::chrono_literals;

std::string Target::value(const std::string& sql) const
{
    pqxx::connection connection(url);
    pqxx::nontransaction txn(connection);
    const auto row = txn.exec1(sql);
    return row[0].is_null() ? std::string{} : row[0].as<std::string>();
}

void Target::exec(const std::string& sql) const
{
    exec_sql(url, sql);
}

ProcessOptions Target::env(std::map<std::string, std::string> extra) const
{
    ProcessOptions options;
    options.env = {{"RECON_BOOKS", "uae"}, {"RECON_DATABASE_URL_UAE", url}, {"RECON_ALERT_PERSIST_ENABLED", "true"}};
    options.unset_env = {"RECON_CONFIG", "ALERT_WEBHOOK_URL", "RECON_READ_DATABASE_URL_UAE"};
    for (auto& [key, value] : extra) options.env[key] = value;
    return options;
}

bool Target::lock_free(Category category) const
{
    const auto key = advisory_lock_key(run_lock_scope("uae", category));
    pqxx::connection connection(url);
    pqxx::nontransaction txn(connection);
    const bool free = txn.exec_params1("SELECT pg_try_advisory_lock($1)", key)[0].as<bool>();
    if (free) txn.exec_params("SELECT pg_advisory_unlock($1)", key);
    return free;
}

int Target::stale_running_rows() const
{
    return std::stoi(
        value("SELECT count(*) FROM recon.runs r WHERE status = 'running' AND NOT EXISTS ("
              " SELECT 1 FROM pg_locks l JOIN pg_database d ON d.oid = l.database AND d.datname = current_database()"
              " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
              " AND ((l.classid::bigint << 32) | l.objid::bigint) = r.lock_key)"));
}

int Target::partial_results() const
{
    return std::stoi(
        value("SELECT (SELECT count(*) FROM recon.runs WHERE metadata <> '{}'"
              "         AND (status IN ('running', 'abandoned') OR error IS NOT NULL))"
              "     + (SELECT count(*) FROM recon.reconciliation_variances v JOIN recon.runs r USING (run_id)"
              "         WHERE r.status IN ('running', 'abandoned') OR r.error IS NOT NULL)"));
}

void Target::restore_view() const
{
    exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'reconcile'"
        " AND state = 'active' AND datname = current_database() AND pid <> pg_backend_pid()");
    exec(normal_journal_view);
}

void expect_recovered(const Target& db, int expected_stale, Category category,
                      const std::map<std::string, std::string>& env)
{
    CHECK(wait_for([&] { return db.lock_free(category); }, 10s));
    CHECK(db.partial_results() == 0);
    CHECK(db.stale_running_rows() == expected_stale);
    const auto next =
        reconcile_cli({"run", "--book", "uae", "--category", std::string(to_string(category))}, db.env(env));
    CHECK_MESSAGE((next.exit_code == 0 || next.exit_code == 1), next.err);
    if (expected_stale > 0) CHECK(next.err.find("abandoned") != std::string::npos);
    CHECK(db.stale_running_rows() == 0);
    CHECK(db.value("SELECT count(*) FROM recon.runs WHERE status = 'running'") == "0");
    CHECK(db.partial_results() == 0);
    CHECK(db.lock_free(category));
}

Target& suite_book()
{
    static BookDb db("uae");
    static Target target{db.url()};
    db.reset();
    db.exec(clean_ledger_sql);
    return target;
}

}  // namespace reconcile::test
