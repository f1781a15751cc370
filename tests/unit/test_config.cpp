// Settings: env-file parsing, NAME_FILE secrets, validation of every typed value.
#include <doctest/doctest.h>

#include <unistd.h>

#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <functional>

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

namespace {

std::string config_error_of(const std::function<void()>& action)
{
    try {
        action();
    } catch (const Error& e) {
        CHECK(e.code() == ExitCode::config);
        return e.what();
    }
    FAIL("expected Error(config)");
    return {};
}

}  // namespace

TEST_CASE("env-file: a UTF-8 byte-order mark is skipped; a NUL byte is refused naming the line")
{
    const auto env = parse_env_file("\xEF\xBB\xBFRECON_BOOKS=uae\nRECON_VARIANCE_CAP=5\n", "bom.env");
    CHECK(env.at("RECON_BOOKS") == "uae");
    CHECK(env.size() == 2);
    CHECK(config_error_of([] { parse_env_file(std::string("A=1\nB=x\0y\n", 10), "nul.env"); }) ==
          "nul.env:2: contains a NUL byte; is it a text file?");
    CHECK(config_error_of([] { parse_env_file("A\x1b[31m=1\n", "esc.env"); }) ==
          "esc.env:1: invalid setting name 'A\\x1b[31m'");
}

TEST_CASE("--config and NAME_FILE read only regular files, of bounded size, without blocking")
{
    const std::string dir = "/tmp/reconcile-unit-files-" + std::to_string(getpid());
    std::filesystem::create_directories(dir);
    REQUIRE(mkfifo((dir + "/fifo").c_str(), 0600) == 0);
    CHECK(config_error_of([&] { read_env_file(dir); }) == "--config: " + dir + " is a directory, not a file");
    // No writer: opening it must neither block nor read.
    CHECK(config_error_of([&] { read_env_file(dir + "/fifo"); }) ==
          "--config: " + dir + "/fifo is a FIFO (named pipe), not a file");
    CHECK(config_error_of([] { read_env_file("/dev/zero"); }) ==
          "--config: /dev/zero is a character device, not a file");
    CHECK(config_error_of([&] {
              lookup_setting({{"GTN_APP_KEY_FILE", dir}}, "GTN_APP_KEY");
          }) == "GTN_APP_KEY_FILE: " + dir + " is a directory, not a file");
    CHECK(config_error_of([] {
              lookup_setting({{"GTN_APP_KEY_FILE", "/dev/zero"}}, "GTN_APP_KEY");
          }) == "GTN_APP_KEY_FILE: /dev/zero is a character device, not a file");

    std::ofstream(dir + "/big-secret") << std::string(64 * 1024 + 1, 'k');
    CHECK(config_error_of([&] {
              lookup_setting({{"GTN_APP_KEY_FILE", dir + "/big-secret"}}, "GTN_APP_KEY");
          }) == "GTN_APP_KEY_FILE: " + dir + "/big-secret is larger than 65536 bytes; is it the right file?");
    std::ofstream(dir + "/max-secret") << std::string(64 * 1024, 'k');
    CHECK(lookup_setting({{"GTN_APP_KEY_FILE", dir + "/max-secret"}}, "GTN_APP_KEY")->size() == 65536);
    std::ofstream(dir + "/big.env") << "# " << std::string(1024 * 1024, 'x') << "\n";
    CHECK(config_error_of([&] { read_env_file(dir + "/big.env"); }) ==
          "--config: " + dir + "/big.env is larger than 1048576 bytes; is it the right file?");
    std::ofstream(dir + "/empty");
    CHECK(config_error_of([&] {
              lookup_setting({{"GTN_APP_KEY_FILE", dir + "/empty"}}, "GTN_APP_KEY");
          }) == "GTN_APP_KEY_FILE: the file " + dir + "/empty is empty");
    std::filesystem::remove_all(dir);
}

TEST_CASE("a database URL libpq cannot parse is a configuration error naming the setting")
{
    CHECK(config_error_of([] {
              load_settings({{"RECON_DATABASE_URL_UAE", "host=db dbname"}});
          }) ==
          "RECON_DATABASE_URL_UAE: not a libpq connection URL or key=value string: missing \"=\" after \"dbname\" "
          "in connection info string");
    CHECK(exit_code_of([] {
              load_settings({{"RECON_READ_DATABASE_URL_INDIA", "postgresql://[::1/x"}});
          }) == ExitCode::config);
    CHECK(load_settings({{"RECON_DATABASE_URL_UAE", "postgresql://u@db:5432/ledger"}}).database_url("uae") ==
          "postgresql://u@db:5432/ledger");
}

TEST_CASE("exit 78: a database URL value libpq refuses before connecting names the setting, keyword and value")
{
    const auto refused = [](const std::string& name, const std::string& url) {
        return config_error_of([&] { load_settings({{name, url}}); });
    };
    const std::string uae = "RECON_DATABASE_URL_UAE";
    const std::vector<std::pair<std::string, std::string>> cases{
        {"postgresql://u:secret@127.0.0.1:99999/db", "port '99999' is not a port number from 1 to 65535"},
        {"host=db port=0", "port '0' is not a port number from 1 to 65535"},
        {"host=db port=abc", "port 'abc' is not a port number from 1 to 65535"},
        {"postgresql://a:5432,b:65536/x", "port '5432,65536' is not a port number from 1 to 65535"},
        {"postgresql://u:secret@db/x?sslmode=bogus",
         "sslmode 'bogus' is not one of disable, allow, prefer, require, verify-ca, verify-full"},
        {"host=db sslmode=Require",
         "sslmode 'Require' is not one of disable, allow, prefer, require, verify-ca, verify-full"},
        {"host=db gssencmode=on", "gssencmode 'on' is not one of disable, prefer, require"},
        {"host=db channel_binding=yes", "channel_binding 'yes' is not one of disable, prefer, require"},
        {"host=db target_session_attrs=master",
         "target_session_attrs 'master' is not one of any, read-write, read-only, primary, standby, prefer-standby"},
        {"host=db sslcompression=true", "sslcompression 'true' is not one of 0, 1"},
        {"host=db sslsni=yes", "sslsni 'yes' is not one of 0, 1"},
        {"postgresql://db/x?connect_timeout=%0A", "connect_timeout '?' is not a whole number"},
        {"host=db ssl_min_protocol_version=TLSv2",
         "ssl_min_protocol_version 'TLSv2' is not one of TLSv1, TLSv1.1, TLSv1.2, TLSv1.3"},
        {"host=db ssl_max_protocol_version=TLSv1.1",
         "ssl_max_protocol_version 'TLSv1.1' is below ssl_min_protocol_version 'TLSv1.2'"},
        {"host=a,b port=1,2,3", "port '1,2,3' lists 3 ports for 2 hosts"},
        {"host=a hostaddr=10.0.0.1,10.0.0.2", "host 'a' names 1 hosts for 2 hostaddr values"},
    };
    for (const auto& [url, problem] : cases) {
        CAPTURE(url);
        CHECK(refused(uae, url) == "RECON_DATABASE_URL_UAE: " + problem);
    }
    CHECK(refused("RECON_READ_DATABASE_URL_INDIA", "postgresql://u:secret@db/x?sslmode=bogus") ==
          "RECON_READ_DATABASE_URL_INDIA: sslmode 'bogus' is not one of disable, allow, prefer, require, verify-ca, "
          "verify-full");
    for (const std::string keyword : {"connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval",
                                      "keepalives_count", "tcp_user_timeout"}) {
        CAPTURE(keyword);
        CHECK(refused(uae, "host=db " + keyword + "=1.5") ==
              "RECON_DATABASE_URL_UAE: " + keyword + " '1.5' is not a whole number");
        CHECK(refused(uae, "host=db " + keyword + "=''") ==
              "RECON_DATABASE_URL_UAE: " + keyword + " '' is not a whole number");
        CHECK(refused(uae, "host=db " + keyword + "=99999999999") ==
              "RECON_DATABASE_URL_UAE: " + keyword + " '99999999999' is not a whole number");
    }

    // What libpq 15 takes is taken: blanks and a sign around a number, an empty port element, one
    // port for every host, protocol versions in any case, negative timeouts (no timeout).
    for (const std::string url :
         {"postgresql://u@a:5432,b/x?target_session_attrs=read-write&sslmode=verify-full", "postgresql://u@a:,b:6432/x",
          "host=a,b port=5432", "host=a,b port=5432,6432 hostaddr=10.0.0.1,10.0.0.2",
          "host=db port=' 5432 ' connect_timeout=-5 keepalives=+1 tcp_user_timeout=' 0'",
          "host=db ssl_min_protocol_version=tlsv1.3 ssl_max_protocol_version=TLSv1.3 gssencmode=disable",
          "host=db ssl_min_protocol_version='' ssl_max_protocol_version=TLSv1", "host=db port=",
          "host=db channel_binding=require sslcompression=0 sslsni=1 target_session_attrs=prefer-standby",
          "postgresql:///x?port=5433"}) {
        CAPTURE(url);
        CHECK(load_settings({{uae, url}}).database_url("uae") == url);
    }
}

TEST_CASE("the setting table fills serve's settings; their ranges are checked at load")
{
    const auto s = load_settings({{"RECON_SERVE_PORT", "9000"}, {"LEDGER_TOKEN", "read-token-of-16+"}});
    CHECK(s.serve.port == 9000);
    CHECK(s.serve.address == "127.0.0.1");
    CHECK(s.serve.workers == 8);
    CHECK(s.serve.read_token == "read-token-of-16+");
    CHECK(s.serve.admin_token == std::nullopt);
    CHECK(config_error_of([] {
              load_settings({{"RECON_SERVE_PORT", "70000"}});
          }) == "RECON_SERVE_PORT: 70000 is out of range [0, 65535]");
}

TEST_CASE("closest_match: the nearest name within a few edits, nothing when none is near")
{
    const std::vector<std::string> names{"RECON_DATABASE_URL_UAE", "RECON_DATABASE_URL_INDIA", "RECON_BOOKS"};
    CHECK(closest_match("RECON_DATABSE_URL_UAE", names) == "RECON_DATABASE_URL_UAE");
    CHECK(closest_match("recon_books", names) == "RECON_BOOKS");
    CHECK(closest_match("GTN_APP_KEY", names) == std::nullopt);
    CHECK(closest_match("lsit", {"list", "show"}) == "list");
    CHECK(closest_match("variance", {"run", "runs", "variances", "trace"}) == "variances");
}

TEST_CASE("an unknown key in the env-file exits 78 naming the nearest setting")
{
    const auto path = write_temp("RECON_BOOKS=uae\nRECON_DATABSE_URL_UAE=postgresql://x/y\n");
    CHECK(config_error_of([&] { load_settings_from(path); }) ==
          path + ": unknown setting RECON_DATABSE_URL_UAE; did you mean RECON_DATABASE_URL_UAE?");
    // Known names, their _FILE forms and per-book names of the configured books are accepted.
    const auto secret = write_temp("9\n");
    std::ofstream(path) << "RECON_BOOKS=emea\nRECON_READ_MAX_LAG_SECONDS_FILE=" << secret
                        << "\nRECON_READ_DATABASE_URL_EMEA=host=replica\n";
    const Settings loaded = load_settings_from(path);
    CHECK(loaded.read_max_lag_seconds == 9);
    CHECK(loaded.read_database_urls.at("emea") == "host=replica");
    std::ofstream(path) << "RECON_BOOKS=emea\nRECON_DATABASE_URL_UAE=host=db\n";
    CHECK(config_error_of([&] { load_settings_from(path); }) ==
          path + ": unknown setting RECON_DATABASE_URL_UAE; did you mean RECON_DATABASE_URL_EMEA?");
    std::remove(secret.c_str());
    std::remove(path.c_str());
}
