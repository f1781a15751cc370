// `reconcile tick` end to end: one scheduler cycle, the switches and cadences, the aggregated
// exit code, coexistence with other runs through the lock.
#include <doctest/doctest.h>

#include <regex>
#include <thread>

#include <pqxx/pqxx>

#include "lib/lock.hpp"
#include "tests/db/broker_fixture.hpp"
#include "tests/e2e/serve_fixture.hpp"
#include "tests/support/cli.hpp"
#include "tests/support/markdown.hpp"

using namespace reconcile;
using namespace reconcile::test;
using namespace std::chrono_literals;

namespace {

ProcessResult tick(const ProcessOptions& options, std::vector<std::string> args = {})
{
    args.insert(args.begin(), {reconcile_binary(), "tick"});
    return run_process(args, options);
}

ProcessOptions scheduled(const Books& b, std::map<std::string, std::string> extra = {})
{
    extra.emplace("RECON_SCHEDULE_ENABLED", "true");
    return book_env(b, extra);
}

const nlohmann::json& slot(const nlohmann::json& document, const std::string& book, const std::string& category)
{
    for (const auto& s : document["slots"]) {
        if (s["book"] == book && s["category"] == category) return s;
    }
    FAIL("no slot " << book << "/" << category);
    throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("tick runs every due slot once, then nothing until the interval has passed")
{
    auto& b = clean_books();
    auto first = tick(scheduled(b, {{"RECON_INTERVAL_SECONDS", "2"}}), {"--output", "json"});
    const auto document = nlohmann::json::parse(first.out);
    CHECK(first.exit_code == 0);  // every slot passed: the clean ledger, no broker customers
    CHECK(document["exit_code"] == first.exit_code);
    CHECK(unlisted_output_names(document).empty());  // docs/output-names.md
    for (const char* category : {"A", "B", "C", "D"}) {
        const auto& s = slot(document, "uae", category);
        CHECK(s["due"] == true);
        CHECK(s["outcome"]["run_id"].is_number());
        CHECK(s["outcome"]["exit_code"] == 0);
        CHECK(slot(document, "india", category)["enabled"] == false);  // INDIA_RECON_ENABLED=false
    }
    CHECK(slot(document, "uae", "A")["outcome"]["exit_code"] == 0);
    CHECK(slot(document, "uae", "D")["outcome"]["exit_code"] == 0);
    CHECK(b.uae.query_value("SELECT string_agg(category || ':' || trigger, ',' ORDER BY category) FROM recon.runs") ==
          "A:schedule,B:schedule,C:schedule,D:schedule");
    CHECK(b.india.query_value("SELECT count(*) FROM recon.runs") == "0");

    // At once again: nothing is due, nothing runs, exit 0.
    const auto second = tick(scheduled(b, {{"RECON_INTERVAL_SECONDS", "2"}}));
    CHECK(second.exit_code == 0);
    CHECK(second.out.find("uae      A  not due until ") != std::string::npos);
    CHECK(second.out.find("india    A  off") != std::string::npos);
    CHECK(b.uae.query_value("SELECT count(*) FROM recon.runs") == "4");

    // After the interval: A, B and D again; C (daily) not.
    REQUIRE(wait_for([&] { return b.uae.interval_passed(2); }, 10s));
    const auto third = tick(scheduled(b, {{"RECON_INTERVAL_SECONDS", "2"}}), {"--output", "json"});
    CHECK(third.exit_code == 0);
    CHECK(b.uae.query_value("SELECT string_agg(category, '' ORDER BY category) FROM recon.runs") == "AABBCDD");
}

TEST_CASE("tick honours INDIA_RECON_ENABLED and RECON_SCHEDULE_ENABLED")
{
    auto& b = clean_books();
    const auto result = tick(book_env(b, {{"RECON_SCHEDULE_ENABLED", "false"}, {"INDIA_RECON_ENABLED", "true"}}));
    CHECK(result.out.find("uae      A  off") != std::string::npos);
    CHECK(b.uae.query_value("SELECT count(*) FROM recon.runs") == "0");
    CHECK(b.india.query_value("SELECT count(*) FROM recon.runs") == "4");
}

TEST_CASE("tick skips slots whose lock another process holds: exit 11 when nothing else ran")
{
    auto& b = clean_books();
    pqxx::connection holder(b.uae.url());
    pqxx::nontransaction txn(holder);
    for (const Category category : {Category::A, Category::B, Category::C, Category::D}) {
        txn.exec_params("SELECT pg_advisory_lock($1)", advisory_lock_key(run_lock_scope("uae", category)));
    }
    auto result = tick(scheduled(b), {"--output", "json"});
    CHECK(result.exit_code == 11);
    CHECK(slot(nlohmann::json::parse(result.out), "uae", "A")["outcome"]["detail"] ==
          "skipped: another run of uae/A holds the lock; nothing written");
    CHECK(b.uae.query_value("SELECT count(*) FROM recon.runs") == "0");

    // With one lock free, that one runs and the skips no longer decide the exit code.
    txn.exec_params("SELECT pg_advisory_unlock($1)", advisory_lock_key(run_lock_scope("uae", Category::D)));
    result = tick(scheduled(b));
    CHECK(result.exit_code == 0);
    CHECK(b.uae.query_value("SELECT string_agg(category, ',') FROM recon.runs") == "D");
}

TEST_CASE("tick: an unreachable database exits 69, a switched-on book without a database 78, --dry-run runs nothing")
{
    auto& b = clean_books();
    auto result = tick(scheduled(b, {{"RECON_DATABASE_URL_UAE", "postgresql://postgres@127.0.0.1:1/nowhere"}}));
    CHECK(result.exit_code == 69);
    CHECK(result.err.find("cannot read the run history of book uae") != std::string::npos);

    auto options = scheduled(b, {{"INDIA_RECON_ENABLED", "true"}});
    options.env.erase("RECON_DATABASE_URL_INDIA");
    options.unset_env.push_back("RECON_DATABASE_URL_INDIA");
    result = tick(options, {"--dry-run", "--output", "json"});
    CHECK(result.exit_code == 78);
    const auto document = nlohmann::json::parse(result.out);
    REQUIRE(document["errors"].size() == 1);
    CHECK(document["errors"][0]["book"] == "india");
    CHECK(slot(document, "uae", "A")["due"] == true);
    CHECK(slot(document, "uae", "A")["down"] == false);
    CHECK(slot(document, "india", "A")["down"] == true);
    CHECK(slot(document, "india", "A")["due"] == false);
    CHECK(b.uae.query_value("SELECT count(*) FROM recon.runs") == "0");  // dry run

    // In words: a down book is "down", never "not due".
    result =
        tick(scheduled(b, {{"RECON_DATABASE_URL_UAE", "postgresql://postgres@127.0.0.1:1/nowhere"}}), {"--dry-run"});
    CHECK(result.exit_code == 69);
    CHECK(result.out.find("uae      A  down (its database cannot be read; retried from ") != std::string::npos);
    CHECK(result.out.find("not due") == std::string::npos);
}

TEST_CASE("--quiet tick prints only the slots that did not end ok: nothing for a clean cycle")
{
    auto& b = clean_books();
    const auto interval = std::map<std::string, std::string>{{"RECON_INTERVAL_SECONDS", "1"}};
    const auto first = tick(scheduled(b, interval), {"--quiet"});
    CHECK(first.exit_code == 0);
    CHECK(b.uae.query_value("SELECT string_agg(category || ':' || status, ',' ORDER BY category) FROM recon.runs") ==
          "A:ok,B:ok,C:ok,D:ok");
    CHECK(first.out.empty());  // every slot ran and passed: cron has nothing to mail
    CHECK(first.err.empty());

    // Next cycle: A fails (two A checks break), B's lock is held by another process, D passes.
    b.uae.exec(
        "INSERT INTO ledger.transactions (txn_id, source, source_txn_id, customer_id, txn_type, status,"
        " effective_at) VALUES (3001, 'bank', 'DEP-1', 'C001', 'deposit', 'reversed', now()),"
        " (2001, 'bank', 'EMPTY-1', 'C001', 'deposit', 'posted', now())");
    pqxx::connection holder(b.uae.url());
    pqxx::nontransaction txn(holder);
    txn.exec_params("SELECT pg_advisory_lock($1)", advisory_lock_key(run_lock_scope("uae", Category::B)));
    REQUIRE(wait_for([&] { return b.uae.interval_passed(1); }, 10s));
    const auto second = tick(scheduled(b, interval), {"--quiet"});
    CHECK(second.exit_code == 1);
    const std::string newest_a = " FROM recon.runs WHERE category = 'A' ORDER BY run_id DESC LIMIT 1";
    const std::string id = b.uae.query_value("SELECT run_id" + newest_a);
    const std::string ms = b.uae.query_value("SELECT duration_ms" + newest_a);
    CHECK(b.uae.query_value("SELECT status" + newest_a) == "fail");
    CHECK(b.uae.query_value("SELECT status FROM recon.runs WHERE category = 'D' ORDER BY run_id DESC LIMIT 1") == "ok");
    CHECK(second.out == "uae      A  run " + id + " finished fail in " + ms +
                            " ms (exit 1)\n"
                            "uae      B  skipped: another run of uae/B holds the lock; nothing written (exit 11)\n");
    // The run's one log line, as `run` and the API write it (lib/output.hpp run_finished_message).
    CHECK(second.err == "reconcile: warn: run " + id + " of uae/A (schedule) finished fail in " + ms +
                            " ms (exit 1): 2 check(s) failed\n");
}

TEST_CASE("a C run that reached no broker (69) is due again after RECON_EXTERNAL_RETRY_SECONDS, and not before")
{
    auto& b = clean_books();
    b.uae.exec(uae_broker_accounts_sql);
    std::map<std::string, std::string> extra{{"RECON_EXTERNAL_RETRY_SECONDS", "60"}};
    for (const auto& [key, value] : unreachable_brokers_env()) extra[key] = value;
    const auto options = scheduled(b, extra);
    const auto run_c = [&](std::vector<std::string> args) {
        args.insert(args.begin(), {reconcile_binary(), "run", "--book", "uae", "--category", "C"});
        return run_process(args, options);
    };
    const auto c_slot = [](const std::string& out) {
        const auto at = out.find("uae      C  ");
        return at == std::string::npos ? std::string{} : out.substr(at, out.find('\n', at) - at);
    };
    const auto next_due = [&](const std::string& after) {
        return b.uae.query_value(
            "SELECT to_char((started_at + interval '" + after +
            "') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM recon.runs WHERE category = 'C'"
            " ORDER BY run_id DESC LIMIT 1");
    };

    REQUIRE(run_c({}).exit_code == 69);
    REQUIRE(b.uae.query_value("SELECT status FROM recon.runs") == "error");
    // Read back from the run row, it reached no broker: held back by the retry, not a day.
    const auto retry_at = next_due("60 seconds");
    CHECK(c_slot(tick(options, {"--dry-run"}).out) == "uae      C  not due until " + retry_at);
    const auto early = run_c({"--if-due"});
    CHECK(early.exit_code == 0);
    CHECK(std::regex_match(early.err,
                           std::regex("reconcile: info: skipped uae/C: not due: the last full run started [0-9]+ s ago,"
                                      " within the retry of 60 s after reaching no broker; next due at " +
                                      retry_at + "\n")));
    CHECK(b.uae.query_value("SELECT count(*) FROM recon.runs") == "1");

    // The retry passes: the run is made a minute older instead of waiting (a loaded machine
    // cannot make the checks above miss the window either: it is a minute wide).
    b.uae.exec(
        "UPDATE recon.runs SET started_at = started_at - interval '61 seconds',"
        " finished_at = finished_at - interval '61 seconds' WHERE category = 'C'");
    CHECK(c_slot(tick(options, {"--dry-run"}).out) == "uae      C  due");
    CHECK(run_c({"--if-due"}).exit_code == 69);  // due: it ran, and the brokers are still down
    CHECK(b.uae.query_value("SELECT count(*) FROM recon.runs WHERE category = 'C'") == "2");

    // A C run that reached its brokers waits the whole cadence (a day), whatever it found.
    b.uae.exec("DELETE FROM ledger.broker_accounts");
    REQUIRE(run_c({}).exit_code == 0);
    CHECK(c_slot(tick(options, {"--dry-run"}).out) == "uae      C  not due until " + next_due("86400 seconds"));
}
