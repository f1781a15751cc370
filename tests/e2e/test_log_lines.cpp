// Operator comfort: everything reconcile writes to stderr is one line with a level, one journald
// entry each, whatever went wrong; --quiet leaves only warnings and errors.
#include <doctest/doctest.h>

#include <regex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tests/db/broker_fixture.hpp"
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

/// The line a finished run logs (lib/output.hpp run_finished_message), for the book's newest run,
/// whose id and duration come from its row: "<level>: run <id> of <slot> (<trigger>) finished
/// <status> in <ms> ms (exit <code>)<why>".
std::string finished_line(const BookDb& db, const std::string& level, const std::string& trigger,
                          const std::string& slot, const std::string& status, int exit_code, const std::string& why)
{
    const std::string newest = " FROM recon.runs ORDER BY run_id DESC LIMIT 1";
    return "reconcile: " + level + ": run " + db.query_value("SELECT run_id" + newest) + " of " + slot + " (" +
           trigger + ") finished " + status + " in " + db.query_value("SELECT duration_ms" + newest) + " ms (exit " +
           std::to_string(exit_code) + ")" + why + "\n";
}

}  // namespace

TEST_CASE("every stderr line of a failing run, and of each failure class, is one line with a level")
{
    auto& db = log_book();
    db.exec("UPDATE ledger.journal_lines SET amount = 90.00 WHERE line_id = 2");

    const auto failing = reconcile_cli({"run", "--book", "uae", "--category", "A"}, db);
    CHECK(failing.exit_code == 1);
    CHECK(check_log_lines(failing.err) >= 1);
    // exit 1 says why, even --quiet
    CHECK(failing.err.find(finished_line(db, "warn", "manual", "uae/A", "fail", 1, ": 1 check(s) failed")) !=
          std::string::npos);

    // A run that errors (a check times out), bad settings, a dead database, a bad command line,
    // a trace of nothing: each line has the same shape.
    db.exec(
        "CREATE OR REPLACE VIEW contract.journal_lines AS SELECT l.*, l.xmin AS row_xmin FROM ledger.journal_lines l"
        " CROSS JOIN (SELECT pg_sleep(1)) AS slow");
    const auto timed_out =
        reconcile_cli({"run", "--book", "uae", "--category", "A"}, db, {{"RECON_STATEMENT_TIMEOUT_MS", "100"}});
    db.exec(
        "CREATE OR REPLACE VIEW contract.journal_lines AS SELECT line_id, txn_id, account_code, customer_id,"
        " side, amount, currency, xmin AS row_xmin FROM ledger.journal_lines");
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
    CHECK(quiet.err == finished_line(db, "warn", "manual", "uae/A", "fail", 1, ": 1 check(s) failed"));

    db.exec("UPDATE ledger.journal_lines SET amount = 100.00 WHERE line_id = 2");
    const auto passing = reconcile_cli({"--quiet", "run", "--book", "uae", "--category", "A"}, db);
    CHECK(passing.exit_code == 0);
    CHECK(passing.err.empty());
}

TEST_CASE("--quiet: a run that reached no broker prints its JSON and one warn line saying why it exits 69")
{
    auto& db = log_book();
    db.exec(uae_broker_accounts_sql);
    const auto down =
        reconcile_cli({"-q", "run", "--book", "uae", "--category", "C", "-o", "json"}, db, unreachable_brokers_env());
    CHECK(down.exit_code == 69);
    CHECK(nlohmann::json::parse(down.out)["status"] == "error");
    CHECK(check_log_lines(down.err) == 1);
    CHECK(down.err == finished_line(db, "warn", "manual", "uae/C", "error", 69,
                                    ": every broker it asked was unreachable; retry later"));
}
