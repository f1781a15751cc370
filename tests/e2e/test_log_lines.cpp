// Operator comfort: everything reconcile writes to stderr is one line with a level, one journald
// entry each, whatever went wrong; --quiet leaves only warnings and errors.
#include <doctest/doctest.h>

#include <regex>
#include <sstream>

#include "tests/db/fixture.hpp"
#include "tests/support/process.hpp"

using namespace reconcile;
using namespace reconcile::test;

namespace {

BookDb& log_book()
{
    static BookDb instance("uae");
    instance.reset();
    instance.exec(clean_ledger_sql);
    return instance;
}

ProcessResult reconcile_cli(std::vector<std::string> args, const BookDb& db,
                            std::map<std::string, std::string> extra = {})
{
    ProcessOptions options;
    options.env = {{"RECON_BOOKS", "uae"}, {"RECON_DATABASE_URL_UAE", db.url()}};
    options.unset_env = {"RECON_CONFIG", "ALERT_WEBHOOK_URL"};
    for (auto& [key, value] : extra) options.env[key] = value;
    args.insert(args.begin(), reconcile_binary());
    return run_process(args, options);
}

/// Checks every stderr line has the journald-friendly shape and returns how many there were.
std::size_t check_log_lines(const std::string& err)
{
    static const std::regex shape("^reconcile: (debug|info|warn|error): [^\r\n]+$");
    REQUIRE_MESSAGE((err.empty() || err.back() == '\n'), err);
    std::istringstream in(err);
    std::size_t count = 0;
    for (std::string line; std::getline(in, line); ++count) {
        CAPTURE(line);
        CHECK(std::regex_match(line, shape));
    }
    return count;
}

}  // namespace

TEST_CASE("every stderr line of a failing run, and of each failure class, is one line with a level")
{
    auto& db = log_book();
    db.exec("UPDATE ledger.journal_lines SET amount = 90.00 WHERE line_id = 2");

    const auto failing = reconcile_cli({"run", "--book", "uae", "--category", "A"}, db);
    CHECK(failing.exit_code == 1);
    CHECK(check_log_lines(failing.err) >= 1);
    CHECK(failing.err.find("reconcile: warn: run ") != std::string::npos);  // exit 1 says why, even --quiet

    // A run that errors (a check times out), bad settings, a dead database, a bad command line,
    // a trace of nothing: each line has the same shape.
    db.exec(
        "CREATE OR REPLACE VIEW contract.journal_lines AS SELECT l.* FROM ledger.journal_lines l"
        " CROSS JOIN (SELECT pg_sleep(1)) AS slow");
    const auto timed_out =
        reconcile_cli({"run", "--book", "uae", "--category", "A"}, db, {{"RECON_STATEMENT_TIMEOUT_MS", "100"}});
    db.exec(
        "CREATE OR REPLACE VIEW contract.journal_lines AS SELECT line_id, txn_id, account_code, customer_id,"
        " side, amount, currency FROM ledger.journal_lines");
    CHECK(timed_out.exit_code == 2);
    CHECK(check_log_lines(timed_out.err) >= 1);

    const auto cases = std::vector<std::pair<std::vector<std::string>, std::map<std::string, std::string>>>{
        {{"run", "--book", "uae", "--category", "A"}, {{"RECON_VARIANCE_CAP", "lots"}}},
        {{"run", "--book", "uae", "--category", "A"}, {{"RECON_DATABASE_URL_UAE", "postgresql://x@127.0.0.1:1/x"}}},
        {{"run", "--book", "uae", "--category", "A", "--no-such-flag"}, {}},
        {{"frobnicate"}, {}},
        {{"trace", "--book", "uae", "--txn", "line one\nline two"}, {}},
    };
    for (const auto& [args, extra] : cases) {
        CAPTURE(args);
        const auto result = reconcile_cli(args, db, extra);
        CHECK(result.exit_code != 0);
        CHECK(check_log_lines(result.err) == 1);
        CHECK(result.err.rfind("reconcile: error: ", 0) == 0);
    }
}

TEST_CASE("--quiet: a failing run prints its report, no info lines, and one line saying why it exits 1")
{
    auto& db = log_book();
    db.exec("UPDATE ledger.journal_lines SET amount = 90.00 WHERE line_id = 2");
    const auto quiet = reconcile_cli({"--quiet", "run", "--book", "uae", "--category", "A"}, db);
    CHECK(quiet.exit_code == 1);
    CHECK(quiet.out.find("FAIL   trial_balance_zero") != std::string::npos);
    // --quiet hides the all-clear, never the outcome.
    CHECK(check_log_lines(quiet.err) == 1);
    CHECK(quiet.err.rfind("reconcile: warn: run ", 0) == 0);
    CHECK(quiet.err.find(" of uae/A finished fail in ") != std::string::npos);
    CHECK(quiet.err.find(" ms (exit 1): 1 check(s) failed\n") != std::string::npos);

    db.exec("UPDATE ledger.journal_lines SET amount = 100.00 WHERE line_id = 2");
    const auto passing = reconcile_cli({"--quiet", "run", "--book", "uae", "--category", "A"}, db);
    CHECK(passing.exit_code == 0);
    CHECK(passing.err.empty());
}
