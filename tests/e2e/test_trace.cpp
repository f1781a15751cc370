// `reconcile trace` end to end: the real binary follows a transaction (or a source key) to its
// lines, its reversals, the other holders of its source key and the variances naming it.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tests/db/fixture.hpp"
#include "tests/support/process.hpp"

using namespace reconcile;
using namespace reconcile::test;

namespace {

/// Transaction 1004 reversed by 3001 (posted, two lines on C002), on the clean ledger.
const char* const reversal_of_1004_sql =
    "UPDATE ledger.transactions SET status = 'reversed' WHERE txn_id = 1004;"
    "INSERT INTO ledger.transactions (txn_id, source, source_txn_id, customer_id, txn_type, status,"
    " effective_at, posted_at, reverses_txn_id) VALUES (3001, 'ops', 'REV-1004', 'C002', 'reversal',"
    " 'posted', '2026-11-06T10:00Z', '2026-11-06T10:00Z', 1004);"
    "INSERT INTO ledger.journal_lines VALUES (3001, 3001, 'CUSTOMER_WALLET', 'C002', 'DR', 250.00, 'USD'),"
    " (3002, 3001, 'BROKER_CASH', 'C002', 'CR', 250.00, 'USD')";

BookDb& trace_book()
{
    static BookDb instance("uae");
    instance.reset();
    instance.exec(clean_ledger_sql);
    return instance;
}

ProcessOptions env_for(const BookDb& db)
{
    ProcessOptions options;
    options.env = {{"RECON_BOOKS", "uae"}, {"RECON_DATABASE_URL_UAE", db.url()}};
    options.unset_env = {"RECON_CONFIG", "ALERT_WEBHOOK_URL", "RECON_READ_DATABASE_URL_UAE"};
    return options;
}

ProcessResult reconcile_cli(std::vector<std::string> args, const BookDb& db)
{
    args.insert(args.begin(), reconcile_binary());
    return run_process(args, env_for(db));
}

nlohmann::json trace_json(std::vector<std::string> args, const BookDb& db)
{
    args.insert(args.begin(), {"trace", "--book", "uae"});
    args.insert(args.end(), {"--output", "json"});
    const auto result = reconcile_cli(args, db);
    INFO("stderr: " << result.err);
    REQUIRE(result.exit_code == 0);
    const auto json = nlohmann::json::parse(result.out);

    // Every document validates against the published schema.
    const std::string path = "/tmp/reconcile-e2e-trace-" + std::to_string(getpid()) + ".json";
    std::ofstream(path) << result.out;
    const auto validated = run_process({"/usr/bin/python3", "-m", "jsonschema", "-i", path,
                                        std::string(RECON_SOURCE_DIR) + "/schema/trace-output.schema.json"});
    CHECK_MESSAGE(validated.exit_code == 0, (validated.out + validated.err));
    std::remove(path.c_str());
    return json;
}

/// "txn_id:matched:relation txn,relation txn" per transaction, for exact assertions.
std::vector<std::string> shape(const nlohmann::json& trace)
{
    std::vector<std::string> lines;
    for (const auto& txn : trace["transactions"]) {
        std::string line = txn["txn_id"].get<std::string>() + (txn["matched"].get<bool>() ? ":matched:" : ":related:");
        std::vector<std::string> relations;
        for (const auto& relation : txn["relations"]) {
            relations.push_back(relation["relation"].get<std::string>() + " " + relation["txn_id"].get<std::string>());
        }
        std::sort(relations.begin(), relations.end());
        for (std::size_t i = 0; i < relations.size(); ++i) line += (i == 0 ? "" : ",") + relations[i];
        lines.push_back(line);
    }
    return lines;
}

}  // namespace

TEST_CASE("trace of a clean transaction: its lines and balanced totals, nothing related, no variance")
{
    auto& db = trace_book();
    const auto trace = trace_json({"--txn", "1003"}, db);
    CHECK(trace["book"] == "uae");
    CHECK(trace["query"] == nlohmann::json{{"txn_id", "1003"}});
    CHECK(shape(trace) == std::vector<std::string>{"1003:matched:"});
    const auto& txn = trace["transactions"][0];
    CHECK(txn["source"] == "gtn");
    CHECK(txn["source_txn_id"] == "ORD-1");
    CHECK(txn["customer_id"] == "C001");
    CHECK(txn["txn_type"] == "buy");
    CHECK(txn["status"] == "posted");
    CHECK(txn["effective_at"] == "2026-11-03T10:00:00.000Z");
    CHECK(txn["symbol"] == "AAPL");
    CHECK(txn["quantity"] == "0.5");
    CHECK(txn["reverses_txn_id"].is_null());
    REQUIRE(txn["lines"].size() == 4);
    CHECK(txn["lines"][0] == nlohmann::json{{"line_id", "5"},
                                            {"account", "CUSTOMER_WALLET"},
                                            {"customer_id", "C001"},
                                            {"side", "DR"},
                                            {"amount", "50.00"},
                                            {"currency", "USD"}});
    CHECK(txn["totals"] ==
          nlohmann::json{{"USD", {{"debits", "100.00"}, {"credits", "100.00"}, {"difference", "0.00"}}}});
    CHECK(trace["transactions_total"] == 1);
    CHECK(trace["lines_total"] == 4);
    CHECK(trace["variances"].empty());

    const auto text = reconcile_cli({"trace", "--book", "uae", "--txn", "1003"}, db);
    CHECK(text.exit_code == 0);
    CHECK(text.out.find("txn 1003  buy  posted  (matched)") != std::string::npos);
    CHECK(text.out.find("source gtn / ORD-1  customer C001") != std::string::npos);
    CHECK(text.out.find("USD: debits 100.00 credits 100.00\n") != std::string::npos);
    CHECK(text.out.find("no variance in the latest run of any check names these transactions") != std::string::npos);
}

TEST_CASE("trace of a duplicated source key: both transactions, each naming the other")
{
    auto& db = trace_book();
    db.exec(
        "INSERT INTO ledger.transactions (txn_id, source, source_txn_id, customer_id, txn_type, status,"
        " effective_at, posted_at) VALUES (2001, 'bank', 'DEP-1', 'C001', 'deposit', 'posted',"
        " '2026-11-05T10:00Z', '2026-11-05T10:00Z');"
        "INSERT INTO ledger.journal_lines VALUES (2001, 2001, 'BROKER_CASH', 'C001', 'DR', 100.00, 'USD'),"
        " (2002, 2001, 'CUSTOMER_WALLET', 'C001', 'CR', 100.00, 'USD')");
    REQUIRE(reconcile_cli({"run", "--book", "uae", "--category", "A"}, db).exit_code == 1);

    const auto by_key = trace_json({"--source", "bank", "--source-txn-id", "DEP-1"}, db);
    CHECK(shape(by_key) ==
          std::vector<std::string>{"1001:matched:same_source_key 2001", "2001:matched:same_source_key 1001"});
    REQUIRE(by_key["variances"].size() == 1);
    const auto& variance = by_key["variances"][0];
    CHECK(variance["check_name"] == "source_txn_uniqueness");
    CHECK(variance["check_status"] == "fail");
    CHECK(variance["category"] == "A");
    CHECK(variance["variance"]["kind"] == "duplicate_source_txn");
    CHECK(variance["variance"]["keys"] == nlohmann::json{{"source", "bank"}, {"source_txn_id", "DEP-1"}});
    CHECK(variance["variance"]["detail"]["txn_ids"] == nlohmann::json{"1001", "2001"});

    // From one txn_id, its twin is a related transaction and the same variance names it.
    const auto by_txn = trace_json({"--txn", "2001"}, db);
    CHECK(shape(by_txn) ==
          std::vector<std::string>{"2001:matched:same_source_key 1001", "1001:related:same_source_key 2001"});
    CHECK(by_txn["variances"].size() == 1);

    const auto text = reconcile_cli({"trace", "--book", "uae", "--source", "bank", "--source-txn-id", "DEP-1"}, db);
    CHECK(text.out.find("2 matching transaction(s), 0 related") != std::string::npos);
    CHECK(text.out.find("source_txn_uniqueness fail: duplicate_source_txn source=bank source_txn_id=DEP-1") !=
          std::string::npos);
}

TEST_CASE("trace of a reversal pair, from either end")
{
    auto& db = trace_book();
    db.exec(reversal_of_1004_sql);
    const auto original = trace_json({"--txn", "1004"}, db);
    CHECK(shape(original) == std::vector<std::string>{"1004:matched:reversed_by 3001", "3001:related:reverses 1004"});
    CHECK(original["transactions"][0]["status"] == "reversed");
    CHECK(original["transactions"][1]["reverses_txn_id"] == "1004");
    CHECK(original["transactions"][1]["lines"].size() == 2);

    const auto reversal = trace_json({"--txn", "3001"}, db);
    CHECK(shape(reversal) == std::vector<std::string>{"3001:matched:reverses 1004", "1004:related:reversed_by 3001"});

    const auto text = reconcile_cli({"trace", "--book", "uae", "--txn", "1004"}, db);
    CHECK(text.out.find("  reversed_by 3001\n") != std::string::npos);
}

TEST_CASE("trace of a reversal pair whose reverses_txn_id and lines name transactions in another type (text)")
{
    // A ledger whose transactions are keyed by bigint, its reversal references and its lines' by text.
    BookDb db("uae");
    db.exec(clean_ledger_sql);
    db.exec(reversal_of_1004_sql);
    db.exec(
        "DROP VIEW contract.transactions; CREATE VIEW contract.transactions AS SELECT txn_id, source,"
        " source_txn_id, customer_id, txn_type, status, effective_at, posted_at, symbol, quantity,"
        " reverses_txn_id::text AS reverses_txn_id, xmin AS row_xmin FROM ledger.transactions;"
        "DROP VIEW contract.journal_lines; CREATE VIEW contract.journal_lines AS SELECT line_id, txn_id::text AS"
        " txn_id, account_code, customer_id, side, amount, currency, xmin AS row_xmin FROM ledger.journal_lines");
    const auto original = trace_json({"--txn", "1004"}, db);
    CHECK(shape(original) == std::vector<std::string>{"1004:matched:reversed_by 3001", "3001:related:reverses 1004"});
    CHECK(original["transactions"][1]["lines"].size() == 2);
    const auto reversal = trace_json({"--txn", "3001"}, db);
    CHECK(shape(reversal) == std::vector<std::string>{"3001:matched:reverses 1004", "1004:related:reversed_by 3001"});
}

TEST_CASE("trace of a transaction a failing run names, until a run no longer does")
{
    auto& db = trace_book();
    db.exec("UPDATE ledger.journal_lines SET amount = 90.00 WHERE line_id = 2");
    const auto run = reconcile_cli({"run", "--book", "uae", "--category", "A", "--output", "json"}, db);
    REQUIRE(run.exit_code == 1);
    const auto run_id = nlohmann::json::parse(run.out)["run_id"].get<std::int64_t>();

    const auto trace = trace_json({"--txn", "1001"}, db);
    CHECK(trace["transactions"][0]["totals"]["USD"] ==
          nlohmann::json{{"debits", "100.00"}, {"credits", "90.00"}, {"difference", "10.00"}});
    REQUIRE(trace["variances"].size() == 1);
    const auto& variance = trace["variances"][0];
    CHECK(variance["run_id"] == run_id);
    CHECK(variance["check_name"] == "trial_balance_zero");
    CHECK(variance["variance"]["kind"] == "unbalanced_txn");
    CHECK(variance["variance"]["keys"] == nlohmann::json{{"currency", "USD"}, {"txn_id", "1001"}});
    CHECK(variance["variance"]["difference"] == "10.00");

    // A later run narrowed to another check leaves trial_balance_zero's latest result in place.
    REQUIRE(
        reconcile_cli({"run", "--book", "uae", "--category", "A", "--check", "source_txn_uniqueness"}, db).exit_code ==
        0);
    const auto after_narrow = trace_json({"--txn", "1001"}, db);
    REQUIRE(after_narrow["variances"].size() == 1);
    CHECK(after_narrow["variances"][0]["run_id"] == run_id);

    // Another transaction is not named by that run.
    CHECK(trace_json({"--txn", "1002"}, db)["variances"].empty());

    const auto text = reconcile_cli({"trace", "--book", "uae", "--txn", "1001"}, db);
    CHECK(text.out.find("USD: debits 100.00 credits 90.00  UNBALANCED by 10.00") != std::string::npos);
    CHECK(text.out.find(fmt::format("run {} (A ", run_id)) != std::string::npos);
    CHECK(text.out.find("trial_balance_zero fail: unbalanced_txn currency=USD txn_id=1001 expected=100.00"
                        " actual=90.00 difference=10.00") != std::string::npos);

    // Fixed and re-run: the latest run of the check no longer names it.
    db.exec("UPDATE ledger.journal_lines SET amount = 100.00 WHERE line_id = 2");
    REQUIRE(reconcile_cli({"run", "--book", "uae", "--category", "A"}, db).exit_code == 0);
    CHECK(trace_json({"--txn", "1001"}, db)["variances"].empty());
}

TEST_CASE("trace of a one-sided transaction: its missing side reads 0.00 beside the other, in JSON and text")
{
    auto& db = trace_book();
    db.exec("DELETE FROM ledger.journal_lines WHERE line_id = 2");
    const auto trace = trace_json({"--txn", "1001"}, db);
    CHECK(trace["transactions"][0]["totals"]["USD"] ==
          nlohmann::json{{"debits", "100.00"}, {"credits", "0.00"}, {"difference", "100.00"}});
    const auto text = reconcile_cli({"trace", "--book", "uae", "--txn", "1001"}, db);
    CHECK(text.out.find("USD: debits 100.00 credits 0.00  UNBALANCED by 100.00") != std::string::npos);
}

TEST_CASE("trace: unknown or hostile input names nothing (exit 64), bad command lines exit 64")
{
    auto& db = trace_book();
    const std::string before = db.query_value("SELECT count(*) FROM ledger.transactions");
    for (const auto& args :
         std::vector<std::vector<std::string>>{{"--txn", "999999"},
                                               {"--txn", "abc"},
                                               {"--txn", "1001; DROP TABLE ledger.transactions"},
                                               {"--txn", "99999999999999999999999"},
                                               {"--source", "bank' OR '1'='1", "--source-txn-id", "x' OR '1'='1"},
                                               {"--source", "bank", "--source-txn-id", "NO-SUCH"}}) {
        CAPTURE(args);
        auto full = args;
        full.insert(full.begin(), {"trace", "--book", "uae"});
        const auto result = reconcile_cli(full, db);
        CHECK(result.exit_code == 64);
        CHECK(result.out.empty());
        CHECK(result.err.rfind("reconcile: error: no transaction with ", 0) == 0);
        CHECK(std::count(result.err.begin(), result.err.end(), '\n') == 1);
    }
    CHECK(reconcile_cli({"trace", "--book", "uae", "--txn", "999999"}, db).err ==
          "reconcile: error: no transaction with txn_id '999999' in book uae\n");
    CHECK(db.query_value("SELECT count(*) FROM ledger.transactions") == before);

    for (const auto& args : std::vector<std::vector<std::string>>{
             {"trace", "--book", "uae"},
             {"trace", "--txn", "1001"},
             {"trace", "--book", "uae", "--source", "bank"},
             {"trace", "--book", "uae", "--source-txn-id", "DEP-1"},
             {"trace", "--book", "uae", "--txn", "1001", "--source", "bank", "--source-txn-id", "DEP-1"},
             {"trace", "--book", "emea", "--txn", "1001"}}) {
        CAPTURE(args);
        const auto result = reconcile_cli(args, db);
        CHECK(result.exit_code == 64);
        CHECK(result.out.empty());
        CHECK(std::count(result.err.begin(), result.err.end(), '\n') == 1);
    }
}

TEST_CASE("trace reads the ledger on the replica URL when one is set, and refuses another book's database")
{
    auto& db = trace_book();
    auto options = env_for(db);
    // A different URL string for the same database: the ledger is read on a second session.
    options.env["RECON_READ_DATABASE_URL_UAE"] = db.url() + "?application_name=replica";
    const auto replica = run_process({reconcile_binary(), "trace", "--book", "uae", "--txn", "1001"}, options);
    CHECK_MESSAGE(replica.exit_code == 0, replica.err);
    CHECK(replica.out.find("txn 1001  deposit  posted  (matched)") != std::string::npos);

    auto wrong = env_for(db);
    wrong.env["RECON_BOOKS"] = "uae,india";
    wrong.env["RECON_DATABASE_URL_INDIA"] = db.url();
    const auto refused = run_process({reconcile_binary(), "trace", "--book", "india", "--txn", "1001"}, wrong);
    CHECK(refused.exit_code == 78);
    CHECK(refused.out.empty());
    CHECK(refused.err.find("belongs to book 'uae'") != std::string::npos);
}
