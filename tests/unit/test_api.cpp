// The API's pure parts: run bodies, list queries, cursors, tokens, serve settings, metrics text.
#include <doctest/doctest.h>

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <thread>

#include "checks/registry.hpp"
#include "lib/api.hpp"
#include "lib/hash.hpp"
#include "lib/log.hpp"
#include "lib/metrics.hpp"
#include "tests/support/cli.hpp"
#include "tests/support/exit_code_of.hpp"

using namespace reconcile;
using reconcile::test::exit_code_of;

namespace {

Settings two_books()
{
    return load_settings({{"RECON_BOOKS", "uae,india"},
                          {"RECON_DATABASE_URL_UAE", "host=/nowhere dbname=uae"},
                          {"RECON_DATABASE_URL_INDIA", "host=/nowhere dbname=india"}});
}

/// The status and detail of the HttpError an action throws (0 when it throws none).
std::pair<int, std::string> http_error_of(const std::function<void()>& action)
{
    try {
        action();
    } catch (const HttpError& e) {
        return {e.status(), e.what()};
    }
    return {0, ""};
}

HttpServerRequest request_with(std::initializer_list<std::pair<const char*, const char*>> headers)
{
    HttpServerRequest request;
    for (const auto& [name, value] : headers) request.headers.emplace_back(name, value);
    return request;
}

}  // namespace

TEST_CASE("run body: empty, a category, a book, checks")
{
    const auto settings = two_books();
    const auto& registry = default_registry();
    auto spec = parse_run_body("", settings, registry);
    CHECK_FALSE(spec.book);
    CHECK_FALSE(spec.category);
    CHECK(parse_run_body(" \n", settings, registry).checks.empty());
    spec = parse_run_body(R"({"category":"c"})", settings, registry);
    CHECK(spec.category == Category::C);
    spec = parse_run_body(R"({"category":"A","book":"india","checks":["trial_balance_zero"]})", settings, registry);
    CHECK(spec.book == "india");
    CHECK(spec.checks == std::vector<std::string>{"trial_balance_zero"});
    CHECK(parse_run_body("{}", settings, registry).checks.empty());
}

TEST_CASE("run body: every unknown field or value is a 400 naming it")
{
    const auto settings = two_books();
    const auto& registry = default_registry();
    const auto error = [&](const char* body) {
        return http_error_of([&] { parse_run_body(body, settings, registry); });
    };
    CHECK(error(R"({"category":"A","force":true})") ==
          std::pair<int, std::string>{400, "unknown field 'force' (known: book, category, checks)"});
    CHECK(error(R"({"category":"E"})") ==
          std::pair<int, std::string>{400, "category must be one of A, B, C, D, got 'E'"});
    CHECK(error(R"({"category":"AB"})").first == 400);
    CHECK(error(R"({"category":1})").first == 400);
    CHECK(error(R"({"book":"mars"})") ==
          std::pair<int, std::string>{400, "unknown book 'mars' (RECON_BOOKS is uae,india)"});
    CHECK(error(R"({"book":["uae"]})").first == 400);
    CHECK(error(R"({"checks":["trial_balance_zero"]})") == std::pair<int, std::string>{400, "checks needs a category"});
    CHECK(error(R"({"category":"D","checks":["trial_balance_zero"]})").first == 400);  // not in D
    CHECK(error(R"({"category":"A","checks":"trial_balance_zero"})").first == 400);
    CHECK(error(R"({"category":"A","checks":[1]})").first == 400);
    CHECK(error(R"(["A"])").first == 400);
    CHECK(error("category=A") ==
          std::pair<int, std::string>{400, "the body is not valid JSON (it stops making sense at byte 1 of 10)"});
    CHECK(error(R"({"category":"A")") ==
          std::pair<int, std::string>{400, "the body is not valid JSON (it stops making sense at byte 15 of 15)"});
    CHECK(error(R"(["A"])") ==
          std::pair<int, std::string>{400, R"(the body must be a JSON object such as {"category": "A"})"});
}

TEST_CASE("request bodies: a name given twice is refused at any depth; client text is shown escaped")
{
    const auto body_error = [](std::string_view body) { return http_error_of([&] { json_object_body(body, "{}"); }); };
    // Parsers disagree on which of two equal names wins: such a request is refused, never guessed.
    CHECK(body_error(R"({"category":"A","book":"uae","category":"B"})") ==
          std::pair<int, std::string>{400, "the body names 'category' twice in one object"});
    CHECK(body_error(R"({"a":{"b":1,"b":2}})") ==
          std::pair<int, std::string>{400, "the body names 'b' twice in one object"});
    CHECK(body_error(R"({"a":[{"b":1},{"b":2}],"c":{"b":3}})").first == 0);  // one name per object
    CHECK(body_error(" \r\n").first == 0);                                   // blank is {}

    const auto settings = two_books();
    // A NUL and an escape sequence the client sent are shown as text, the detail whole.
    CHECK(http_error_of([&] {
              parse_run_body("{\"category\":\"A\\u0000\\u001b[2J\"}", settings, default_registry());
          }) == std::pair<int, std::string>{400, "category must be one of A, B, C, D, got 'A\\x00\\x1b[2J'"});
    CHECK(http_error_of([&] {
              parse_run_body("{\"category\":\"A\",\"checks\":[\"x\\u0000y\\u001b[2J\"]}", settings, default_registry());
          }) == std::pair<int, std::string>{400, "unknown check 'x\\x00y\\x1b[2J' (see `reconcile checks`)"});
    // Valid JSON whose number no field can hold is the client's mistake, not the server's.
    CHECK(body_error(R"({"category":"A","wait":1e400})") ==
          std::pair<int, std::string>{400, "the body holds a number too large to read"});
    CHECK(body_error(R"({"a":[-1e999]})").first == 400);
}

TEST_CASE("run targets: a named book and category, else every configured book and A, B, D")
{
    auto settings = two_books();
    RunSpec spec;
    using Targets = std::vector<std::pair<std::string, Category>>;
    CHECK(run_targets(spec, settings) == Targets{{"uae", Category::A},
                                                 {"uae", Category::B},
                                                 {"uae", Category::D},
                                                 {"india", Category::A},
                                                 {"india", Category::B},
                                                 {"india", Category::D}});
    spec.category = Category::C;
    CHECK(run_targets(spec, settings) == Targets{{"uae", Category::C}, {"india", Category::C}});
    spec.book = "india";
    CHECK(run_targets(spec, settings) == Targets{{"india", Category::C}});
    settings = load_settings({{"RECON_BOOKS", "uae,india"}, {"RECON_DATABASE_URL_INDIA", "dbname=x"}});
    spec = {};
    spec.category = Category::A;
    CHECK(run_targets(spec, settings) == Targets{{"india", Category::A}});  // uae has no database
    settings = load_settings({{"RECON_BOOKS", "uae"}});
    CHECK(exit_code_of([&] { run_targets(spec, settings); }) == ExitCode::config);
}

TEST_CASE("run list query: filters, limit, cursor, and strictness")
{
    const auto settings = two_books();
    using Params = std::multimap<std::string, std::string>;
    auto query = parse_run_list_query({}, settings);
    CHECK(query.books == std::vector<std::string>{"uae", "india"});
    CHECK(query.filter.limit == 20);
    CHECK(query.cursor.empty());
    query = parse_run_list_query(Params{{"book", "india"},
                                        {"category", "d"},
                                        {"status", "fail"},
                                        {"since", "2026-11-28T00:00:00Z"},
                                        {"limit", "500"}},
                                 settings);
    CHECK(query.books == std::vector<std::string>{"india"});
    CHECK(query.filter.category == Category::D);
    CHECK(query.filter.status == RunStatus::fail);
    CHECK(format_utc(*query.filter.since) == "2026-11-28T00:00:00.000Z");
    CHECK(query.filter.limit == 500);
    query = parse_run_list_query(Params{{"cursor", encode_cursor({{"uae", 17}, {"india", 4}})}}, settings);
    CHECK(query.cursor == std::map<std::string, std::int64_t>{{"india", 4}, {"uae", 17}});

    const auto status = [&](Params params) {
        return http_error_of([&] { parse_run_list_query(params, settings); }).first;
    };
    CHECK(status({{"books", "uae"}}) == 400);
    CHECK(status({{"book", "mars"}}) == 400);
    CHECK(status({{"book", "uae"}, {"book", "india"}}) == 400);
    CHECK(status({{"category", "X"}}) == 400);
    CHECK(status({{"status", "weird"}}) == 400);
    CHECK(status({{"since", "yesterday"}}) == 400);
    CHECK(status({{"limit", "0"}}) == 400);
    CHECK(status({{"limit", "501"}}) == 400);
    CHECK(status({{"limit", "ten"}}) == 400);
    CHECK(status({{"cursor", "not-a-cursor"}}) == 400);
    CHECK(status({{"cursor", base64url_encode(R"({"uae":-1})")}}) == 400);
}

TEST_CASE("tokens: admin for writes; read or admin for reads; bearer accepted for reads")
{
    const AccessTokens tokens{.admin = "admin-token-0123456789", .read = "read-token-0123456789"};
    const auto check = [&](Access access, std::initializer_list<std::pair<const char*, const char*>> headers) {
        return authorization_failure(request_with(headers), access, tokens);
    };
    CHECK_FALSE(check(Access::open, {}));
    CHECK_FALSE(check(Access::admin, {{"X-Ledger-Admin-Token", "admin-token-0123456789"}}));
    CHECK(check(Access::admin, {}) == "missing X-Ledger-Admin-Token header (this endpoint writes)");
    CHECK(check(Access::admin, {{"X-Ledger-Admin-Token", "admin-token-012345678"}}) == "invalid token");
    CHECK(check(Access::admin, {{"X-Ledger-Token", "read-token-0123456789"}}) ==
          "missing X-Ledger-Admin-Token header (this endpoint writes)");
    CHECK(check(Access::admin, {{"X-Ledger-Admin-Token", "read-token-0123456789"}}) == "invalid token");
    CHECK_FALSE(check(Access::read, {{"X-Ledger-Token", "read-token-0123456789"}}));
    CHECK_FALSE(check(Access::read, {{"X-Ledger-Admin-Token", "admin-token-0123456789"}}));
    CHECK_FALSE(check(Access::read, {{"X-Ledger-Token", "admin-token-0123456789"}}));
    CHECK_FALSE(check(Access::read, {{"Authorization", "Bearer read-token-0123456789"}}));
    CHECK(check(Access::read, {}) == "missing X-Ledger-Token header");
    CHECK(check(Access::read, {{"X-Ledger-Token", "read-token-012345678X"}}) == "invalid token");
    CHECK(check(Access::read, {{"Authorization", "Basic cmVhZA=="}}) == "missing X-Ledger-Token header");
    const AccessTokens admin_only{.admin = "admin-token-0123456789"};
    CHECK(authorization_failure(request_with({{"X-Ledger-Token", "read-token-0123456789"}}), Access::read,
                                admin_only) == "invalid token");
    // The bearer scheme is case-insensitive, with one or more spaces before the token (RFC 9110
    // 11.4, RFC 6750 2.1); a writer may send the admin token as a bearer token, never the read one.
    CHECK_FALSE(check(Access::read, {{"Authorization", "bearer read-token-0123456789"}}));
    CHECK_FALSE(check(Access::read, {{"Authorization", "BEARER   read-token-0123456789 "}}));
    CHECK(check(Access::read, {{"Authorization", "Bearerread-token-0123456789"}}) == "missing X-Ledger-Token header");
    CHECK(check(Access::read, {{"Authorization", "Bearer "}}) == "missing X-Ledger-Token header");
    CHECK_FALSE(check(Access::admin, {{"Authorization", "Bearer admin-token-0123456789"}}));
    CHECK(check(Access::admin, {{"Authorization", "Bearer read-token-0123456789"}}) == "invalid token");
    // A credential given twice is refused, whichever of the two is right.
    CHECK(check(Access::read, {{"X-Ledger-Token", "read-token-0123456789"}, {"x-ledger-token", "wrong"}}) ==
          "more than one X-Ledger-Token header");
    CHECK(check(Access::admin, {{"X-Ledger-Admin-Token", "admin-token-0123456789"},
                                {"X-Ledger-Admin-Token", "admin-token-0123456789"}}) ==
          "more than one X-Ledger-Admin-Token header");
    CHECK(check(Access::read, {{"Authorization", "Bearer read-token-0123456789"}, {"Authorization", "Basic eA=="}}) ==
          "more than one Authorization header");
}

TEST_CASE("serve settings: tokens are required outside --dev, --dev is loopback-only")
{
    // The settings come from the setting table at load (lib/setting_table.cpp); serve adds its rules.
    EnvMap env{{"RECON_BOOKS", "uae,india"}};
    Settings settings = load_settings(env);
    CHECK(exit_code_of([&] { load_serve_settings(settings, false, std::nullopt, std::nullopt); }) == ExitCode::config);
    // A short token is refused with every setting, by every command (78).
    env["LEDGER_ADMIN_TOKEN"] = "short";
    CHECK(exit_code_of([&] { load_settings(env); }) == ExitCode::config);
    env["LEDGER_ADMIN_TOKEN"] = "an-admin-token-of-some-length";
    settings = load_settings(env);
    auto serve = load_serve_settings(settings, false, std::nullopt, std::nullopt);
    CHECK(serve.address == "127.0.0.1");
    CHECK(serve.port == 8078);
    CHECK(serve.tokens.admin == "an-admin-token-of-some-length");
    CHECK_FALSE(serve.tokens.read);
    CHECK(serve.limits.max_body_bytes == 65536);
    CHECK(serve.run_wait == std::chrono::seconds(30));

    // From a file, as systemd's LoadCredential or a secrets mount provides it.
    char path[] = "/tmp/reconcile-token-XXXXXX";
    const int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    std::ofstream(path) << "a-read-token-from-a-file\n";
    env["LEDGER_TOKEN_FILE"] = path;
    env["RECON_SERVE_PORT"] = "0";
    env["RECON_SERVE_MAX_BODY_BYTES"] = "1024";
    settings = load_settings(env);
    serve = load_serve_settings(settings, false, std::string("::1"), std::nullopt);
    std::remove(path);
    CHECK(serve.tokens.read == "a-read-token-from-a-file");
    CHECK(serve.port == 0);
    CHECK(serve.address == "::1");
    CHECK(serve.limits.max_body_bytes == 1024);
    env.erase("LEDGER_TOKEN_FILE");
    env["RECON_SERVE_WORKERS"] = "0";
    CHECK(exit_code_of([&] { load_settings(env); }) == ExitCode::config);

    serve = load_serve_settings(two_books(), true, std::nullopt, 0);
    CHECK(serve.tokens.admin == "localdev");
    CHECK(serve.tokens.read == "localdev");
    CHECK(exit_code_of([&] { load_serve_settings(two_books(), true, std::string("0.0.0.0"), 0); }) == ExitCode::usage);
    CHECK(is_loopback_address("127.0.0.1"));
    CHECK(is_loopback_address("127.5.0.9"));
    CHECK(is_loopback_address("::1"));
    CHECK(is_loopback_address("localhost"));
    CHECK_FALSE(is_loopback_address("0.0.0.0"));
    CHECK_FALSE(is_loopback_address("10.0.0.1"));
    CHECK_FALSE(is_loopback_address("::"));
}

TEST_CASE("metrics: Prometheus text with one HELP/TYPE per metric and every status as a 0/1 series")
{
    BookMetrics uae{.book = "uae", .up = true, .schedule_enabled = true};
    uae.last_runs.push_back({.category = Category::A,
                             .run_id = 42,
                             .status = "fail",
                             .started_at = parse_utc("2026-11-28T02:00:00.500Z").value(),
                             .duration_ms = 1250});
    uae.last_checks.push_back({.check_name = "trial_balance_zero",
                               .category = Category::A,
                               .run_id = 42,
                               .status = "fail",
                               .ran_at = parse_utc("2026-11-28T02:00:00.600Z").value(),
                               .duration_ms = 30,
                               .variances_total = 3});
    uae.runs_by_status[{Category::A, "fail"}] = 5;
    uae.running[Category::D] = 1;
    const BookMetrics india{.book = "india", .up = false};
    const std::string text = render_prometheus({uae, india}, 7);
    const auto has = [&](const std::string& line) {
        INFO(line);
        CHECK(text.find(line + "\n") != std::string::npos);
    };
    has("# TYPE reconcile_run_last_status gauge");
    has("reconcile_book_up{book=\"uae\"} 1");
    has("reconcile_book_up{book=\"india\"} 0");
    has("reconcile_schedule_enabled{book=\"uae\"} 1");
    has("reconcile_run_last_status{book=\"uae\",category=\"A\",status=\"fail\"} 1");
    has("reconcile_run_last_status{book=\"uae\",category=\"A\",status=\"ok\"} 0");
    has("reconcile_run_last_id{book=\"uae\",category=\"A\"} 42");
    has("reconcile_run_last_timestamp_seconds{book=\"uae\",category=\"A\"} 1795831200.5");
    has("reconcile_run_last_duration_seconds{book=\"uae\",category=\"A\"} 1.25");
    has("reconcile_run_running{book=\"uae\",category=\"D\"} 1");
    has("reconcile_run_running{book=\"uae\",category=\"A\"} 0");
    has("reconcile_runs_total{book=\"uae\",category=\"A\",status=\"fail\"} 5");
    has("reconcile_check_last_status{book=\"uae\",category=\"A\",check_name=\"trial_balance_zero\",status=\"fail\"} 1");
    has("reconcile_check_last_variances{book=\"uae\",category=\"A\",check_name=\"trial_balance_zero\"} 3");
    has("reconcile_check_last_duration_seconds{book=\"uae\",category=\"A\",check_name=\"trial_balance_zero\"} 0.03");
    has("reconcile_http_rejected_connections_total 7");
    std::size_t headers = 0;
    for (std::size_t at = text.find("# TYPE reconcile_run_last_status "); at != std::string::npos;
         at = text.find("# TYPE reconcile_run_last_status ", at + 1)) {
        ++headers;
    }
    CHECK(headers == 1);
}

TEST_CASE("percent-decoding and UTF-8 validation of what clients send")
{
    CHECK(percent_decode("a%20b+c", true) == "a b c");
    CHECK(percent_decode("a%20b+c", false) == "a b+c");
    CHECK(percent_decode("%e2%82%AC", false) == "\xe2\x82\xac");
    CHECK_FALSE(percent_decode("%", false));
    CHECK_FALSE(percent_decode("%4", false));
    CHECK_FALSE(percent_decode("%zz", false));
    CHECK(is_valid_utf8("plain ascii"));
    CHECK(is_valid_utf8("\xe2\x82\xac \xf0\x9f\x98\x80 \xc3\xa9"));
    CHECK_FALSE(is_valid_utf8("\xff"));
    CHECK_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong '/'
    CHECK_FALSE(is_valid_utf8("\xed\xa0\x80"));      // a surrogate
    CHECK_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // past U+10FFFF
    CHECK_FALSE(is_valid_utf8("\xe2\x82"));          // truncated
    CHECK_FALSE(is_valid_utf8("\x80"));
}

TEST_CASE("tokens: a token with a NUL and more bytes, or one byte short, is refused")
{
    const AccessTokens tokens{.admin = "admin-token-0123456789", .read = "read-token-0123456789"};
    HttpServerRequest request;
    request.headers.emplace_back("X-Ledger-Token", std::string("read-token-0123456789\0tail", 26));
    CHECK(authorization_failure(request, Access::read, tokens) == "invalid token");
    request.headers = {{"x-ledger-token", "read-token-012345678"}};
    CHECK(authorization_failure(request, Access::read, tokens) == "invalid token");
    request.headers = {{"x-ledger-token", "read-token-0123456789"}};  // header names are case-insensitive
    CHECK_FALSE(authorization_failure(request, Access::read, tokens));
}

TEST_CASE("log lines: control characters escaped, CR/LF folded, journald priority prefix on request")
{
    CHECK(format_log_line(LogLevel::info, "http GET /\x1b[31mred\x07 404", false) ==
          "reconcile: info: http GET /\\x1b[31mred\\x07 404\n");
    CHECK(format_log_line(LogLevel::warn, "two\nlines\r", false) == "reconcile: warn: two lines \n");
    CHECK(format_log_line(LogLevel::error, "boom", true) == "<3>reconcile: error: boom\n");
    CHECK(format_log_line(LogLevel::warn, "w", true) == "<4>reconcile: warn: w\n");
    CHECK(format_log_line(LogLevel::info, "i", true) == "<6>reconcile: info: i\n");
    CHECK(format_log_line(LogLevel::debug, "d\x7f", true) == "<7>reconcile: debug: d\\x7f\n");
}

TEST_CASE("log lines: C1 controls (U+0080-U+009F) and bytes that are not UTF-8 are escaped; other text is kept")
{
    // U+009B (CSI) as UTF-8 starts a terminal escape sequence like ESC [ does.
    CHECK(format_log_line(LogLevel::info,
                          "http GET /\xc2\x9b"
                          "31mred 404",
                          false) == "reconcile: info: http GET /\\xc2\\x9b31mred 404\n");
    CHECK(format_log_line(LogLevel::info, "\xc2\x80|\xc2\x9f|\xc2\x85", false) ==
          "reconcile: info: \\xc2\\x80|\\xc2\\x9f|\\xc2\\x85\n");
    // The 8-bit CSI byte alone, a truncated sequence and an overlong form are not UTF-8.
    CHECK(format_log_line(LogLevel::info,
                          "a\x9b"
                          "b\xc2|\xc0\xaf",
                          false) == "reconcile: info: a\\x9bb\\xc2|\\xc0\\xaf\n");
    // Printable text past U+009F stays as it is: U+00A0, e-acute, the euro sign, an emoji.
    CHECK(format_log_line(LogLevel::info, "\xc2\xa0 caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", false) ==
          "reconcile: info: \xc2\xa0 caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\n");
}

TEST_CASE("metrics: build info, and a book that did not answer is down with only its schedule flag")
{
    const BookMetrics hanging{
        .book = "india", .up = false, .down_reason = "its database did not answer within 5000 ms"};
    const std::string text = render_prometheus({hanging}, 0);
    CHECK(text.find("reconcile_build_info{version=\"" RECON_VERSION "\"} 1\n") != std::string::npos);
    CHECK(text.find("reconcile_book_up{book=\"india\"} 0\n") != std::string::npos);
    CHECK(text.find("reconcile_run_last_status") == std::string::npos);
}

TEST_CASE("bounded book calls: a call past the deadline is down, and while it hangs it is not started again")
{
    BoundedBookCalls calls(std::chrono::milliseconds(200));
    std::atomic<int> started{0};
    std::atomic<bool> release{false};
    const auto fn = [&](const std::string& book) {
        ++started;
        if (book == "india") {
            while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        return BookMetrics{.book = book, .up = true};
    };
    const auto before = std::chrono::steady_clock::now();
    auto results = calls.call("metrics", {"uae", "india"}, fn);
    const auto took = std::chrono::steady_clock::now() - before;
    CHECK(took < std::chrono::milliseconds(1000));
    REQUIRE(results.size() == 2);
    CHECK(results[0].up);
    CHECK_FALSE(results[1].up);
    CHECK(results[1].down_reason == "its database did not answer within 200 ms");
    results = calls.call("metrics", {"uae", "india"}, fn);
    CHECK(results[1].down_reason == "its database has not answered an earlier probe yet");
    CHECK(started == 3);  // uae twice, india once
    release = true;
    CHECK(reconcile::test::wait_for(
        [&] {
            const auto again = calls.call("metrics", {"india"}, fn);
            return again.front().up;
        },
        std::chrono::seconds(5)));
}

TEST_CASE("bounded sessions: the URL keeps its parameters, the bounds are added (ours win), nothing without bounds")
{
    using std::chrono::milliseconds;
    const std::string url = "postgresql://app:s3cr%27t@db.example:5433/ledger?sslmode=require&connect_timeout=60";
    CHECK(bounded_conninfo(url, {}) == url);
    CHECK(bounded_conninfo(url, {.statement_timeout = milliseconds(500)}) == url);
    CHECK(bounded_conninfo(url, {.connect_timeout = milliseconds(2500), .dead_peer_timeout = milliseconds(2500)}) ==
          "user='app' password='s3cr\\'t' dbname='ledger' host='db.example' port='5433' sslmode='require' "
          "connect_timeout='4' keepalives='1' keepalives_idle='1' keepalives_interval='1' keepalives_count='3' "
          "tcp_user_timeout='2500'");
    // A run's sessions: the connect timeout only.
    CHECK(bounded_conninfo("host=/run/postgresql dbname=x", {.connect_timeout = milliseconds(1000)}) ==
          "dbname='x' host='/run/postgresql' connect_timeout='2'");
    CHECK(bounded_conninfo("host=h", {.dead_peer_timeout = milliseconds(1000)}) ==
          "host='h' keepalives='1' keepalives_idle='1' keepalives_interval='1' keepalives_count='1' "
          "tcp_user_timeout='1000'");
    // A URL libpq cannot read is left for the connection to refuse with its own words.
    CHECK(bounded_conninfo("postgresql://[", {.connect_timeout = milliseconds(1000)}) == "postgresql://[");
    CHECK(limits_after_wait(milliseconds(2000)).connect_timeout == milliseconds(3000));
    CHECK(limits_after_wait(milliseconds(2000)).dead_peer_timeout == milliseconds(3000));
    CHECK(limits_after_wait(milliseconds(2000)).statement_timeout == milliseconds(3000));
}
