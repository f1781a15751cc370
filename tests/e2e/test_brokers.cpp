// End to end, category C: the real binary, real databases and the fake broker over real HTTP.
// The issue's "done when": a short position, a missing wire and a slow customer, named exactly
// by `reconcile run --book india --category C --output json` and by the India reports.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/db/broker_fixture.hpp"
#include "tests/db/fixture.hpp"
#include "tests/e2e/serve_fixture.hpp"
#include "tests/support/cli.hpp"
#include "tests/support/fake_broker.hpp"
#include "tests/support/process.hpp"

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
    auto options = books_env(w.uae, w.india, w.broker.settings({{"RECON_BROKER_TIMEOUT_MS", "1000"},
                                                                 {"RECON_BROKER_RETRIES", "0"}}));
    for (const auto& [key, value] : extra) options.env[key] = value;
    return options;
}

/// "check: kind key=value ..." for every listed variance of a run document.
Lines run_variances(const Json& run)
{
    Lines lines;
    for (const auto& check : run["checks"]) {
        for (const auto& variance : check["variances"]) {
            std::string line = check["check_name"].get<std::string>() + ": " + variance["kind"].get<std::string>();
            for (const auto& [key, value] : variance["keys"].items()) line += " " + key + "=" + value.get<std::string>();
            lines.push_back(std::move(line));
        }
    }
    std::sort(lines.begin(), lines.end());
    return lines;
}

const Json& check_named(const Json& run, const std::string& name)
{
    for (const auto& check : run["checks"]) {
        if (check["check_name"] == name) return check;
    }
    throw std::runtime_error("no check " + name);
}

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
    CHECK(run_variances(run) == Lines{"lrs_viewtrade_tie_out: aged_in_transit customer_id=C003 remittance_id=R-4",
                                      "lrs_viewtrade_tie_out: fetch_error customer_id=C004",
                                      "viewtrade_holdings_recon: fetch_error customer_id=C004",
                                      "viewtrade_holdings_recon: mismatch customer_id=C001 symbol=AAPL",
                                      "viewtrade_ledger_recon: fetch_error customer_id=C004",
                                      "viewtrade_ledger_recon: quantity_break customer_id=C001 symbol=AAPL"});
    const auto& ledger = check_named(run, "viewtrade_ledger_recon");
    CHECK(ledger["status"] == "fail");
    CHECK(ledger["metrics"]["customers"] == 4);
    CHECK(ledger["metrics"]["customers_checked"] == 3);
    CHECK(ledger["metrics"]["fetch_errors"] == 1);
    for (const auto& variance : ledger["variances"]) {
        if (variance["kind"] != "quantity_break") continue;
        CHECK(variance["expected"] == "0.5");
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
    CHECK(report["status"] == "fail");
    CHECK(customer_named(report, "C001")["status"] == "fail");
    CHECK(customer_named(report, "C001")["securities"][0] ==
          Json{{"symbol", "AAPL"}, {"ledger", "0.5"}, {"broker", "0.25"}, {"difference", "0.25"},
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

    const auto lrs_result = reconcile_cli({"india", "reconciliation", "--output", "json"}, env_for(w));
    CHECK(lrs_result.exit_code == 1);
    const auto lrs = Json::parse(lrs_result.out);
    const auto& c003 = customer_named(lrs, "C003");
    CHECK(c003["status"] == "fail");
    CHECK(c003["remitted_usd"] == "200.00");
    CHECK(c003["wired_usd"] == "0");
    CHECK(c003["buckets"]["aged_in_transit"] == Json{{"count", 1}, {"usd", "200.00"}});
    CHECK(c003["remittances"][0]["remittance_id"] == "R-4");
    CHECK(c003["remittances"][0]["bucket"] == "aged_in_transit");
    CHECK(customer_named(lrs, "C002")["buckets"]["matched"]["count"] == 2);
    CHECK(customer_named(lrs, "C004")["status"] == "fetch_error");

    const auto text = reconcile_cli({"india", "ledger-recon"}, env_for(w));
    CHECK(text.out.find("  C001  FAIL         V-001  cash USD 48.50 = 48.50; 0 instrument(s) match\n"
                        "      AAPL ledger 0.5 broker 0.25 difference 0.25 (mismatch)\n") != std::string::npos);
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
    const auto both = reconcile_cli({"run", "--book", "uae", "--category", "C"},
                                    env_for(w, {{"GTN_BASE_URL", "http://127.0.0.1:1"},
                                                {"ZAG_BASE_URL", "http://127.0.0.1:1/zag"}}));
    CHECK(both.exit_code == 69);
    CHECK(both.out.find("ERROR  gtn_ledger_recon") != std::string::npos);
    CHECK(w.uae.query_value("SELECT count(*) FROM recon.runs WHERE status = 'error'") == "2");

    const auto report = reconcile_cli({"india", "ledger-recon", "--output", "json"},
                                      env_for(w, {{"VIEWTRADE_BASE_URL", "http://127.0.0.1:1"}}));
    CHECK(report.exit_code == 69);
    CHECK(Json::parse(report.out)["broker_status"] == "unreachable");
}

TEST_CASE("a hostile customer id and symbol from the broker are stored and shown verbatim")
{
    auto& w = scenario();
    const std::string hostile = "'; DROP TABLE journal_lines; --";
    w.uae.exec("INSERT INTO ledger.broker_accounts VALUES ('''; DROP TABLE journal_lines; --', 'ZAG',"
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
    std::this_thread::sleep_for(2100ms);
    CHECK(reconcile_cli(args, env).exit_code == 0);
    CHECK(w.uae.query_value("SELECT count(*) FROM recon.runs") == "2");

    // India's schedule is off unless INDIA_RECON_ENABLED: skipped, nothing written.
    const auto india = reconcile_cli({"run", "--book", "india", "--category", "A", "--if-due"}, env);
    CHECK(india.exit_code == 0);
    CHECK(india.err == "reconcile: info: skipped india/A: not due: scheduled runs of book india are switched off"
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
    const auto nobody = reconcile_cli({"india", "ledger-recon", "--customer", "'; DROP TABLE journal_lines; --"},
                                      env_for(w));
    CHECK(nobody.exit_code == 64);
    CHECK(nobody.err == "reconcile: error: no ViewTrade account for customer ''; DROP TABLE journal_lines; --' in "
                        "contract.broker_accounts\n");
    auto no_viewtrade = env_for(w);
    no_viewtrade.env.erase("VIEWTRADE_BASE_URL");
    const auto missing = reconcile_cli({"india", "holdings-recon"}, no_viewtrade);
    CHECK(missing.exit_code == 78);
    CHECK(missing.out.find("VIEWTRADE is not configured: set VIEWTRADE_BASE_URL") != std::string::npos);
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
