// Ledger text that is not UTF-8 (issue 14 item 1): a SQL_ASCII database stores any bytes, and a
// run must carry them through (escaped as \xNN in JSON and text, docs/decisions/invalid-utf8-text.md),
// keep them in the variance rows and complete with the breaks reported. Every text column the
// A, B and D checks read or report holds an invalid byte here.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include <unistd.h>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "lib/db.hpp"
#include "lib/migrate.hpp"
#include "tests/e2e/serve_fixture.hpp"
#include "tests/support/cli.hpp"
#include "tests/support/test_db.hpp"

using namespace reconcile::test;

namespace {

// \xe9 is Latin-1 "é", \xff and \xfe never occur in UTF-8. Standard strings keep the backslash
// (the four characters \xe9), E'' strings turn it into the byte.
const char* const latin1_ledger_sql = R"sql(
INSERT INTO ledger.accounts (account_code, name, account_type, normal_side, allow_wrong_side, is_customer_wallet)
VALUES (E'CASH\xe9', E'Cash \xff', E'asset\xfe', 'DR', true, false),
       (E'WAL\xe9', E'Wallet \xff', E'liability\xfe', 'CR', false, true);

INSERT INTO ledger.transactions (txn_id, source, source_txn_id, customer_id, txn_type, status, effective_at,
                                 posted_at, symbol)
VALUES (1, E'bank\xe9', E'DEP-Jos\xe9', E'C\xe9', E'deposit\xff', 'posted', '2026-11-01T10:00Z', now(), E'SY\xe9'),
       (2, E'bank\xe9', E'DEP-Jos\xe9', E'C\xe9', E'deposit\xff', 'posted', '2026-11-01T10:00Z', now(), NULL),
       (3, 'bank', 'OK-3', E'D\xe9', 'fee', 'posted', '2026-11-01T10:00Z', now(), NULL),
       (4, 'bank', 'OK-4', NULL, 'fee', 'posted', '2026-11-01T10:00Z', now(), NULL),
       (5, E'bank\xe9', E'DEP-Jos\xe8', NULL, 'x', 'pending', '2026-11-01T10:00Z', NULL, NULL),
       (6, E'bank\xe9', E'DEP-Jos\xe8', NULL, 'x', 'pending', '2026-11-01T10:00Z', NULL, NULL),
       (7, E'bank\xe9', 'DEP-Jos\xe9', NULL, 'x', 'pending', '2026-11-01T10:00Z', NULL, NULL),
       (8, E'bank\xe9', 'DEP-Jos\xe9', NULL, 'x', 'pending', '2026-11-01T10:00Z', NULL, NULL);

INSERT INTO ledger.journal_lines (line_id, txn_id, account_code, customer_id, side, amount, currency)
VALUES (11, 1, E'CASH\xe9', E'C\xe9', 'DR', 100.00, E'US\xe9'),
       (12, 1, E'WAL\xe9', E'C\xe9', 'CR', 100.00, E'US\xe9'),
       (21, 2, E'CASH\xe9', E'C\xe9', 'DR', 100.00, E'US\xe9'),
       (22, 2, E'WAL\xe9', E'C\xe9', 'CR', 90.00, E'US\xe9'),
       (31, 3, E'WAL\xe9', E'D\xe9', 'DR', 5.00, E'US\xe9'),
       (32, 3, E'CASH\xe9', E'D\xe9', 'CR', 5.00, E'US\xe9'),
       (41, 4, E'CASH\xe9', NULL, 'DR', 7.00, E'US\xe9'),
       (42, 4, E'NOPE\xe9', NULL, 'CR', 7.00, E'US\xe9'),
       (43, 4, E'CASH\xe9', NULL, E'D\xe9', 3.00, E'US\xe9');

INSERT INTO ledger.wallets (customer_id, account_code, currency, balance)
VALUES (E'C\xe9', E'WAL\xe9', E'US\xe9', 180.00);

INSERT INTO ledger.account_totals (account_code, currency, debit_total, credit_total, net)
VALUES (E'CASH\xe9', E'US\xe9', 207.00, 5.00, 202.00),
       (E'WAL\xe9', E'US\xe9', 5.00, 190.00, 185.00),
       (E'GHOST\xe9', E'EU\xe9', 1.00, 0, 1.00);

INSERT INTO ledger.balance_snapshots (snapshot_id, account_code, customer_id, currency, as_of, balance)
VALUES (1, E'WAL\xe9', E'C\xe9', E'US\xe9', '2026-11-02T00:00Z', 5.00);

INSERT INTO ledger.pending_flows (flow_id, flow_type, customer_id, amount, currency, status, created_at, reference)
VALUES (E'F-\xe9', E'deposit\xff', E'C\xe9', 10.00, E'US\xe9', 'pending', now() - interval '100 days', E'ref\xe9');
)sql";

/// A migrated uae book in a SQL_ASCII database (bytes stored unchecked, C locale) on the test
/// cluster, dropped at exit.
class Latin1Book {
public:
    explicit Latin1Book(const std::string& suffix = "")
        : m_name("recon_t_latin1_" + std::to_string(::getpid()) + suffix), m_url(test_cluster_url(m_name))
    {
        admin("DROP DATABASE IF EXISTS " + m_name + " WITH (FORCE)");
        admin("CREATE DATABASE " + m_name + " ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0");
        reconcile::Session session(m_url, "control");
        reconcile::apply_migrations(session, "uae", false);
    }
    ~Latin1Book()
    {
        try {
            admin("DROP DATABASE IF EXISTS " + m_name + " WITH (FORCE)");
        } catch (...) {
            // The cluster is going away with the test run.
        }
    }
    Latin1Book(const Latin1Book&) = delete;
    Latin1Book& operator=(const Latin1Book&) = delete;

    const std::string& url() const { return m_url; }
    void exec(const std::string& sql) const { exec_sql(m_url, sql); }
    std::string query_value(const std::string& sql) const
    {
        pqxx::connection connection(m_url);
        pqxx::nontransaction txn(connection);
        const auto row = txn.exec_params1(sql);
        return row[0].is_null() ? std::string{} : row[0].as<std::string>();
    }

private:
    static void admin(const std::string& sql)
    {
        pqxx::connection connection(test_cluster_url("postgres"));
        pqxx::nontransaction txn(connection);
        txn.exec0(sql);
    }

    std::string m_name;
    std::string m_url;
};

/// The book with latin1_ledger_sql loaded (once, whichever test comes first).
Latin1Book& latin1_book()
{
    static Latin1Book db;
    static const bool loaded = (db.exec(latin1_ledger_sql), true);
    (void)loaded;
    return db;
}

ProcessOptions latin1_env(const Latin1Book& book = latin1_book())
{
    ProcessOptions options;
    options.env = {
        {"RECON_BOOKS", "uae"}, {"RECON_DATABASE_URL_UAE", book.url()}, {"RECON_ALERT_PERSIST_ENABLED", "true"}};
    options.unset_env = {"RECON_CONFIG", "ALERT_WEBHOOK_URL", "RECON_READ_DATABASE_URL_UAE"};
    return options;
}

// "check kind key=value ..." (keys sorted) for every listed variance of a run's JSON, sorted.
std::vector<std::string> variance_lines(const nlohmann::json& run)
{
    std::vector<std::string> lines;
    for (const auto& check : run["checks"]) {
        for (const auto& variance : check["variances"]) {
            std::string line = check["check_name"].get<std::string>() + " " + variance["kind"].get<std::string>();
            std::vector<std::string> keys;
            for (const auto& [name, value] : variance["keys"].items())
                keys.push_back(name + "=" + value.get<std::string>());
            std::sort(keys.begin(), keys.end());
            for (const auto& key : keys) line += " " + key;
            lines.push_back(line);
        }
    }
    std::sort(lines.begin(), lines.end());
    return lines;
}

const nlohmann::json& variance_of(const nlohmann::json& run, const std::string& kind)
{
    for (const auto& check : run["checks"]) {
        for (const auto& variance : check["variances"]) {
            if (variance["kind"] == kind) return variance;
        }
    }
    throw std::runtime_error("no variance " + kind);
}

nlohmann::json run_json(char category, const Latin1Book& book = latin1_book(), std::vector<std::string> more = {})
{
    std::vector<std::string> args{"run", "--book", "uae", "--category", std::string(1, category), "--output", "json"};
    args.insert(args.end(), more.begin(), more.end());
    const auto result = reconcile_cli(args, latin1_env(book));
    INFO(result.err);
    CHECK(result.exit_code == 1);
    auto document = nlohmann::json::parse(result.out);  // throws on anything that is not UTF-8 JSON
    for (const auto& check : document["checks"]) CHECK_MESSAGE(check["status"] != "error", check["check_name"]);
    return document;
}

}  // namespace

TEST_CASE("ledger text that is not UTF-8: every A, B and D run completes and reports its breaks")
{
    auto& db = latin1_book();
    REQUIRE(db.query_value("SELECT current_setting('server_encoding')") == "SQL_ASCII");
    REQUIRE(db.query_value("SELECT length(source_txn_id) FROM ledger.transactions WHERE txn_id = 1") == "8");

    const auto a = run_json('A');
    CHECK(a["status"] == "fail");
    CHECK(variance_lines(a) == std::vector<std::string>{
                                   "dr_cr_sign_convention invalid_side line_id=43 txn_id=4",
                                   "dr_cr_sign_convention wrong_side_balance account=WAL\\xe9 currency=US\\xe9 "
                                   "customer_id=D\\xe9",
                                   "journal_line_completeness unknown_account account=NOPE\\xe9 line_id=42 txn_id=4",
                                   "source_txn_uniqueness duplicate_source_txn source=bank\\xe9 "
                                   "source_txn_id=DEP-Jos\\xe8",
                                   "source_txn_uniqueness duplicate_source_txn source=bank\\xe9 "
                                   "source_txn_id=DEP-Jos\\xe9",
                                   "source_txn_uniqueness duplicate_source_txn source=bank\\xe9 "
                                   "source_txn_id=DEP-Jos\\xe9",
                                   "trial_balance_zero unbalanced_currency currency=US\\xe9",
                                   "trial_balance_zero unbalanced_txn currency=US\\xe9 txn_id=2",
                               });
    CHECK(variance_of(a, "invalid_side")["detail"]["side"] == "D\\xe9");
    CHECK(variance_of(a, "unbalanced_currency")["expected"] == "212.00");
    CHECK(variance_of(a, "unbalanced_currency")["actual"] == "202.00");
    CHECK(variance_of(a, "wrong_side_balance")["actual"] == "-5.00");
    CHECK(a["checks"][0]["metrics"]["currencies"]["US\\xe9"]["difference"] == "10.00");

    // Fingerprints are over the ledger's own bytes: the id with the byte \xe9 and the id spelled
    // with the four characters \xe9 print alike but stay two breaks; \xe8 is a third.
    std::set<std::string> fingerprints;
    for (const auto& variance : a["checks"][2]["variances"]) fingerprints.insert(variance["fingerprint"]);
    CHECK(fingerprints.size() == 3);
    const auto again = run_json('A');
    std::set<std::string> fingerprints_again;
    for (const auto& variance : again["checks"][2]["variances"]) fingerprints_again.insert(variance["fingerprint"]);
    CHECK(fingerprints_again == fingerprints);

    const auto b = run_json('B');
    CHECK(variance_lines(b) ==
          std::vector<std::string>{
              "account_totals account_totals_without_lines account=GHOST\\xe9 currency=EU\\xe9",
              "snapshot_reconcile snapshot_mismatch account=WAL\\xe9 currency=US\\xe9 customer_id=C\\xe9 snapshot_id=1",
              "wallet_derivation wallet_mismatch account=WAL\\xe9 currency=US\\xe9 customer_id=C\\xe9",
              "wallet_derivation wallet_missing account=WAL\\xe9 currency=US\\xe9 customer_id=D\\xe9",
          });
    CHECK(variance_of(b, "wallet_mismatch")["expected"] == "190.00");
    CHECK(variance_of(b, "snapshot_mismatch")["expected"] == "190.00");

    const auto d = run_json('D');
    CHECK(variance_lines(d) == std::vector<std::string>{"pending_flow_age aged_pending currency=US\\xe9 "
                                                        "customer_id=C\\xe9 flow_id=F-\\xe9"});
    CHECK(variance_of(d, "aged_pending")["detail"]["flow_type"] == "deposit\\xff");

    // Kept in the run rows and the variance rows, escaped the same way.
    CHECK(db.query_value("SELECT string_agg(status, ',' ORDER BY run_id) FROM recon.runs") == "fail,fail,fail,fail");
    CHECK(db.query_value("SELECT string_agg(DISTINCT keys->>'source_txn_id', ',') FROM recon.reconciliation_variances"
                         " WHERE kind = 'duplicate_source_txn'") == "DEP-Jos\\xe8,DEP-Jos\\xe9");
    CHECK(db.query_value("SELECT keys->>'flow_id' FROM recon.reconciliation_variances WHERE kind = 'aged_pending'") ==
          "F-\\xe9");

    // Read back and printed: runs show (JSON) and the text output.
    const auto shown = reconcile_cli(
        {"runs", "show", std::to_string(a["run_id"].get<std::int64_t>()), "--book", "uae", "--output", "json"},
        latin1_env());
    REQUIRE_MESSAGE(shown.exit_code == 0, shown.err);
    CHECK(variance_lines(nlohmann::json::parse(shown.out)) == variance_lines(a));
    const auto text = reconcile_cli({"run", "--book", "uae", "--category", "A"}, latin1_env());
    CHECK(text.exit_code == 1);
    CHECK(text.out.find("duplicate_source_txn source=bank\\xe9 source_txn_id=DEP-Jos\\xe9") != std::string::npos);
}

TEST_CASE("ledger text that is not UTF-8: incremental runs read, re-prove and carry transaction ids that are not UTF-8")
{
    // Every transaction id ends in the byte \xe9 (text ids, as a foreign ledger may keep them), and
    // the journal's view filters on such text: the plans the proof asks for quote it.
    Latin1Book db("_ids");
    db.exec(latin1_ledger_sql);
    db.exec(R"sql(
DROP VIEW contract.transactions;
DROP VIEW contract.journal_lines;
CREATE VIEW contract.transactions AS
    SELECT txn_id::text || E'\xe9' AS txn_id, source, source_txn_id, customer_id, txn_type, status, effective_at,
           posted_at, symbol, quantity, reverses_txn_id::text || E'\xe9' AS reverses_txn_id, xmin AS row_xmin
    FROM ledger.transactions;
CREATE VIEW contract.journal_lines AS
    SELECT line_id, txn_id::text || E'\xe9' AS txn_id, account_code, customer_id, side, amount, currency,
           xmin AS row_xmin
    FROM ledger.journal_lines WHERE account_code IS DISTINCT FROM E'GONE\xe9';
)sql");
    const auto first = run_json('A', db);
    CHECK(first["proof"]["kind"] == "full");
    // The transactions sharing a source key are listed by their ids, escaped.
    std::set<std::string> duplicated;
    for (const auto& check : first["checks"]) {
        for (const auto& variance : check["variances"]) {
            if (variance["kind"] == "duplicate_source_txn") duplicated.insert(variance["detail"]["txn_ids"].dump());
        }
    }
    CHECK(duplicated ==
          std::set<std::string>{R"(["1\\xe9","2\\xe9"])", R"(["5\\xe9","6\\xe9"])", R"(["7\\xe9","8\\xe9"])"});
    CHECK(run_json('B', db)["status"] == "fail");

    // A new unbalanced transaction, and a line that unbalances the old transaction 3: both are
    // named to the engine by their ids, which are not UTF-8.
    db.exec(R"sql(
INSERT INTO ledger.transactions (txn_id, source, source_txn_id, customer_id, txn_type, status, effective_at, posted_at)
VALUES (9, 'bank', 'OK-9', E'C\xe9', 'fee', 'posted', '2026-11-03T10:00Z', now());
INSERT INTO ledger.journal_lines (line_id, txn_id, account_code, customer_id, side, amount, currency)
VALUES (91, 9, E'WAL\xe9', E'C\xe9', 'DR', 4.00, E'US\xe9'),
       (33, 3, E'CASH\xe9', E'D\xe9', 'CR', 1.00, E'US\xe9');
)sql");
    const auto a = run_json('A', db);
    CHECK_MESSAGE(a["proof"]["kind"] == "incremental", a["proof"].dump());
    const auto lines = variance_lines(a);
    CHECK(std::count(lines.begin(), lines.end(), "trial_balance_zero unbalanced_txn currency=US\\xe9 txn_id=9\\xe9") ==
          1);
    CHECK(std::count(lines.begin(), lines.end(), "trial_balance_zero unbalanced_txn currency=US\\xe9 txn_id=3\\xe9") ==
          1);
    CHECK(std::count(lines.begin(), lines.end(), "trial_balance_zero unbalanced_txn currency=US\\xe9 txn_id=2\\xe9") ==
          1);
    const auto full = run_json('A', db, {"--full"});
    CHECK(full["proof"]["kind"] == "full");
    CHECK(variance_lines(full) == lines);

    const auto b = run_json('B', db);
    CHECK_MESSAGE(b["proof"]["kind"] == "incremental", b["proof"].dump());
    CHECK(variance_lines(run_json('B', db, {"--full"})) == variance_lines(b));
}

TEST_CASE("ledger text that is not UTF-8: trace prints it escaped, as text, as JSON and over HTTP")
{
    run_json('A');  // the variances the trace names
    const auto text = reconcile_cli({"trace", "--book", "uae", "--txn", "1"}, latin1_env());
    REQUIRE_MESSAGE(text.exit_code == 0, text.err);
    INFO(text.out);
    CHECK(
        text.out.find("txn 1  deposit\\xff  posted  (matched)\n  source bank\\xe9 / DEP-Jos\\xe9  customer C\\xe9\n") !=
        std::string::npos);
    CHECK(text.out.find("CASH\\xe9") != std::string::npos);
    CHECK(text.out.find("duplicate_source_txn source=bank\\xe9 source_txn_id=DEP-Jos\\xe9") != std::string::npos);

    const auto trace_json = [](std::vector<std::string> args) {
        args.insert(args.begin(), {"trace", "--book", "uae", "--output", "json"});
        const auto result = reconcile_cli(args, latin1_env());
        INFO(result.err);
        REQUIRE(result.exit_code == 0);
        return nlohmann::json::parse(result.out);  // throws on anything that is not UTF-8 JSON
    };
    // Found by the ledger's own bytes (E'DEP-Jos\xe9': txns 1 and 2, not 7 and 8 spelled with a
    // backslash), printed escaped.
    const auto by_key = trace_json({"--source", "bank\xe9", "--source-txn-id", "DEP-Jos\xe9"});
    REQUIRE(by_key["transactions"].size() == 2);
    CHECK(by_key["query"]["source_txn_id"] == "DEP-Jos\\xe9");
    CHECK(by_key["transactions"][0]["txn_id"] == "1");
    CHECK(by_key["transactions"][1]["txn_id"] == "2");
    CHECK(by_key["transactions"][0]["source_txn_id"] == "DEP-Jos\\xe9");
    CHECK(by_key["transactions"][0]["lines"][0]["account"] == "CASH\\xe9");
    CHECK(by_key["transactions"][1]["totals"]["US\\xe9"]["difference"] == "10.00");
    const auto by_txn = trace_json({"--txn", "4"});
    CHECK(by_txn["transactions"][0]["lines"][1]["account"] == "NOPE\\xe9");
    CHECK(by_txn["transactions"][0]["lines"][2]["side"] == "D\\xe9");
    std::set<std::string> kinds;
    for (const auto& traced : by_txn["variances"]) kinds.insert(traced["variance"]["kind"].get<std::string>());
    CHECK(kinds == std::set<std::string>{"invalid_side", "unknown_account"});

    // serve's trace endpoint is the same document.
    auto options = latin1_env();
    options.env["LEDGER_ADMIN_TOKEN"] = admin_token;
    options.env["LEDGER_TOKEN"] = read_token;
    options.env["RECON_SCHEDULE_ENABLED"] = "false";
    ServeProcess serve(options);
    const auto served = http_get(serve.port(), "/v1/reconciliation/trace?book=uae&txn=1", read_headers());
    INFO(served.body);
    REQUIRE(served.status == 200);
    CHECK(served.json()["transactions"] == trace_json({"--txn", "1"})["transactions"]);
    serve.stop();
}
