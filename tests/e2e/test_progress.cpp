// Terminal progress, end to end: the real binary with stderr on a pseudo-terminal (and stdout on
// a pipe) against the fake broker with three dozen customers and some latency. Progress shows
// per check and ends with N/N; with stderr a pipe, or with --quiet, there is none; stdout (the
// report) never carries any of it.
#include <doctest/doctest.h>

#include <algorithm>
#include <regex>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tests/db/fixture.hpp"
#include "tests/support/cli.hpp"
#include "tests/support/fake_broker.hpp"
#include "tests/support/process.hpp"
#include "tests/support/pty.hpp"

using namespace reconcile;
using namespace reconcile::test;
using Json = nlohmann::json;

namespace {

constexpr int k_customers = 36;

/// 36 UAE customers at GTN and ZAG who hold nothing, on either side: every comparison matches.
std::string accounts_sql()
{
    std::string sql = "INSERT INTO ledger.broker_accounts (customer_id, broker, broker_account_ref) VALUES ";
    for (int i = 1; i <= k_customers; ++i) {
        sql += fmt::format("{}('P{:02}', 'GTN', 'G-P{:02}'), ('P{:02}', 'ZAG', 'Z-P{:02}')", i == 1 ? "" : ", ", i, i,
                           i, i);
    }
    return sql + ";";
}

/// The brokers agree with the ledger; every GTN call takes 40 ms.
Json fixture()
{
    Json gtn = Json::object();
    Json zag = Json::object();
    for (int i = 1; i <= k_customers; ++i) {
        gtn[fmt::format("G-P{:02}", i)] = {{"cash", Json::array()}, {"securities", Json::array()}};
        zag[fmt::format("Z-P{:02}", i)] = {{"holdings", Json::array()}};
    }
    return {{"gtn", {{"accounts", gtn}}},
            {"zag", {{"accounts", zag}}},
            {"viewtrade", {{"accounts", Json::object()}}},
            {"faults", {{{"broker", "gtn"}, {"kind", "latency"}, {"ms", 40}}}}};
}

struct World {
    BookDb uae{"uae"};
    BookDb india{"india"};
    FakeBroker broker{fixture()};
    World() { uae.exec(accounts_sql()); }
};

World& world()
{
    static World instance;
    return instance;
}

ProcessOptions env()
{
    auto& w = world();
    return books_env(w.uae, w.india, w.broker.settings({{"RECON_BROKER_CONCURRENCY", "4"}}));
}

std::vector<std::string> run_c_args(std::vector<std::string> extra = {})
{
    std::vector<std::string> args{reconcile_binary()};
    args.insert(args.end(), extra.begin(), extra.end());
    for (const char* arg : {"run", "--book", "uae", "--category", "C", "--output", "json"}) args.emplace_back(arg);
    return args;
}

/// What each line of the terminal finally shows: the text after its last carriage return.
std::vector<std::string> visible_lines(const std::string& terminal)
{
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < terminal.size()) {
        const auto end = terminal.find('\n', start);
        std::string line = terminal.substr(start, end == std::string::npos ? std::string::npos : end - start);
        if (const auto cr = line.rfind('\r'); cr != std::string::npos) line = line.substr(cr + 1);
        while (!line.empty() && line.back() == ' ') line.pop_back();
        lines.push_back(line);
        if (end == std::string::npos) break;
        start = end + 1;
    }
    return lines;
}

/// The run document on stdout, parsed, with nothing of the terminal's in it.
Json clean_report(const std::string& out)
{
    CHECK(out.find('\r') == std::string::npos);
    CHECK(out.find("customers\n") == std::string::npos);
    CHECK(out.find("/36") == std::string::npos);
    return Json::parse(out);
}

}  // namespace

TEST_CASE("on a terminal, each C check shows its customers done out of total, ending with N/N")
{
    const auto result = run_with_terminal_stderr(run_c_args(), env());
    REQUIRE_MESSAGE(result.exit_code == 0, result.err);
    INFO("the terminal showed: " << result.err);
    const Json run = clean_report(result.out);
    CHECK(run["status"] == "ok");

    // The line is drawn at once, rewritten in place, and ends with the final count.
    for (const char* check : {"gtn_ledger_recon", "zag_holdings_recon"}) {
        CHECK(result.err.find(fmt::format("\r{}: 0/36 customers", check)) != std::string::npos);
        CHECK(result.err.find(fmt::format("\r{}: 36/36 customers\n", check)) != std::string::npos);
    }
    // What the terminal finally shows: log lines and finished progress lines, never a mix.
    const std::regex log_line("reconcile: (debug|info|warn|error): .*");
    const std::regex progress_line("(gtn_ledger_recon|zag_holdings_recon): 36/36 customers");
    std::vector<std::string> finished;
    for (const auto& line : visible_lines(result.err)) {
        if (line.empty()) continue;
        const bool is_log = std::regex_match(line, log_line);
        const bool is_progress = std::regex_match(line, progress_line);
        CHECK_MESSAGE((is_log || is_progress), line);
        CHECK(line.find("customers") == line.rfind("customers"));
        if (is_progress) finished.push_back(line);
    }
    // Checks without customers at their broker (ViewTrade on uae) make no call and show nothing.
    CHECK(finished ==
          std::vector<std::string>{"gtn_ledger_recon: 36/36 customers", "zag_holdings_recon: 36/36 customers"});
    CHECK(result.err.find("viewtrade") == std::string::npos);
}

TEST_CASE("with stderr a pipe there is no progress, and the report is the same")
{
    const auto result = run_process(run_c_args(), env());
    REQUIRE_MESSAGE(result.exit_code == 0, result.err);
    CHECK(clean_report(result.out)["status"] == "ok");
    CHECK(result.err.find('\r') == std::string::npos);
    CHECK(result.err.find("customers") == std::string::npos);
    // The run's own log line still arrives.
    CHECK(result.err.find("reconcile: info: ") != std::string::npos);
}

TEST_CASE("with --quiet on a terminal there is no progress")
{
    const auto result = run_with_terminal_stderr(run_c_args({"--quiet"}), env());
    REQUIRE_MESSAGE(result.exit_code == 0, result.err);
    CHECK(clean_report(result.out)["status"] == "ok");
    CHECK(result.err.find("customers") == std::string::npos);
    CHECK(result.err.find('\r') == std::string::npos);
}
