// `reconcile serve` end to end: the real binary on a loopback port, real HTTP, real PostgreSQL.
#include <doctest/doctest.h>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <regex>
#include <set>
#include <thread>
#include <tuple>

#include <fmt/format.h>
#include <pqxx/pqxx>

#include "checks/registry.hpp"
#include "lib/lock.hpp"
#include "lib/timeutil.hpp"
#include "tests/e2e/serve_fixture.hpp"
#include "tests/support/markdown.hpp"

using namespace reconcile;
using namespace reconcile::test;
using namespace std::chrono_literals;

namespace {

ProcessResult start_and_fail(const ProcessOptions& options, const std::vector<std::string>& args)
{
    std::vector<std::string> argv{reconcile_binary(), "serve"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto opts = options;
    opts.timeout = 20s;
    return run_process(argv, opts);
}

/// True when nothing listens on 127.0.0.1:port (we could bind it ourselves).
bool port_free(int port)
{
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    ::close(fd);
    return free;
}

std::string body_of(const std::string& raw)
{
    const auto split = raw.find("\r\n\r\n");
    return split == std::string::npos ? std::string{} : raw.substr(split + 4);
}

struct RunRow {
    std::int64_t run_id;
    std::string category;
    std::string trigger;
    std::string status;
    double started;   // epoch seconds
    double finished;  // epoch seconds, 0 while running
    int pid;
};

std::vector<RunRow> run_rows(const BookDb& db)
{
    pqxx::connection connection(db.url());
    pqxx::read_transaction txn(connection);
    std::vector<RunRow> rows;
    for (const auto& row : txn.exec("SELECT run_id, category, trigger, status, extract(epoch FROM started_at)::float8,"
                                    " coalesce(extract(epoch FROM finished_at)::float8, 0), pid FROM recon.runs"
                                    " ORDER BY started_at")) {
        rows.push_back({row[0].as<std::int64_t>(), row[1].as<std::string>(), row[2].as<std::string>(),
                        row[3].as<std::string>(), row[4].as<double>(), row[5].as<double>(), row[6].as<int>()});
    }
    return rows;
}

std::size_t count_rows(const std::vector<RunRow>& rows, const std::string& category, const std::string& trigger)
{
    return static_cast<std::size_t>(std::count_if(rows.begin(), rows.end(), [&](const RunRow& row) {
        return row.category == category && row.trigger == trigger;
    }));
}

}  // namespace

TEST_CASE(
    "serve refuses to start without tokens (78), with a short token (78), --dev off loopback (64), on a "
    "taken port (69)")
{
    auto& b = clean_books();
    auto options = book_env(b);
    options.env.erase("LEDGER_ADMIN_TOKEN");
    options.unset_env.push_back("LEDGER_ADMIN_TOKEN");
    auto result = start_and_fail(options, {"--port", "0"});
    CHECK(result.exit_code == 78);
    CHECK(result.err.find("LEDGER_ADMIN_TOKEN") != std::string::npos);

    result = start_and_fail(book_env(b, {{"LEDGER_ADMIN_TOKEN", "short"}}), {"--port", "0"});
    CHECK(result.exit_code == 78);
    CHECK(result.err.find("shorter than 16") != std::string::npos);

    result = start_and_fail(book_env(b), {"--dev", "--address", "0.0.0.0", "--port", "0"});
    CHECK(result.exit_code == 64);
    CHECK(result.err.find("loopback") != std::string::npos);

    ServeProcess running(book_env(b));
    result = start_and_fail(book_env(b), {"--port", std::to_string(running.port())});
    CHECK(result.exit_code == 69);
    CHECK(result.err.find("cannot listen on 127.0.0.1:" + std::to_string(running.port())) != std::string::npos);

    const auto stopped = running.stop();
    CHECK(stopped.exit_code == 0);
    CHECK(stopped.err.find("reconcile: info: stopped") != std::string::npos);
}

TEST_CASE("tokens: a missing one and a wrong one get 401 with a detail; reads take either token; files work")
{
    auto& b = clean_books();
    const std::string token_file = "/tmp/reconcile-e2e-admin-token-" + std::to_string(getpid());
    std::ofstream(token_file) << "a-token-from-a-file-0123456789\n";
    auto options = book_env(b);
    options.env.erase("LEDGER_ADMIN_TOKEN");
    options.env["LEDGER_ADMIN_TOKEN_FILE"] = token_file;
    options.unset_env = {"RECON_CONFIG", "LEDGER_ADMIN_TOKEN"};
    ServeProcess server(options);
    const int port = server.port();

    auto reply = http_post(port, "/v1/reconciliation/run", {}, R"({"book":"uae","category":"A"})");
    CHECK(reply.status == 401);
    CHECK(reply.json() == nlohmann::json{{"detail", "missing X-Ledger-Admin-Token header (this endpoint writes)"}});
    reply = http_post(port, "/v1/reconciliation/run", {{"X-Ledger-Admin-Token", "a-token-from-a-file-012345678"}},
                      R"({"book":"uae","category":"A"})");
    CHECK(reply.status == 401);
    CHECK(reply.json() == nlohmann::json{{"detail", "invalid token"}});
    reply = http_post(port, "/v1/reconciliation/run", read_headers(), R"({"book":"uae","category":"A"})");
    CHECK(reply.status == 401);  // the read token does not write
    CHECK(b.uae.query_value("SELECT count(*) FROM recon.runs") == "0");

    reply = http_get(port, "/v1/reconciliation/runs");
    CHECK(reply.status == 401);
    CHECK(reply.json() == nlohmann::json{{"detail", "missing X-Ledger-Token header"}});
    // Every 401 names the scheme the resource takes (RFC 9110 15.5.2, RFC 6750 3).
    CHECK(reply.headers.find("WWW-Authenticate")->second == "Bearer realm=\"reconcile\"");
    reply = http_get(port, "/v1/reconciliation/runs", {{"X-Ledger-Token", "e2e-read-token-012345678X"}});
    CHECK(reply.status == 401);
    CHECK(reply.json() == nlohmann::json{{"detail", "invalid token"}});
    CHECK(http_get(port, "/v1/reconciliation/runs", read_headers()).status == 200);
    CHECK(http_get(port, "/v1/reconciliation/runs", {{"X-Ledger-Admin-Token", "a-token-from-a-file-0123456789"}})
              .status == 200);
    CHECK(http_get(port, "/metrics", {{"Authorization", "Bearer " + read_token}}).status == 200);
    CHECK(http_get(port, "/metrics", {{"Authorization", "bearer " + read_token}}).status == 200);
    CHECK(http_get(port, "/metrics").status == 401);

    reply = http_post(port, "/v1/reconciliation/run", {{"X-Ledger-Admin-Token", "a-token-from-a-file-0123456789"}},
                      R"({"book":"uae","category":"A"})");
    CHECK(reply.status == 200);
    CHECK(reply.json()["trigger"] == "api");

    reply = http_get(port, "/healthz");
    CHECK(reply.status == 200);
    CHECK(reply.json()["status"] == "ok");
    std::remove(token_file.c_str());
    // Tokens never reach the log.
    const auto result = server.stop();
    CHECK(result.err.find("a-token-from-a-file") == std::string::npos);
    CHECK(result.err.find(read_token) == std::string::npos);
}

TEST_CASE(
    "POST run: one book and category answers the run document; without a book every book, without a "
    "category A, B and D")
{
    auto& b = clean_books();
    b.uae.exec("UPDATE ledger.journal_lines SET amount = 90.00 WHERE line_id = 2");
    ServeProcess server(book_env(b));
    const int port = server.port();

    auto reply = http_post(port, "/v1/reconciliation/run", admin_headers(), R"({"book":"uae","category":"A"})");
    REQUIRE(reply.status == 200);
    auto run = reply.json();
    CHECK(run["book"] == "uae");
    CHECK(run["category"] == "A");
    CHECK(run["trigger"] == "api");
    CHECK(run["status"] == "fail");
    CHECK(run["checks"].size() == default_registry().select(Category::A, {}).size());
    CHECK(run["checks"][0]["check_name"] == "trial_balance_zero");
    CHECK(run["checks"][0]["variances"][1]["keys"]["txn_id"] == "1001");
    CHECK(b.uae.query_value("SELECT status || '/' || trigger FROM recon.runs WHERE run_id = " + run["run_id"].dump()) ==
          "fail/api");

    reply = http_post(port, "/v1/reconciliation/run", admin_headers(),
                      R"({"book":"india","category":"A","checks":["source_txn_uniqueness"]})");
    REQUIRE(reply.status == 200);
    CHECK(reply.json()["checks"].size() == 1);

    // {"category": "D"}: every configured book, one combined document.
    reply = http_post(port, "/v1/reconciliation/run", admin_headers(), R"({"category":"D"})");
    REQUIRE(reply.status == 200);
    auto combined = reply.json();
    REQUIRE(combined["runs"].size() == 2);
    CHECK(combined["runs"][0]["book"] == "uae");
    CHECK(combined["runs"][1]["book"] == "india");
    CHECK(combined["runs"][0]["category"] == "D");
    CHECK(combined["status"] == "ok");
    CHECK(combined["skipped"].empty());
    CHECK(combined["errors"].empty());

    // No body at all (no Content-Length, no Content-Type): A, B and D on every book.
    reply = http_post(port, "/v1/reconciliation/run", admin_headers(), "", "");
    REQUIRE(reply.status == 200);
    combined = reply.json();
    std::vector<std::string> slots;
    for (const auto& r : combined["runs"])
        slots.push_back(r["book"].get<std::string>() + "/" + r["category"].get<std::string>());
    CHECK(slots == std::vector<std::string>{"uae/A", "uae/B", "uae/D", "india/A", "india/B", "india/D"});
    CHECK(combined["status"] == "fail");  // the worst of them: uae/A fails
    CHECK(server.stop().exit_code == 0);
}

TEST_CASE(
    "POST run: bad bodies get 400, a wrong media type 415, unknown paths 404 and wrong methods 405, all as "
    "{\"detail\"}")
{
    auto& b = clean_books();
    ServeProcess server(book_env(b));
    const int port = server.port();
    const auto post = [&](const std::string& body) {
        return http_post(port, "/v1/reconciliation/run", admin_headers(), body);
    };
    auto reply = post(R"({"category":"A","force":true})");
    CHECK(reply.status == 400);
    CHECK(reply.json() == nlohmann::json{{"detail", "unknown field 'force' (known: book, category, checks)"}});
    reply = post(R"({"category":"Q"})");
    CHECK(reply.status == 400);
    CHECK(reply.json() == nlohmann::json{{"detail", "category must be one of A, B, C, D, got 'Q'"}});
    reply = post(R"({"book":"mars","category":"A"})");
    CHECK(reply.status == 400);
    CHECK(reply.json() == nlohmann::json{{"detail", "unknown book 'mars' (RECON_BOOKS is uae,india)"}});
    reply = post(R"({"category":"A","checks":["pending_flow_age"]})");
    CHECK(reply.status == 400);
    CHECK(reply.json()["detail"].get<std::string>().find("pending_flow_age") != std::string::npos);
    reply = post("{\"category\":");
    CHECK(reply.status == 400);
    CHECK(reply.json()["detail"].get<std::string>().rfind("the body is not valid JSON", 0) == 0);
    reply = http_post(port, "/v1/reconciliation/run", admin_headers(), R"({"category":"A"})", "text/plain");
    CHECK(reply.status == 415);
    CHECK(reply.json()["detail"] == "the body must be JSON: send Content-Type: application/json");
    reply = http_post(port, "/v1/reconciliation/run?dry=1", admin_headers(), R"({"category":"A"})");
    CHECK(reply.status == 400);
    CHECK(b.uae.query_value("SELECT count(*) FROM recon.runs") == "0");  // nothing ran

    reply = http_get(port, "/v1/nothing", read_headers());
    CHECK(reply.status == 404);
    CHECK(reply.json() == nlohmann::json{{"detail", "no such endpoint: /v1/nothing"}});
    reply = http_get(port, "/v1/reconciliation/run", admin_headers());
    CHECK(reply.status == 405);
    CHECK(reply.json() == nlohmann::json{{"detail", "method GET not allowed on /v1/reconciliation/run"}});
    CHECK(reply.headers.find("Allow")->second == "POST");
    reply = http_post(port, "/v1/reconciliation/runs", admin_headers(), "{}");
    CHECK(reply.status == 405);
    CHECK(reply.headers.find("Allow")->second == "GET, HEAD");
    // A known method a path does not serve is 405 with Allow; a token that is no HTTP method (they
    // are case-sensitive) is 501 on any path (RFC 9110 9.1, 15.6.2).
    const auto answer = [&](const std::string& request_line) {
        RawConnection raw(port);
        raw.send_all(request_line + "\r\nHost: x\r\nX-Ledger-Token: " + read_token + "\r\nConnection: close\r\n\r\n");
        return raw.read_until_closed(5s);
    };
    auto answered = answer("DELETE /v1/reconciliation/runs HTTP/1.1");
    CHECK(raw_status(answered) == 405);
    CHECK(answered.find("\r\nAllow: GET, HEAD\r\n") != std::string::npos);
    for (const std::string method : {"BREW", "get", "PROPFIND"}) {
        answered = answer(method + " /v1/reconciliation/runs HTTP/1.1");
        CHECK(raw_status(answered) == 501);
        CHECK(nlohmann::json::parse(body_of(answered)) ==
              nlohmann::json{{"detail", "method " + method + " is not implemented"}});
    }

    RawConnection raw(port);
    raw.send_all("this is not HTTP\r\n\r\n");
    const auto response = raw.read_until_closed(5s);
    CHECK(raw_status(response) == 400);
    CHECK(nlohmann::json::parse(body_of(response)) == nlohmann::json{{"detail", "malformed HTTP request"}});
    server.stop();
}

TEST_CASE("POST run: past the wait bound 202 with the run id; a second run of it 409 naming that run")
{
    auto& b = clean_books();
    b.uae.exec(slow_journal_view(1));  // each A query on the journal waits: the run takes seconds
    ServeProcess server(book_env(b, {{"RECON_SERVE_RUN_WAIT_SECONDS", "1"}}));
    const int port = server.port();

    auto reply = http_post(port, "/v1/reconciliation/run", admin_headers(), R"({"book":"uae","category":"A"})");
    REQUIRE(reply.status == 202);
    const auto accepted = reply.json();
    const auto run_id = accepted["run_id"].get<std::int64_t>();
    CHECK(run_id > 0);
    CHECK(accepted["status"] == "running");
    CHECK(accepted["href"] == "/v1/reconciliation/runs/" + std::to_string(run_id) + "?book=uae");
    CHECK(reply.headers.find("Location")->second == accepted["href"]);

    reply = http_post(port, "/v1/reconciliation/run", admin_headers(), R"({"book":"uae","category":"A"})");
    CHECK(reply.status == 409);
    const auto conflict = reply.json();
    CHECK(conflict["run_id"] == run_id);
    CHECK(conflict["detail"].get<std::string>().rfind(
              "another run of uae/A holds the lock: run " + std::to_string(run_id) + " (api, started ", 0) == 0);

    // Several targets: the held one is listed as skipped, the others run.
    reply = http_post(port, "/v1/reconciliation/run", admin_headers(), R"({"category":"A"})");
    CHECK(reply.status == 200);
    auto combined = reply.json();
    REQUIRE(combined["skipped"].size() == 1);
    CHECK(combined["skipped"][0]["book"] == "uae");
    CHECK(combined["skipped"][0]["run_id"] == run_id);
    REQUIRE(combined["runs"].size() == 1);
    CHECK(combined["runs"][0]["book"] == "india");

    const std::string href = accepted["href"];
    CHECK(http_get(port, href, read_headers()).json()["status"] == "running");
    std::string status;
    CHECK(wait_for(
        [&] {
            status = http_get(port, href, read_headers()).json()["status"];
            return status != "running";
        },
        30s));
    CHECK(status == "ok");
    CHECK(http_get(port, href, read_headers()).json()["checks"].size() ==
          default_registry().select(Category::A, {}).size());
    b.uae.exec(normal_journal_view);
    server.stop();
}

TEST_CASE("GET runs: filters, cursor pagination across both books, and 400 for bad parameters")
{
    auto& b = clean_books();
    ServeProcess server(book_env(b));
    const int port = server.port();
    std::set<std::string> made;
    for (int i = 0; i < 3; ++i) {
        const auto reply = http_post(port, "/v1/reconciliation/run", admin_headers(), R"({"category":"A"})");
        REQUIRE(reply.status == 200);
        const auto document = reply.json();
        for (const auto& run : document["runs"]) {
            made.insert(run["book"].get<std::string>() + "/" + run["run_id"].dump());
        }
    }
    REQUIRE(http_post(port, "/v1/reconciliation/run", admin_headers(), R"({"book":"uae","category":"D"})").status ==
            200);
    REQUIRE(made.size() == 6);

    auto page = http_get(port, "/v1/reconciliation/runs?category=A&limit=4", read_headers()).json();
    CHECK(page["runs"].size() == 4);
    REQUIRE(page["next_cursor"].is_string());
    CHECK(page["runs"][0]["checks"][0].count("variances") == 0);  // lists carry no variance lists
    CHECK(page["runs"][0]["checks"][0].count("variances_total") == 1);
    CHECK(unlisted_output_names(page).empty());  // docs/output-names.md
    std::set<std::string> seen;
    std::vector<std::string> order;
    std::string cursor;
    int pages = 0;
    while (true) {
        const std::string path =
            "/v1/reconciliation/runs?category=A&limit=4" + (cursor.empty() ? "" : "&cursor=" + cursor);
        const auto reply = http_get(port, path, read_headers());
        REQUIRE(reply.status == 200);
        page = reply.json();
        ++pages;
        for (const auto& run : page["runs"]) {
            const auto key = run["book"].get<std::string>() + "/" + run["run_id"].dump();
            CHECK_MESSAGE(seen.insert(key).second, "listed twice: " << key);
            order.push_back(run["started_at"]);
        }
        if (page["next_cursor"].is_null()) break;
        cursor = page["next_cursor"];
        REQUIRE(pages < 10);
    }
    CHECK(pages == 2);
    CHECK(seen == made);
    CHECK(std::is_sorted(order.rbegin(), order.rend()));  // newest first

    auto runs = http_get(port, "/v1/reconciliation/runs?book=uae&category=D", read_headers()).json()["runs"];
    REQUIRE(runs.size() == 1);
    CHECK(runs[0]["book"] == "uae");
    CHECK(runs[0]["category"] == "D");
    CHECK(http_get(port, "/v1/reconciliation/runs?status=fail", read_headers()).json()["runs"].empty());
    CHECK(http_get(port, "/v1/reconciliation/runs?status=ok&book=india", read_headers()).json()["runs"].size() == 3);
    CHECK(http_get(port, "/v1/reconciliation/runs?since=2999-01-01T00:00:00Z", read_headers()).json()["runs"].empty());
    CHECK(http_get(port, "/v1/reconciliation/runs?since=2000-01-01", read_headers()).json()["runs"].size() == 7);

    for (const char* bad : {"?limit=0", "?limit=abc", "?limit=501", "?book=mars", "?category=Z", "?status=great",
                            "?since=soon", "?cursor=%21%21", "?order=asc"}) {
        const auto reply = http_get(port, std::string("/v1/reconciliation/runs") + bad, read_headers());
        CHECK_MESSAGE(reply.status == 400, bad);
        CHECK_MESSAGE(reply.json()["detail"].is_string(), bad);
    }
    server.stop();
}

TEST_CASE("GET runs/{id}: the full run with its variances; 404; an id in both books needs ?book=")
{
    auto& b = clean_books();
    b.india.exec("UPDATE ledger.journal_lines SET amount = 90.00 WHERE line_id = 2");
    ServeProcess server(book_env(b));
    const int port = server.port();
    const auto run_a = [&](const std::string& book) {
        return http_post(port, "/v1/reconciliation/run", admin_headers(), R"({"category":"A","book":")" + book + "\"}")
            .json();
    };
    // Run ids are per book: run the book that is behind until both books hold the same id.
    auto run = run_a("india");
    auto uae_run = run_a("uae");
    for (int i = 0; i < 100 && uae_run["run_id"] != run["run_id"]; ++i) {
        if (uae_run["run_id"] < run["run_id"]) {
            uae_run = run_a("uae");
        } else {
            run = run_a("india");
        }
    }
    REQUIRE(uae_run["run_id"] == run["run_id"]);
    const auto id = run["run_id"].dump();

    auto reply = http_get(port, "/v1/reconciliation/runs/" + id + "?book=india", read_headers());
    REQUIRE(reply.status == 200);
    const auto shown = reply.json();
    CHECK(shown == run);  // the same document the run answered, variances included
    CHECK(shown["checks"][0]["variances"].size() == 2);
    CHECK(http_get(port, "/v1/reconciliation/runs/" + id + "?book=uae", read_headers()).json()["book"] == "uae");

    reply = http_get(port, "/v1/reconciliation/runs/" + id, read_headers());
    CHECK(reply.status == 400);
    CHECK(reply.json()["detail"] == "run " + id + " exists in books uae, india: add ?book=uae");

    reply = http_get(port, "/v1/reconciliation/runs/987654", read_headers());
    CHECK(reply.status == 404);
    CHECK(reply.json() == nlohmann::json{{"detail", "no run 987654 in the run history"}});
    reply = http_get(port, "/v1/reconciliation/runs/987654?book=uae", read_headers());
    CHECK(reply.status == 404);
    reply = http_get(port, "/v1/reconciliation/runs/x1", read_headers());
    CHECK(reply.status == 400);
    CHECK(reply.json() == nlohmann::json{{"detail", "the run id must be a positive whole number, got 'x1'"}});
    reply = http_get(port, "/v1/reconciliation/runs/" + id + "?shape=short", read_headers());
    CHECK(reply.status == 400);
    reply = http_get(port, "/v1/reconciliation/runs/" + id + "?book=mars", read_headers());
    CHECK(reply.status == 400);
    server.stop();
}

TEST_CASE(
    "a book whose database is down: 503 for its runs and history, 500 for one without a database, and the "
    "rest keeps working")
{
    auto& b = clean_books();
    ServeProcess server(book_env(b, {{"RECON_BOOKS", "uae,india,other"},
                                     {"RECON_DATABASE_URL_INDIA", "postgresql://postgres@127.0.0.1:1/nowhere"}}));
    const int port = server.port();
    auto reply = http_post(port, "/v1/reconciliation/run", admin_headers(), R"({"book":"india","category":"A"})");
    CHECK(reply.status == 503);
    CHECK(reply.json()["exit_code"] == 69);
    CHECK(reply.json()["detail"].get<std::string>().rfind("cannot connect to the control database", 0) == 0);

    // Every configured book: uae runs, india's failure is listed.
    reply = http_post(port, "/v1/reconciliation/run", admin_headers(), R"({"category":"D"})");
    CHECK(reply.status == 200);
    const auto combined = reply.json();
    REQUIRE(combined["runs"].size() == 1);
    CHECK(combined["runs"][0]["book"] == "uae");
    REQUIRE(combined["errors"].size() == 1);
    CHECK(combined["errors"][0]["book"] == "india");
    CHECK(combined["errors"][0]["exit_code"] == 69);

    reply = http_get(port, "/v1/reconciliation/runs?book=india", read_headers());
    CHECK(reply.status == 503);
    CHECK(reply.json()["detail"].is_string());
    reply = http_get(port, "/v1/reconciliation/runs?book=other", read_headers());  // in RECON_BOOKS, no database
    CHECK(reply.status == 500);
    CHECK(reply.json()["detail"] == "no database configured for book 'other': set RECON_DATABASE_URL_OTHER");

    reply = http_get(port, "/metrics", read_headers());
    CHECK(reply.status == 200);
    CHECK(reply.body.find("reconcile_book_up{book=\"india\"} 0\n") != std::string::npos);
    CHECK(reply.body.find("reconcile_book_up{book=\"uae\"} 1\n") != std::string::npos);
    CHECK(http_get(port, "/healthz").status == 200);
    server.stop();
}

TEST_CASE("HEAD (RFC 9110 9.3.2): GET's status and length, never content, whatever the status")
{
    auto& b = clean_books();
    ServeProcess server(book_env(b));
    const int port = server.port();
    const auto length_of = [](const std::string& raw) { return raw_header(raw, "Content-Length"); };
    // A HEAD and a GET pipelined on one connection: the HEAD's answer ends with its header.
    RawConnection both(port);
    both.send_all(
        "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const auto answers = both.read_until_closed(5s);
    const auto head_end = answers.find("\r\n\r\n") + 4;
    CHECK(answers.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(answers.compare(head_end, 17, "HTTP/1.1 200 OK\r\n") == 0);
    const auto get_answer = answers.substr(head_end);
    CHECK(length_of(answers.substr(0, head_end)) == length_of(get_answer));
    CHECK(length_of(get_answer) == std::to_string(body_of(get_answer).size()));
    // Refused HEADs (unknown path, no token, a POST-only path): their status and length, no body.
    for (const auto& [target, status] : std::vector<std::pair<std::string, int>>{
             {"/nowhere", 404}, {"/v1/reconciliation/runs", 401}, {"/v1/reconciliation/run", 405}}) {
        CAPTURE(target);
        RawConnection raw(port);
        raw.send_all("HEAD " + target + " HTTP/1.1\r\nHost: x\r\n\r\n");
        const auto answer = raw.read_until_closed(5s);
        CHECK(raw_status(answer) == status);
        CHECK(answer.size() == answer.find("\r\n\r\n") + 4);
        CHECK(std::stoi(length_of(answer)) > 0);
    }
    server.stop();
}

TEST_CASE("every answer is dated (RFC 9110 6.6.1): an IMF-fixdate of now on a 200, a 404 and a refusal")
{
    auto& b = clean_books();
    ServeProcess server(book_env(b));
    const int port = server.port();
    const std::regex imf_fixdate(
        "(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
        "[0-9]{2}:[0-9]{2}:[0-9]{2} GMT");
    // Now, as the answer's date reads, allowing for the seconds the request takes.
    const auto near_now = [](const std::string& date) {
        const auto now = std::chrono::system_clock::now();
        for (int back = -1; back <= 5; ++back) {
            if (date == reconcile::format_http_date(now - std::chrono::seconds(back))) return true;
        }
        return false;
    };
    for (const std::string request :
         {"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
          "GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "GET /healthz HTTP/1.1\r\n\r\n"}) {
        CAPTURE(request);
        RawConnection raw(port);
        raw.send_all(request);
        const auto date = raw_header(raw.read_until_closed(5s), "Date");
        CHECK(std::regex_match(date, imf_fixdate));
        CHECK(near_now(date));
    }
    server.stop();
}

TEST_CASE("a body over the limit gets 413, with Content-Length and chunked alike, and nothing runs")
{
    auto& b = clean_books();
    ServeProcess server(book_env(b, {{"RECON_SERVE_MAX_BODY_BYTES", "4096"}}));
    const int port = server.port();
    const std::string head = "POST /v1/reconciliation/run HTTP/1.1\r\nHost: x\r\nX-Ledger-Admin-Token: " + admin_token +
                             "\r\nContent-Type: application/json\r\n";
    const std::string big(5000, ' ');

    {
        RawConnection raw(port);
        raw.send_all(head + "Content-Length: 5000\r\n\r\n");
        raw.send_all(big);  // may fail once the server closed: that is the point
        const auto response = raw.read_until_closed(5s);
        CHECK(raw_status(response) == 413);
        CHECK(nlohmann::json::parse(body_of(response)) ==
              nlohmann::json{{"detail", "request body exceeds the limit of 4096 bytes"}});
    }
    {
        // Chunked: no length up front; the server counts while it reads and stops at the limit.
        RawConnection raw(port);
        raw.send_all(head + "Transfer-Encoding: chunked\r\n\r\n");
        bool open = true;
        for (int i = 0; i < 10000 && open; ++i) open = raw.send_all("400\r\n" + std::string(1024, ' ') + "\r\n");
        const auto response = raw.read_until_closed(5s);
        CHECK(raw_status(response) == 413);
        CHECK(nlohmann::json::parse(body_of(response)) ==
              nlohmann::json{{"detail", "request body exceeds the limit of 4096 bytes"}});
        CHECK_FALSE(open);  // the server stopped reading long before 10 MB
    }
    {
        // A chunked body within the limit is fine.
        RawConnection raw(port);
        const std::string body = R"({"book":"uae","category":"D"})";
        raw.send_all(head + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
                     fmt::format("{:x}\r\n{}\r\n0\r\n\r\n", body.size(), body));
        const auto response = raw.read_until_closed(10s);
        CHECK(raw_status(response) == 200);
        CHECK(nlohmann::json::parse(body_of(response))["category"] == "D");
    }
    CHECK(b.uae.query_value("SELECT string_agg(category, ',') FROM recon.runs") == "D");
    // An unauthenticated client never gets its body read at all.
    RawConnection raw(port);
    raw.send_all("POST /v1/reconciliation/run HTTP/1.1\r\nHost: x\r\nContent-Length: 3000\r\n\r\n");
    const auto response = raw.read_until_closed(5s);
    CHECK(raw_status(response) == 401);
    server.stop();
}

TEST_CASE("a client that sends one byte a second does not starve the other requests")
{
    auto& b = clean_books();
    ServeProcess server(book_env(b, {{"RECON_SERVE_WORKERS", "2"}, {"RECON_SERVE_READ_TIMEOUT_SECONDS", "3"}}));
    const int port = server.port();

    // As many trickling clients as there are workers, each in its own thread, bounded to 20 bytes.
    std::atomic<int> cut_off{0};
    std::atomic<int> trickling{0};
    std::vector<double> cut_after(2, 0);
    std::vector<std::thread> slow;
    const auto started = std::chrono::steady_clock::now();
    for (int i = 0; i < 2; ++i) {
        slow.emplace_back([&, i] {
            RawConnection raw(port);
            const std::string request = "GET /healthz HTTP/1.1\r\nHost: slow\r\nX-Padding: aaaaaaaaaaaa\r\n\r\n";
            for (std::size_t at = 0; at < 20; ++at) {
                const bool sent = raw.send_all(request.substr(at, 1));
                if (at == 0) ++trickling;
                if (!sent || raw.closed_within(1s)) {
                    cut_after[static_cast<std::size_t>(i)] =
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
                    ++cut_off;
                    return;
                }
            }
        });
    }
    REQUIRE(wait_for([&] { return trickling == 2; }, 5s));
    // Meanwhile other clients are served: at worst once the slow ones hit the 3 s request deadline.
    for (int i = 0; i < 5; ++i) {
        const auto before = std::chrono::steady_clock::now();
        const auto reply = http_get(port, "/v1/reconciliation/runs?limit=1", read_headers());
        const auto took = std::chrono::duration<double>(std::chrono::steady_clock::now() - before).count();
        CHECK(reply.status == 200);
        CHECK_MESSAGE(took < 4.0, "request " << i << " took " << took << " s");
    }
    for (auto& thread : slow) thread.join();
    CHECK(cut_off == 2);
    for (const double after : cut_after) {
        CHECK(after >= 2.5);  // cut at the 3 s request deadline, not at once...
        CHECK(after < 6.0);   // ...and not allowed to trickle on for its 20 s
    }
    server.stop();
}

TEST_CASE("clients that send half a request and stall neither hold the only worker nor stay past their deadline")
{
    auto& b = clean_books();
    ServeProcess server(book_env(b, {{"RECON_SERVE_WORKERS", "1"}, {"RECON_SERVE_READ_TIMEOUT_SECONDS", "2"}}));
    const int port = server.port();
    const auto connected = std::chrono::steady_clock::now();
    std::vector<std::unique_ptr<RawConnection>> holders;
    for (int i = 0; i < 3; ++i) {
        holders.push_back(std::make_unique<RawConnection>(port));
        holders.back()->send_all("GET /hea");  // and then nothing
    }
    const auto before = std::chrono::steady_clock::now();
    const auto reply = http_get(port, "/healthz");
    const auto took = std::chrono::duration<double>(std::chrono::steady_clock::now() - before).count();
    CHECK(reply.status == 200);
    // Reading a request never takes a worker, so the complete request does not wait for the
    // stalled ones' 2 s deadline.
    CHECK_MESSAGE(took < 1.9, "took " << took << " s");
    // Each stalled client is cut at its deadline (2 s after it connected), not left open.
    for (auto& holder : holders) CHECK(holder->closed_within(6s));
    const auto all_cut = std::chrono::duration<double>(std::chrono::steady_clock::now() - connected).count();
    CHECK(all_cut >= 1.5);
    CHECK_MESSAGE(all_cut < 6.0, "the stalled clients were cut after " << all_cut << " s");
    server.stop();
}

TEST_CASE("metrics: last status, time, duration and variances per book, category and check, from the history")
{
    auto& b = clean_books();
    b.uae.exec("UPDATE ledger.journal_lines SET amount = 90.00 WHERE line_id = 2");
    ServeProcess server(book_env(b));
    const int port = server.port();
    const auto run =
        http_post(port, "/v1/reconciliation/run", admin_headers(), R"({"book":"uae","category":"A"})").json();
    // A run made outside serve (cron, a person) shows up too.
    const auto cli = run_process({reconcile_binary(), "run", "--book", "india", "--category", "D"}, book_env(b));
    CHECK(cli.exit_code == 0);

    const auto reply = http_get(port, "/metrics", read_headers());
    REQUIRE(reply.status == 200);
    CHECK(reply.headers.find("Content-Type")->second.rfind("text/plain; version=0.0.4", 0) == 0);
    const std::string& text = reply.body;
    const auto has = [&](const std::string& line) { CHECK_MESSAGE(text.find(line + "\n") != std::string::npos, line); };
    has("reconcile_book_up{book=\"uae\"} 1");
    has("reconcile_run_last_status{book=\"uae\",category=\"A\",status=\"fail\"} 1");
    has("reconcile_run_last_id{book=\"uae\",category=\"A\"} " + run["run_id"].dump());
    has("reconcile_run_last_duration_seconds{book=\"uae\",category=\"A\"} " +
        fmt::format("{}", run["duration_ms"].get<double>() / 1000.0));
    has("reconcile_check_last_status{book=\"uae\",category=\"A\",check_name=\"trial_balance_zero\",status=\"fail\"} 1");
    has("reconcile_check_last_variances{book=\"uae\",category=\"A\",check_name=\"trial_balance_zero\"} 2");
    has("reconcile_check_last_variances{book=\"uae\",category=\"A\",check_name=\"source_txn_uniqueness\"} 0");
    has("reconcile_check_last_status{book=\"india\",category=\"D\",check_name=\"pending_flow_age\",status=\"ok\"} 1");
    has("reconcile_runs_total{book=\"uae\",category=\"A\",status=\"fail\"} 1");
    has("reconcile_run_running{book=\"uae\",category=\"A\"} 0");
    CHECK(text.find("reconcile_run_last_status{book=\"uae\",category=\"B\"") == std::string::npos);  // never ran
    server.stop();
}

TEST_CASE("the scheduler inside serve runs A, B and D again after the interval; india only when switched on")
{
    auto& b = clean_books();
    ServeProcess server(book_env(b, {{"RECON_SCHEDULE_ENABLED", "true"},
                                     {"RECON_SCHEDULE_INITIAL_DELAY_SECONDS", "0"},
                                     {"RECON_INTERVAL_SECONDS", "2"}}));
    const bool twice = wait_for(
        [&] {
            const auto rows = run_rows(b.uae);
            return count_rows(rows, "A", "schedule") >= 2 && count_rows(rows, "B", "schedule") >= 2 &&
                   count_rows(rows, "D", "schedule") >= 2;
        },
        20s);
    const auto result = server.stop();
    CHECK_MESSAGE(twice, result.err);
    const auto rows = run_rows(b.uae);
    CHECK(count_rows(rows, "C", "schedule") == 1);  // daily
    // Starts of A are the interval apart (measured from starts, never closer).
    std::vector<double> a_starts;
    for (const auto& row : rows) {
        if (row.category == "A") a_starts.push_back(row.started);
    }
    for (std::size_t i = 1; i < a_starts.size(); ++i) CHECK(a_starts[i] - a_starts[i - 1] >= 1.99);
    CHECK(run_rows(b.india).empty());  // INDIA_RECON_ENABLED=false by default

    ServeProcess india(book_env(b, {{"INDIA_RECON_ENABLED", "true"}, {"RECON_SCHEDULE_INITIAL_DELAY_SECONDS", "0"}}));
    CHECK(wait_for([&] { return run_rows(b.india).size() == 4; }, 20s));
    india.stop();
}

TEST_CASE("two serve processes on one book never run the same category at the same time")
{
    auto& b = clean_books();
    b.uae.exec(slow_journal_view(1));  // A runs take about 3 s: plenty of chance to collide
    const std::map<std::string, std::string> schedule{{"RECON_SCHEDULE_ENABLED", "true"},
                                                      {"INDIA_RECON_ENABLED", "true"},
                                                      {"RECON_SCHEDULE_INITIAL_DELAY_SECONDS", "0"},
                                                      {"RECON_INTERVAL_SECONDS", "1"},
                                                      {"INDIA_RECON_INTERVAL_SECONDS", "1"},
                                                      {"RECON_EXTERNAL_INTERVAL_SECONDS", "1"},
                                                      {"RECON_SERVE_RUN_WAIT_SECONDS", "0"}};
    ServeProcess first(book_env(b, schedule));
    ServeProcess second(book_env(b, schedule));
    // On top of both schedulers, API requests to both servers at once.
    int conflicts = 0;
    for (int round = 0; round < 6; ++round) {
        for (const int port : {first.port(), second.port()}) {
            const auto reply =
                http_post(port, "/v1/reconciliation/run", admin_headers(), R"({"book":"uae","category":"A"})");
            CHECK((reply.status == 202 || reply.status == 409 || reply.status == 200));
            conflicts += reply.status == 409 ? 1 : 0;
        }
        std::this_thread::sleep_for(1s);
    }
    first.stop();
    second.stop();
    b.uae.exec(normal_journal_view);

    std::set<int> pids;
    std::size_t total = 0;
    for (const BookDb* db : {&b.uae, &b.india}) {
        std::map<std::string, std::vector<RunRow>> by_category;
        for (const auto& row : run_rows(*db)) {
            by_category[row.category].push_back(row);
            pids.insert(row.pid);
            ++total;
        }
        for (const auto& [category, rows] : by_category) {
            for (std::size_t i = 0; i < rows.size(); ++i) {
                INFO(db->book(), "/", category, " run ", rows[i].run_id, " status ", rows[i].status);
                CHECK(rows[i].finished > 0);                                // nothing left running after a clean stop
                if (i > 0) CHECK(rows[i].started >= rows[i - 1].finished);  // no overlap
            }
        }
    }
    CHECK(pids.size() == 2);  // both processes did run some
    // Both schedulers and the API did real work: with B implemented, uae's A and B runs each read
    // the slow journal view, so a few runs per category fit in the window, not dozens.
    CHECK(total >= 6);
    CHECK(conflicts > 0);  // and they did collide on the lock
}

TEST_CASE("the reference command, verbatim, against serve --dev on port 8078")
{
    auto& b = clean_books();
    if (!port_free(8078)) {
        WARN_MESSAGE(false, "port 8078 is taken on this machine: the reference-command test did not run");
        return;
    }
    auto options = book_env(b);
    options.env.erase("LEDGER_ADMIN_TOKEN");
    options.env.erase("LEDGER_TOKEN");
    options.unset_env.insert(options.unset_env.end(),
                             {"LEDGER_ADMIN_TOKEN", "LEDGER_TOKEN", "RECON_SERVE_PORT", "RECON_SERVE_ADDRESS"});
    BackgroundProcess server({reconcile_binary(), "serve", "--dev"}, options);
    REQUIRE_MESSAGE(server.wait_for_output("listening on 127.0.0.1:8078", 20s), server.err_so_far());

    // DESIGN.md §8, character for character.
    const char* const reference = R"(curl -X POST -H "X-Ledger-Admin-Token: localdev" \
      -H "Content-Type: application/json" \
      http://localhost:8078/v1/reconciliation/run -d '{"category":"C"}')";
    const auto result = run_process({"/bin/sh", "-c", reference});
    REQUIRE_MESSAGE(result.exit_code == 0, result.err);
    const auto document = nlohmann::json::parse(result.out);
    REQUIRE(document["runs"].size() == 2);
    std::vector<std::string> run_ids;
    for (const auto& run : document["runs"]) {
        CHECK(run["category"] == "C");
        CHECK(run["trigger"] == "api");
        CHECK(run["checks"].size() == 5);
        run_ids.push_back(run["book"].get<std::string>() + ":" + run["run_id"].dump());
    }
    CHECK(document["runs"][0]["book"] == "uae");
    CHECK(document["runs"][1]["book"] == "india");

    // `curl … /v1/reconciliation/runs | jq` lists those runs, and /metrics shows them.
    const auto listed =
        run_process({"/bin/sh", "-c",
                     "curl -s -H 'X-Ledger-Token: localdev' http://localhost:8078/v1/reconciliation/runs"
                     " | jq -r '.runs[] | \"\\(.book):\\(.run_id)\"'"});
    for (const auto& id : run_ids) CHECK(listed.out.find(id + "\n") != std::string::npos);
    const auto metrics =
        run_process({"/bin/sh", "-c", "curl -s -H 'X-Ledger-Token: localdev' http://localhost:8078/metrics"});
    CHECK(metrics.out.find("reconcile_run_last_id{book=\"uae\",category=\"C\"} " +
                           document["runs"][0]["run_id"].dump() + "\n") != std::string::npos);
    server.send_signal(SIGTERM);
    CHECK(server.wait(30s).exit_code == 0);
}

TEST_CASE("variances API: read lists with filters, ack and unack need the admin token, trace and daily answer")
{
    auto& b = clean_books();
    const auto env = book_env(b);
    // Yesterday's B run was clean: the daily series has a quiet day before the breaks.
    REQUIRE(reconcile_cli({"run", "--book", "uae", "--category", "B"}, env).exit_code == 0);
    b.uae.exec(
        "UPDATE recon.runs SET started_at = started_at - interval '1 day',"
        " finished_at = finished_at - interval '1 day'");
    b.uae.exec(three_b_breaks_sql);
    REQUIRE(reconcile_cli({"run", "--book", "uae", "--category", "B"}, env).exit_code == 1);
    const std::string fingerprint = b.uae.query_value(
        "SELECT fingerprint FROM recon.variance_fingerprints WHERE check_name = 'wallet_derivation' AND status = "
        "'open' AND keys->>'customer_id' = 'C001'");
    REQUIRE(fingerprint.size() == 32);
    ServeProcess serve(env);
    const std::string path = "/v1/reconciliation/variances/" + fingerprint;
    const nlohmann::json body = {{"class", "code"}, {"note", "rule rounds <wrong>"}, {"book", "uae"}};

    CHECK(http_post(serve.port(), path + "/ack", read_headers(), body.dump()).status == 401);
    CHECK(http_post(serve.port(), "/v1/reconciliation/variances/00000000deadbeef/ack", admin_headers(), body.dump())
              .status == 404);
    const auto bad = http_post(serve.port(), path + "/ack", admin_headers(), R"({"class":"typo","note":"x"})");
    CHECK(bad.status == 400);
    CHECK(bad.json()["detail"] == "class must be data, code or timing, got 'typo'");

    const auto acked = http_post(serve.port(), path + "/ack", admin_headers(), body.dump());
    REQUIRE_MESSAGE(acked.status == 200, acked.body);
    CHECK(acked.json()["actions"][0]["by"] == "api");
    CHECK(acked.json()["actions"][0]["action"] == "ack");
    CHECK(acked.json()["actions"][0]["check_name"] == "wallet_derivation");

    const auto coded =
        http_get(serve.port(), "/v1/reconciliation/variances?book=uae&state=acknowledged&class=code", read_headers());
    REQUIRE(coded.status == 200);
    REQUIRE(coded.json()["variances"].size() == 1);
    CHECK(coded.json()["variances"][0]["fingerprint"] == fingerprint);
    CHECK(coded.json()["variances"][0]["acknowledgement"]["note"] == "rule rounds <wrong>");
    CHECK(coded.json()["variances"][0]["acknowledgement"]["by"] == "api");
    const auto open = b.uae.query_value("SELECT count(*) FROM recon.variance_fingerprints WHERE status = 'open'");
    const auto unacknowledged =
        http_get(serve.port(), "/v1/reconciliation/variances?state=unacknowledged", read_headers());
    CHECK(unacknowledged.json()["variances"].size() == static_cast<std::size_t>(std::stoi(open) - 1));

    // One per page: the cursor walks every open break exactly once.
    std::set<std::string> seen;
    std::string cursor;
    for (int page = 0; page < 10; ++page) {
        const auto reply = http_get(
            serve.port(),
            "/v1/reconciliation/variances?state=open&limit=1" + (cursor.empty() ? std::string() : "&cursor=" + cursor),
            read_headers());
        REQUIRE(reply.status == 200);
        const auto document = reply.json();
        for (const auto& variance : document["variances"]) seen.insert(variance["fingerprint"].get<std::string>());
        if (document["next_cursor"].is_null()) break;
        cursor = document["next_cursor"].get<std::string>();
    }
    CHECK(seen.size() == static_cast<std::size_t>(std::stoi(open)));

    CHECK(http_post(serve.port(), path + "/unack", admin_headers(), "").status == 200);
    CHECK(http_get(serve.port(), "/v1/reconciliation/variances?state=acknowledged", read_headers())
              .json()["variances"]
              .empty());
    CHECK(http_post(serve.port(), path + "/unack", admin_headers(), "").status == 400);
    // A bad filter value: 400 with one line saying what is wrong.
    const std::pair<const char*, const char*> refused[] = {
        {"state=closed", "state must be open, resolved, acknowledged or unacknowledged, got 'closed'"},
        {"check=nope", "unknown check 'nope' (see `reconcile checks`)"},
        {"class=typo", "class must be data, code or timing, got 'typo'"},
        {"book=mars", "unknown book 'mars' (RECON_BOOKS is uae,india)"},
        {"limit=0", "limit must be a positive whole number, got '0'"},
        {"check=a&check=b", "query parameter 'check' is given more than once"},
        {"sort=age", "unknown query parameter 'sort' (known: book, check, class, cursor, limit, state)"},
    };
    for (const auto& [query, detail] : refused) {
        CAPTURE(query);
        const auto reply = http_get(serve.port(), std::string("/v1/reconciliation/variances?") + query, read_headers());
        CHECK(reply.status == 400);
        CHECK(reply.json()["detail"] == detail);
    }
    // The fingerprint segment is checked too, and an ack body must be JSON (the core's 415).
    const auto not_hex =
        http_post(serve.port(), "/v1/reconciliation/variances/not-a-print/ack", admin_headers(), body.dump());
    CHECK(not_hex.status == 400);
    CHECK(not_hex.json()["detail"] ==
          "'not-a-print' is not a fingerprint: give its 32 hex digits or at least the first 8 (see `reconcile "
          "variances --open`)");
    CHECK(http_post(serve.port(), path + "/ack", admin_headers(), "class=data", "text/plain").status == 415);

    const auto trace = http_get(serve.port(), "/v1/reconciliation/trace?book=uae&txn=1001", read_headers());
    REQUIRE(trace.status == 200);
    CHECK(trace.json()["transactions"][0]["txn_id"] == "1001");
    CHECK(http_get(serve.port(), "/v1/reconciliation/trace?book=uae", read_headers()).status == 400);

    const auto daily = http_get(serve.port(), "/v1/reconciliation/daily?book=uae&days=30", read_headers());
    REQUIRE(daily.status == 200);
    const auto series = daily.json()["series"];
    CHECK(series.size() == 6);
    std::vector<std::pair<std::int64_t, std::string>> wallets;
    for (const auto& point : series) {
        if (point["check_name"] == "wallet_derivation") wallets.emplace_back(point["variances"], point["drift"]);
    }
    // Oldest day first; the quiet day's drift has the scale of the day that broke.
    CHECK(wallets == std::vector<std::pair<std::int64_t, std::string>>{{0, "0.00"}, {1, "8.50"}});
    CHECK(http_get(serve.port(), "/v1/reconciliation/daily").status == 401);
    const auto page = http_get(serve.port(), "/");
    CHECK(page.status == 200);
    CHECK(page.headers.find("Content-Security-Policy") != page.headers.end());
    const auto header = [](const HttpResult& result, const char* name) {
        const auto found = result.headers.find(name);
        return found == result.headers.end() ? std::string("(absent)") : found->second;
    };
    for (const auto& [asset_path, type] :
         {std::pair{"/", "text/html; charset=utf-8"}, std::pair{"/console.js", "text/javascript; charset=utf-8"},
          std::pair{"/console.css", "text/css; charset=utf-8"}}) {
        CAPTURE(asset_path);
        const auto asset = http_get(serve.port(), asset_path);
        CHECK(asset.status == 200);
        CHECK(header(asset, "Content-Type") == type);
        CHECK(header(asset, "X-Content-Type-Options") == "nosniff");
        CHECK(header(asset, "Content-Security-Policy") ==
              "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
              "base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    }
    // The page holds no inline script: every script is a file of the same origin.
    CHECK(page.body.find("<script src=\"/console.js\"") != std::string::npos);
    CHECK(page.body.find("<script>") == std::string::npos);
    CHECK(http_get(serve.port(), "/console.map").status == 404);
}

TEST_CASE(
    "framing is strict (RFC 9112 6): unknown codings before chunked 501; chunked not last, CL+TE, CL lists, obs-fold "
    "400; each closes")
{
    auto& b = clean_books();
    ServeProcess server(book_env(b));
    const int port = server.port();
    const std::string head = "POST /v1/reconciliation/run HTTP/1.1\r\nHost: x\r\nX-Ledger-Admin-Token: " + admin_token +
                             "\r\nContent-Type: application/json\r\n";
    const std::string body = R"({"book":"uae","category":"D"})";
    const std::string chunked = fmt::format("{:x}\r\n{}\r\n0\r\n\r\n", body.size(), body);
    const auto exchange = [&](const std::string& bytes) {
        RawConnection raw(port);
        raw.send_all(bytes);
        const bool closed = raw.closed_within(5s);
        return std::pair{closed, raw.received()};
    };
    const auto detail = [](const std::string& response) {
        return nlohmann::json::parse(body_of(response))["detail"].get<std::string>();
    };
    struct Refused {
        std::string headers;
        std::string body;
        int status;
        std::string detail;
    };
    const std::string unsupported = "unsupported Transfer-Encoding (only chunked is accepted)";
    const std::vector<Refused> refused{
        {"Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n", 501, unsupported},
        {"Transfer-Encoding: gzip\r\n", body, 400,
         "chunked is not the final Transfer-Encoding: the body's length is ambiguous"},
        {"Transfer-Encoding: xchunked\r\n", "0\r\n\r\n", 400,
         "chunked is not the final Transfer-Encoding: the body's length is ambiguous"},
        {"Transfer-Encoding: gzip, xchunked, chunked\r\n", "0\r\n\r\n", 501, unsupported},
        {"Transfer-Encoding: chunked, gzip\r\n", "0\r\n\r\n", 400,
         "chunked is not the final Transfer-Encoding: the body's length is ambiguous"},
        {"Transfer-Encoding: chunked, chunked\r\n", "0\r\n\r\n", 400,
         "Transfer-Encoding applies chunked more than once"},
        {"Transfer-Encoding: ,\r\n", body, 400, "an empty Transfer-Encoding"},
        {"Content-Length: 29\r\nTransfer-Encoding: chunked\r\n", chunked, 400,
         "both Content-Length and Transfer-Encoding: the body's length is ambiguous"},
        {"Content-Length: 29\r\nContent-Length: 30\r\n", body + " ", 400, "more than one Content-Length"},
        {"Content-Length: 29, 29\r\n", body, 400, "invalid Content-Length"},
        {"X-Folded: a\r\n b\r\nContent-Length: 29\r\n", body, 400, "obsolete line folding in the request headers"},
    };
    for (const auto& variant : refused) {
        CAPTURE(variant.headers);
        const auto [closed, response] = exchange(head + variant.headers + "\r\n" + variant.body);
        CHECK(closed);
        CHECK(raw_status(response) == variant.status);
        CHECK(response.find("Connection: close\r\n") != std::string::npos);
        CHECK(detail(response) == variant.detail);
    }
    // HTTP/1.0 with Transfer-Encoding: the framing is faulty (RFC 9112 6.1), whatever the coding
    // and even when the client asks to keep the connection.
    auto [closed, response] =
        exchange("POST /v1/reconciliation/run HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nX-Ledger-Admin-Token: " +
                 admin_token + "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked);
    CHECK(closed);
    CHECK(raw_status(response) == 400);
    CHECK(response.find("Connection: close\r\n") != std::string::npos);
    CHECK(detail(response) == "Transfer-Encoding in an HTTP/1.0 request: its framing cannot be trusted");
    CHECK(b.uae.query_value("SELECT count(*) FROM recon.runs") == "0");

    // Coding names are case-insensitive (RFC 9112 7): `Chunked` alone is chunked, its body is
    // read, and the request pipelined behind it is an ordinary second request.
    std::tie(closed, response) = exchange(head + "Transfer-Encoding: Chunked\r\n\r\n" + chunked +
                                          "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(closed);
    CHECK(raw_status(response) == 200);
    CHECK(response.find("\"category\":\"D\"") != std::string::npos);
    CHECK(response.find("HTTP/1.1 200 OK", 10) != std::string::npos);
    CHECK(b.uae.query_value("SELECT count(*) FROM recon.runs") == "1");

    // A keep-alive connection serves a pipelined second request.
    RawConnection raw(port);
    raw.send_all(
        "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const auto both = raw.read_until_closed(5s);
    CHECK(raw_status(both) == 200);
    CHECK(both.find("HTTP/1.1 200 OK", 10) != std::string::npos);  // the pipelined second one
    server.stop();
}

TEST_CASE("headers (RFC 9112 3.2, 5): Host once in HTTP/1.1, no space before a colon, no bare CR; each 400 closes")
{
    auto& b = clean_books();
    ServeProcess server(book_env(b));
    const int port = server.port();
    struct Refused {
        std::string request;
        std::string detail;
    };
    const std::vector<Refused> refused{
        {"GET /healthz HTTP/1.1\r\n\r\n", "missing Host header (HTTP/1.1 requires it)"},
        {"GET /healthz HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", "missing Host header (HTTP/1.1 requires it)"},
        {"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", "more than one Host header"},
        {"GET /healthz HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", "more than one Host header"},
        {"GET /healthz HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", "more than one Host header"},
        {"GET /healthz HTTP/1.1\r\nHost: a b\r\n\r\n", "invalid Host header"},
        {"GET /healthz HTTP/1.1\r\nHost: user@a\r\n\r\n", "invalid Host header"},
        {"GET /healthz HTTP/1.1\r\nHost: a:80x\r\n\r\n", "invalid Host header"},
        {"GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n", "whitespace between a header name and its colon"},
        {"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Ledger-Token\t: y\r\n\r\n",
         "whitespace between a header name and its colon"},
        {"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", "a bare CR or LF in the request headers"},
        {"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\nX-B: b\r\n\r\n", "a bare CR or LF in the request headers"},
        {"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x01\r\n\r\n", "a control character in a request header"},
        {"GET /healthz\r HTTP/1.1\r\nHost: x\r\n\r\n", "a bare CR or LF in the request line"},
        // Lines ended by LF alone never bring the CRLF CRLF that ends a head: refused when the
        // first such LF arrives, not when the read deadline (10 s) runs out.
        {"GET /healthz HTTP/1.1\nHost: x\n\n", "a bare CR or LF in the request line"},
        {"GET /healthz HTTP/1.1\r\nHost: x\nX-A: a\n\n", "a bare CR or LF in the request headers"},
    };
    for (const auto& variant : refused) {
        CAPTURE(variant.request);
        RawConnection raw(port);
        raw.send_all(variant.request);
        CHECK(raw.closed_within(5s));
        const auto& response = raw.received();
        CHECK(raw_status(response) == 400);
        CHECK(response.find("Connection: close\r\n") != std::string::npos);
        CHECK(nlohmann::json::parse(body_of(response)) == nlohmann::json{{"detail", variant.detail}});
    }
    // An HTTP/1.0 client that asks to keep the connection is told it is kept, and it is.
    {
        RawConnection raw(port);
        raw.send_all(
            "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
            "GET /healthz HTTP/1.0\r\n\r\n");
        const auto both = raw.read_until_closed(5s);
        const auto second = both.find("HTTP/1.1 200 OK\r\n", 10);
        CHECK(both.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
        CHECK(second != std::string::npos);
        CHECK(both.substr(0, second).find("\r\nConnection: keep-alive\r\n") != std::string::npos);
        CHECK(both.substr(second).find("\r\nConnection: close\r\n") != std::string::npos);
    }
    // Served: HTTP/1.0 needs no Host; an empty Host, an IP literal and a port are valid values.
    for (const std::string host : {"", "Host:\r\n", "Host: [::1]:8078\r\n", "Host: reconcile.example:8078\r\n"}) {
        CAPTURE(host);
        RawConnection raw(port);
        raw.send_all(std::string("GET /healthz HTTP/") + (host.empty() ? "1.0" : "1.1") + "\r\n" + host +
                     "Connection: close\r\n\r\n");
        CHECK(raw_status(raw.read_until_closed(5s)) == 200);
    }
    server.stop();
}

TEST_CASE(
    "the request line (RFC 9110 2.5, 15.6.6; RFC 9112 2.2): HTTP/1.x read as 1.1, other majors 505, "
    "empty lines before it passed over")
{
    auto& b = clean_books();
    ServeProcess server(book_env(b));
    const int port = server.port();
    for (const std::string version : {"HTTP/2.0", "HTTP/3.0", "HTTP/0.9"}) {
        CAPTURE(version);
        RawConnection raw(port);
        raw.send_all("GET /healthz " + version + "\r\nHost: x\r\n\r\n");
        CHECK(raw.closed_within(5s));
        const auto& response = raw.received();
        CHECK(response.rfind("HTTP/1.1 505 HTTP Version Not Supported\r\n", 0) == 0);
        CHECK(response.find("Connection: close\r\n") != std::string::npos);
        CHECK(nlohmann::json::parse(body_of(response)) ==
              nlohmann::json{{"detail", version + " is not supported: this server speaks HTTP/1.1"}});
    }
    // A later minor version is 1.1: served, kept alive, answered as HTTP/1.1; then empty lines
    // before the next request line (as a client may send after a body) are passed over.
    RawConnection raw(port);
    raw.send_all(
        "GET /healthz HTTP/1.9\r\nHost: x\r\n\r\n\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n"
        "Connection: close\r\n\r\n");
    const auto both = raw.read_until_closed(5s);
    CHECK(both.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    const auto second = both.find("HTTP/1.1 200 OK\r\n", 10);
    CHECK(second != std::string::npos);
    CHECK(both.substr(0, second).find("Connection: close") == std::string::npos);
    server.stop();
}

TEST_CASE("absolute-form targets are routed on their path and query; authority and asterisk forms are 400")
{
    auto& b = clean_books();
    ServeProcess server(book_env(b));
    const int port = server.port();
    const auto exchange = [&](const std::string& target, const std::string& headers = "") {
        RawConnection raw(port);
        raw.send_all("GET " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + headers + "\r\n");
        return raw.read_until_closed(5s);
    };
    const std::string authority = fmt::format("127.0.0.1:{}", port);
    auto response = exchange("http://" + authority + "/healthz");
    CHECK(raw_status(response) == 200);
    CHECK(nlohmann::json::parse(body_of(response))["status"] == "ok");
    // The query is the target's: a bad value there is the route's own 400.
    const std::string token = "X-Ledger-Token: " + read_token + "\r\n";
    response = exchange("http://" + authority + "/v1/reconciliation/runs?limit=501", token);
    CHECK(raw_status(response) == 400);
    CHECK(nlohmann::json::parse(body_of(response)) == nlohmann::json{{"detail", "limit must be at most 500"}});
    response = exchange("HTTPS://reconcile.example/v1/reconciliation/runs?limit=1&book=uae", token);
    CHECK(raw_status(response) == 200);
    CHECK(nlohmann::json::parse(body_of(response))["runs"] == nlohmann::json::array());
    CHECK(raw_status(exchange("http://" + authority)) == 200);  // an empty path is "/", the console
    CHECK(raw_status(exchange("http://" + authority + "/nowhere")) == 404);
    for (const std::string& target : std::vector<std::string>{
             authority, "*", "http:///healthz", "http://user@x/healthz", "ftp://x/healthz", "healthz", "/healthz#top",
             "/healthz?a=1#top", "http://" + authority + "/healthz#top"}) {
        CAPTURE(target);
        response = exchange(target);
        CHECK(raw_status(response) == 400);
        CHECK(nlohmann::json::parse(body_of(response)) == nlohmann::json{{"detail", "malformed request target"}});
    }
    // OPTIONS * asks about the server itself (RFC 9110 9.3.7): 200, the methods it serves, no
    // content, and the connection stays open for the next request.
    RawConnection raw(port);
    raw.send_all(
        "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(raw.closed_within(5s));
    const std::string answers = raw.received();
    CHECK(raw_status(answers) == 200);
    const std::string first = answers.substr(0, answers.find("\r\n\r\n") + 4);
    CHECK(first.find("\r\nAllow: GET, HEAD, POST, OPTIONS\r\n") != std::string::npos);
    CHECK(first.find("\r\nContent-Length: 0\r\n") != std::string::npos);
    CHECK(first.find("\r\nContent-Type:") == std::string::npos);
    const auto second = answers.find("HTTP/1.1 ", first.size());
    REQUIRE(second != std::string::npos);
    CHECK(raw_status(answers.substr(second)) == 200);
    // Any other method with it is a malformed target (3.2.4: only OPTIONS uses it); without a
    // body nothing of the request is left unread, so the connection serves the next one.
    for (const char* method : {"GET", "POST", "DELETE"}) {
        CAPTURE(method);
        RawConnection other(port);
        other.send_all(std::string(method) +
                       " * HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
                       "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        CHECK(other.closed_within(5s));
        const std::string refused = other.received();
        CHECK(raw_status(refused) == 400);
        const auto next = refused.find("HTTP/1.1 ", 9);
        REQUIRE(next != std::string::npos);
        CHECK(raw_status(refused.substr(next)) == 200);
    }
    server.stop();
}

TEST_CASE(
    "RFC 9112 edges: 414 and 431, 100 Continue only to HTTP/1.1, control characters in chunk extensions, a long "
    "Content-Length 413, an encoded slash 404, bodiless refusals keep the connection")
{
    auto& b = clean_books();
    ServeProcess server(book_env(b, {{"RECON_BOOKS", "uae"}}));
    const int port = server.port();
    const auto closed_answer = [&](const std::string& request) {
        RawConnection raw(port);
        raw.send_all(request);
        CHECK(raw.closed_within(15s));
        return raw.received();
    };
    // A request line that never ends within the 64 KiB of a head is a target too long (RFC 9112
    // 3: 414); past the request line, the header section is (RFC 6585 5: 431).
    auto response = closed_answer("GET /" + std::string(70000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(raw_status(response) == 414);
    CHECK(nlohmann::json::parse(body_of(response)) ==
          nlohmann::json{{"detail", "the request line exceeds 65536 bytes"}});
    response = closed_answer("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(70000, 'a') + "\r\n\r\n");
    CHECK(raw_status(response) == 431);

    // Expect: 100-continue is answered with 100 from HTTP/1.1 on; an HTTP/1.0 client is never
    // sent a 1xx (RFC 9110 10.1.1, 15.2), only the final answer.
    const std::string body = R"({"colour":"red"})";
    const auto post = [&](const char* version, const std::string& framing, const std::string& content) {
        return closed_answer(
            fmt::format("POST /v1/reconciliation/run HTTP/{}\r\nHost: x\r\nX-Ledger-Admin-Token: {}\r\n"
                        "Content-Type: application/json\r\nConnection: close\r\n{}\r\n{}",
                        version, admin_token, framing, content));
    };
    const std::string expect = fmt::format("Expect: 100-continue\r\nContent-Length: {}\r\n", body.size());
    response = post("1.1", expect, body);
    CHECK(response.rfind("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 400 ", 0) == 0);
    response = post("1.0", expect, body);
    CHECK(response.find("100 Continue") == std::string::npos);
    CHECK(raw_status(response) == 400);
    CHECK(response.find("unknown field") != std::string::npos);

    // A chunk extension is a token or a quoted string, neither of which holds a control
    // character but HTAB (RFC 9112 7.1.1): a bare LF or a NUL inside quotes is refused, the
    // body never reaching the handler; a tab is fine.
    const std::string chunked = "Transfer-Encoding: chunked\r\n";
    const auto chunks = [&](const std::string& extension) {
        return fmt::format("{:x};a=\"{}\"\r\n{}\r\n0\r\n\r\n", body.size(), extension, body);
    };
    for (const std::string& extension : {std::string("x\ny"), std::string("x\0y", 3), std::string("x\x7fy")}) {
        CAPTURE(extension);
        response = post("1.1", chunked, chunks(extension));
        CHECK(raw_status(response) == 400);
        CHECK(nlohmann::json::parse(body_of(response)) == nlohmann::json{{"detail", "malformed HTTP request body"}});
    }
    response = post("1.1", chunked, chunks("x\ty"));
    CHECK(raw_status(response) == 400);
    CHECK(response.find("unknown field") != std::string::npos);

    // Content-Length is any number of digits (RFC 9110 8.6): twenty is past the limit, not invalid.
    response = post("1.1", "Content-Length: 99999999999999999999\r\n", "");
    CHECK(raw_status(response) == 413);

    // A pipelined GET refused by the router (404, 405, 401, an encoded slash, which is no slash:
    // RFC 3986 2.2) leaves nothing unread: the connection serves the next request.
    RawConnection raw(port);
    raw.send_all(
        "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
        "POST /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /v1/reconciliation/runs HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /v1/reconciliation%2Fruns HTTP/1.1\r\nHost: x\r\nX-Ledger-Token: " +
        read_token +
        "\r\n\r\n"
        "GET /v1/reconciliation/%72uns?limit=1 HTTP/1.1\r\nHost: x\r\nX-Ledger-Token: " +
        read_token + "\r\nConnection: close\r\n\r\n");
    CHECK(raw.closed_within(10s));
    std::vector<int> statuses;
    const std::string& answers = raw.received();
    for (auto at = answers.find("HTTP/1.1 "); at != std::string::npos; at = answers.find("HTTP/1.1 ", at + 1)) {
        statuses.push_back(raw_status(answers.substr(at)));
    }
    CHECK(statuses == std::vector<int>{404, 405, 401, 404, 200});
    CHECK(answers.find("no such endpoint: /v1/reconciliation%2Fruns") != std::string::npos);
    CHECK(answers.substr(0, answers.rfind("HTTP/1.1 200")).find("Connection: close") == std::string::npos);

    // A book that is not configured is the request's fault, whether a customer is named or not;
    // 404 is for a customer the book does not know.
    for (const char* target :
         {"/v1/india/ledger-recon", "/v1/india/ledger-recon?customer=C001", "/v1/india/holdings-recon?customer=C001"}) {
        CAPTURE(target);
        const auto india = http_get(port, target, {{"X-Ledger-Token", read_token}});
        CHECK(india.status == 400);
        CHECK(india.json()["detail"] == "unknown book 'india' (RECON_BOOKS is uae)");
    }
    server.stop();
}

TEST_CASE("chunked framing (RFC 9112 7.1): a bare CR or LF in a chunk line or the trailer section is 400 at once")
{
    auto& b = clean_books();
    // A read deadline far past the test's waits: an answer within them is not the 408.
    ServeProcess server(book_env(b, {{"RECON_BOOKS", "uae"}, {"RECON_SERVE_READ_TIMEOUT_SECONDS", "60"}}));
    const std::string head = "POST /v1/reconciliation/run HTTP/1.1\r\nHost: x\r\nX-Ledger-Admin-Token: " + admin_token +
                             "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    const std::string chunk = "10\r\n{\"colour\":\"red\"}\r\n";
    const auto answer = [&](const std::string& rest) {
        RawConnection raw(server.port());
        raw.send_all(head + chunk + rest);
        CHECK(raw.closed_within(5s));
        return raw.received();
    };
    // The trailer section never ends in a CRLF CRLF; each is refused as soon as it arrives.
    for (const std::string rest : {"0\r\nX-Trailer: a\n", "0\r\nX-Trailer: a\nX-Other: b\n\n", "0\r\nX-Trailer: a\rb",
                                   "0\r\nX-Trailer: a\nX-Other: b\r\n\r\n", "0\n", "5\nhello\r\n"}) {
        CAPTURE(rest);
        const auto response = answer(rest);
        CHECK(raw_status(response) == 400);
        CHECK(raw_header(response, "Connection") == "close");
    }
    CHECK(body_of(answer("0\r\nX-Trailer: a\n")) == R"({"detail":"a bare CR or LF in the chunked body's framing"})");
    // A well-formed trailer, folded or not, is read and discarded: the body reaches the handler.
    for (const std::string rest : {"0\r\nX-Trailer: a\r\n\r\n", "0\r\nX-Trailer: a\r\n b\r\n\r\n"}) {
        CAPTURE(rest);
        RawConnection raw(server.port());
        raw.send_all(head + chunk + rest);
        CHECK(wait_for([&] { return raw.closed_within(100ms) || raw_status(raw.received()) != 0; }, 5s));
        CHECK(raw.received().find("unknown field") != std::string::npos);
    }
    server.stop();
}

TEST_CASE("invalid UTF-8 in the path, the query or the body is a 400, logged below error")
{
    auto& b = clean_books();
    ServeProcess server(book_env(b));
    const int port = server.port();
    auto reply = http_get(port, "/v1/india/ledger_recon?customer=%FF", read_headers());
    CHECK(reply.status == 400);
    CHECK(reply.json() == nlohmann::json{{"detail", "the query string is not valid UTF-8"}});
    reply = http_get(port, "/v1/reconciliation/runs/%C0%AF", read_headers());
    CHECK(reply.status == 400);
    CHECK(reply.json() == nlohmann::json{{"detail", "the request path is not valid UTF-8"}});
    reply = http_post(port, "/v1/reconciliation/run", admin_headers(), "{\"book\":\"\xff\"}");
    CHECK(reply.status == 400);
    CHECK(reply.json() == nlohmann::json{{"detail", "the request body is not valid UTF-8"}});
    reply = http_get(port, "/v1/reconciliation/runs?status=%ZZ", read_headers());
    CHECK(reply.status == 400);
    // curl's default form type is not JSON.
    reply = http_post(port, "/v1/reconciliation/run", admin_headers(), R"({"category":"A"})",
                      "application/x-www-form-urlencoded");
    CHECK(reply.status == 415);
    CHECK(b.uae.query_value("SELECT count(*) FROM recon.runs") == "0");
    const auto result = server.stop();
    CHECK(result.err.find("reconcile: error:") == std::string::npos);
    CHECK(result.err.find("internal error") == std::string::npos);
}

TEST_CASE("tokens compare as exact bytes; control characters in a request are escaped in the log")
{
    auto& b = clean_books();
    ServeProcess server(book_env(b));
    const int port = server.port();
    for (const std::string& token :
         {read_token + std::string(1, '\0') + "tail", read_token + "x", read_token.substr(0, read_token.size() - 1)}) {
        RawConnection raw(port);
        raw.send_all("GET /v1/reconciliation/runs HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Ledger-Token: " +
                     token + "\r\n\r\n");
        const int status = raw_status(raw.read_until_closed(5s));
        CHECK((status == 401 || status == 400));
    }
    RawConnection raw(port);
    raw.send_all("GET /\x1b[31mred HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(raw_status(raw.read_until_closed(5s)) == 400);
    CHECK(http_get(port, "/v1/%1b]0;title%07", read_headers()).status == 404);
    RawConnection c1(port);  // U+009B, the C1 CSI, in UTF-8
    c1.send_all(
        "GET /\xc2\x9b"
        "31mred HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(raw_status(c1.read_until_closed(5s)) == 404);
    const auto result = server.stop();
    CHECK(result.err.find('\x1b') == std::string::npos);
    CHECK(result.err.find('\x07') == std::string::npos);
    CHECK(result.err.find("\xc2\x9b") == std::string::npos);
    CHECK(result.err.find("GET /\\x1b[31mred 400") != std::string::npos);
    CHECK(result.err.find("GET /\\xc2\\x9b31mred 404") != std::string::npos);
}

TEST_CASE("a hanging book: /metrics and /readyz answer within the probe deadline and name it down")
{
    auto& b = clean_books();
    // A database that accepts the connection and never says a word.
    const int silent = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(silent, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(silent, 16) == 0);
    socklen_t length = sizeof address;
    ::getsockname(silent, reinterpret_cast<sockaddr*>(&address), &length);
    const std::string hanging = fmt::format("postgresql://postgres@127.0.0.1:{}/nowhere", ntohs(address.sin_port));

    ServeProcess healthy(book_env(b));
    auto reply = http_get(healthy.port(), "/readyz");
    CHECK(reply.status == 200);
    CHECK(reply.json() ==
          nlohmann::json{{"status", "ready"}, {"books", {{"uae", {{"up", true}}}, {"india", {{"up", true}}}}}});
    reply = http_get(healthy.port(), "/metrics", read_headers());
    CHECK(reply.body.find("reconcile_build_info{version=\"" RECON_VERSION "\"} 1\n") != std::string::npos);
    healthy.stop();

    ServeProcess server(
        book_env(b, {{"RECON_DATABASE_URL_INDIA", hanging}, {"RECON_SERVE_PROBE_TIMEOUT_SECONDS", "2"}}));
    const int port = server.port();
    for (int round = 0; round < 2; ++round) {  // the second while the first probe still hangs
        CAPTURE(round);
        auto before = std::chrono::steady_clock::now();
        reply = http_get(port, "/metrics", read_headers());
        auto took = std::chrono::duration<double>(std::chrono::steady_clock::now() - before).count();
        CHECK(reply.status == 200);
        CHECK(took < 3.0);
        CHECK(reply.body.find("reconcile_book_up{book=\"india\"} 0\n") != std::string::npos);
        CHECK(reply.body.find("reconcile_book_up{book=\"uae\"} 1\n") != std::string::npos);

        before = std::chrono::steady_clock::now();
        reply = http_get(port, "/readyz");
        took = std::chrono::duration<double>(std::chrono::steady_clock::now() - before).count();
        CHECK(reply.status == 503);
        CHECK(took < 3.0);
        const auto document = reply.json();
        CHECK(document["status"] == "not ready");
        CHECK(document["books"]["uae"] == nlohmann::json{{"up", true}});
        CHECK(document["books"]["india"]["up"] == false);
        CHECK(document["detail"].get<std::string>().rfind("book india is down: ", 0) == 0);
    }
    CHECK(http_get(port, "/healthz").status == 200);
    server.stop();
    ::close(silent);
}

TEST_CASE("runs_total never goes down: pruning the history keeps the counters")
{
    auto& b = clean_books();
    ServeProcess server(book_env(b));
    const int port = server.port();
    for (int i = 0; i < 2; ++i) {
        REQUIRE(http_post(port, "/v1/reconciliation/run", admin_headers(), R"({"book":"uae","category":"D"})").status ==
                200);
    }
    const std::string line = "reconcile_runs_total{book=\"uae\",category=\"D\",status=\"ok\"} 2\n";
    CHECK(http_get(port, "/metrics", read_headers()).body.find(line) != std::string::npos);
    b.uae.exec("TRUNCATE recon.runs CASCADE");  // an operator prunes old history
    CHECK(http_get(port, "/metrics", read_headers()).body.find(line) != std::string::npos);
    REQUIRE(http_post(port, "/v1/reconciliation/run", admin_headers(), R"({"book":"uae","category":"D"})").status ==
            200);
    CHECK(http_get(port, "/metrics", read_headers())
              .body.find("reconcile_runs_total{book=\"uae\",category=\"D\",status=\"ok\"} 3\n") != std::string::npos);
    server.stop();
}

TEST_CASE("connection caps: past the per-client cap a 503 with Retry-After at once; other clients unaffected")
{
    auto& b = clean_books();
    ServeProcess server(book_env(b, {{"RECON_SERVE_MAX_CONNECTIONS_PER_CLIENT", "2"}}));
    const int port = server.port();
    RawConnection first(port);
    RawConnection second(port);
    first.send_all("GET /hea");  // both held open, mid-request
    second.send_all("GET /hea");
    const auto before = std::chrono::steady_clock::now();
    RawConnection third(port);
    const auto response = third.read_until_closed(3s);
    CHECK(std::chrono::duration<double>(std::chrono::steady_clock::now() - before).count() < 1.5);
    CHECK(raw_status(response) == 503);
    CHECK(response.find("Retry-After: 1\r\n") != std::string::npos);
    CHECK(response.find("X-Content-Type-Options: nosniff\r\n") != std::string::npos);
    CHECK(response.find("\r\nDate: ") != std::string::npos);
    CHECK(nlohmann::json::parse(body_of(response))["detail"] ==
          "too many connections from 127.0.0.1 (2 open); retry later");
    const auto metrics_line = [&] {
        RawConnection other(port, "127.0.0.2");  // another loopback address: its own allowance
        other.send_all("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Ledger-Token: " + read_token +
                       "\r\n\r\n");
        return other.read_until_closed(5s);
    };
    const auto metrics = metrics_line();
    CHECK(raw_status(metrics) == 200);
    CHECK(metrics.find("reconcile_http_rejected_connections_total 1\n") != std::string::npos);
    server.stop();
}

namespace {

/// Awaits one whole response on a connection that stays open (Content-Length framed); fails the
/// test when the connection closes or nothing whole arrives within 5 s. Returns it, and leaves
/// nothing of it in `received()` for the next call to find.
std::string await_response(RawConnection& raw, std::size_t& consumed)
{
    std::string response;
    const bool whole = wait_for(
        [&] {
            const std::string_view rest = std::string_view(raw.received()).substr(consumed);
            const auto end = rest.find("\r\n\r\n");
            if (end != std::string_view::npos) {
                const auto at = rest.find("Content-Length: ");
                const auto length = std::stoul(std::string(rest.substr(at + 16, rest.find("\r\n", at) - at - 16)));
                if (rest.size() >= end + 4 + length) {
                    response = rest.substr(0, end + 4 + length);
                    consumed += response.size();
                    return true;
                }
            }
            CHECK_FALSE(raw.closed_within(20ms));
            return false;
        },
        5s);
    CHECK(whole);
    return response;
}

}  // namespace

TEST_CASE("connection caps: past RECON_SERVE_MAX_CONNECTIONS a 503 with Retry-After at once, whatever the address")
{
    auto& b = clean_books();
    ServeProcess server(book_env(b, {{"RECON_SERVE_MAX_CONNECTIONS", "3"}}));
    const int port = server.port();
    // Three clients, each from its own address (far under the per-client cap), each served once
    // and kept alive: the server counts all three open.
    std::vector<std::unique_ptr<RawConnection>> held;
    std::vector<std::size_t> consumed(3, 0);
    for (const char* source : {"127.0.0.2", "127.0.0.3", "127.0.0.4"}) {
        held.push_back(std::make_unique<RawConnection>(port, source));
        held.back()->send_all("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        CHECK(raw_status(await_response(*held.back(), consumed[held.size() - 1])) == 200);
    }
    const auto before = std::chrono::steady_clock::now();
    RawConnection fourth(port, "127.0.0.5");
    const auto refused = fourth.read_until_closed(3s);  // without sending a byte
    CHECK(std::chrono::duration<double>(std::chrono::steady_clock::now() - before).count() < 1.0);
    CHECK(raw_status(refused) == 503);
    CHECK(refused.find("Retry-After: 1\r\n") != std::string::npos);
    CHECK(refused.find("Connection: close\r\n") != std::string::npos);
    CHECK(nlohmann::json::parse(body_of(refused)) ==
          nlohmann::json{{"detail", "server busy: 3 connections are open; retry later"}});
    // The held ones are still served; once one leaves, a newcomer is admitted.
    held[1]->send_all("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(raw_status(await_response(*held[1], consumed[1])) == 200);
    held[0].reset();
    std::string admitted;
    CHECK(wait_for(
        [&] {
            RawConnection next(port, "127.0.0.5");
            next.send_all("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            admitted = next.read_until_closed(3s);
            return raw_status(admitted) != 503;
        },
        5s));
    CHECK(raw_status(admitted) == 200);
    server.stop();
}

TEST_CASE("keep-alive: an idle connection is closed after RECON_SERVE_KEEPALIVE_SECONDS; the 100th request closes")
{
    auto& b = clean_books();
    ServeProcess server(book_env(b, {{"RECON_SERVE_KEEPALIVE_SECONDS", "1"}}));
    const int port = server.port();
    {
        RawConnection raw(port);
        std::size_t consumed = 0;
        for (int i = 0; i < 2; ++i) {  // the idle limit restarts after each answer
            raw.send_all("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
            const auto response = await_response(raw, consumed);
            CHECK(raw_status(response) == 200);
            CHECK(response.find("Connection: close") == std::string::npos);
            if (i == 0) CHECK_FALSE(raw.closed_within(700ms));
        }
        const auto idle_from = std::chrono::steady_clock::now();
        CHECK(raw.closed_within(5s));
        const double idle = std::chrono::duration<double>(std::chrono::steady_clock::now() - idle_from).count();
        CHECK(idle >= 0.9);
        CHECK(idle < 2.5);
        CHECK(raw.received().size() == consumed);  // closed without a word
    }
    {
        // 101 requests pipelined on one connection: 100 answers, the last says Connection: close.
        RawConnection raw(port);
        std::string requests;
        for (int i = 0; i < 101; ++i) requests += "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
        raw.send_all(requests);
        CHECK(raw.closed_within(10s));
        const std::string& all = raw.received();
        std::vector<std::size_t> starts;
        for (auto at = all.find("HTTP/1.1 "); at != std::string::npos; at = all.find("HTTP/1.1 ", at + 1)) {
            starts.push_back(at);
        }
        REQUIRE(starts.size() == 100);
        for (std::size_t i = 0; i < starts.size(); ++i) {
            CAPTURE(i);
            const auto answer =
                all.substr(starts[i], i + 1 < starts.size() ? starts[i + 1] - starts[i] : std::string::npos);
            CHECK(raw_status(answer) == 200);
            CHECK((answer.find("Connection: close\r\n") != std::string::npos) == (i == 99));
        }
    }
    server.stop();
}

TEST_CASE("409 when the lock's holder has just finished: the detail says so and names the last run")
{
    auto& b = clean_books();
    ServeProcess server(book_env(b));
    const int port = server.port();
    const std::string run = R"({"book":"uae","category":"D"})";
    // The lock held with no run in progress: what a finished run looks like between writing its
    // result and releasing the lock (it still sends its alerts), or after its row was written.
    pqxx::connection holder(b.uae.url());
    pqxx::nontransaction txn(holder);
    const auto key = advisory_lock_key(run_lock_scope("uae", Category::D));
    txn.exec_params("SELECT pg_advisory_lock($1)", key);
    auto reply = http_post(port, "/v1/reconciliation/run", admin_headers(), run);
    CHECK(reply.status == 409);
    CHECK(reply.json() == nlohmann::json{{"book", "uae"},
                                         {"category", "D"},
                                         {"detail", "a run of uae/D was in progress and has just finished; retry"}});

    txn.exec_params("SELECT pg_advisory_unlock($1)", key);
    reply = http_post(port, "/v1/reconciliation/run", admin_headers(), run);
    REQUIRE(reply.status == 200);
    CHECK(reply.json()["status"] == "ok");
    const auto last = reply.json()["run_id"].get<std::int64_t>();
    txn.exec_params("SELECT pg_advisory_lock($1)", key);
    reply = http_post(port, "/v1/reconciliation/run", admin_headers(), run);
    CHECK(reply.status == 409);
    CHECK(
        reply.json() ==
        nlohmann::json{
            {"book", "uae"},
            {"category", "D"},
            {"last_run_id", last},
            {"href", fmt::format("/v1/reconciliation/runs/{}?book=uae", last)},
            {"detail", fmt::format("a run of uae/D was in progress and has just finished: run {} (ok); retry", last)}});
    txn.exec_params("SELECT pg_advisory_unlock($1)", key);
    CHECK(b.uae.query_value("SELECT count(*) FROM recon.runs") == "1");
    server.stop();
}

TEST_CASE("journald: log lines carry the <N> priority when JOURNAL_STREAM names stderr, and only then")
{
    auto& b = clean_books();
    // stderr is a file whose device:inode the test knows; the binary fails to start (port out of
    // range: a usage error, logged at error level) and writes one line there.
    const std::string path = fmt::format("/tmp/reconcile-journal-{}", getpid());
    const auto stderr_of = [&](const std::optional<std::string>& journal_stream) {
        {
            std::ofstream truncate(path);
        }
        struct stat info {};
        REQUIRE(::stat(path.c_str(), &info) == 0);
        auto options = book_env(b);
        if (!journal_stream) options.unset_env.push_back("JOURNAL_STREAM");
        if (journal_stream) {
            options.env["JOURNAL_STREAM"] =
                *journal_stream == "self" ? fmt::format("{}:{}", info.st_dev, info.st_ino) : *journal_stream;
        }
        const auto result = run_process(
            {"/bin/sh", "-c", "exec \"$0\" serve --port 70000 2>>\"$1\"", reconcile_binary(), path}, options);
        CHECK(result.exit_code == 64);
        std::ifstream in(path);
        return std::string(std::istreambuf_iterator<char>(in), {});
    };
    const auto line = stderr_of("self");
    CHECK(line.rfind("<3>reconcile: error: ", 0) == 0);
    CHECK(std::count(line.begin(), line.end(), '\n') == 1);
    struct stat info {};
    REQUIRE(::stat(path.c_str(), &info) == 0);
    const std::string plain = line.substr(3);
    // Another stream (the same device, another inode), garbage, or none: no prefix.
    CHECK(stderr_of(fmt::format("{}:{}", info.st_dev, info.st_ino + 1)) == plain);
    CHECK(stderr_of(std::string("journal")) == plain);
    CHECK(stderr_of(std::nullopt) == plain);
    ::unlink(path.c_str());
}

TEST_CASE("systemd: READY=1 once listening and WATCHDOG=1 pings when the watchdog is on")
{
    auto& b = clean_books();
    const std::string path = "/tmp/reconcile-notify-" + std::to_string(getpid());
    ::unlink(path.c_str());
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    ServeProcess server(book_env(b, {{"NOTIFY_SOCKET", path}, {"WATCHDOG_USEC", "400000"}}));
    std::string messages;
    const bool pinged = wait_for(
        [&] {
            char buffer[4096];
            ssize_t n;
            while ((n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT)) > 0) {
                messages.append(buffer, static_cast<std::size_t>(n));
                messages.push_back('|');
            }
            return messages.find("WATCHDOG=1|WATCHDOG=1|") != std::string::npos;
        },
        5s);
    CHECK(pinged);
    CHECK(messages.rfind("READY=1\nSTATUS=listening on 127.0.0.1:" + std::to_string(server.port()) + "|", 0) == 0);
    server.stop();
    char buffer[4096];
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
    ::close(fd);
    ::unlink(path.c_str());
    (void)n;
}

TEST_CASE("an API run logs the one line every finished run logs, with its trigger")
{
    auto& b = clean_books();
    b.uae.exec("UPDATE ledger.journal_lines SET amount = 90.00 WHERE line_id = 2");
    ServeProcess server(book_env(b));
    const auto reply =
        http_post(server.port(), "/v1/reconciliation/run", admin_headers(), R"({"book":"uae","category":"A"})");
    REQUIRE(reply.status == 200);
    const std::string id = std::to_string(reply.json()["run_id"].get<std::int64_t>());
    const std::string ms = b.uae.query_value("SELECT duration_ms FROM recon.runs WHERE run_id = " + id);
    const auto stopped = server.stop();
    // lib/output.hpp run_finished_message: as `run` (trigger manual) and the scheduler write it.
    CHECK(stopped.err.find("\nreconcile: warn: run " + id + " of uae/A (api) finished fail in " + ms +
                           " ms (exit 1): 1 check(s) failed\n") != std::string::npos);
}

namespace {

/// A book database that accepts TCP connections and never says a word (as in the /metrics case
/// above): every request's database work must still end within the deadline.
class SilentDatabase {
public:
    SilentDatabase() : m_fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0))
    {
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(m_fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
        REQUIRE(::listen(m_fd, 64) == 0);
        socklen_t length = sizeof address;
        ::getsockname(m_fd, reinterpret_cast<sockaddr*>(&address), &length);
        m_url = fmt::format("postgresql://postgres@127.0.0.1:{}/nowhere", ntohs(address.sin_port));
    }
    ~SilentDatabase() { ::close(m_fd); }
    SilentDatabase(const SilentDatabase&) = delete;
    SilentDatabase& operator=(const SilentDatabase&) = delete;
    const std::string& url() const { return m_url; }

private:
    int m_fd;
    std::string m_url;
};

/// One timed exchange.
struct TimedReply {
    HttpResult reply;
    double seconds = 0;
};

TimedReply timed(const std::function<HttpResult()>& exchange)
{
    const auto before = std::chrono::steady_clock::now();
    TimedReply result{.reply = exchange()};
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - before).count();
    return result;
}

}  // namespace

TEST_CASE("a hanging book: every request's database work answers 503 naming it within the deadline")
{
    auto& b = clean_books();
    SilentDatabase silent;
    // Two workers and a 2 s deadline: more hanging requests than workers below.
    ServeProcess server(book_env(b, {{"RECON_DATABASE_URL_INDIA", silent.url()},
                                     {"RECON_SERVE_PROBE_TIMEOUT_SECONDS", "2"},
                                     {"RECON_SERVE_WORKERS", "2"}}));
    const int port = server.port();
    // The deadline passed, or an earlier request to the book still hangs past it.
    const std::set<std::string> book_down{"book 'india': its database did not answer within 2000 ms",
                                          "book 'india': its database has not answered an earlier request yet"};
    const std::string fingerprint = "0123456789abcdef0123456789abcdef";
    const std::vector<std::pair<std::string, std::function<HttpResult()>>> requests{
        {"runs, every book", [&] { return http_get(port, "/v1/reconciliation/runs", read_headers()); }},
        {"runs of india", [&] { return http_get(port, "/v1/reconciliation/runs?book=india", read_headers()); }},
        {"one run", [&] { return http_get(port, "/v1/reconciliation/runs/1", read_headers()); }},
        {"variances", [&] { return http_get(port, "/v1/reconciliation/variances", read_headers()); }},
        {"daily", [&] { return http_get(port, "/v1/reconciliation/daily", read_headers()); }},
        {"trace", [&] { return http_get(port, "/v1/reconciliation/trace?book=india&txn=1", read_headers()); }},
        {"ack",
         [&] {
             return http_post(port, "/v1/reconciliation/variances/" + fingerprint + "/ack", admin_headers(),
                              R"({"class":"data","note":"rebuild"})");
         }},
        {"unack",
         [&] {
             return http_post(port, "/v1/reconciliation/variances/" + fingerprint + "/unack", admin_headers(), "");
         }},
    };
    for (const auto& [name, exchange] : requests) {
        CAPTURE(name);
        const auto [reply, seconds] = timed(exchange);
        CHECK(reply.status == 503);
        CHECK(seconds < 3.5);
        CHECK(book_down.count(reply.json()["detail"].get<std::string>()) == 1);
    }

    // A run whose database does not answer is not waited for past the deadline either.
    const auto run = timed([&] {
        return http_post(port, "/v1/reconciliation/run", admin_headers(), R"({"book":"india","category":"A"})");
    });
    CHECK(run.reply.status == 503);
    CHECK(run.seconds < 3.5);
    CHECK(
        run.reply.json() ==
        nlohmann::json{{"book", "india"},
                       {"category", "A"},
                       {"exit_code", 69},
                       {"detail", "book 'india': its database did not answer within 2000 ms; the run did not start"}});

    // Three times as many hanging requests as workers, all at once: each answers within the
    // deadline, the other book answers, and /healthz stays 200.
    std::vector<TimedReply> hanging(6);
    std::vector<std::thread> clients;
    for (auto& slot : hanging) {
        clients.emplace_back([&slot, port] {
            slot = timed([&] { return http_get(port, "/v1/reconciliation/runs?book=india", read_headers()); });
        });
    }
    const auto health = timed([&] { return http_get(port, "/healthz"); });
    for (auto& client : clients) client.join();
    CHECK(health.reply.status == 200);
    CHECK(health.seconds < 3.5);
    for (const auto& [reply, seconds] : hanging) {
        CHECK(reply.status == 503);
        CHECK(seconds < 3.5);
        CHECK(book_down.count(reply.json()["detail"].get<std::string>()) == 1);
    }
    const auto uae = timed([&] { return http_get(port, "/v1/reconciliation/runs?book=uae", read_headers()); });
    CHECK(uae.reply.status == 200);
    CHECK(uae.seconds < 3.5);
    CHECK(http_get(port, "/healthz").status == 200);
    // An abandoned call ends a second or two past its deadline (its session's connect timeout
    // follows the deadline, not the 10 s PGCONNECT_TIMEOUT default), so the next request to the
    // book soon makes a fresh call again, which the deadline ends.
    const auto fresh_call = [&] {
        return http_get(port, "/v1/reconciliation/runs?book=india", read_headers()).json()["detail"] ==
               "book 'india': its database did not answer within 2000 ms";
    };
    REQUIRE(wait_for(fresh_call, 15s));  // a call abandoned just now
    CHECK(wait_for(fresh_call, 3500ms));
    server.stop();
}

TEST_CASE("one of two books down: every route that reads or acts on every book answers 503 naming it")
{
    auto& b = clean_books();
    ServeProcess server(book_env(b, {{"RECON_DATABASE_URL_INDIA", "postgresql://postgres@127.0.0.1:1/nowhere"}}));
    const int port = server.port();
    const nlohmann::json down = {
        {"detail",
         "book 'india': cannot connect to the control database: connection to server at \"127.0.0.1\", port 1 "
         "failed: Connection refused"}};
    const std::string fingerprint = "0123456789abcdef0123456789abcdef";
    for (const auto& [name, reply] : std::vector<std::pair<std::string, HttpResult>>{
             {"runs", http_get(port, "/v1/reconciliation/runs", read_headers())},
             {"one run", http_get(port, "/v1/reconciliation/runs/1", read_headers())},
             {"variances", http_get(port, "/v1/reconciliation/variances", read_headers())},
             {"daily", http_get(port, "/v1/reconciliation/daily", read_headers())},
             {"ack", http_post(port, "/v1/reconciliation/variances/" + fingerprint + "/ack", admin_headers(),
                               R"({"class":"data","note":"rebuild"})")},
             {"unack",
              http_post(port, "/v1/reconciliation/variances/" + fingerprint + "/unack", admin_headers(), "")}}) {
        CAPTURE(name);
        CHECK(reply.status == 503);
        CHECK(reply.json() == down);
    }
    // The book that answers is read as ever.
    const auto uae = http_get(port, "/v1/reconciliation/runs?book=uae", read_headers());
    CHECK(uae.status == 200);
    CHECK(uae.json() == nlohmann::json{{"runs", nlohmann::json::array()}, {"next_cursor", nullptr}});
    server.stop();
}

TEST_CASE("a hung backend: a request waiting on a lock answers 503 within the deadline, and its statement ends")
{
    auto& b = clean_books();
    ServeProcess server(book_env(b, {{"RECON_SERVE_PROBE_TIMEOUT_SECONDS", "2"}}));
    const int port = server.port();
    // Another session holds the run history: the request's statement waits on the lock.
    pqxx::connection locker(b.uae.url());
    pqxx::work lock(locker);
    lock.exec("LOCK TABLE recon.runs IN ACCESS EXCLUSIVE MODE");
    const auto waiting = [&] {
        pqxx::connection observer(b.uae.url());
        pqxx::read_transaction txn(observer);
        return txn
            .exec(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'reconcile'"
                " AND datname = current_database() AND wait_event_type = 'Lock'")[0][0]
            .as<int>();
    };

    const auto reply = timed([&] { return http_get(port, "/v1/reconciliation/runs?book=uae", read_headers()); });
    CHECK(reply.reply.status == 503);
    CHECK(reply.seconds >= 1.9);
    CHECK(reply.seconds < 3.5);
    CHECK(reply.reply.json() == nlohmann::json{{"detail", "book 'uae': its database did not answer within 2000 ms"}});
    // The server cancels the abandoned statement (statement_timeout) while the lock is still held.
    CHECK(waiting() == 1);
    CHECK(wait_for([&] { return waiting() == 0; }, 5s));
    lock.abort();
    HttpResult after;
    // Each try has the 2 s deadline; a loaded machine (sanitizers, parallel tests) may need several.
    CHECK(wait_for(
        [&] {
            after = http_get(port, "/v1/reconciliation/runs?book=uae", read_headers());
            return after.status == 200;
        },
        20s));
    CHECK(after.json() == nlohmann::json{{"runs", nlohmann::json::array()}, {"next_cursor", nullptr}});
    server.stop();
}
