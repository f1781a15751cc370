// End to end, category C: the real binary, real databases and the fake broker over real HTTP.
// The issue's "done when": a short position, a missing wire and a slow customer, named exactly
// by `reconcile run --book india --category C --output json` and by the India reports.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tests/db/broker_fixture.hpp"
#include "tests/db/fixture.hpp"
#include "tests/e2e/serve_fixture.hpp"
#include "tests/support/cli.hpp"
#include "tests/support/fake_broker.hpp"
#include "tests/support/markdown.hpp"
#include "tests/support/process.hpp"
#include "tests/support/run_document.hpp"
#include "tests/support/webhook_receiver.hpp"

using namespace reconcile;
using namespace reconcile::test;
using Json = nlohmann::json;
using Lines = std::vector<std::string>;
using namespace std::chrono_literals;

namespace {

struct World {
    BookDb uae{"uae"};
    BookDb india{"india"};
    FakeBroker broker{clean_broker_fixture()};
};

World& world()
{
    static World instance;
    return instance;
}

// India: the clean ledger plus two customers. C003 remitted 200.00 USD under LRS ten days ago
// and ViewTrade never received the wire; C004's ViewTrade account answers too slowly.
const char* const scenario_sql = R"sql(
INSERT INTO ledger.broker_accounts (customer_id, broker, broker_account_ref)
VALUES ('C003', 'VIEWTRADE', 'V-003'), ('C004', 'VIEWTRADE', 'V-004');
INSERT INTO ledger.lrs_remittances (remittance_id, customer_id, pan, inr_amount, usd_amount, fx_rate, purpose_code,
                                    utr, status, initiated_at, settled_at, value_date)
VALUES ('R-4', 'C003', 'KLMNO9012P', 16700.00, 200.00, 83.50, 'S0001', 'UTR-4', 'settled',
        now() - interval '11 days', now() - interval '10 days', current_date - 10);
)sql";

Json scenario_fixture()
{
    Json fixture = clean_broker_fixture();
    auto& accounts = fixture["viewtrade"]["accounts"];
    accounts["V-001"]["positions"][0]["quantity"] = "0.25";  // the short position
    accounts["V-003"] = {{"cash", {{{"currency", "USD"}, {"amount", "0.00"}}}}};
    accounts["V-004"] = {{"cash", {{{"currency", "USD"}, {"amount", "10.00"}}}}};
    fixture["faults"] = {{{"broker", "viewtrade"}, {"account", "V-004"}, {"kind", "latency"}, {"ms", 3000}}};
    return fixture;
}

World& scenario()
{
    auto& w = world();
    for (BookDb* db : {&w.uae, &w.india}) {
        db->reset();
        db->exec(clean_ledger_sql);
    }
    w.uae.exec(uae_broker_accounts_sql);
    w.india.exec(india_broker_accounts_sql);
    w.india.exec(scenario_sql);
    w.broker.set_fixture(scenario_fixture());
    return w;
}

ProcessOptions env_for(const World& w, const std::map<std::string, std::string>& extra = {})
{
    auto options = books_env(w.uae, w.india,
                             w.broker.settings({{"RECON_BROKER_TIMEOUT_MS", "1000"}, {"RECON_BROKER_RETRIES", "0"}}));
    for (const auto& [key, value] : extra) options.env[key] = value;
    return options;
}

/// What a C run of scenario() lists: the short position, the missing wire, the slow customer.
const Lines scenario_variances{"lrs_viewtrade_tie_out: aged_in_transit customer_id=C003 remittance_id=R-4",
                               "lrs_viewtrade_tie_out: fetch_error customer_id=C004",
                               "viewtrade_holdings_recon: fetch_error customer_id=C004",
                               "viewtrade_holdings_recon: mismatch customer_id=C001 symbol=AAPL",
                               "viewtrade_ledger_recon: fetch_error customer_id=C004",
                               "viewtrade_ledger_recon: quantity_break customer_id=C001 symbol=AAPL"};

const Json& customer_named(const Json& report, const std::string& id)
{
    for (const auto& customer : report["customers"]) {
        if (customer["customer_id"] == id) return customer;
    }
    throw std::runtime_error("no customer " + id);
}

bool schema_valid(const std::string& document)
{
    const std::string path = "/tmp/reconcile-e2e-c-" + std::to_string(getpid()) + ".json";
    std::ofstream(path) << document;
    const auto validated = run_process({"/usr/bin/python3", "-m", "jsonschema", "-i", path,
                                        std::string(RECON_SOURCE_DIR) + "/schema/run-output.schema.json"});
    std::remove(path.c_str());
    return validated.exit_code == 0;
}

}  // namespace

TEST_CASE("done when: a short position, a missing wire and a slow customer, named exactly")
{
    auto& w = scenario();
    const auto result = reconcile_cli({"run", "--book", "india", "--category", "C", "--output", "json"}, env_for(w));
    REQUIRE_MESSAGE(result.exit_code == 1, result.err);
    const auto run = Json::parse(result.out);
    CHECK(schema_valid(result.out));
    CHECK(run["status"] == "fail");
    CHECK(run_variance_lines(run) == scenario_variances);
    const auto& ledger = check_named(run, "viewtrade_ledger_recon");
    CHECK(ledger["status"] == "fail");
    CHECK(ledger["metrics"]["customers"] == 4);
    CHECK(ledger["metrics"]["customers_checked"] == 3);
    CHECK(ledger["metrics"]["fetch_errors"] == 1);
    for (const auto& variance : ledger["variances"]) {
        if (variance["kind"] != "quantity_break") continue;
        CHECK(variance["expected"] == "0.50");
        CHECK(variance["actual"] == "0.25");
        CHECK(variance["difference"] == "0.25");
    }
    for (const char* name : {"gtn_ledger_recon", "zag_holdings_recon"}) {
        CAPTURE(name);
        CHECK(check_named(run, name)["status"] == "ok");
        CHECK(check_named(run, name)["metrics"]["customers_checked"] == 0);
    }
    // The run row holds the same picture.
    CHECK(w.india.query_value("SELECT status FROM recon.runs WHERE category = 'C'") == "fail");

    // The India reports print the same per-customer picture, without a run row.
    const auto ledger_report = reconcile_cli({"india", "ledger-recon", "--output", "json"}, env_for(w));
    CHECK(ledger_report.exit_code == 1);
    const auto report = Json::parse(ledger_report.out);
    CHECK(unlisted_output_names(report).empty());  // docs/output-names.md
    CHECK(report["status"] == "fail");
    CHECK(customer_named(report, "C001")["status"] == "fail");
    CHECK(customer_named(report, "C001")["securities"][0] == Json{{"symbol", "AAPL"},
                                                                  {"ledger", "0.50"},
                                                                  {"broker", "0.25"},
                                                                  {"difference", "0.25"},
                                                                  {"outcome", "mismatch"}});
    CHECK(customer_named(report, "C001")["cash"][0]["outcome"] == "match");
    CHECK(customer_named(report, "C002")["status"] == "ok");
    CHECK(customer_named(report, "C003")["status"] == "ok");
    CHECK(customer_named(report, "C004")["status"] == "fetch_error");
    CHECK(customer_named(report, "C004")["error"].get<std::string>().find("no complete answer within 1000 ms") !=
          std::string::npos);

    const auto holdings = Json::parse(reconcile_cli({"india", "holdings-recon", "--output", "json"}, env_for(w)).out);
    CHECK(customer_named(holdings, "C001")["holdings"][0]["outcome"] == "mismatch");
    CHECK(holdings["summary"]["mismatch"] == 1);
    CHECK(unlisted_output_names(holdings).empty());

    const auto lrs_result = reconcile_cli({"india", "reconciliation", "--output", "json"}, env_for(w));
    CHECK(lrs_result.exit_code == 1);
    const auto lrs = Json::parse(lrs_result.out);
    CHECK(unlisted_output_names(lrs).empty());
    const auto& c003 = customer_named(lrs, "C003");
    CHECK(c003["status"] == "fail");
    CHECK(c003["remitted_usd"] == "200.00");
    CHECK(c003["wired_usd"] == "0.00");  // money keeps its currency scale
    CHECK(c003["buckets"]["aged_in_transit"] == Json{{"count", 1}, {"usd", "200.00"}});
    CHECK(c003["remittances"][0]["remittance_id"] == "R-4");
    CHECK(c003["remittances"][0]["bucket"] == "aged_in_transit");
    CHECK(customer_named(lrs, "C002")["buckets"]["matched"]["count"] == 2);
    CHECK(customer_named(lrs, "C004")["status"] == "fetch_error");

    const auto text = reconcile_cli({"india", "ledger-recon"}, env_for(w));
    CHECK(text.out.find("  C001  FAIL         V-001  cash USD 48.50 = 48.50; 0 instrument(s) match\n"
                        "      AAPL ledger 0.50 broker 0.25 difference 0.25 (mismatch)\n") != std::string::npos);
    CHECK(text.out.find("  C004  FETCH_ERROR  V-004  cash: ") != std::string::npos);
    CHECK(w.india.query_value("SELECT count(*) FROM recon.runs") == "1");  // the reports wrote nothing

    const auto one = Json::parse(
        reconcile_cli({"india", "reconciliation", "--customer", "C003", "--output", "json"}, env_for(w)).out);
    CHECK(one["customers"].size() == 1);
    CHECK(one["customer_id"] == "C003");
}

TEST_CASE("a broker entirely down: its checks end error, exit 2, the other checks are unaffected")
{
    auto& w = scenario();
    const auto result = reconcile_cli({"run", "--book", "uae", "--category", "C", "--output", "json"},
                                      env_for(w, {{"GTN_BASE_URL", "http://127.0.0.1:1"}}));
    CHECK(result.exit_code == 2);
    const auto run = Json::parse(result.out);
    CHECK(schema_valid(result.out));
    const auto& gtn = check_named(run, "gtn_ledger_recon");
    CHECK(gtn["status"] == "error");
    CHECK(gtn["metrics"]["broker_status"] == "unreachable");
    CHECK(gtn["metrics"]["error"].get<std::string>().find("GTN unreachable") == 0);
    CHECK(check_named(run, "zag_holdings_recon")["status"] == "ok");
    CHECK(check_named(run, "zag_holdings_recon")["metrics"]["customers_checked"] == 2);
    CHECK(w.uae.query_value("SELECT status FROM recon.runs") == "error");

    // Every broker the run needs is down: 69, and the run row still says so.
    const auto both =
        reconcile_cli({"run", "--book", "uae", "--category", "C"},
                      env_for(w, {{"GTN_BASE_URL", "http://127.0.0.1:1"}, {"ZAG_BASE_URL", "http://127.0.0.1:1/zag"}}));
    CHECK(both.exit_code == 69);
    CHECK(both.out.find("ERROR  gtn_ledger_recon") != std::string::npos);
    CHECK(w.uae.query_value("SELECT count(*) FROM recon.runs WHERE status = 'error'") == "2");

    const auto report = reconcile_cli({"india", "ledger-recon", "--output", "json"},
                                      env_for(w, {{"VIEWTRADE_BASE_URL", "http://127.0.0.1:1"}}));
    CHECK(report.exit_code == 69);
    CHECK(Json::parse(report.out)["broker_status"] == "unreachable");
}

namespace {

/// The fault `spec` on GTN's `resource` of `account`, for its first request only.
Json gtn_fault_once(const std::string& account, const std::string& resource, Json spec)
{
    spec.update({{"broker", "gtn"}, {"account", account}, {"resource", resource}, {"count", 1}});
    return spec;
}

/// `run --book uae --category C --check gtn_ledger_recon --output json` with the fake broker
/// serving `fixture`, one customer at a time (the fake's counts are then exact).
ProcessResult gtn_run(World& w, const Json& fixture, const std::map<std::string, std::string>& extra = {})
{
    w.broker.set_fixture(fixture);
    auto options = env_for(w, {{"RECON_BROKER_CONCURRENCY", "1"}});
    for (const auto& [key, value] : extra) options.env[key] = value;
    return reconcile_cli({"run", "--book", "uae", "--category", "C", "--check", "gtn_ledger_recon", "--output", "json"},
                         options);
}

}  // namespace

TEST_CASE("GTN: a token refused mid-run as GTN's error table allows (200 + 1006/1008, 401 + 1008) is renewed once")
{
    auto& w = scenario();
    for (const auto& [status, code] : std::vector<std::pair<int, int>>{{200, 1008}, {200, 1006}, {401, 1008}}) {
        CAPTURE(status);
        CAPTURE(code);
        auto fixture = scenario_fixture();
        // G-002's cash is 1.00 short of the ledger: a break only a page read after the renewal shows.
        fixture["gtn"]["accounts"]["G-002"]["cash"][0]["balance"] = "249.00";
        fixture["gtn"]["refused_token_answer"] = {{"status", status}, {"code", code}};
        // Asking for G-002's cash, the fake revokes every access token first: that page is refused.
        fixture["faults"].push_back(gtn_fault_once("G-002", "cash", {{"kind", "revoke_tokens"}}));
        const auto result = gtn_run(w, fixture);
        REQUIRE_MESSAGE(result.exit_code == 1, result.err);
        const auto run = Json::parse(result.out);
        const auto& check = check_named(run, "gtn_ledger_recon");
        CHECK(check["status"] == "fail");
        CHECK(run_variance_lines(run) == Lines{"gtn_ledger_recon: amount_break currency=USD customer_id=C002"});
        CHECK(check["metrics"]["customers_checked"] == 2);
        CHECK(check["metrics"]["fetch_errors"] == 0);
        const auto stats = w.broker.stats();
        CHECK(stats["unauthorised"] == 1);
        CHECK(stats["token_exchanges"] == 1);
        CHECK(stats["token_refreshes"] == 1);  // renewed by refresh, then the page asked again
        CHECK(stats["requests"]["GET gtn cash G-002"] == 2);
        CHECK(run["brokers"][0]["retries"] == 1);
    }
}

TEST_CASE("GTN: GTN_USER_ID unset, the assertion's userId is 1234, as GTN's SDK sends it")
{
    auto& w = scenario();
    auto fixture = scenario_fixture();
    fixture["gtn"]["user_id"] = "1234";  // the fake refuses (1014) any other userId
    w.broker.set_fixture(fixture);
    auto options = env_for(w);
    REQUIRE(options.env.erase("GTN_USER_ID") == 1);
    const auto result = reconcile_cli(
        {"run", "--book", "uae", "--category", "C", "--check", "gtn_ledger_recon", "--output", "json"}, options);
    REQUIRE_MESSAGE(result.exit_code == 0, result.err);
    const auto run = Json::parse(result.out);
    CHECK(check_named(run, "gtn_ledger_recon")["status"] == "ok");
    CHECK(check_named(run, "gtn_ledger_recon")["metrics"]["customers_checked"] == 2);
    const auto stats = w.broker.stats();
    CHECK(stats["token_exchanges"] == 1);
    CHECK(stats["last_assertion"]["userId"] == "1234");
}

TEST_CASE("GTN: a token exchange refused for what we assert (1002-1005, 1016) is our configuration, like 1014")
{
    auto& w = scenario();
    for (const auto& [code, reason] :
         std::vector<std::pair<int, std::string>>{{1002, "Error in verifying jwt"},
                                                  {1003, "Public and Private Keys not configured properly"},
                                                  {1004, "User not found"},
                                                  {1005, "Security Keys are not configured properly"},
                                                  {1014, "Insufficient details in assertion"},
                                                  {1016, "Invalid institution"}}) {
        CAPTURE(code);
        auto fixture = scenario_fixture();
        fixture["faults"].push_back(
            {{"broker", "gtn"}, {"resource", "token"}, {"kind", "reject"}, {"code", code}, {"reason", reason}});
        const auto result = gtn_run(w, fixture);
        // The check ends `error` as for a missing setting (exit 2), not "every broker unreachable" (69).
        REQUIRE_MESSAGE(result.exit_code == 2, result.err);
        const auto run = Json::parse(result.out);
        const auto& check = check_named(run, "gtn_ledger_recon");
        CHECK(check["status"] == "error");
        CHECK(check["metrics"]["broker_status"] == "not_configured");
        CHECK(check["metrics"]["error"].get<std::string>().find(
                  fmt::format("token exchange failed: GTN answered FAILED (rejectCode {}): {}", code, reason)) !=
              std::string::npos);
        CHECK(w.broker.stats()["requests"]["POST gtn token"] == 1);  // not asked again in the run
    }
}

TEST_CASE("GTN: HTTP 408 (GTN's TIMEOUT) is retried after its Retry-After; the check passes, the retry is recorded")
{
    auto& w = scenario();
    auto fixture = scenario_fixture();
    fixture["faults"].push_back(
        gtn_fault_once("G-001", "cash", {{"kind", "status"}, {"status", 408}, {"retry_after", 1}}));
    const auto started = std::chrono::steady_clock::now();
    const auto result = gtn_run(w, fixture, {{"RECON_BROKER_RETRIES", "1"}});
    REQUIRE_MESSAGE(result.exit_code == 0, result.err);
    CHECK(std::chrono::steady_clock::now() - started >= 1s);  // the backoff alone is at most 50 ms
    const auto run = Json::parse(result.out);
    CHECK(check_named(run, "gtn_ledger_recon")["status"] == "ok");
    CHECK(check_named(run, "gtn_ledger_recon")["metrics"]["fetch_errors"] == 0);
    CHECK(w.broker.requests("GET gtn cash G-001") == 2);
    const std::string id = std::to_string(run["run_id"].get<std::int64_t>());
    // One assertion, G-001's cash twice, its positions, G-002's cash and positions.
    CHECK(w.uae.query_value("SELECT concat_ws('|', requests, retries, errors_http_status, pages)"
                            " FROM recon.broker_health WHERE broker = 'GTN' AND run_id = " +
                            id) == "6|1|1|4");
}

TEST_CASE("broker health: a C run stores each broker's requests, retries, errors, pages; runs show and /metrics")
{
    auto& w = scenario();
    auto fixture = scenario_fixture();
    // G-002's cash: GTN is busy once (200 + FAILED 1123), then answers.
    fixture["faults"].push_back(
        gtn_fault_once("G-002", "cash", {{"kind", "reject"}, {"code", 1123}, {"reason", "Server busy"}}));
    w.broker.set_fixture(fixture);
    // Earlier cases ran category C on this book too: /metrics' counters hold their counts.
    const auto counted_before = [&](const std::string& broker, const std::string& column) {
        return std::stoll(w.uae.query_value("SELECT coalesce((SELECT " + column +
                                            " FROM recon.broker_counts WHERE broker = '" + broker + "'), 0)"));
    };
    const auto gtn_requests = counted_before("GTN", "requests"), gtn_retries = counted_before("GTN", "retries"),
               gtn_rejects = counted_before("GTN", "errors_reject_code"),
               gtn_timeouts = counted_before("GTN", "errors_timeout"), gtn_pages = counted_before("GTN", "pages"),
               zag_requests = counted_before("ZAG", "requests");
    const auto options = env_for(w, {{"RECON_BROKER_RETRIES", "1"}});
    const auto result = reconcile_cli({"run", "--book", "uae", "--category", "C", "--output", "json"}, options);
    REQUIRE_MESSAGE(result.exit_code == 0, result.err);
    const auto run = Json::parse(result.out);
    CHECK(check_named(run, "gtn_ledger_recon")["metrics"]["broker_contract"] == "public");
    CHECK(check_named(run, "zag_holdings_recon")["metrics"]["broker_contract"] == "provisional");
    // The run's own JSON carries the broker health too, as stored (below).
    REQUIRE(run["brokers"].size() == 2);
    CHECK(run["brokers"][0]["broker"] == "GTN");
    CHECK(run["brokers"][0]["requests"] == 6);
    CHECK(run["brokers"][1]["pages"] == 2);

    // GTN: one assertion, cash and positions of G-001 and G-002 (one page each), G-002's cash
    // twice. ZAG: one page each for Z-001 and Z-002. (Earlier cases' runs have rows too.)
    const std::string id = std::to_string(run["run_id"].get<std::int64_t>());
    CHECK(w.uae.query_value("SELECT string_agg(concat_ws('|', broker, contract, requests, retries, errors_timeout,"
                            " errors_connection, errors_http_status, errors_reject_code, errors_parse, pages), ','"
                            " ORDER BY broker) FROM recon.broker_health WHERE run_id = " +
                            id) == "GTN|public|6|1|0|0|0|1|0|4,ZAG|provisional|2|0|0|0|0|0|0|2");
    CHECK(w.uae.query_value("SELECT bool_and(latency_max_ms >= latency_p95_ms AND latency_p95_ms >= latency_p50_ms)"
                            " FROM recon.broker_health WHERE run_id = " +
                            id) == "t");

    const auto shown = reconcile_cli({"runs", "show", id, "--book", "uae"}, options);
    REQUIRE(shown.exit_code == 0);
    CHECK(shown.out.find("Brokers:\n"
                         "  GTN        public       requests 6, retries 1, pages 4; errors: timeout 0, connection 0, "
                         "http_status 0, reject_code 1, parse 0; latency p50 ") != std::string::npos);
    CHECK(shown.out.find("  ZAG        provisional  requests 2, retries 0, pages 2; errors: timeout 0, connection 0, "
                         "http_status 0, reject_code 0, parse 0; latency p50 ") != std::string::npos);
    const auto shown_text = reconcile_cli({"runs", "show", id, "--book", "uae", "--output", "json"}, options).out;
    CHECK(schema_valid(shown_text));
    const auto shown_json = Json::parse(shown_text);
    REQUIRE(shown_json["brokers"].size() == 2);
    CHECK(shown_json["brokers"][0]["broker"] == "GTN");
    CHECK(shown_json["brokers"][0]["errors"]["reject_code"] == 1);
    CHECK(shown_json["brokers"][1]["contract"] == "provisional");

    // `checks --output json` says which contracts are published and which provisional.
    const auto checks = Json::parse(reconcile_cli({"checks", "--output", "json"}, options).out);
    std::map<std::string, std::string> contracts;
    for (const auto& check : checks) {
        if (check.contains("contract"))
            contracts[check["check_name"]] =
                check["broker"].get<std::string>() + " " + check["contract"].get<std::string>();
    }
    CHECK(contracts == std::map<std::string, std::string>{{"gtn_ledger_recon", "GTN public"},
                                                          {"lrs_viewtrade_tie_out", "VIEWTRADE provisional"},
                                                          {"viewtrade_holdings_recon", "VIEWTRADE provisional"},
                                                          {"viewtrade_ledger_recon", "VIEWTRADE provisional"},
                                                          {"zag_holdings_recon", "ZAG provisional"}});

    // serve's /metrics: counters that rose by exactly this run's figures, and the newest run's
    // latency.
    auto serve_options = options;
    serve_options.env["LEDGER_ADMIN_TOKEN"] = admin_token;
    serve_options.env["LEDGER_TOKEN"] = read_token;
    serve_options.env["RECON_SCHEDULE_ENABLED"] = "false";
    serve_options.env["INDIA_RECON_ENABLED"] = "false";
    const auto series = [](const std::string& name, const std::string& broker, const std::string& contract,
                           const std::string& extra, long long value) {
        return fmt::format("{}{{book=\"uae\",broker=\"{}\",contract=\"{}\"{}}} {}\n", name, broker, contract, extra,
                           value);
    };
    ServeProcess server(serve_options);
    const auto metrics = http_get(server.port(), "/metrics", read_headers());
    REQUIRE(metrics.status == 200);
    const std::vector<std::string> after_first = {
        "# TYPE reconcile_broker_requests_total counter\n",
        series("reconcile_broker_requests_total", "GTN", "public", "", gtn_requests + 6),
        series("reconcile_broker_retries_total", "GTN", "public", "", gtn_retries + 1),
        series("reconcile_broker_errors_total", "GTN", "public", ",kind=\"reject_code\"", gtn_rejects + 1),
        series("reconcile_broker_errors_total", "GTN", "public", ",kind=\"timeout\"", gtn_timeouts),
        series("reconcile_broker_pages_total", "GTN", "public", "", gtn_pages + 4),
        series("reconcile_broker_requests_total", "ZAG", "provisional", "", zag_requests + 2),
        "# TYPE reconcile_broker_latency_seconds gauge\n"};
    for (const auto& line : after_first) {
        CAPTURE(line);
        CHECK(metrics.body.find(line) != std::string::npos);
    }
    CHECK(metrics.body.find("reconcile_broker_latency_seconds{book=\"uae\",broker=\"GTN\",contract=\"public\","
                            "stat=\"p95\"} ") != std::string::npos);
    CHECK(metrics.body.find("quantile=") == std::string::npos);  // reserved for summaries
    // Each book counts its own runs: India's C runs never ask GTN, the UAE's broker.
    CHECK(metrics.body.find("reconcile_broker_requests_total{book=\"india\",broker=\"GTN\"") == std::string::npos);

    // A quiet run next (no busy answer: 5 GTN requests, no retry, no error) adds its counts; the
    // counters never go down, not even when the history's rows are pruned.
    w.broker.set_fixture(scenario_fixture());
    const auto quiet = reconcile_cli({"run", "--book", "uae", "--category", "C"}, options);
    REQUIRE_MESSAGE(quiet.exit_code == 0, quiet.err);
    CHECK(std::stoi(w.uae.query_value(
              "WITH pruned AS (DELETE FROM recon.broker_health RETURNING 1) SELECT count(*) FROM pruned")) >= 4);
    const auto later = http_get(server.port(), "/metrics", read_headers());
    REQUIRE(later.status == 200);
    for (const auto& line :
         {series("reconcile_broker_requests_total", "GTN", "public", "", gtn_requests + 6 + 5),
          series("reconcile_broker_retries_total", "GTN", "public", "", gtn_retries + 1),
          series("reconcile_broker_errors_total", "GTN", "public", ",kind=\"reject_code\"", gtn_rejects + 1),
          series("reconcile_broker_pages_total", "GTN", "public", "", gtn_pages + 4 + 4),
          series("reconcile_broker_requests_total", "ZAG", "provisional", "", zag_requests + 2 + 2)}) {
        CAPTURE(line);
        CHECK(later.body.find(line) != std::string::npos);
    }
    // The latency gauges went with the pruned rows: there is no newest run's health to show.
    CHECK(later.body.find("reconcile_broker_latency_seconds{") == std::string::npos);
}

TEST_CASE("a hostile customer id and symbol from the broker are stored and shown verbatim")
{
    auto& w = scenario();
    const std::string hostile = "'; DROP TABLE journal_lines; --";
    w.uae.exec(
        "INSERT INTO ledger.broker_accounts VALUES ('''; DROP TABLE journal_lines; --', 'ZAG',"
        " '''; DROP TABLE journal_lines; --', 'active', now())");
    auto fixture = scenario_fixture();
    fixture["zag"]["accounts"][hostile] = {{"holdings", {{{"symbol", hostile}, {"quantity", "5"}}}}};
    w.broker.set_fixture(fixture);
    const auto text = reconcile_cli({"run", "--book", "uae", "--category", "C", "--check", "zag_holdings_recon"},
                                    env_for(w, {{"RECON_ALERT_PERSIST_ENABLED", "true"}}));
    CHECK(text.exit_code == 1);
    CHECK(text.out.find("broker_only customer_id=" + hostile + " symbol=" + hostile + " expected=0 actual=5") !=
          std::string::npos);
    CHECK(w.uae.query_value("SELECT keys->>'symbol' FROM recon.reconciliation_variances") == hostile);
    CHECK(w.uae.query_value("SELECT count(*) FROM ledger.journal_lines") == "10");
    const auto id = w.uae.query_value("SELECT max(run_id) FROM recon.runs");
    const auto shown = reconcile_cli({"runs", "show", id, "--book", "uae", "--output", "json"}, env_for(w));
    const auto run = Json::parse(shown.out);
    CHECK(run["checks"][0]["variances"][0]["keys"]["symbol"] == hostile);
    CHECK(run["checks"][0]["variances"][0]["keys"]["customer_id"] == hostile);
}

TEST_CASE("--if-due: runs when due, skips with one log line while the cadence has not passed")
{
    auto& w = scenario();
    const auto env = env_for(w, {{"RECON_EXTERNAL_INTERVAL_SECONDS", "2"}});
    const std::vector<std::string> args{"run", "--book", "uae", "--category", "C", "--if-due"};
    const auto first = reconcile_cli(args, env);
    CHECK(first.exit_code == 0);
    CHECK(w.uae.query_value("SELECT trigger FROM recon.runs") == "schedule");
    const auto second = reconcile_cli(args, env);
    CHECK(second.exit_code == 0);
    CHECK(second.out.empty());
    CHECK(std::count(second.err.begin(), second.err.end(), '\n') == 1);
    CHECK(second.err.find("skipped uae/C: not due: the last full run started") != std::string::npos);
    CHECK(w.uae.query_value("SELECT count(*) FROM recon.runs") == "1");
    REQUIRE(wait_for([&] { return w.uae.interval_passed(2); }, 10s));
    CHECK(reconcile_cli(args, env).exit_code == 0);
    CHECK(w.uae.query_value("SELECT count(*) FROM recon.runs") == "2");

    // India's schedule is off unless INDIA_RECON_ENABLED: skipped, nothing written.
    const auto india = reconcile_cli({"run", "--book", "india", "--category", "A", "--if-due"}, env);
    CHECK(india.exit_code == 0);
    CHECK(india.err ==
          "reconcile: info: skipped india/A: not due: scheduled runs of book india are switched off"
          " (INDIA_RECON_ENABLED)\n");
    CHECK(w.india.query_value("SELECT count(*) FROM recon.runs") == "0");
    CHECK(reconcile_cli({"run", "--book", "india", "--category", "A", "--if-due"},
                        env_for(w, {{"INDIA_RECON_ENABLED", "true"}}))
              .exit_code == 0);
    CHECK(w.india.query_value("SELECT count(*) FROM recon.runs") == "1");
}

TEST_CASE("india report command lines: bad flags are 64, a missing ViewTrade setting is 78")
{
    auto& w = scenario();
    CHECK(reconcile_cli({"india"}, env_for(w)).exit_code == 64);
    CHECK(reconcile_cli({"india", "nonsense"}, env_for(w)).exit_code == 64);
    CHECK(reconcile_cli({"india", "ledger-recon", "--output", "xml"}, env_for(w)).exit_code == 64);
    const auto nobody =
        reconcile_cli({"india", "ledger-recon", "--customer", "'; DROP TABLE journal_lines; --"}, env_for(w));
    CHECK(nobody.exit_code == 64);
    CHECK(nobody.err ==
          "reconcile: error: no ViewTrade account for customer ''; DROP TABLE journal_lines; --' in "
          "contract.broker_accounts\n");
    auto no_viewtrade = env_for(w);
    no_viewtrade.env.erase("VIEWTRADE_BASE_URL");
    const auto missing = reconcile_cli({"india", "holdings-recon"}, no_viewtrade);
    CHECK(missing.exit_code == 78);
    CHECK(missing.out.empty());  // no fake empty report before the error
    CHECK(missing.err.rfind("reconcile: error: india holdings-recon: VIEWTRADE is not configured: set "
                            "VIEWTRADE_BASE_URL",
                            0) == 0);
    const auto lrs = reconcile_cli({"india", "reconciliation"}, no_viewtrade);
    CHECK(lrs.exit_code == 78);
    CHECK(lrs.out.empty());
}

TEST_CASE("serve's India endpoints answer the CLI's reports over HTTP")
{
    auto& w = scenario();
    auto options = env_for(w, {{"LEDGER_ADMIN_TOKEN", admin_token},
                               {"LEDGER_TOKEN", read_token},
                               {"RECON_SCHEDULE_ENABLED", "false"},
                               {"INDIA_RECON_ENABLED", "false"}});
    ServeProcess server(options);
    const auto strip_times = [](Json report) {
        for (auto& customer : report["customers"]) customer.erase("broker_as_of");
        return report["customers"];
    };
    const auto http = http_get(server.port(), "/v1/india/ledger-recon", read_headers());
    REQUIRE(http.status == 200);
    const auto cli = Json::parse(reconcile_cli({"india", "ledger-recon", "--output", "json"}, options).out);
    CHECK(strip_times(http.json()) == strip_times(cli));
    CHECK(http.json()["status"] == "fail");

    const auto one = http_get(server.port(), "/v1/india/reconciliation?customer=C003", read_headers());
    REQUIRE(one.status == 200);
    CHECK(one.json()["customers"].size() == 1);
    CHECK(one.json()["customers"][0]["buckets"]["aged_in_transit"]["count"] == 1);
    CHECK(http_get(server.port(), "/v1/india/holdings-recon?customer=C001", read_headers())
              .json()["customers"][0]["holdings"][0]["outcome"] == "mismatch");

    const auto nobody = http_get(server.port(), "/v1/india/ledger-recon?customer=NOPE", read_headers());
    CHECK(nobody.status == 404);
    CHECK(nobody.json()["detail"] == "no ViewTrade account for customer 'NOPE' in contract.broker_accounts");
    CHECK(http_get(server.port(), "/v1/india/ledger-recon?book=uae", read_headers()).status == 400);
    CHECK(http_get(server.port(), "/v1/india/ledger-recon").status == 401);
    CHECK(w.india.query_value("SELECT count(*) FROM recon.runs") == "0");

    auto down = options;
    down.env["VIEWTRADE_BASE_URL"] = "http://127.0.0.1:1";
    ServeProcess dead(down);
    const auto unreachable = http_get(dead.port(), "/v1/india/holdings-recon", read_headers());
    CHECK(unreachable.status == 502);
    CHECK(unreachable.json()["detail"].get<std::string>().find("VIEWTRADE unreachable") == 0);
}

// ---- --shard K/N: category C split across hosts --------------------------------------------
// With N = 2 the India customers fall as customer_shard() puts them (tests/unit/test_shard.cpp):
// shard 1 = {C002}, shard 2 = {C001, C003, C004}.

namespace {

/// The scenario with a break in each shard and no slow customer: C002's ViewTrade cash is 10.00
/// short (shard 1); C001's short AAPL position and C003's aged remittance stay (shard 2).
Json shard_fixture()
{
    Json fixture = scenario_fixture();
    fixture["viewtrade"]["accounts"]["V-002"]["cash"][0]["amount"] = "240.00";
    fixture["viewtrade"]["accounts"]["V-004"]["cash"][0]["amount"] = "0.00";
    fixture["faults"] = Json::array();
    return fixture;
}

World& shard_scenario()
{
    auto& w = scenario();
    w.broker.set_fixture(shard_fixture());
    return w;
}

Json run_json(const std::vector<std::string>& args, const ProcessOptions& options, int expected_exit)
{
    const auto result = reconcile_cli(args, options);
    REQUIRE_MESSAGE(result.exit_code == expected_exit, result.err);
    CHECK(schema_valid(result.out));
    return Json::parse(result.out);
}

/// Latency on the named ViewTrade accounts, so a run stays busy in its fetch while a test acts.
void slow_accounts(World& w, const std::vector<std::string>& accounts, int ms)
{
    Json fixture = shard_fixture();
    for (const auto& account : accounts) {
        fixture["faults"].push_back({{"broker", "viewtrade"}, {"account", account}, {"kind", "latency"}, {"ms", ms}});
    }
    w.broker.set_fixture(fixture);
}

/// Every listed variance of a run as "check <variance JSON>" lines, the as-of times taken out of
/// the detail (they differ between runs), sorted.
Lines variance_documents(const Json& run)
{
    Lines lines;
    for (const auto& check : run["checks"]) {
        for (Json variance : check["variances"]) {
            variance["detail"].erase("ledger_as_of");
            variance["detail"].erase("broker_as_of");
            lines.push_back(check["check_name"].get<std::string>() + " " + variance.dump());
        }
    }
    std::sort(lines.begin(), lines.end());
    return lines;
}

std::string running_rows(const World& w)
{
    return w.india.query_value("SELECT count(*) FROM recon.runs WHERE status = 'running'");
}

}  // namespace

TEST_CASE("--shard: shards 1/2 and 2/2 check disjoint customers whose union is the unsharded run")
{
    auto& w = shard_scenario();
    const std::vector<std::string> run{"run", "--book", "india", "--category", "C", "--output", "json"};
    const auto whole = run_json(run, env_for(w), 1);
    CHECK(whole["shard"].is_null());
    const Lines all{"lrs_viewtrade_tie_out: aged_in_transit customer_id=C003 remittance_id=R-4",
                    "viewtrade_holdings_recon: mismatch customer_id=C001 symbol=AAPL",
                    "viewtrade_ledger_recon: amount_break currency=USD customer_id=C002",
                    "viewtrade_ledger_recon: quantity_break customer_id=C001 symbol=AAPL"};
    CHECK(run_variance_lines(whole) == all);
    CHECK(check_named(whole, "viewtrade_ledger_recon")["metrics"]["customers"] == 4);

    w.broker.set_fixture(shard_fixture());  // resets the request counters
    auto first_args = run;
    first_args.insert(first_args.end(), {"--shard", "1/2"});
    const auto first = run_json(first_args, env_for(w), 1);
    CHECK(first["shard"] == Json{{"index", 1}, {"count", 2}});
    CHECK(run_variance_lines(first) == Lines{"viewtrade_ledger_recon: amount_break currency=USD customer_id=C002"});
    CHECK(check_named(first, "viewtrade_ledger_recon")["metrics"]["customers"] == 1);
    CHECK(check_named(first, "lrs_viewtrade_tie_out")["metrics"]["customers"] == 1);
    CHECK(check_named(first, "lrs_viewtrade_tie_out")["status"] == "ok");
    // Only shard 1's customer was asked.
    CHECK(w.broker.requests("GET viewtrade cash V-002") == 1);
    for (const char* other : {"V-001", "V-003", "V-004"}) {
        CAPTURE(other);
        CHECK(w.broker.requests(std::string("GET viewtrade cash ") + other) == 0);
        CHECK(w.broker.requests(std::string("GET viewtrade positions ") + other) == 0);
    }

    auto second_args = run;
    second_args.insert(second_args.end(), {"--shard", "2/2"});
    const auto second = run_json(second_args, env_for(w), 1);
    CHECK(second["shard"] == Json{{"index", 2}, {"count", 2}});
    CHECK(run_variance_lines(second) ==
          Lines{"lrs_viewtrade_tie_out: aged_in_transit customer_id=C003 remittance_id=R-4",
                "viewtrade_holdings_recon: mismatch customer_id=C001 symbol=AAPL",
                "viewtrade_ledger_recon: quantity_break customer_id=C001 symbol=AAPL"});
    CHECK(check_named(second, "viewtrade_ledger_recon")["metrics"]["customers"] == 3);
    CHECK(check_named(second, "viewtrade_ledger_recon")["metrics"]["matched"] == 0);
    CHECK(check_named(second, "viewtrade_ledger_recon")["metrics"]["cash_compared"] == 3);

    // Disjoint, and together exactly the unsharded run.
    Lines together = run_variance_lines(first);
    const auto rest = run_variance_lines(second);
    together.insert(together.end(), rest.begin(), rest.end());
    std::sort(together.begin(), together.end());
    CHECK(together == all);
    // The exact variance rows (amounts, details, fingerprints) are the unsharded run's.
    Lines documents = variance_documents(first);
    const auto more = variance_documents(second);
    documents.insert(documents.end(), more.begin(), more.end());
    std::sort(documents.begin(), documents.end());
    CHECK(documents == variance_documents(whole));
    CHECK(check_named(first, "viewtrade_ledger_recon")["variances"][0]["difference"] == "10.00");

    // The run rows, `runs list` and `runs show` carry the shard.
    CHECK(w.india.query_value("SELECT string_agg(coalesce(shard_index || '/' || shard_count, '-'), ',' ORDER BY run_id)"
                              " FROM recon.runs") == "-,1/2,2/2");
    const auto listed = reconcile_cli({"runs", "list", "--book", "india"}, env_for(w));
    CHECK(listed.exit_code == 0);
    CHECK(std::count(listed.out.begin(), listed.out.end(), '\n') == 4);  // the header and 3 runs
    CHECK(listed.out.find("  C         1/2    full ") != std::string::npos);
    CHECK(listed.out.find("  C         2/2    full ") != std::string::npos);
    CHECK(listed.out.find("  C         -      full ") != std::string::npos);
    const auto id = w.india.query_value("SELECT run_id FROM recon.runs WHERE shard_index = 2");
    const auto shown = reconcile_cli({"runs", "show", id, "--book", "india", "--output", "json"}, env_for(w));
    CHECK(schema_valid(shown.out));
    CHECK(Json::parse(shown.out)["shard"] == Json{{"index", 2}, {"count", 2}});
    const auto text = reconcile_cli({"runs", "show", id, "--book", "india"}, env_for(w));
    CHECK(text.out.find("book india  category C  shard 2/2  FAIL") != std::string::npos);
}

TEST_CASE("--shard: different shards run at once, the same shard twice or an unsharded run is skipped (11)")
{
    auto& w = shard_scenario();
    slow_accounts(w, {"V-001", "V-002"}, 1500);
    const auto env = env_for(w, {{"RECON_BROKER_TIMEOUT_MS", "10000"}});
    const auto args = [](std::initializer_list<std::string> extra) {
        std::vector<std::string> argv{reconcile_binary(), "run", "--book",  "india",
                                      "--category",       "C",   "--check", "viewtrade_holdings_recon"};
        argv.insert(argv.end(), extra);
        return argv;
    };

    BackgroundProcess one(args({"--shard", "1/2"}), env);
    BackgroundProcess two(args({"--shard", "2/2"}), env);
    // Both hold their running rows at the same time: neither blocked the other.
    CHECK(wait_for([&] { return running_rows(w) == "2"; }, 10s));
    const auto same = reconcile_cli({"run", "--book", "india", "--category", "C", "--shard", "1/2"}, env);
    CHECK(same.exit_code == 11);
    // Exit 11 names the run holding the lock, as the API's 409 does.
    const auto holder = w.india.query_value(
        "SELECT run_id || ' (manual, started ' || to_char(started_at AT TIME ZONE 'UTC',"
        " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') || ')' FROM recon.runs WHERE status = 'running' AND shard_index = 1");
    CHECK(same.err == "reconcile: warn: skipped: another run of india/C shard 1/2 holds the lock: run " + holder +
                          "; nothing written\n");
    const auto whole = reconcile_cli({"run", "--book", "india", "--category", "C"}, env);
    CHECK(whole.exit_code == 11);
    CHECK(whole.out.empty());
    const auto first = one.wait(30s);
    const auto second = two.wait(30s);
    CHECK_MESSAGE(first.exit_code == 0, first.err);    // C002 holds no instrument: nothing to break
    CHECK_MESSAGE(second.exit_code == 1, second.err);  // C001's short AAPL
    CHECK(w.india.query_value(
              "SELECT count(*) || ' ' || string_agg(status, ',' ORDER BY shard_index) FROM recon.runs") == "2 ok,fail");

    // An unsharded run holds the category: no shard may start beside it.
    BackgroundProcess unsharded(args({}), env);
    CHECK(wait_for([&] { return running_rows(w) == "1"; }, 10s));
    const auto shard = reconcile_cli({"run", "--book", "india", "--category", "C", "--shard", "2/2"}, env);
    CHECK(shard.exit_code == 11);
    CHECK(unsharded.wait(30s).exit_code == 1);
    CHECK(w.india.query_value("SELECT count(*) FROM recon.runs") == "3");
    CHECK(w.india.query_value("SELECT count(*) FROM recon.runs WHERE status IN ('running', 'abandoned')") == "0");
}

TEST_CASE("--shard: a shard resolves only its own customers' breaks; check states are kept per shard")
{
    auto& w = shard_scenario();
    w.india.exec("TRUNCATE recon.variance_fingerprints, recon.check_states");
    const auto env = env_for(w);
    const std::vector<std::string> shard1{"run", "--book", "india", "--category", "C", "--shard", "1/2"};
    const std::vector<std::string> shard2{"run", "--book", "india", "--category", "C", "--shard", "2/2"};
    const auto open_breaks = [&] {
        return w.india.query_value(
            "SELECT string_agg(check_name || ':' || kind || ':' || (keys->>'customer_id') || ':' || status, ','"
            " ORDER BY check_name, kind) FROM recon.variance_fingerprints");
    };

    CHECK(reconcile_cli(shard1, env).exit_code == 1);  // C002's cash break opens
    CHECK(reconcile_cli(shard2, env).exit_code == 1);  // C001's and C003's open
    const std::string both_open =
        "lrs_viewtrade_tie_out:aged_in_transit:C003:open,viewtrade_holdings_recon:mismatch:C001:open,"
        "viewtrade_ledger_recon:amount_break:C002:open,viewtrade_ledger_recon:quantity_break:C001:open";
    CHECK(open_breaks() == both_open);

    // C002's cash is fixed at the broker. Shard 2 does not see C002: its break stays open, and
    // shard 2's own breaks persist.
    Json fixed = shard_fixture();
    fixed["viewtrade"]["accounts"]["V-002"]["cash"][0]["amount"] = "250.00";
    w.broker.set_fixture(fixed);
    CHECK(reconcile_cli(shard2, env).exit_code == 1);
    CHECK(open_breaks() == both_open);
    CHECK(w.india.query_value("SELECT occurrences FROM recon.variance_fingerprints WHERE kind = 'quantity_break'") ==
          "2");

    // Shard 1 sees it fixed and resolves it, touching nothing of shard 2.
    const auto resolved = reconcile_cli(shard1, env);
    CHECK(resolved.exit_code == 0);
    CHECK(open_breaks() ==
          "lrs_viewtrade_tie_out:aged_in_transit:C003:open,viewtrade_holdings_recon:mismatch:C001:open,"
          "viewtrade_ledger_recon:amount_break:C002:resolved,viewtrade_ledger_recon:quantity_break:C001:open");
    CHECK(w.india.query_value("SELECT resolved_run FROM recon.variance_fingerprints WHERE kind = 'amount_break'") ==
          w.india.query_value("SELECT max(run_id) FROM recon.runs"));

    // Check states live per shard: shard 1 is ok again, shard 2 still fails, and the whole
    // book's state was never written by a shard.
    CHECK(w.india.query_value("SELECT string_agg(scope || '=' || last_status, ',' ORDER BY scope)"
                              " FROM recon.check_states WHERE check_name = 'viewtrade_ledger_recon'") ==
          "shard-1-of-2=ok,shard-2-of-2=fail");

    // An unsharded run resolves across every shard; its state is the book's.
    Json clean = fixed;
    clean["viewtrade"]["accounts"]["V-001"]["positions"][0]["quantity"] = "0.5";
    w.broker.set_fixture(clean);
    CHECK(reconcile_cli({"run", "--book", "india", "--category", "C"}, env).exit_code ==
          1);  // C003's wire is still missing
    CHECK(open_breaks() ==
          "lrs_viewtrade_tie_out:aged_in_transit:C003:open,viewtrade_holdings_recon:mismatch:C001:resolved,"
          "viewtrade_ledger_recon:amount_break:C002:resolved,viewtrade_ledger_recon:quantity_break:C001:resolved");
    CHECK(w.india.query_value("SELECT string_agg(scope || '=' || last_status, ',' ORDER BY scope)"
                              " FROM recon.check_states WHERE check_name = 'viewtrade_ledger_recon'") ==
          "=ok,shard-1-of-2=ok,shard-2-of-2=fail");
}

TEST_CASE("--shard: bad values and categories other than C are usage errors (64), nothing written")
{
    auto& w = shard_scenario();
    const std::map<std::string, std::string> bad{{"0/2", "K is out of range"}, {"3/2", "K is out of range"},
                                                 {"2/0", "N is out of range"}, {"1/2000", "N is out of range"},
                                                 {"x", "not of the form K/N"}, {"1/2/3", "not of the form K/N"},
                                                 {"", "not of the form K/N"}};
    for (const auto& [value, why] : bad) {
        CAPTURE(value);
        const auto result = reconcile_cli({"run", "--book", "india", "--category", "C", "--shard", value}, env_for(w));
        CHECK(result.exit_code == 64);
        CHECK(result.out.empty());
        CHECK(result.err ==
              "reconcile: error: --shard \"" + value + "\": " + why + " (expected K/N with 1 <= K <= N <= 1024)\n");
    }
    for (const char* category : {"A", "B", "D"}) {
        CAPTURE(category);
        const auto result =
            reconcile_cli({"run", "--book", "india", "--category", category, "--shard", "1/2"}, env_for(w));
        CHECK(result.exit_code == 64);
        CHECK(result.err == std::string("reconcile: error: --shard 1/2 applies to category C only (broker fan-out), "
                                        "not ") +
                                category + "\n");
    }
    CHECK(reconcile_cli({"run", "--book", "india", "--category", "C", "--shard"}, env_for(w)).exit_code == 64);
    CHECK(w.india.query_value("SELECT count(*) FROM recon.runs") == "0");
}

TEST_CASE("--shard with --if-due: each shard keeps its own cadence, apart from the unsharded runs")
{
    auto& w = shard_scenario();
    const auto env = env_for(w, {{"RECON_EXTERNAL_INTERVAL_SECONDS", "3600"}, {"INDIA_RECON_ENABLED", "true"}});
    const std::vector<std::string> shard1{"run", "--book", "india", "--category", "C", "--shard", "1/2", "--if-due"};
    CHECK(reconcile_cli(shard1, env).exit_code == 1);
    const auto again = reconcile_cli(shard1, env);
    CHECK(again.exit_code == 0);
    CHECK(again.err.find("skipped india/C shard 1/2: not due: the last full run of shard 1/2 started") !=
          std::string::npos);
    // Shard 2 and the whole book have not run: both are due (a shard's run is not a full run).
    CHECK(reconcile_cli({"run", "--book", "india", "--category", "C", "--shard", "2/2", "--if-due"}, env).exit_code ==
          1);
    CHECK(reconcile_cli({"run", "--book", "india", "--category", "C", "--if-due"}, env).exit_code == 1);
    CHECK(w.india.query_value("SELECT count(*) FROM recon.runs") == "3");
}

TEST_CASE("--shard: RECON_BROKER_MAX_FAILED_SHARE counts the shard's customers")
{
    auto& w = shard_scenario();
    Json fixture = shard_fixture();
    fixture["viewtrade"]["accounts"]["V-001"]["positions"][0]["quantity"] = "0.5";  // no break anywhere
    fixture["faults"] = {{{"broker", "viewtrade"}, {"account", "V-002"}, {"kind", "malformed"}}};
    w.broker.set_fixture(fixture);
    const std::vector<std::string> run{
        "run", "--book", "india", "--category", "C", "--check", "viewtrade_holdings_recon", "--output", "json"};
    // The whole book: 1 of 4 customers failed, within the share of 0.5: a warning.
    const auto whole = check_named(run_json(run, env_for(w), 0), "viewtrade_holdings_recon");
    CHECK(whole["status"] == "warn");
    CHECK(whole["metrics"]["fetch_errors"] == 1);
    CHECK(whole["metrics"]["customers"] == 4);

    // Shard 1 is C002 alone: 1 of 1 failed, past the share: error (exit 2).
    auto first_args = run;
    first_args.insert(first_args.end(), {"--shard", "1/2"});
    const auto first = check_named(run_json(first_args, env_for(w), 2), "viewtrade_holdings_recon");
    CHECK(first["status"] == "error");
    CHECK(first["metrics"]["error"] ==
          "1 of 1 customers could not be fetched from VIEWTRADE (more than "
          "RECON_BROKER_MAX_FAILED_SHARE=0.5)");
    CHECK(run_variance_lines(Json{{"checks", {first}}}) ==
          Lines{"viewtrade_holdings_recon: fetch_error customer_id=C002"});

    // Shard 2 (C001, C003, C004) fetched everyone: ok.
    auto second_args = run;
    second_args.insert(second_args.end(), {"--shard", "2/2"});
    const auto second = check_named(run_json(second_args, env_for(w), 0), "viewtrade_holdings_recon");
    CHECK(second["status"] == "ok");
    CHECK(second["metrics"]["customers_checked"] == 3);
}

TEST_CASE(
    "done when (issue 15): the slow customer's fetch_error acknowledged as timing is listed, flagged, quiet "
    "and exported")
{
    auto& w = scenario();
    reconcile::test::WebhookReceiver webhook;
    auto env = env_for(w, {{"ALERT_WEBHOOK_URL", webhook.url()}, {"RECON_ALERT_MODE", "every"}});
    // books_env unsets the webhook so that no test alerts by accident; this one means to.
    std::erase(env.unset_env, "ALERT_WEBHOOK_URL");
    const auto first = reconcile_cli({"run", "--book", "india", "--category", "C"}, env);
    REQUIRE_MESSAGE(first.exit_code == 1, first.err);
    const auto alerted_before = webhook.requests().size();
    REQUIRE(alerted_before == 3);

    const auto open = reconcile_cli({"variances", "--book", "india", "--open"}, env);
    REQUIRE(open.exit_code == 0);
    std::vector<std::string> fingerprints;
    for (const char* check : {"lrs_viewtrade_tie_out", "viewtrade_holdings_recon", "viewtrade_ledger_recon"}) {
        fingerprints.push_back(w.india.query_value(
            std::string("SELECT fingerprint FROM recon.variance_fingerprints WHERE kind = 'fetch_error' AND "
                        "status = 'open' AND keys->>'customer_id' = 'C004' AND check_name = '") +
            check + "'"));
        CHECK(open.out.find(std::string(check)) != std::string::npos);
    }
    // `--open` shows first seen, age, occurrences and that nobody classified it yet.
    const std::regex unclassified(
        "india +viewtrade_ledger_recon +fetch_error +customer_id=C004 +- +"
        "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z +\\d+[smhd]( \\d+[smh])? +1 +- +- +- +" +
        fingerprints[2].substr(0, 12) + "\n");
    CHECK(std::regex_search(open.out, unclassified));
    CHECK(open.out.rfind("book ", 0) == 0);

    std::vector<std::string> ack{"variances", "ack"};
    ack.insert(ack.end(), fingerprints.begin(), fingerprints.end());
    ack.insert(ack.end(),
               {"--class", "timing", "--note", "C004's ViewTrade account is slow; heals next cycle", "--by", "alice"});
    const auto acked = reconcile_cli(ack, env);
    REQUIRE_MESSAGE(acked.exit_code == 0, acked.err);
    CHECK(acked.out.find("acknowledged india viewtrade_ledger_recon " + fingerprints[2] + " by alice at ") !=
          std::string::npos);
    // `--open` now shows its class, note and author, and tallies it as acknowledged.
    const auto classified = reconcile_cli({"variances", "--book", "india", "--open"}, env);
    CHECK(classified.out.find("  timing  C004's ViewTrade account is slow; heals next cycle  alice  " +
                              fingerprints[2].substr(0, 12) + "\n") != std::string::npos);
    CHECK(classified.out.find("break(s): 3 acknowledged, ") != std::string::npos);

    // The next C run lists it, flagged, and says how many it acknowledged.
    const auto second = reconcile_cli({"run", "--book", "india", "--category", "C", "--output", "json"}, env);
    REQUIRE_MESSAGE(second.exit_code == 1, second.err);
    CHECK(schema_valid(second.out));
    const auto run = Json::parse(second.out);
    CHECK(run_variance_lines(run) == scenario_variances);
    for (const char* name : {"lrs_viewtrade_tie_out", "viewtrade_holdings_recon", "viewtrade_ledger_recon"}) {
        CAPTURE(name);
        const auto& check = check_named(run, name);
        CHECK(check["metrics"]["acknowledged"] == 1);
        for (const auto& variance : check["variances"]) {
            if (variance["kind"] == "fetch_error") {
                CHECK(variance["acknowledgement"]["class"] == "timing");
                CHECK(variance["acknowledgement"]["note"] == "C004's ViewTrade account is slow; heals next cycle");
                CHECK(variance["acknowledgement"]["by"] == "alice");
                CHECK(variance["acknowledgement"]["until"].is_null());
            } else {
                CHECK_FALSE(variance.contains("acknowledgement"));
            }
        }
    }
    // Its alerts no longer mention it: the other breaks still alert.
    const auto requests = webhook.requests();
    REQUIRE(requests.size() == alerted_before + 3);
    for (std::size_t i = alerted_before; i < requests.size(); ++i) {
        const auto payload = Json::parse(requests[i].body);
        CAPTURE(payload.dump());
        CHECK(payload["event"] == "problem");
        CHECK(payload["counts"]["acknowledged"] == 1);
        for (const auto& variance : payload["variances"]) CHECK(variance["kind"] != "fetch_error");
        CHECK(requests[i].body.find("fetch_error") == std::string::npos);
    }

    // The export lists it with its class and note (RFC 4180: the note's comma... none here; its
    // apostrophe stays as is).
    const auto csv = reconcile_cli({"variances", "--book", "india", "--open", "--output", "csv"}, env);
    REQUIRE(csv.exit_code == 0);
    CHECK(csv.out.rfind("book,check_name,category,fingerprint,kind,keys,status,state,", 0) == 0);
    CHECK(csv.out.find("india,viewtrade_ledger_recon,C," + fingerprints[2] +
                       ",fetch_error,\"{\"\"customer_id\"\":\"\"C004\"\"}\",open,persisting,") != std::string::npos);
    CHECK(csv.out.find(",timing,C004's ViewTrade account is slow; heals next cycle,alice,") != std::string::npos);
    const auto jsonl = reconcile_cli({"variances", "--book", "india", "--open", "--output", "jsonl"}, env);
    std::size_t acknowledged_lines = 0;
    std::istringstream lines(jsonl.out);
    for (std::string line; std::getline(lines, line);) {
        const auto record = Json::parse(line);
        if (record["class"] == "timing") ++acknowledged_lines;
    }
    CHECK(acknowledged_lines == 3);

    // The other two exports through the real binary: runs list and an India report.
    const auto runs = reconcile_cli({"runs", "list", "--book", "india", "--output", "csv"}, env);
    REQUIRE_MESSAGE(runs.exit_code == 0, runs.err);
    const std::regex run_row(R"(\d+,india,C,,full,manual,fail,\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z,)"
                             R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z,\d+,5,6,\r)");
    std::istringstream run_lines(runs.out);
    std::vector<std::string> rows;
    for (std::string line; std::getline(run_lines, line);) rows.push_back(line);
    REQUIRE(rows.size() == 3);
    CHECK(rows[0] ==
          "run_id,book,category,shard,scope,trigger,status,started_at,finished_at,duration_ms,checks,variances_total,"
          "error\r");
    CHECK(std::regex_match(rows[1], run_row));
    CHECK(std::regex_match(rows[2], run_row));
    const auto report = reconcile_cli({"india", "ledger-recon", "--customer", "C001", "--output", "csv"}, env);
    CHECK(report.exit_code == 1);
    CHECK(
        report.out ==
        "report,customer_id,broker_account_ref,status,error,line,key,ledger,broker,difference,outcome\r\n"
        "ledger-recon,C001,V-001,fail,,cash,USD,48.50,48.50,0.00,match\r\n"
        "ledger-recon,C001,V-001,fail,,securities,AAPL,0.50,0.25,0.25,mismatch\r\n");  // both sides at the finer scale

    // Unacknowledged, it alerts again.
    std::vector<std::string> unack{"variances", "unack", fingerprints[2]};
    REQUIRE(reconcile_cli(unack, env).exit_code == 0);
    REQUIRE(reconcile_cli({"run", "--book", "india", "--category", "C"}, env).exit_code == 1);
    bool mentioned = false;
    for (const auto& request : webhook.requests()) {
        const auto payload = Json::parse(request.body);
        if (payload["run_id"] != run["run_id"].get<std::int64_t>() + 1) continue;
        if (payload["check_name"] == "viewtrade_ledger_recon")
            mentioned = request.body.find("fetch_error") != std::string::npos;
    }
    CHECK(mentioned);
}
