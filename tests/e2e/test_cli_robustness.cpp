// The real binary given what a careless operator, a typo or a hostile ledger gives it (issue 14
// items 2-8, issue 17 items 3, 4 and 7): one clear line, the documented exit code, nothing lost.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "tests/db/fixture.hpp"
#include "tests/support/cli.hpp"
#include "tests/support/cluster.hpp"
#include "tests/support/process.hpp"

using namespace reconcile;
using namespace reconcile::test;

namespace {

BookDb& uae_book()
{
    static BookDb instance("uae");
    instance.reset();
    instance.exec(clean_ledger_sql);
    return instance;
}

ProcessOptions env_for(const BookDb& db, const std::map<std::string, std::string>& extra = {})
{
    ProcessOptions options;
    options.env = {{"RECON_BOOKS", "uae"}, {"RECON_DATABASE_URL_UAE", db.url()}};
    options.unset_env = {"RECON_CONFIG", "ALERT_WEBHOOK_URL", "RECON_READ_DATABASE_URL_UAE"};
    for (const auto& [key, value] : extra) options.env[key] = value;
    return options;
}

/// A login role of the test cluster for one test (`prefix` and the pid), with no grant yet;
/// dropped at the end of the test with whatever it was granted, even when the test fails.
class TestRole {
public:
    TestRole(const BookDb& db, const std::string& prefix) : m_db(db), m_name(prefix + std::to_string(getpid()))
    {
        m_db.exec("CREATE ROLE " + m_name + " LOGIN");
    }
    ~TestRole()
    {
        try {
            m_db.exec("DROP OWNED BY " + m_name);
            m_db.exec("DROP ROLE " + m_name);
        } catch (...) {
            // The cluster goes away with the test run.
        }
    }
    TestRole(const TestRole&) = delete;
    TestRole& operator=(const TestRole&) = delete;

    const std::string& name() const { return m_name; }
    /// The book's URL, logging in as this role instead of postgres.
    std::string url() const
    {
        std::string url = m_db.url();
        const auto at = url.find("postgres@");
        REQUIRE(at != std::string::npos);
        return url.replace(at, 8, m_name);
    }

private:
    const BookDb& m_db;
    std::string m_name;
};

/// Settings that need no database: for command lines refused before any connection.
ProcessOptions no_database()
{
    ProcessOptions options;
    options.env = {{"RECON_BOOKS", "uae"}, {"RECON_DATABASE_URL_UAE", "postgresql://nobody@127.0.0.1:1/none"}};
    options.unset_env = {"RECON_CONFIG", "ALERT_WEBHOOK_URL", "RECON_READ_DATABASE_URL_UAE"};
    return options;
}

/// A TCP port on 127.0.0.1 that nothing listens on: one the kernel just handed out and took back.
int unused_tcp_port()
{
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    const bool bound = bind(fd, reinterpret_cast<sockaddr*>(&address), length) == 0 &&
                       getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
    close(fd);
    REQUIRE(bound);
    return ntohs(address.sin_port);
}

/// Runs the binary with its standard output sent to `target` (e.g. /dev/full).
ProcessResult reconcile_to(const std::string& target, const std::vector<std::string>& args,
                           const ProcessOptions& options)
{
    std::string command = "exec \"$0\"";
    for (std::size_t i = 0; i < args.size(); ++i) command += " \"$" + std::to_string(i + 1) + "\"";
    command += " > " + target;
    std::vector<std::string> argv{"/bin/sh", "-c", command, reconcile_binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv, options);
}

std::string temp_dir(const std::string& name)
{
    const std::string dir = "/tmp/reconcile-e2e-" + name + "-" + std::to_string(getpid());
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir;
}

}  // namespace

TEST_CASE("exit 74: a report that cannot be written is one message, and the run is stored all the same")
{
    auto& db = uae_book();
    const auto run =
        reconcile_to("/dev/full", {"run", "--book", "uae", "--category", "A", "--output", "json"}, env_for(db));
    CHECK(run.exit_code == 74);
    // The run's own info line, then the one error line.
    CHECK(run.err.rfind("reconcile: info: run ", 0) == 0);
    CHECK(run.err.find("\nreconcile: error: could not write the output to standard output: ") != std::string::npos);
    CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 2);
    CHECK(db.query_value("SELECT string_agg(status, ',') FROM recon.runs") == "ok");
    const std::string run_id = db.query_value("SELECT max(run_id) FROM recon.runs");

    for (const auto& args : std::vector<std::vector<std::string>>{{"runs", "list"},
                                                                  {"runs", "list", "--output", "json"},
                                                                  {"runs", "show", run_id},
                                                                  {"trace", "--book", "uae", "--txn", "1001"},
                                                                  {"variances"},
                                                                  {"checks"}}) {
        CAPTURE(args);
        const auto result = reconcile_to("/dev/full", args, env_for(db));
        CHECK(result.exit_code == 74);
        CHECK(result.err.rfind("reconcile: error: could not write the output to standard output: ", 0) == 0);
        CHECK(std::count(result.err.begin(), result.err.end(), '\n') == 1);
    }
    // The same commands with somewhere to write succeed: 74 is about the output alone.
    CHECK(reconcile_to("/dev/null", {"runs", "list"}, env_for(db)).exit_code == 0);
}

TEST_CASE("exit 74: a reader that went away is a failed write, not a death by SIGPIPE")
{
    auto& db = uae_book();
    ProcessOptions options = env_for(db);
    for (const std::string command : {"runs list", "checks", "run --book uae --category D --output json"}) {
        CAPTURE(command);
        // The reader ends before reconcile writes; pipefail makes the pipeline's status reconcile's.
        const auto result = run_process(
            {"bash", "-c", "set -o pipefail; (sleep 0.3; exec \"$0\" " + command + ") | true", reconcile_binary()},
            options);
        CHECK(result.exit_code == 74);
        CHECK(result.err.find("reconcile: error: could not write the output to standard output: ") !=
              std::string::npos);
        CHECK(std::count(result.err.begin(), result.err.end(), '\n') <= 2);  // a run's info line, then the error
    }
}

TEST_CASE("option words are read in any case and used as given in lower case")
{
    auto& db = uae_book();
    const auto json = reconcile_cli({"runs", "list", "--output", "JSON"}, env_for(db));
    REQUIRE(json.exit_code == 0);
    CHECK(nlohmann::json::parse(json.out).is_array());
    const auto csv = reconcile_cli({"runs", "list", "--output", "Csv", "--status", "OK"}, env_for(db));
    REQUIRE(csv.exit_code == 0);
    CHECK(csv.out.rfind("run_id,book,category,", 0) == 0);
    CHECK(csv.out == reconcile_cli({"runs", "list", "--output", "csv", "--status", "ok"}, env_for(db)).out);
}

TEST_CASE("exit 78: a database URL libpq cannot parse, before any connection")
{
    const auto result =
        reconcile_cli({"runs", "list"}, env_for(uae_book(), {{"RECON_DATABASE_URL_UAE", "host=db dbname"}}));
    CHECK(result.exit_code == 78);
    CHECK(result.err ==
          "reconcile: error: RECON_DATABASE_URL_UAE: not a libpq connection URL or key=value string: missing \"=\" "
          "after \"dbname\" in connection info string\n");
}

TEST_CASE("exit 78: a connection value libpq refuses or a login the server refuses; 69 when nothing listens")
{
    const auto with_url = [](const std::string& url) {
        ProcessOptions options = no_database();
        options.env["RECON_DATABASE_URL_UAE"] = url;
        return reconcile_cli({"runs", "list"}, options);
    };
    // Refused at settings time, before any connection.
    auto result = with_url("postgresql://u:secret@127.0.0.1:99999/db");
    CHECK(result.exit_code == 78);
    CHECK(result.err ==
          "reconcile: error: RECON_DATABASE_URL_UAE: port '99999' is not a port number from 1 to 65535\n");
    result = with_url("postgresql://u:secret@127.0.0.1/db?sslmode=bogus");
    CHECK(result.exit_code == 78);
    CHECK(result.err ==
          "reconcile: error: RECON_DATABASE_URL_UAE: sslmode 'bogus' is not one of disable, allow, "
          "prefer, require, verify-ca, verify-full\n");

    // A server of its own that asks reconcile_login for a password (scram-sha-256) and trusts postgres.
    PrivateCluster cluster("login");
    {
        pqxx::connection admin(cluster.url("postgres"));
        pqxx::nontransaction(admin).exec0("CREATE ROLE reconcile_login LOGIN PASSWORD 'right-password'");
    }
    REQUIRE(cluster.hba_first("host all reconcile_login 127.0.0.1/32 scram-sha-256").exit_code == 0);
    const std::string server = "127.0.0.1:" + cluster.port();
    REQUIRE(wait_for(
        [&] {
            try {
                pqxx::connection probe("postgresql://reconcile_login@" + server + "/postgres");
                return false;  // the reload has not taken effect yet
            } catch (const pqxx::broken_connection&) {
                return true;
            }
        },
        std::chrono::seconds(10)));
    const auto refused_login = [&](const std::string& userinfo, const std::string& database, const std::string& why) {
        CAPTURE(userinfo);
        const auto refused = with_url("postgresql://" + userinfo + "@" + server + "/" + database);
        CHECK(refused.exit_code == 78);
        CHECK(refused.err == "reconcile: error: book 'uae': the control database refused the login: " + why + ")\n");
    };
    const std::string check_password = " (check the user and password in the book's database URL or password file";
    const std::string check_names = " (check the user and database name in the book's database URL";
    refused_login("reconcile_login:wrong-password", "postgres",
                  "password authentication failed for user \"reconcile_login\"" + check_password);
    refused_login("reconcile_login", "postgres",
                  "connection to server at \"127.0.0.1\", port " + cluster.port() +
                      " failed: fe_sendauth: no password supplied" + check_password);
    // A database that does not exist, with a password and trusted.
    refused_login("reconcile_login:right-password", "no_such_ledger",
                  "database \"no_such_ledger\" does not exist" + check_names);
    refused_login("postgres", "no_such_ledger", "database \"no_such_ledger\" does not exist" + check_names);
    refused_login("no_such_role", "postgres", "role \"no_such_role\" does not exist" + check_names);
    // TLS the URL demands and the server does not offer: 78, not a retry.
    refused_login("postgres", "postgres?sslmode=require",
                  "connection to server at \"127.0.0.1\", port " + cluster.port() +
                      " failed: server does not support SSL, but SSL was required (check sslmode and the certificate "
                      "files in the book's database URL");
    // The right password reaches the (unmigrated) database: the login was the only fault.
    result = with_url("postgresql://reconcile_login:right-password@" + server + "/postgres");
    CHECK(result.exit_code == 78);
    CHECK(result.err.find("is not migrated") != std::string::npos);

    // Nothing listening: retryable, 69 as before.
    const std::string free_port = std::to_string(unused_tcp_port());
    result = with_url("postgresql://reconcile_login:right-password@127.0.0.1:" + free_port + "/postgres");
    CHECK(result.exit_code == 69);
    CHECK(result.err ==
          "reconcile: error: book 'uae': cannot connect to the control database: connection to server "
          "at \"127.0.0.1\", port " +
              free_port + " failed: Connection refused\n");
}

TEST_CASE("exit 78: serve's settings are validated by every command; a malformed address is 78, or 64 as --address")
{
    const auto refused = [](const std::vector<std::string>& args, const std::string& name, const std::string& value) {
        ProcessOptions options = no_database();
        options.env["LEDGER_ADMIN_TOKEN"] = "an-admin-token-0123456789";
        options.env[name] = value;
        return reconcile_cli(args, options);
    };
    auto result = refused({"runs", "list"}, "LEDGER_ADMIN_TOKEN", "short");
    CHECK(result.exit_code == 78);
    CHECK(result.err == "reconcile: error: LEDGER_ADMIN_TOKEN is shorter than 16 characters\n");
    result = refused({"variances"}, "LEDGER_TOKEN", "0123456789abcde");
    CHECK(result.exit_code == 78);
    CHECK(result.err == "reconcile: error: LEDGER_TOKEN is shorter than 16 characters\n");
    for (const std::string address : {"999.1.1.1", "db.internal", "[::1]"}) {
        result = refused({"runs", "list"}, "RECON_SERVE_ADDRESS", address);
        CHECK(result.exit_code == 78);
        CHECK(result.err ==
              "reconcile: error: RECON_SERVE_ADDRESS: expected an IPv4 or IPv6 address or localhost, got '" + address +
                  "'\n");
    }
    result = refused({"serve", "--port", "0"}, "RECON_SERVE_ADDRESS", "999.1.1.1");
    CHECK(result.exit_code == 78);
    result = refused({"serve", "--port", "0", "--address", "999.1.1.1"}, "RECON_SERVE_ADDRESS", "127.0.0.1");
    CHECK(result.exit_code == 64);
    CHECK(result.err ==
          "reconcile: error: --address: expected an IPv4 or IPv6 address or localhost, got '999.1.1.1'\n");
}

TEST_CASE("exit 78: a setting's error quotes no secret: a URL's password, a webhook's token")
{
    const auto database = reconcile_cli(
        {"runs", "list"},
        env_for(uae_book(), {{"RECON_DATABASE_URL_UAE", "postgresql://app:S3cretPw@[db.internal/ledger"}}));
    CHECK(database.exit_code == 78);
    CHECK(database.err.find("S3cretPw") == std::string::npos);
    CHECK(database.err.find("postgresql://app:***@[db.internal/ledger") != std::string::npos);
    const auto pair =
        reconcile_cli({"runs", "list"}, env_for(uae_book(), {{"RECON_DATABASE_URL_UAE", "password=S3cretPw dbname"}}));
    CHECK(pair.exit_code == 78);
    CHECK(pair.err.find("S3cretPw") == std::string::npos);
    ProcessOptions with_webhook =
        env_for(uae_book(), {{"ALERT_WEBHOOK_URL", "hooks.example.com/services/T0/B0/SECRETTOKEN"}});
    with_webhook.unset_env.erase(
        std::remove(with_webhook.unset_env.begin(), with_webhook.unset_env.end(), "ALERT_WEBHOOK_URL"),
        with_webhook.unset_env.end());
    const auto webhook = reconcile_cli({"runs", "list"}, with_webhook);
    CHECK(webhook.exit_code == 78);
    CHECK(webhook.err ==
          "reconcile: error: ALERT_WEBHOOK_URL: expected an http:// or https:// URL, got 'hooks.example.com...'\n");
}

TEST_CASE("exit 78: a role without INSERT on the engine's tables is told which privilege is missing")
{
    auto& db = uae_book();
    const TestRole readonly(db, "recon_readonly_");
    const std::string& role = readonly.name();
    db.exec(
        "DO $$ DECLARE s text; BEGIN FOR s IN SELECT nspname FROM pg_namespace WHERE nspname IN "
        "('ledger', 'contract', 'recon') LOOP "
        "EXECUTE format('GRANT USAGE ON SCHEMA %I TO " +
        role +
        "', s); "
        "EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO " +
        role + "', s); END LOOP; END $$");
    const auto result = reconcile_cli({"run", "--book", "uae", "--category", "A"},
                                      env_for(db, {{"RECON_DATABASE_URL_UAE", readonly.url()}}));
    CHECK(result.exit_code == 78);
    CHECK(result.err.rfind("reconcile: error: the database role lacks a privilege (SQLSTATE 42501): permission "
                           "denied for table ",
                           0) == 0);
    CHECK(std::count(result.err.begin(), result.err.end(), '\n') == 1);
}

TEST_CASE("exit 78 before anything is written: a role that may not read a contract view or the stored proof")
{
    auto& db = uae_book();
    const TestRole partial(db, "recon_partial_");
    const std::string& role = partial.name();
    // The grants docs/deployment.md gives, as written there (role `reconcile`, database `ledger`).
    std::ifstream deployment(std::string(RECON_SOURCE_DIR) + "/docs/deployment.md");
    std::string line;
    std::string grants;
    bool in_section = false;
    while (std::getline(deployment, line)) {
        if (line.rfind("## ", 0) == 0) in_section = line == "## The database role";
        if (!in_section || (line.rfind("    GRANT ", 0) != 0 && line.rfind("    ALTER DEFAULT ", 0) != 0)) continue;
        line = line.substr(0, line.find(';'));
        for (const auto& [word, replacement] :
             {std::pair<std::string, std::string>{" TO reconcile", " TO " + role},
              {" DATABASE ledger", " DATABASE " + db.query_value("SELECT current_database()")}}) {
            if (const auto at = line.find(word); at != std::string::npos) line.replace(at, word.size(), replacement);
        }
        grants += line + ";\n";
    }
    REQUIRE(std::count(grants.begin(), grants.end(), ';') == 6);
    db.exec(grants);
    const auto env = env_for(db, {{"RECON_DATABASE_URL_UAE", partial.url()}});
    const auto runs = [&] { return db.query_value("SELECT count(*) FROM recon.runs"); };
    const auto refused = [&](const char* category, const std::string& lacking) {
        const std::string before = runs();
        const auto result = reconcile_cli({"run", "--book", "uae", "--category", category}, env);
        CHECK(result.exit_code == 78);
        CHECK(result.err == "reconcile: error: the database role '" + role + "' of book 'uae' lacks a privilege: " +
                                lacking + "; grant it (docs/deployment.md) and run again; nothing written\n");
        CHECK(runs() == before);
    };

    // A grant made ON ALL TABLES before a view existed does not cover it.
    db.exec("REVOKE SELECT ON contract.journal_lines FROM " + role);
    refused("A", "SELECT on contract.journal_lines");
    refused("A,D", "SELECT on contract.journal_lines");
    CHECK(reconcile_cli({"run", "--book", "uae", "--category", "D"}, env).exit_code == 0);  // D reads no line
    db.exec("GRANT SELECT (line_id, txn_id, account_code, customer_id, side) ON contract.journal_lines TO " + role);
    refused("B", "SELECT on contract.journal_lines (amount, currency)");
    db.exec("GRANT SELECT ON contract.journal_lines TO " + role);

    // The stored proof is read in the snapshot of A and B (before: every check of A,D ended error).
    db.exec("REVOKE SELECT ON recon.proof_keys FROM " + role);
    refused("A", "SELECT on recon.proof_keys");
    db.exec("GRANT SELECT ON recon.proof_keys TO " + role);
    // With every grant the documentation gives, every category runs and stores its results.
    const auto granted = reconcile_cli({"run", "--book", "uae", "--category", "A,B,D"}, env);
    CHECK_MESSAGE(granted.exit_code == 0, granted.err);
}

TEST_CASE("a database whose defaults are read only and serializable: every command still writes its own tables")
{
    // Set on the database against stray writes by people (and stricter isolation): the engine
    // says READ ONLY itself where it only reads.
    BookDb db("uae");
    db.exec(clean_ledger_sql);
    const std::string name = db.query_value("SELECT current_database()");
    db.exec("ALTER DATABASE " + name + " SET default_transaction_read_only = on; ALTER DATABASE " + name +
            " SET default_transaction_isolation = serializable");
    REQUIRE(db.query_value("SELECT current_setting('default_transaction_read_only') || ' ' || "
                           "current_setting('default_transaction_isolation')") == "on serializable");
    const auto env = env_for(db);
    const auto migrated = reconcile_cli({"migrate", "--book", "uae"}, env);
    CHECK_MESSAGE(migrated.exit_code == 0, migrated.err);
    const auto ran = reconcile_cli({"run", "--book", "uae", "--category", "A,B,D"}, env);
    CHECK_MESSAGE(ran.exit_code == 0, ran.err);
    CHECK(db.query_value("SELECT string_agg(category || ' ' || status, ', ' ORDER BY run_id) FROM recon.runs") ==
          "A ok, B ok, D ok");
    const auto listed = reconcile_cli({"runs", "list", "--book", "uae"}, env);
    CHECK_MESSAGE(listed.exit_code == 0, listed.err);
}

TEST_CASE("exit 75: a lock the database's lock_timeout gave up waiting for is transient; nothing is written")
{
    BookDb db("uae");
    db.exec(clean_ledger_sql);
    const std::string name = db.query_value("SELECT current_database()");
    db.exec("ALTER DATABASE " + name + " SET lock_timeout = '200ms'");
    // Someone holds the run history (a migration, a VACUUM FULL) past the database's lock_timeout.
    pqxx::connection holder(db.url());
    pqxx::work hold(holder);
    hold.exec("LOCK TABLE recon.runs IN ACCESS EXCLUSIVE MODE");
    const auto result = reconcile_cli({"run", "--book", "uae", "--category", "A"}, env_for(db));
    CHECK(result.exit_code == 75);
    CHECK(result.err == "reconcile: error: database: canceling statement due to lock timeout; safe to retry\n");
    hold.abort();
    CHECK(db.query_value("SELECT count(*) FROM recon.runs") == "0");
    // Once the lock is gone, the same run goes through.
    CHECK(reconcile_cli({"run", "--book", "uae", "--category", "A"}, env_for(db)).exit_code == 0);
}

TEST_CASE("a client encoding from the environment changes no byte and no verdict: text stays UTF-8")
{
    // Two transactions under one source key with accents: source_txn_uniqueness lists it.
    BookDb db("uae");
    db.exec(clean_ledger_sql);
    db.exec(
        "INSERT INTO ledger.transactions (txn_id, source, source_txn_id, customer_id, txn_type, status, effective_at)"
        " VALUES (3001, 'bank', 'réf-é', 'C001', 'deposit', 'pending', '2026-11-30T10:00Z'),"
        " (3002, 'bank', 'réf-é', 'C001', 'deposit', 'pending', '2026-11-30T11:00Z')");
    for (const std::string encoding : {"UTF8", "LATIN1", "WIN1251", "SQL_ASCII"}) {
        CAPTURE(encoding);
        const auto result = reconcile_cli({"run", "--book", "uae", "--category", "A", "--output", "json"},
                                          env_for(db, {{"PGCLIENTENCODING", encoding}}));
        CHECK_MESSAGE(result.exit_code == 1, result.err);
        const auto document = nlohmann::json::parse(result.out);
        std::vector<std::string> failed;
        for (const auto& check : document["checks"]) {
            if (check["status"] != "ok")
                failed.push_back(check["check_name"].get<std::string>() + " " + check["status"].get<std::string>());
        }
        CHECK(failed == std::vector<std::string>{"source_txn_uniqueness fail"});
        for (const auto& check : document["checks"]) {
            if (check["check_name"] != "source_txn_uniqueness") continue;
            CHECK(check["variances"][0]["keys"]["source_txn_id"] ==
                  "r\xc3\xa9"
                  "f-\xc3\xa9");  // réf-é in UTF-8
        }
    }
}

TEST_CASE("a database's statement_timeout does not cut the engine's writes of its results short")
{
    // Finishing a run row takes a second here (a trigger), more than the database's 500 ms.
    BookDb db("uae");
    db.exec(clean_ledger_sql);
    db.exec(
        "CREATE FUNCTION public.slow_finish() RETURNS trigger LANGUAGE plpgsql AS "
        "'BEGIN PERFORM pg_sleep(1); RETURN NEW; END';"
        "CREATE TRIGGER slow_finish BEFORE UPDATE ON recon.runs FOR EACH ROW WHEN (NEW.status <> 'running') "
        "EXECUTE FUNCTION public.slow_finish()");
    const std::string name = db.query_value("SELECT current_database()");
    db.exec("ALTER DATABASE " + name + " SET statement_timeout = '500ms'");
    const auto result = reconcile_cli({"run", "--book", "uae", "--category", "A"}, env_for(db));
    CHECK_MESSAGE(result.exit_code == 0, result.err);
    CHECK(db.query_value("SELECT string_agg(status, ',') FROM recon.runs") == "ok");
}

TEST_CASE("exit 64: typos are named with the closest command or option and the help to read")
{
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
        {{"frobnicate"}, "unknown command 'frobnicate' for reconcile (see reconcile --help)"},
        {{"hlep"}, "unknown command 'hlep' for reconcile; did you mean reconcile --help? (see reconcile --help)"},
        {{"variance"},
         "unknown command 'variance' for reconcile; did you mean reconcile variances? (see reconcile --help)"},
        {{"runs", "lsit"},
         "unknown command 'lsit' for reconcile runs; did you mean reconcile runs list? (see reconcile runs --help)"},
        {{"runs"}, "reconcile runs needs a command: list, show (see reconcile runs --help)"},
        {{"--bogus"}, "unknown option --bogus for reconcile (see reconcile --help)"},
        {{"run", "--book", "uae", "--category", "A", "--chekc", "x"},
         "unknown option --chekc for reconcile run; did you mean --check? (see reconcile run --help)"},
        {{"run", "list"},
         "reconcile run takes no argument 'list'; did you mean reconcile runs list? (see reconcile run --help)"},
        {{"run", "--book", "uae", "--category", "A", "-o", "yaml"},
         "--output must be text or json, not 'yaml' (see reconcile run --help)"},
        {{"runs", "list", "-n", "0"},
         "--limit must be a whole number from 1 to 10000, not '0' (see reconcile runs list --help)"},
        {{"runs", "show", "0"}, "run id 0 does not exist: run ids start at 1"},
        {{"runs", "show", "abc"}, "run id must be a whole number such as 42, not 'abc' (runs list shows the ids)"},
        {{"runs", "show", "99999999999999999999"}, "run id 99999999999999999999 is too large: no run has such an id"},
        {{"runs", "show", "1.5"}, "run id must be a whole number such as 42, not '1.5' (runs list shows the ids)"},
        {{"runs", "show", "1\x1b[2J"},
         "run id must be a whole number such as 42, not '1\\x1b[2J' (runs list shows the ids)"},
    };
    for (const auto& [args, message] : cases) {
        CAPTURE(args);
        const auto result = reconcile_cli(args, no_database());
        CHECK(result.exit_code == 64);
        CHECK(result.out.empty());
        CHECK(result.err == "reconcile: error: " + message + "\n");
    }
}

TEST_CASE("--config and --quiet are accepted before or after the subcommand")
{
    const std::string dir = temp_dir("global-flags");
    std::ofstream(dir + "/reconcile.env") << "RECON_BOOKS=uae\nRECON_VARIANCE_CAP=lots\n";
    ProcessOptions options = no_database();
    options.env.erase("RECON_BOOKS");
    // The file is read wherever --config stands: its bad value is reported (78) either way.
    for (const auto& args :
         std::vector<std::vector<std::string>>{{"--config", dir + "/reconcile.env", "checks"},
                                               {"checks", "--config", dir + "/reconcile.env"},
                                               {"runs", "list", "--config", dir + "/reconcile.env"}}) {
        CAPTURE(args);
        const auto result = reconcile_cli(args, options);
        CHECK(result.exit_code == 78);
        CHECK(result.err == "reconcile: error: RECON_VARIANCE_CAP: expected a whole number, got 'lots'\n");
    }
    // --quiet after the subcommand is taken as before it (it used to be "unexpected argument", 64).
    CHECK(reconcile_cli({"checks", "-q"}, no_database()).exit_code == 0);
    std::filesystem::remove_all(dir);
}

TEST_CASE("--config and *_FILE: directories, FIFOs, devices and huge files are refused at once (78)")
{
    const std::string dir = temp_dir("files");
    REQUIRE(mkfifo((dir + "/fifo").c_str(), 0600) == 0);
    ProcessOptions options = no_database();
    options.timeout = std::chrono::seconds(20);  // a hang would fail here, not block the suite
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
        {{"--config", "/tmp", "checks"}, "--config: /tmp is a directory, not a file"},
        {{"--config", dir + "/fifo", "checks"}, "--config: " + dir + "/fifo is a FIFO (named pipe), not a file"},
        {{"--config", "/dev/zero", "checks"}, "--config: /dev/zero is a character device, not a file"},
    };
    for (const auto& [args, message] : cases) {
        CAPTURE(args);
        const auto result = reconcile_cli(args, options);
        CHECK_FALSE(result.timed_out);
        CHECK(result.exit_code == 78);
        CHECK(result.err == "reconcile: error: " + message + "\n");
    }
    for (const std::string& target : {std::string("/tmp"), dir + "/fifo", std::string("/dev/zero")}) {
        CAPTURE(target);
        ProcessOptions secret = options;
        secret.env["GTN_PRIVATE_KEY_FILE"] = target;
        const auto result = reconcile_cli({"checks"}, secret);
        CHECK_FALSE(result.timed_out);
        CHECK(result.exit_code == 78);
        CHECK(result.err.rfind("reconcile: error: GTN_PRIVATE_KEY_FILE: " + target + " is ", 0) == 0);
        CHECK(result.err.find(", not a file\n") != std::string::npos);
    }
    std::filesystem::remove_all(dir);
}

TEST_CASE("env-file: a byte-order mark is accepted; an unknown key exits 78 naming the nearest setting")
{
    auto& db = uae_book();
    const std::string dir = temp_dir("env-file");
    ProcessOptions options;
    options.unset_env = {"RECON_CONFIG", "RECON_BOOKS", "RECON_DATABASE_URL_UAE", "RECON_DATABASE_URL_INDIA"};

    std::ofstream(dir + "/bom.env") << "\xEF\xBB\xBFRECON_BOOKS=uae\nRECON_DATABASE_URL_UAE=" << db.url() << "\n";
    const auto bom = reconcile_cli({"--config", dir + "/bom.env", "runs", "list"}, options);
    CHECK_MESSAGE(bom.exit_code == 0, bom.err);

    std::ofstream(dir + "/typo.env") << "RECON_BOOKS=uae\nRECON_DATABSE_URL_UAE=" << db.url() << "\n";
    const auto typo = reconcile_cli({"--config", dir + "/typo.env", "runs", "list"}, options);
    CHECK(typo.exit_code == 78);
    CHECK(typo.err == "reconcile: error: " + dir +
                          "/typo.env: unknown setting RECON_DATABSE_URL_UAE; did you mean RECON_DATABASE_URL_UAE?\n");

    // In the environment, which other programs share, an unknown RECON_* is a warning only.
    ProcessOptions env = env_for(db, {{"RECON_VARIANCE_CAPP", "5"}});
    const auto warned = reconcile_cli({"runs", "list"}, env);
    CHECK(warned.exit_code == 0);
    CHECK(warned.err ==
          "reconcile: warn: the environment variable RECON_VARIANCE_CAPP is not a setting and is ignored; did you "
          "mean RECON_VARIANCE_CAP?\n");
    std::filesystem::remove_all(dir);
}

TEST_CASE("runs show --book honours the book: another book's database is refused (78)")
{
    auto& db = uae_book();
    REQUIRE(reconcile_cli({"run", "--book", "uae", "--category", "A"}, env_for(db)).exit_code == 0);
    const std::string run_id = db.query_value("SELECT max(run_id) FROM recon.runs");
    ProcessOptions shared = env_for(db, {{"RECON_BOOKS", "uae,india"}, {"RECON_DATABASE_URL_INDIA", db.url()}});
    const auto india = reconcile_cli({"runs", "show", run_id, "--book", "india"}, shared);
    CHECK(india.exit_code == 78);
    CHECK(india.out.empty());
    CHECK(india.err.find("this database belongs to book 'uae'") != std::string::npos);
    const auto listed = reconcile_cli({"runs", "list", "--book", "india"}, shared);
    CHECK(listed.exit_code == 78);
    const auto uae = reconcile_cli({"runs", "show", run_id, "--book", "uae", "--output", "json"}, shared);
    REQUIRE(uae.exit_code == 0);
    CHECK(nlohmann::json::parse(uae.out)["book"] == "uae");
}

TEST_CASE("trace escapes ledger ids like run and runs show do: no terminal escape or newline reaches the screen")
{
    auto& db = uae_book();
    db.exec("UPDATE ledger.transactions SET source_txn_id = E'DEP-1\\x1b[2J\\nINJECTED\\x07' WHERE txn_id = 1001");
    const auto result = reconcile_cli({"trace", "--book", "uae", "--txn", "1001"}, env_for(db));
    REQUIRE_MESSAGE(result.exit_code == 0, result.err);
    CHECK(result.out.find('\x1b') == std::string::npos);
    CHECK(result.out.find('\x07') == std::string::npos);
    CHECK(result.out.find("\nINJECTED") == std::string::npos);
    CHECK(result.out.find("  source bank / DEP-1\\x1b[2J\\x0aINJECTED\\x07  customer C001\n") != std::string::npos);
}

TEST_CASE("help: defaults shown, no line over 100 characters, no CLI11 internals")
{
    const std::vector<std::vector<std::string>> commands{{},        {"run"},          {"migrate"},      {"checks"},
                                                         {"runs"},  {"runs", "list"}, {"runs", "show"}, {"india"},
                                                         {"trace"}, {"variances"},    {"serve"},        {"tick"}};
    for (auto args : commands) {
        args.emplace_back("--help");
        CAPTURE(args);
        const auto result = reconcile_cli(args, no_database());
        CHECK(result.exit_code == 0);
        std::istringstream lines(result.out);
        for (std::string line; std::getline(lines, line);) {
            CAPTURE(line);
            CHECK(line.size() <= 100);
            CHECK(line.find("->") == std::string::npos);
        }
    }
    const auto run = reconcile_cli({"run", "--help"}, no_database());
    CHECK(run.out.find("--fail-on fail|warn=fail") != std::string::npos);
    CHECK(run.out.find("--output text|json=text") != std::string::npos);
    CHECK(reconcile_cli({"runs", "list", "--help"}, no_database()).out.find("--limit INT=20") != std::string::npos);
}

TEST_CASE("a full proof refused its second session (the role's connection limit) proves the same in its snapshot")
{
    auto& db = uae_book();
    const TestRole limited(db, "recon_two_sessions_");
    // The run's control and read sessions fit; the full proof's second session does not.
    db.exec("ALTER ROLE " + limited.name() + " CONNECTION LIMIT 2");
    db.exec(
        "DO $$ DECLARE s text; BEGIN FOR s IN SELECT nspname FROM pg_namespace WHERE nspname IN "
        "('ledger', 'contract', 'recon') LOOP "
        "EXECUTE format('GRANT USAGE ON SCHEMA %I TO " +
        limited.name() +
        "', s); "
        "EXECUTE format('GRANT ALL ON ALL TABLES IN SCHEMA %I TO " +
        limited.name() +
        "', s); "
        "EXECUTE format('GRANT ALL ON ALL SEQUENCES IN SCHEMA %I TO " +
        limited.name() + "', s); END LOOP; END $$");
    const std::vector<std::string> full_run{"run", "--book", "uae", "--category", "A", "--full", "--output", "json"};
    const auto beside = reconcile_cli(full_run, env_for(db));
    const auto alone = reconcile_cli(full_run, env_for(db, {{"RECON_DATABASE_URL_UAE", limited.url()}}));
    INFO(alone.err);
    REQUIRE((beside.exit_code == 0 || beside.exit_code == 1));
    CHECK(alone.exit_code == beside.exit_code);
    const std::string refused = "a second session of the snapshot could not be had, its work runs in the snapshot";
    CHECK(beside.err.find(refused) == std::string::npos);
    CHECK(alone.err.find(refused) != std::string::npos);
    const auto verdicts = [](const std::string& out) {
        auto document = nlohmann::json::parse(out);
        CHECK(document["proof"]["kind"] == "full");
        nlohmann::json kept{{"lines_read", document["proof"]["lines_read"]}};
        for (const auto& check : document["checks"]) {
            kept["checks"].push_back({check["check_name"], check["status"], check["variances"], check["metrics"]});
        }
        return kept;
    };
    CHECK(verdicts(alone.out).dump(1) == verdicts(beside.out).dump(1));
}
