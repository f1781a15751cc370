// End to end: the real binary against real databases. Every exit code of the table that a run
// can produce is provoked for real.
#include <doctest/doctest.h>

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "checks/registry.hpp"
#include "lib/lock.hpp"
#include "tests/db/fixture.hpp"
#include "tests/support/cli.hpp"
#include "tests/support/process.hpp"

using namespace reconcile;
using namespace reconcile::test;
using namespace std::chrono_literals;

namespace {

struct Books {
    BookDb uae{"uae"};
    BookDb india{"india"};
};

Books& books()
{
    static Books instance;
    return instance;
}

Books& clean_books()
{
    auto& b = books();
    for (BookDb* db : {&b.uae, &b.india}) {
        db->reset();
        db->exec(clean_ledger_sql);
    }
    return b;
}

ProcessOptions env_for(const Books& b, const std::map<std::string, std::string>& extra = {})
{
    return books_env(b.uae, b.india, extra);
}

}  // namespace

TEST_CASE("exit 0: a clean ledger, JSON parsed and valid against the schema")
{
    auto& b = clean_books();
    const auto result = reconcile_cli({"run", "--book", "uae", "--category", "A", "--output", "json"}, env_for(b));
    REQUIRE_MESSAGE(result.exit_code == 0, result.err);
    const auto json = nlohmann::json::parse(result.out);
    CHECK(json["book"] == "uae");
    CHECK(json["category"] == "A");
    CHECK(json["status"] == "ok");
    CHECK(json["trigger"] == "manual");
    CHECK(json["checks"].size() == 4);
    CHECK(json["checks"][0]["metrics"]["currencies"]["USD"]["debits"] == "451.50");

    const std::string path = "/tmp/reconcile-e2e-output-" + std::to_string(getpid()) + ".json";
    std::ofstream(path) << result.out;
    const auto validated = run_process({"/usr/bin/python3", "-m", "jsonschema", "-i", path,
                                        std::string(RECON_SOURCE_DIR) + "/schema/run-output.schema.json"});
    CHECK_MESSAGE(validated.exit_code == 0, (validated.out + validated.err));
    std::remove(path.c_str());
}

TEST_CASE("exit 1: an unbalanced transaction is named in the JSON")
{
    auto& b = clean_books();
    b.uae.exec("UPDATE ledger.journal_lines SET amount = 90.00 WHERE line_id = 2");
    const auto result = reconcile_cli({"run", "--book", "uae", "--category", "A", "--output", "json"}, env_for(b));
    CHECK(result.exit_code == 1);
    const auto json = nlohmann::json::parse(result.out);
    CHECK(json["status"] == "fail");
    const auto& balance = json["checks"][0];
    CHECK(balance["check_name"] == "trial_balance_zero");
    CHECK(balance["status"] == "fail");
    CHECK(balance["variances_total"] == 2);
    CHECK(balance["variances"][1]["kind"] == "unbalanced_txn");
    CHECK(balance["variances"][1]["keys"]["txn_id"] == "1001");
    CHECK(balance["variances"][1]["difference"] == "10.00");

    const auto text = reconcile_cli({"run", "--book", "uae", "--category", "A"}, env_for(b));
    CHECK(text.exit_code == 1);
    CHECK(text.out.find("FAIL   trial_balance_zero") != std::string::npos);
    CHECK(text.out.find("unbalanced_txn currency=USD txn_id=1001 expected=100.00 actual=90.00 difference=10.00") !=
          std::string::npos);
}

TEST_CASE("--fail-on warn turns a warning into exit 1")
{
    auto& b = clean_books();
    b.india.exec(
        "INSERT INTO ledger.pending_flows VALUES ('F-9', 'cash_request', 'C001', 1, 'USD', 'pending',"
        " now() - interval '30 hours', NULL, NULL)");
    CHECK(reconcile_cli({"run", "--book", "india", "--category", "D"}, env_for(b)).exit_code == 0);
    CHECK(reconcile_cli({"run", "--book", "india", "--category", "D", "--fail-on", "warn"}, env_for(b)).exit_code == 1);
}

TEST_CASE("exit 2: a check that cannot complete, while the others' results stand")
{
    auto& b = clean_books();
    b.uae.exec(slow_journal_view(1));
    const auto result = reconcile_cli({"run", "--book", "uae", "--category", "A", "--output", "json"},
                                      env_for(b, {{"RECON_STATEMENT_TIMEOUT_MS", "100"}}));
    b.uae.exec(normal_journal_view);
    CHECK(result.exit_code == 2);
    const auto json = nlohmann::json::parse(result.out);
    CHECK(json["checks"][0]["status"] == "error");
    CHECK(json["checks"][2]["check_name"] == "source_txn_uniqueness");
    CHECK(json["checks"][2]["status"] == "ok");
}

TEST_CASE("exit 11: two runs started together, exactly one runs")
{
    auto& b = clean_books();
    b.uae.exec(slow_journal_view(2));
    const std::vector<std::string> args{reconcile_binary(), "run", "--book", "uae", "--category", "A"};
    BackgroundProcess first(args, env_for(b));
    BackgroundProcess second(args, env_for(b));
    const auto r1 = first.wait(60s);
    const auto r2 = second.wait(60s);
    b.uae.exec(normal_journal_view);
    std::multiset<int> codes{r1.exit_code, r2.exit_code};
    CHECK(codes == std::multiset<int>{0, 11});
    CHECK(b.uae.query_value("SELECT count(*) FROM recon.runs") == "1");
    const auto& skipped = r1.exit_code == 11 ? r1 : r2;
    CHECK(skipped.out.empty());
    CHECK(skipped.err.find("holds the lock") != std::string::npos);
}

TEST_CASE("kill -9 mid-run: the lock is free at once and the next run marks the row abandoned")
{
    auto& b = clean_books();
    b.uae.exec(slow_journal_view(30));
    BackgroundProcess run({reconcile_binary(), "run", "--book", "uae", "--category", "A"}, env_for(b));
    REQUIRE(wait_for(
        [&] { return b.uae.query_value("SELECT count(*) FROM recon.runs WHERE status = 'running'") == "1"; }, 10s));
    run.send_signal(SIGKILL);
    run.wait(10s);
    // The dead run's read backend would sleep on inside its query; end it so the view can be
    // replaced (the control backend, idle, noticed the dead client by itself).
    b.uae.exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'reconcile'"
        " AND state = 'active' AND datname = current_database() AND pid <> pg_backend_pid()");
    b.uae.exec(normal_journal_view);

    // The server notices the dead client and releases its session lock.
    const auto key = advisory_lock_key(run_lock_scope("uae", Category::A));
    CHECK(wait_for(
        [&] {
            pqxx::connection connection(b.uae.url());
            pqxx::nontransaction txn(connection);
            const bool free = txn.exec_params1("SELECT pg_try_advisory_lock($1)", key)[0].as<bool>();
            if (free) txn.exec_params("SELECT pg_advisory_unlock($1)", key);
            return free;
        },
        5s));
    CHECK(b.uae.query_value("SELECT status FROM recon.runs") == "running");

    const auto next = reconcile_cli({"run", "--book", "uae", "--category", "A"}, env_for(b));
    CHECK(next.exit_code == 0);
    CHECK(b.uae.query_value("SELECT string_agg(status, ',' ORDER BY run_id) FROM recon.runs") == "abandoned,ok");
    CHECK(next.err.find("abandoned") != std::string::npos);
}

TEST_CASE("exit 64: bad command lines")
{
    auto& b = books();
    for (const auto& args :
         std::vector<std::vector<std::string>>{{"run", "--book", "uae", "--category", "A", "--no-such-flag"},
                                               {"run", "--book", "uae"},
                                               {"run", "--book", "uae", "--category", "Z"},
                                               {"run", "--book", "emea", "--category", "A"},
                                               {"run", "--book", "uae", "--category", "A", "--check", "no_such_check"},
                                               {"run", "--book", "uae", "--category", "A", "--output", "xml"},
                                               {"frobnicate"}}) {
        const auto result = reconcile_cli(args, env_for(b));
        CAPTURE(args);
        CHECK(result.exit_code == 64);
        CHECK(result.out.empty());
        CHECK(std::count(result.err.begin(), result.err.end(), '\n') == 1);
    }
}

TEST_CASE("exit 69: the database is unreachable")
{
    auto& b = books();
    const auto result = reconcile_cli({"run", "--book", "uae", "--category", "A"},
                                      env_for(b, {{"RECON_DATABASE_URL_UAE", "postgresql://postgres@127.0.0.1:1/x"}}));
    CHECK(result.exit_code == 69);
    CHECK(result.err.find("cannot connect to the control database") != std::string::npos);
    CHECK(std::count(result.err.begin(), result.err.end(), '\n') == 1);
}

TEST_CASE("exit 78: the wrong book's database, bad settings, unreadable secrets")
{
    auto& b = clean_books();
    auto wrong = reconcile_cli({"run", "--book", "india", "--category", "A"},
                               env_for(b, {{"RECON_DATABASE_URL_INDIA", b.uae.url()}}));
    CHECK(wrong.exit_code == 78);
    CHECK(wrong.err ==
          "reconcile: error: refusing to run: --book india but this database belongs to book 'uae'"
          " (entity uae-entity)\n");
    CHECK(b.uae.query_value("SELECT count(*) FROM recon.runs") == "0");

    CHECK(reconcile_cli({"run", "--book", "uae", "--category", "A"}, env_for(b, {{"RECON_VARIANCE_CAP", "lots"}}))
              .exit_code == 78);
    auto secret = env_for(b);
    secret.env.erase("RECON_DATABASE_URL_UAE");
    secret.env["RECON_DATABASE_URL_UAE_FILE"] = "/nonexistent/url";
    CHECK(reconcile_cli({"run", "--book", "uae", "--category", "A"}, secret).exit_code == 78);
    CHECK(reconcile_cli({"--config", "/nonexistent/reconcile.env", "checks"}, env_for(b)).exit_code == 78);
}

TEST_CASE("--config reads an env-file; the database URL can come from a secret file")
{
    auto& b = clean_books();
    const std::string dir = "/tmp/reconcile-e2e-" + std::to_string(getpid());
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/url") << b.india.url() << "\n";
    std::ofstream(dir + "/reconcile.env") << "# shared with systemd\nRECON_BOOKS=india\n"
                                          << "RECON_DATABASE_URL_INDIA_FILE=" << dir << "/url\n";
    ProcessOptions options;
    options.unset_env = {"RECON_BOOKS", "RECON_DATABASE_URL_INDIA", "RECON_DATABASE_URL_UAE", "RECON_CONFIG"};
    const auto result =
        reconcile_cli({"--config", dir + "/reconcile.env", "run", "--book", "india", "--category", "D"}, options);
    CHECK_MESSAGE(result.exit_code == 0, result.err);
    std::filesystem::remove_all(dir);
}

TEST_CASE("checks, runs list and runs show read the registry and the history")
{
    auto& b = clean_books();
    const auto checks = reconcile_cli({"checks", "--output", "json"}, env_for(b));
    REQUIRE(checks.exit_code == 0);
    const auto registry = nlohmann::json::parse(checks.out);
    REQUIRE(registry.size() == default_registry().all().size());
    // Category C names whose API it speaks: GTN's is published, ZAG's and ViewTrade's are not.
    const std::map<std::string, std::pair<std::string, std::string>, std::less<>> contracts{
        {"gtn_ledger_recon", {"GTN", "public"}},
        {"zag_holdings_recon", {"ZAG", "provisional"}},
        {"viewtrade_ledger_recon", {"VIEWTRADE", "provisional"}},
        {"viewtrade_holdings_recon", {"VIEWTRADE", "provisional"}},
        {"lrs_viewtrade_tie_out", {"VIEWTRADE", "provisional"}}};
    for (std::size_t i = 0; i < registry.size(); ++i) {
        const Check& check = *default_registry().all()[i];
        nlohmann::json expected{{"check_name", check.name()},
                                {"category", to_string(check.category())},
                                {"books", {"uae", "india"}},
                                {"description", check.description()}};
        if (const auto contract = contracts.find(check.name()); contract != contracts.end()) {
            expected["broker"] = contract->second.first;
            expected["contract"] = contract->second.second;
        }
        CHECK(registry[i] == expected);
    }
    CHECK(std::count_if(registry.begin(), registry.end(),
                        [](const auto& entry) { return entry.contains("contract"); }) == 5);

    b.uae.exec("UPDATE ledger.journal_lines SET amount = 90.00 WHERE line_id = 2");
    REQUIRE(reconcile_cli({"run", "--book", "uae", "--category", "A"}, env_for(b)).exit_code == 1);
    REQUIRE(reconcile_cli({"run", "--book", "india", "--category", "D"}, env_for(b)).exit_code == 0);

    const auto list = reconcile_cli({"runs", "list", "--output", "json"}, env_for(b));
    REQUIRE(list.exit_code == 0);
    const auto runs = nlohmann::json::parse(list.out);
    REQUIRE(runs.size() == 2);
    CHECK(runs[0]["book"] == "india");  // newest first across books
    CHECK(runs[1]["book"] == "uae");
    CHECK(runs[1]["status"] == "fail");

    const auto only_a = nlohmann::json::parse(
        reconcile_cli({"runs", "list", "--book", "uae", "--category", "a", "--output", "json"}, env_for(b)).out);
    CHECK(only_a.size() == 1);

    const auto id = runs[1]["run_id"].get<std::int64_t>();
    const auto show =
        reconcile_cli({"runs", "show", std::to_string(id), "--book", "uae", "--output", "json"}, env_for(b));
    REQUIRE(show.exit_code == 0);
    const auto shown = nlohmann::json::parse(show.out);
    CHECK(shown["checks"][0]["variances"][1]["keys"]["txn_id"] == "1001");
    CHECK(shown["status"] == "fail");

    const auto text = reconcile_cli({"runs", "list"}, env_for(b));
    CHECK(text.out.find("fail") != std::string::npos);
    CHECK(reconcile_cli({"runs", "show", "999999"}, env_for(b)).exit_code == 64);
}

TEST_CASE("runs list: newest first across books, -n counts rows in all, a header, warn and error counted")
{
    auto& b = clean_books();
    // Oldest: a uae A run whose journal checks time out (error).
    b.uae.exec(slow_journal_view(1));
    REQUIRE(
        reconcile_cli({"run", "--book", "uae", "--category", "A"}, env_for(b, {{"RECON_STATEMENT_TIMEOUT_MS", "100"}}))
            .exit_code == 2);
    b.uae.exec(normal_journal_view);
    b.uae.exec("UPDATE ledger.journal_lines SET amount = 90.00 WHERE line_id = 2");
    // A pending flow past its warn age (24 h), short of its fail age: india D warns.
    b.india.exec(
        "INSERT INTO ledger.pending_flows VALUES ('F-9', 'cash_request', 'C001', 1, 'USD', 'pending',"
        " now() - interval '30 hours', NULL, NULL)");
    for (const auto& [book, category] :
         std::vector<std::pair<std::string, std::string>>{{"uae", "A"}, {"india", "D"}, {"uae", "D"}, {"india", "A"}}) {
        REQUIRE(reconcile_cli({"run", "--book", book, "--category", category}, env_for(b)).exit_code <= 1);
    }
    const auto list = reconcile_cli({"runs", "list", "-n", "3"}, env_for(b));
    REQUIRE(list.exit_code == 0);
    std::vector<std::string> lines;
    std::istringstream in(list.out);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    REQUIRE(lines.size() == 4);  // the header and 3 rows, not 3 per book
    const std::string header =
        "run_id  book   category  shard  scope  status  started_at                duration_ms  checks  ok  "
        "warn  fail  error  trigger";
    CHECK(lines[0] == header);
    // A row's cells by the header's column starts: book, status, then checks ok warn fail error.
    const auto cells = [](const std::string& head, const std::string& row) {
        std::vector<std::size_t> starts;
        for (std::size_t at = 0; at < head.size(); at = head.find_first_not_of(' ', head.find(' ', at))) {
            starts.push_back(at);
            if (head.find(' ', at) == std::string::npos) break;
        }
        std::vector<std::string> result;
        for (std::size_t i = 0; i < starts.size(); ++i) {
            std::string cell =
                row.substr(starts[i], i + 1 < starts.size() ? starts[i + 1] - starts[i] : std::string::npos);
            cell.erase(cell.find_last_not_of(' ') + 1);
            result.push_back(cell);
        }
        return result;
    };
    const auto counted = [&](const std::string& head, const std::string& row) {
        const auto c = cells(head, row);
        REQUIRE(c.size() == 14);
        return c[1] + " " + c[2] + " " + c[4] + " " + c[5] + "  checks " + c[8] + " ok " + c[9] + " warn " + c[10] +
               " fail " + c[11] + " error " + c[12] + " " + c[13];
    };
    CHECK(counted(header, lines[1]) == "india A full ok  checks 4 ok 4 warn 0 fail 0 error 0 manual");
    CHECK(counted(header, lines[2]) == "uae D full ok  checks 1 ok 1 warn 0 fail 0 error 0 manual");
    CHECK(counted(header, lines[3]) == "india D full warn  checks 1 ok 0 warn 1 fail 0 error 0 manual");
    // The failing uae A run is fourth, beyond -n 3.
    CHECK(list.out.find("fail    ") == std::string::npos);
    const auto all = reconcile_cli({"runs", "list"}, env_for(b));
    std::vector<std::string> all_lines;
    std::istringstream all_in(all.out);
    for (std::string line; std::getline(all_in, line);) all_lines.push_back(line);
    REQUIRE(all_lines.size() == 6);
    CHECK(counted(all_lines[0], all_lines[4]) == "uae A full fail  checks 4 ok 3 warn 0 fail 1 error 0 manual");
    CHECK(counted(all_lines[0], all_lines[5]) == "uae A full error  checks 4 ok 1 warn 0 fail 0 error 3 manual");
}

TEST_CASE("runs list and runs show name the book whose database is down or unmigrated")
{
    auto& b = clean_books();
    const auto down = reconcile_cli({"runs", "list"},
                                    env_for(b, {{"RECON_DATABASE_URL_INDIA", "postgresql://postgres@127.0.0.1:1/x"}}));
    CHECK(down.exit_code == 69);
    CHECK(down.out.empty());
    CHECK(down.err.rfind("reconcile: error: book 'india': cannot connect to the control database: ", 0) == 0);

    TestDatabase bare("bare");  // a database nobody migrated
    const auto unmigrated = env_for(b, {{"RECON_DATABASE_URL_INDIA", bare.url()}});
    for (const auto& args : std::vector<std::vector<std::string>>{{"runs", "list"}, {"runs", "show", "1"}}) {
        CAPTURE(args);
        const auto result = reconcile_cli(args, unmigrated);
        CHECK(result.exit_code == 78);
        CHECK(result.err ==
              "reconcile: error: the database of book 'india' is not migrated: run `reconcile migrate "
              "--book india`\n");
    }
}

TEST_CASE("the man page says global options stand before or after the command, as they do")
{
    const auto man = reconcile_cli({"help-man"}, ProcessOptions{});
    REQUIRE(man.exit_code == 0);
    const auto section = man.out.substr(man.out.find(".SH GLOBAL OPTIONS\n"));
    CHECK(
        section.rfind(".SH GLOBAL OPTIONS\nThese may stand before or after the command: \\fBreconcile \\-q run\\fR ... "
                      "and \\fBreconcile run\\fR ... \\fB\\-q\\fR are the same.",
                      0) == 0);
    CHECK(man.out.find("come before the command") == std::string::npos);
}

TEST_CASE("every multi-book command names the book whose database is down, with exit 69")
{
    auto& b = clean_books();
    const auto down = env_for(b, {{"RECON_DATABASE_URL_INDIA", "postgresql://postgres@127.0.0.1:1/x"}});
    const std::string error =
        "reconcile: error: book 'india': cannot connect to the control database: connection to server at "
        "\"127.0.0.1\", port 1 failed: Connection refused\n";
    const std::string fingerprint = "0123456789abcdef0123456789abcdef";
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"migrate"},
             {"runs", "list"},
             {"runs", "show", "1"},
             {"variances"},
             {"variances", "ack", fingerprint, "--class", "data", "--note", "rebuild"},
             {"variances", "unack", fingerprint}}) {
        CAPTURE(args);
        const auto result = reconcile_cli(args, down);
        CHECK(result.exit_code == 69);
        CHECK(result.err == error);
        // uae comes first and answers: migrate reports it before failing on india; the reads
        // print nothing partial.
        if (args.front() == "migrate") {
            CHECK(result.out.rfind("book uae: schema up to date (", 0) == 0);
        } else {
            CHECK(result.out.empty());
        }
    }
}

TEST_CASE("ack: a note or an author that is not UTF-8 is the request's fault (64), said before any database")
{
    auto& b = clean_books();
    const auto down = env_for(b, {{"RECON_DATABASE_URL_UAE", "postgresql://postgres@127.0.0.1:1/x"}});
    const std::string fingerprint = "0123456789abcdef0123456789abcdef";
    const auto note = reconcile_cli({"variances", "ack", fingerprint, "--class", "data", "--note", "caf\xe9"}, down);
    CHECK(note.exit_code == 64);
    CHECK(note.err == "reconcile: error: the note is not valid UTF-8\n");
    const auto by = reconcile_cli(
        {"variances", "ack", fingerprint, "--class", "data", "--note", "rebuild", "--by", "b\xffy"}, down);
    CHECK(by.exit_code == 64);
    CHECK(by.err == "reconcile: error: who acts (--by) is not valid UTF-8\n");
}
