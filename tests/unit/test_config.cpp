// Settings: env-file parsing, NAME_FILE secrets, validation of every typed value.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "lib/config.hpp"
#include "lib/errors.hpp"
#include "tests/support/exit_code_of.hpp"

using namespace reconcile;
using reconcile::test::exit_code_of;

namespace {

std::string write_temp(const std::string& content)
{
    char path[] = "/tmp/reconcile-test-XXXXXX";
    const int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    std::ofstream(path) << content;
    return path;
}

}  // namespace

TEST_CASE("env-file: comments, export, quotes, blank lines")
{
    const auto env = parse_env_file(
        "# comment\n\nexport RECON_BOOKS=uae\nRECON_DATABASE_URL_UAE = \"host=x dbname=y\"\n"
        "ALERT_WEBHOOK_URL='http://127.0.0.1:9/hook'\nEMPTY=\n",
        "test.env");
    CHECK(env.at("RECON_BOOKS") == "uae");
    CHECK(env.at("RECON_DATABASE_URL_UAE") == "host=x dbname=y");
    CHECK(env.at("ALERT_WEBHOOK_URL") == "http://127.0.0.1:9/hook");
    CHECK(env.at("EMPTY").empty());
}

TEST_CASE("env-file: malformed lines are configuration errors naming the line")
{
    try {
        parse_env_file("GOOD=1\nthis is not a setting\n", "bad.env");
        FAIL("expected an error");
    } catch (const Error& e) {
        CHECK(e.code() == ExitCode::config);
        CHECK(std::string(e.what()) == "bad.env:2: expected KEY=VALUE");
    }
    CHECK(exit_code_of([] { parse_env_file("1BAD=x", "f"); }) == ExitCode::config);
    CHECK(exit_code_of([] { parse_env_file("KEY=\"open", "f"); }) == ExitCode::config);
    CHECK(exit_code_of([] { read_env_file("/nonexistent/reconcile.env"); }) == ExitCode::config);
}

TEST_CASE("the process environment wins over the file")
{
    const auto merged = merge_env({{"A", "file"}, {"B", "file"}}, {{"B", "env"}});
    CHECK(merged.at("A") == "file");
    CHECK(merged.at("B") == "env");
}

TEST_CASE("NAME_FILE secrets are read, trimmed of the newline, and exclusive with NAME")
{
    const auto path = write_temp("s3cret\n");
    CHECK(lookup_setting({{"ALERT_WEBHOOK_SECRET_FILE", path}}, "ALERT_WEBHOOK_SECRET") == "s3cret");
    CHECK(lookup_setting({}, "ALERT_WEBHOOK_SECRET") == std::nullopt);
    CHECK(exit_code_of([&] { lookup_setting({{"X", "a"}, {"X_FILE", path}}, "X"); }) == ExitCode::config);
    CHECK(exit_code_of([] { lookup_setting({{"X_FILE", "/nonexistent/secret"}}, "X"); }) == ExitCode::config);
    std::remove(path.c_str());
}

TEST_CASE("settings: defaults, books and per-book URLs")
{
    const auto defaults = load_settings({});
    CHECK(defaults.books == std::vector<std::string>{"uae", "india"});
    CHECK(defaults.interval_seconds == 3600);
    CHECK(defaults.external_interval_seconds == 86400);
    CHECK(defaults.cash_tolerance == Decimal::parse("0.01"));
    CHECK(defaults.variance_cap == 200);
    CHECK_FALSE(defaults.india_enabled);
    CHECK(exit_code_of([&] { defaults.database_url("uae"); }) == ExitCode::config);

    const auto s = load_settings({{"RECON_BOOKS", "uae, india,uae"},
                                  {"RECON_DATABASE_URL_INDIA", "postgresql://x/india"},
                                  {"RECON_READ_DATABASE_URL_INDIA", "postgresql://replica/india"},
                                  {"INDIA_RECON_ENABLED", "yes"},
                                  {"RECON_PENDING_WARN_HOURS", "12"}});
    CHECK(s.books == std::vector<std::string>{"uae", "india"});
    CHECK(s.database_url("india") == "postgresql://x/india");
    CHECK(s.read_database_url("india") == "postgresql://replica/india");
    CHECK(s.india_enabled);
    CHECK(s.pending_warn_hours == 12);
    CHECK(exit_code_of([&] { s.require_book("emea"); }) == ExitCode::usage);
}

TEST_CASE("settings: bad values exit 78")
{
    CHECK(exit_code_of([] { load_settings({{"RECON_INTERVAL_SECONDS", "soon"}}); }) == ExitCode::config);
    CHECK(exit_code_of([] { load_settings({{"RECON_INTERVAL_SECONDS", "0"}}); }) == ExitCode::config);
    CHECK(exit_code_of([] { load_settings({{"RECON_SCHEDULE_ENABLED", "maybe"}}); }) == ExitCode::config);
    CHECK(exit_code_of([] { load_settings({{"RECON_CASH_TOLERANCE", "-1"}}); }) == ExitCode::config);
    CHECK(exit_code_of([] { load_settings({{"RECON_CASH_TOLERANCE", "1e-2x"}}); }) == ExitCode::config);
    CHECK(exit_code_of([] { load_settings({{"RECON_BOOKS", "UAE"}}); }) == ExitCode::config);
    CHECK(exit_code_of([] {
              load_settings({{"RECON_PENDING_WARN_HOURS", "80"}, {"RECON_PENDING_FAIL_HOURS", "72"}});
          }) == ExitCode::config);
}
