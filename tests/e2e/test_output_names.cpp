// One thing, one name, one format (issue 17 item 10), held against REAL outputs: the run documents
// of A, B, C and D runs of a ledger with a break of every kind, runs list and show, the variances
// history, the trace, the alert payloads a webhook received, and serve's /healthz, /readyz,
// /metrics and API replies. Every field name must be a row of docs/output-names.md, every metric
// label must be on its "Metric label names" line and only there, every run and trace document must
// validate against its JSON Schema, and the figures a variance shows side by side (expected,
// actual, difference) must share one scale.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tests/db/broker_fixture.hpp"
#include "tests/db/fixture.hpp"
#include "tests/e2e/serve_fixture.hpp"
#include "tests/support/cli.hpp"
#include "tests/support/fake_broker.hpp"
#include "tests/support/markdown.hpp"
#include "tests/support/process.hpp"
#include "tests/support/webhook_receiver.hpp"

using namespace reconcile::test;
using Json = nlohmann::json;
using Names = std::set<std::string>;

namespace {

// On top of the clean ledger: at least one break of every kind A, B and D report, and the zero
// sides the scale rule is about (a transaction without credits, a wallet and totals without
// lines, a snapshot with nothing to replay).
const char* const every_break_sql = R"sql(
INSERT INTO ledger.transactions (txn_id, source, source_txn_id, customer_id, txn_type, status, effective_at, posted_at)
VALUES (1101, 'ops', 'ADJ-1', NULL, 'adjustment', 'posted', '2026-11-20T10:00Z', '2026-11-20T10:00Z'),
       (1102, 'bank', 'DEP-2', 'C002', 'deposit', 'pending', '2026-11-21T10:00Z', NULL),
       (1103, 'bank', 'WD-1', 'C002', 'withdrawal', 'posted', '2026-11-22T10:00Z', '2026-11-22T10:00Z'),
       (1104, 'bank', 'DEP-4', 'C003', 'deposit', 'posted', '2026-11-23T10:00Z', '2026-11-23T10:00Z');
INSERT INTO ledger.journal_lines (line_id, txn_id, account_code, customer_id, side, amount, currency)
VALUES (101, 1101, 'BROKER_CASH', NULL, 'DR', 7.25, 'USD'),
       (102, 1103, 'CUSTOMER_WALLET', 'C002', 'DR', 300.00, 'USD'),
       (103, 1103, 'BROKER_CASH', 'C002', 'CR', 300.00, 'USD'),
       (104, 1104, 'BROKER_CASH', 'C003', 'DR', 36.73, 'AED'),
       (105, 1104, 'CUSTOMER_WALLET', 'C003', 'CR', 36.73, 'AED'),
       (106, 9999, 'NOPE', NULL, 'XX', NULL, 'USD'),
       (107, 9999, 'BROKER_CASH', NULL, 'DR', 0, 'USD');
INSERT INTO ledger.wallets (customer_id, account_code, currency, balance) VALUES ('C009', 'CUSTOMER_WALLET', 'USD', 10.00);
INSERT INTO ledger.account_totals (account_code, currency, debit_total, credit_total, net)
VALUES ('FEE_INCOME', 'EUR', 0, 5.00, 5.00);
UPDATE ledger.balance_snapshots SET balance = 90.00 WHERE customer_id = 'C001';
INSERT INTO ledger.balance_snapshots (account_code, customer_id, currency, as_of, balance)
VALUES ('CUSTOMER_WALLET', 'C002', 'USD', '2026-10-01T00:00Z', 5.00),
       ('CUSTOMER_WALLET', 'C001', 'USD', now() + interval '10 days', 48.50);
INSERT INTO ledger.pending_flows (flow_id, flow_type, customer_id, amount, currency, status, created_at)
VALUES ('F-2', 'withdrawal', 'C001', 12.50, 'USD', 'pending', now() - interval '100 hours');
)sql";

/// What the break ledger's runs list, as "check kind", per category.
const std::map<char, Names> every_kind{
    {'A',
     {"trial_balance_zero unbalanced_txn", "trial_balance_zero unbalanced_currency",
      "journal_line_completeness too_few_lines", "journal_line_completeness orphan_line",
      "journal_line_completeness unknown_account", "journal_line_completeness incomplete_line",
      "source_txn_uniqueness duplicate_source_txn", "dr_cr_sign_convention invalid_side",
      "dr_cr_sign_convention non_positive_amount", "dr_cr_sign_convention wrong_side_balance"}},
    {'B',
     {"wallet_derivation wallet_mismatch", "wallet_derivation wallet_missing", "wallet_derivation wallet_without_lines",
      "account_totals account_totals_mismatch", "account_totals account_totals_missing",
      "account_totals account_totals_without_lines", "snapshot_reconcile snapshot_mismatch",
      "snapshot_reconcile future_snapshot"}},
    {'C', {"gtn_ledger_recon amount_break"}},
    {'D', {"pending_flow_age aged_pending"}}};

struct World {
    BookDb uae{"uae"};
    BookDb india{"india"};
    FakeBroker broker{clean_broker_fixture()};
    WebhookReceiver receiver;
    std::map<char, Json> runs;  ///< the run document of each category, as `run --output json` printed it
};

ProcessOptions env_for(World& w)
{
    auto options = books_env(w.uae, w.india, w.broker.settings({{"ALERT_WEBHOOK_URL", w.receiver.url()}}));
    // books_env drops a webhook URL of the test's own environment; this one stays.
    std::erase(options.unset_env, "ALERT_WEBHOOK_URL");
    options.env["LEDGER_ADMIN_TOKEN"] = admin_token;
    options.env["LEDGER_TOKEN"] = read_token;
    options.env["RECON_SCHEDULE_ENABLED"] = "false";
    options.env["INDIA_RECON_ENABLED"] = "false";
    return options;
}

/// The break ledger, each category run once (on first use).
World& world()
{
    static World instance;
    static const bool ran = [] {
        for (BookDb* db : {&instance.uae, &instance.india}) {
            db->reset();
            db->exec(clean_ledger_sql);
        }
        instance.uae.exec(uae_broker_accounts_sql);
        instance.uae.exec(every_break_sql);
        for (const char category : {'A', 'B', 'C', 'D'}) {
            const auto result =
                reconcile_cli({"run", "--book", "uae", "--category", std::string(1, category), "--output", "json"},
                              env_for(instance));
            INFO(result.err);
            REQUIRE(result.exit_code == 1);
            instance.runs[category] = Json::parse(result.out);
        }
        return true;
    }();
    CHECK(ran);
    return instance;
}

/// An empty string when `document` validates against schema/<schema>, else the validator's words.
std::string schema_errors(const std::string& document, const std::string& schema)
{
    const std::string path = "/tmp/reconcile-e2e-names-" + std::to_string(getpid()) + ".json";
    std::ofstream(path) << document;
    const auto validated = run_process(
        {"/usr/bin/python3", "-m", "jsonschema", "-i", path, std::string(RECON_SOURCE_DIR) + "/schema/" + schema});
    std::remove(path.c_str());
    return validated.exit_code == 0 ? std::string{} : validated.out + validated.err + " ";
}

/// Reads a /metrics body with Prometheus' own client library (Debian python3-prometheus-client,
/// the text exposition format 0.0.4): "ok N families" when every line parses and every family
/// has its HELP and TYPE, else what is wrong, one line each.
std::string exposition_problems(const std::string& body)
{
    const std::string path = "/tmp/reconcile-e2e-metrics-" + std::to_string(getpid()) + ".txt";
    std::ofstream(path) << body;
    const char* const read_it = R"py(
import sys
from prometheus_client.parser import text_string_to_metric_families
families = list(text_string_to_metric_families(open(sys.argv[1]).read()))
problems = [f.name + ": no TYPE" for f in families if f.type == "unknown"]
problems += [f.name + ": no HELP" for f in families if not f.documentation]
print("\n".join(problems) if problems else "ok %d families" % len(families))
)py";
    const auto parsed = run_process({"/usr/bin/python3", "-c", read_it, path});
    std::remove(path.c_str());
    return parsed.exit_code == 0 ? parsed.out : "unreadable: " + parsed.err;
}

/// `document` with the objects keyed by data (a book, a currency) under `data_keyed` turned into
/// arrays of their values: their keys are not field names, the names inside them are.
Json without_data_keys(const Json& document, const Names& data_keyed)
{
    if (document.is_array()) {
        Json out = Json::array();
        for (const auto& item : document) out.push_back(without_data_keys(item, data_keyed));
        return out;
    }
    if (!document.is_object()) return document;
    Json out = Json::object();
    for (const auto& [key, value] : document.items()) {
        if (data_keyed.count(key) && value.is_object()) {
            Json values = Json::array();
            for (const auto& [data, item] : value.items()) values.push_back(without_data_keys(item, data_keyed));
            out[key] = std::move(values);
        } else {
            out[key] = without_data_keys(value, data_keyed);
        }
    }
    return out;
}

/// The names of `document` (and `extra_names`) docs/output-names.md does not list, as one line.
std::string unlisted(const Json& document, const std::vector<std::string>& extra_names = {})
{
    std::string text;
    for (const auto& name : unlisted_output_names(document, extra_names)) text += (text.empty() ? "" : " ") + name;
    return text;
}

/// "check kind" of every listed variance of a run document.
Names kinds_of(const Json& run)
{
    Names kinds;
    for (const auto& check : run["checks"]) {
        for (const auto& variance : check["variances"]) {
            kinds.insert(check["check_name"].get<std::string>() + " " + variance["kind"].get<std::string>());
        }
    }
    return kinds;
}

/// The variance key names a run document uses.
Names key_names_of(const Json& run)
{
    Names names;
    for (const auto& check : run["checks"]) {
        for (const auto& variance : check["variances"]) {
            for (const auto& [name, value] : variance["keys"].items()) names.insert(name);
        }
    }
    return names;
}

/// Digits after the point of a decimal text.
std::size_t scale_of(const std::string& text)
{
    const auto point = text.find('.');
    return point == std::string::npos ? 0 : text.size() - point - 1;
}

/// The variances whose figures do not share one scale, as "check kind expected/actual/difference".
std::vector<std::string> mixed_scales(const Json& run)
{
    std::vector<std::string> mixed;
    for (const auto& check : run["checks"]) {
        for (const auto& variance : check["variances"]) {
            std::set<std::size_t> scales;
            std::string figures;
            for (const char* figure : {"expected", "actual", "difference"}) {
                const auto& value = variance[figure];
                figures += "/" + value.dump();
                if (value.is_string()) scales.insert(scale_of(value.get<std::string>()));
            }
            if (scales.size() > 1) mixed.push_back(check["check_name"].get<std::string>() + " " + figures);
        }
    }
    return mixed;
}

/// The one variance of `run` with this check and kind whose keys include `keys`.
const Json& variance_of(const Json& run, const std::string& check_name, const std::string& kind, const Json& keys)
{
    for (const auto& check : run["checks"]) {
        if (check["check_name"] != check_name) continue;
        for (const auto& variance : check["variances"]) {
            bool matches = variance["kind"] == kind;
            for (const auto& [key, value] : keys.items()) matches = matches && variance["keys"].value(key, "") == value;
            if (matches) return variance;
        }
    }
    throw std::runtime_error("no variance " + check_name + " " + kind + " " + keys.dump());
}

/// "expected actual difference" of a variance, null as "null".
std::string figures(const Json& variance)
{
    std::string text;
    for (const char* figure : {"expected", "actual", "difference"}) {
        const auto& value = variance[figure];
        text += (text.empty() ? "" : " ") + (value.is_string() ? value.get<std::string>() : std::string("null"));
    }
    return text;
}

/// The words of a text table's header line.
std::vector<std::string> header_words(const std::string& table)
{
    std::istringstream in(table.substr(0, table.find('\n')));
    std::vector<std::string> words;
    for (std::string word; in >> word;) words.push_back(word);
    return words;
}

/// The column names of a CSV export's header line.
std::vector<std::string> csv_header(const std::string& csv)
{
    std::istringstream in(csv.substr(0, csv.find_first_of("\r\n")));
    std::vector<std::string> names;
    for (std::string name; std::getline(in, name, ',');) names.push_back(name);
    return names;
}

/// A set of names as one line, for messages.
std::string joined(const Names& names)
{
    std::string text;
    for (const auto& name : names) text += (text.empty() ? "" : " ") + name;
    return text;
}

/// The label names a Prometheus text exposition uses.
Names label_names(const std::string& exposition)
{
    Names labels;
    const std::regex label(R"([{,]([a-z_]+)=")");
    for (auto it = std::sregex_iterator(exposition.begin(), exposition.end(), label); it != std::sregex_iterator();
         ++it) {
        labels.insert((*it)[1]);
    }
    return labels;
}

/// The names on docs/output-names.md's "Metric label names:" line.
Names documented_labels()
{
    const auto text = read_text_file(std::string(RECON_SOURCE_DIR) + "/docs/output-names.md");
    const auto at = text.find("\nMetric label names: ");
    REQUIRE(at != std::string::npos);
    const auto line = text.substr(at + 1, text.find('\n', at + 1) - at - 1);
    Names names;
    const std::regex code("`([a-z_]+)`");
    for (auto it = std::sregex_iterator(line.begin(), line.end(), code); it != std::sregex_iterator(); ++it) {
        names.insert((*it)[1]);
    }
    return names;
}

}  // namespace

TEST_CASE("real run documents of every category: breaks of every kind, listed names, valid, one scale per variance")
{
    auto& w = world();
    Names key_names;
    for (const auto& [category, run] : w.runs) {
        CAPTURE(category);
        CHECK(joined(kinds_of(run)) == joined(every_kind.at(category)));
        CHECK(unlisted(run) == "");
        CHECK(schema_errors(run.dump(), "run-output.schema.json") == "");
        CHECK(mixed_scales(run).empty());
        const auto keys = key_names_of(run);
        key_names.insert(keys.begin(), keys.end());
    }
    // account_totals keys a break by `column`, snapshot_reconcile by `snapshot_id`: real key
    // names the table holds.
    CHECK(joined(key_names) ==
          "account column currency customer_id flow_id line_id snapshot_id source source_txn_id txn_id");
    CHECK(unlisted(Json::object(), {key_names.begin(), key_names.end()}) == "");

    // The zero sides: "0.00" beside the other side's figure, never "0".
    const auto& a = w.runs['A'];
    const auto& b = w.runs['B'];
    CHECK(figures(variance_of(a, "trial_balance_zero", "unbalanced_txn", {{"txn_id", "1101"}})) == "7.25 0.00 7.25");
    CHECK(figures(variance_of(a, "trial_balance_zero", "unbalanced_currency", {{"currency", "USD"}})) ==
          "758.75 751.50 7.25");
    CHECK(figures(variance_of(a, "dr_cr_sign_convention", "wrong_side_balance", {{"customer_id", "C002"}})) ==
          "0.00 -50.00 -50.00");
    CHECK(figures(variance_of(a, "dr_cr_sign_convention", "invalid_side", {{"line_id", "106"}})) == "null null null");
    CHECK(variance_of(a, "dr_cr_sign_convention", "invalid_side", {{"line_id", "106"}})["detail"] ==
          Json{{"side", "XX"}});
    CHECK(figures(variance_of(a, "dr_cr_sign_convention", "non_positive_amount", {{"line_id", "107"}})) ==
          "null 0 null");
    CHECK(figures(variance_of(b, "wallet_derivation", "wallet_without_lines", {{"customer_id", "C009"}})) ==
          "0.00 10.00 10.00");
    CHECK(figures(variance_of(b, "wallet_derivation", "wallet_mismatch", {{"customer_id", "C002"}})) ==
          "-50.00 250.00 300.00");
    CHECK(figures(variance_of(b, "wallet_derivation", "wallet_missing", {{"customer_id", "C003"}})) ==
          "36.73 null -36.73");
    CHECK(figures(variance_of(b, "account_totals", "account_totals_without_lines", {{"currency", "EUR"}})) ==
          "0.00 5.00 5.00");
    CHECK(variance_of(b, "account_totals", "account_totals_without_lines", {{"currency", "EUR"}})["detail"] ==
          Json{{"booked_lines", 0}, {"stored_debit_total", "0.00"}, {"stored_credit_total", "5.00"}});
    CHECK(variance_of(b, "account_totals", "account_totals_missing",
                      {{"account", "CUSTOMER_WALLET"}, {"currency", "AED"}})["detail"] ==
          Json{{"booked_lines", 1}, {"journal_debit_total", "0.00"}, {"journal_credit_total", "36.73"}});
    CHECK(figures(variance_of(b, "account_totals", "account_totals_mismatch",
                              {{"account", "BROKER_CASH"}, {"column", "debit_total"}})) == "357.25 350.00 -7.25");
    CHECK(figures(variance_of(b, "snapshot_reconcile", "snapshot_mismatch", {{"customer_id", "C002"}})) ==
          "0.00 5.00 5.00");
    CHECK(figures(variance_of(w.runs['C'], "gtn_ledger_recon", "amount_break", {{"customer_id", "C002"}})) ==
          "-50.00 250.00 -300.00");
    // trial_balance_zero's per-currency metrics: debits, credits and difference at one scale.
    for (const auto& check : a["checks"]) {
        if (check["check_name"] != "trial_balance_zero") continue;
        CHECK(check["metrics"]["currencies"] ==
              Json{{"AED", {{"debits", "36.73"}, {"credits", "36.73"}, {"difference", "0.00"}}},
                   {"USD", {{"debits", "758.75"}, {"credits", "751.50"}, {"difference", "7.25"}}}});
    }
    // A C run carries its brokers' health: names listed too (checked above with the document).
    CHECK(w.runs['C']["brokers"].size() == 2);
}

TEST_CASE("real alert payloads of those runs, and of a recovery, use only listed names")
{
    auto& w = world();
    // The four failing runs alerted (mode change: every check that went from ok to not ok).
    REQUIRE(w.receiver.wait_for_requests(1, std::chrono::seconds(5)));
    // A fixed flow and a D run: a recovery, with the break it resolved.
    w.uae.exec("UPDATE ledger.pending_flows SET status = 'completed' WHERE flow_id = 'F-2'");
    const auto before = w.receiver.requests().size();
    const auto fixed = reconcile_cli({"run", "--book", "uae", "--category", "D"}, env_for(w));
    REQUIRE_MESSAGE(fixed.exit_code == 0, fixed.err);
    REQUIRE(w.receiver.wait_for_requests(before + 1, std::chrono::seconds(5)));
    std::set<std::string> events;
    for (const auto& request : w.receiver.requests()) {
        const auto payload = Json::parse(request.body);
        CAPTURE(payload.dump());
        events.insert(payload["event"].get<std::string>() + " " + payload["check_name"].get<std::string>());
        CHECK(unlisted(payload) == "");
        CHECK(mixed_scales(
                  Json{{"checks", {{{"check_name", payload["check_name"]}, {"variances", payload["variances"]}}}}})
                  .empty());
    }
    CHECK(events.count("problem gtn_ledger_recon") == 1);
    CHECK(events.count("problem wallet_derivation") == 1);
    CHECK(events.count("recovered pending_flow_age") == 1);
    // Put the flow back for the cases after this one.
    w.uae.exec("UPDATE ledger.pending_flows SET status = 'pending' WHERE flow_id = 'F-2'");
}

TEST_CASE("real CLI listings: runs list and show, variances, trace and checks use only listed names")
{
    auto& w = world();
    const auto env = env_for(w);
    const auto cli = [&](std::vector<std::string> args) {
        const auto result = reconcile_cli(std::move(args), env);
        INFO(result.err);
        CHECK(result.exit_code == 0);
        return result.out;
    };
    const auto runs = Json::parse(cli({"runs", "list", "--book", "uae", "--output", "json"}));
    REQUIRE(runs.size() >= 4);
    CHECK(unlisted(runs) == "");
    CHECK(unlisted(Json::object(), header_words(cli({"runs", "list", "--book", "uae"}))) == "");
    CHECK(unlisted(Json::object(), csv_header(cli({"runs", "list", "--output", "csv"}))) == "");

    const std::string b_run = std::to_string(w.runs['B']["run_id"].get<std::int64_t>());
    const auto shown = cli({"runs", "show", b_run, "--book", "uae", "--output", "json"});
    CHECK(schema_errors(shown, "run-output.schema.json") == "");
    CHECK(unlisted(Json::parse(shown)) == "");
    CHECK(mixed_scales(Json::parse(shown)).empty());

    const auto history = Json::parse(cli({"variances", "--book", "uae", "--output", "json"}));
    REQUIRE(history.size() >= 20);
    CHECK(unlisted(history) == "");
    for (const auto& entry : history) {
        CAPTURE(entry.dump());
        CHECK(mixed_scales(Json{{"checks", {{{"check_name", entry["check_name"]}, {"variances", {entry["last"]}}}}}})
                  .empty());
    }
    CHECK(unlisted(Json::object(), header_words(cli({"variances", "--book", "uae"}))) == "");
    CHECK(unlisted(Json::object(), header_words(cli({"variances", "--book", "uae", "--open"}))) == "");
    CHECK(unlisted(Json::object(), csv_header(cli({"variances", "--book", "uae", "--output", "csv"}))) == "");

    // The trace of the one-line transaction: its lines (`account`, as in variance keys), totals
    // and the variances naming it.
    const auto trace_text = cli({"trace", "--book", "uae", "--txn", "1101", "--output", "json"});
    CHECK(schema_errors(trace_text, "trace-output.schema.json") == "");
    const auto trace = Json::parse(trace_text);
    REQUIRE(trace["transactions"].size() == 1);
    CHECK(trace["transactions"][0]["lines"][0] == Json{{"line_id", "101"},
                                                       {"account", "BROKER_CASH"},
                                                       {"customer_id", nullptr},
                                                       {"side", "DR"},
                                                       {"amount", "7.25"},
                                                       {"currency", "USD"}});
    CHECK(trace["transactions"][0]["totals"] ==
          Json{{"USD", {{"debits", "7.25"}, {"credits", "0.00"}, {"difference", "7.25"}}}});
    CHECK(trace["variances"].size() == 2);  // unbalanced_txn and too_few_lines
    CHECK(unlisted(without_data_keys(trace, {"totals"})) == "");

    CHECK(unlisted(Json::parse(cli({"checks", "--output", "json"}))) == "");
}

TEST_CASE("real serve replies: /healthz, /readyz, the API and the metric labels use only listed names")
{
    auto& w = world();
    ServeProcess server(env_for(w));
    const int port = server.port();
    const auto get = [&](const std::string& path) {
        const auto reply = http_get(port, path, read_headers());
        INFO(path << ": " << reply.body);
        CHECK(reply.status == 200);
        return reply;
    };
    CHECK(unlisted(get("/healthz").json()) == "");
    const auto ready = get("/readyz").json();
    CHECK(ready["books"]["uae"] == Json{{"up", true}});
    CHECK(unlisted(without_data_keys(ready, {"books"})) == "");

    CHECK(unlisted(get("/v1/reconciliation/runs?book=uae").json()) == "");
    const std::string b_run = std::to_string(w.runs['B']["run_id"].get<std::int64_t>());
    const auto run = get("/v1/reconciliation/runs/" + b_run + "?book=uae");
    CHECK(schema_errors(run.body, "run-output.schema.json") == "");
    CHECK(unlisted(run.json()) == "");
    const auto variances = get("/v1/reconciliation/variances?book=uae&state=open").json();
    REQUIRE(variances["variances"].size() >= 20);
    CHECK(unlisted(variances) == "");
    const auto trace = get("/v1/reconciliation/trace?book=uae&txn=1101");
    CHECK(schema_errors(trace.body, "trace-output.schema.json") == "");
    CHECK(trace.json()["transactions"][0]["lines"][0]["account"] == "BROKER_CASH");
    CHECK(unlisted(without_data_keys(trace.json(), {"totals"})) == "");
    CHECK(unlisted(get("/v1/reconciliation/daily?book=uae").json()) == "");

    // An error reply, a run started over the API, an acknowledgement and its end.
    const auto refused = http_get(port, "/v1/reconciliation/runs?book=nope", read_headers());
    CHECK(refused.status == 400);
    CHECK(unlisted(refused.json()) == "");
    const auto started =
        http_post(port, "/v1/reconciliation/run", admin_headers(), R"({"book":"india","category":"D"})");
    REQUIRE_MESSAGE(started.status == 200, started.body);
    CHECK(unlisted(started.json()) == "");
    const std::string fingerprint = variances["variances"][0]["fingerprint"];
    const std::string path = "/v1/reconciliation/variances/" + fingerprint;
    const auto acked = http_post(port, path + "/ack", admin_headers(), R"({"book":"uae","class":"data","note":"n"})");
    REQUIRE_MESSAGE(acked.status == 200, acked.body);
    CHECK(unlisted(acked.json()) == "");
    const auto unacked = http_post(port, path + "/unack", admin_headers(), R"({"book":"uae"})");
    REQUIRE_MESSAGE(unacked.status == 200, unacked.body);
    CHECK(unlisted(unacked.json()) == "");

    // The metric labels of a real /metrics with runs, checks and broker health: exactly the
    // documented line, and each a row of the table.
    const std::string metrics = get("/metrics").body;
    // Every family the body declares is read back whole.
    std::size_t declared = 0;
    for (std::size_t at = metrics.find("# TYPE "); at != std::string::npos; at = metrics.find("# TYPE ", at + 1)) {
        ++declared;
    }
    CHECK(declared > 20);
    CHECK(exposition_problems(metrics) == "ok " + std::to_string(declared) + " families\n");
    const auto labels = label_names(metrics);
    CHECK(joined(labels) == "book broker category check_name contract kind stat status version");
    CHECK(joined(labels) == joined(documented_labels()));
    CHECK(unlisted(Json::object(), {labels.begin(), labels.end()}) == "");
}

TEST_CASE("real run documents of A, B and D in one snapshot: a valid document per run, the breaks of each alone")
{
    auto& w = world();
    const auto result = reconcile_cli({"run", "--book", "uae", "--category", "A,B,D", "--output", "json"}, env_for(w));
    INFO(result.err);
    REQUIRE(result.exit_code == 1);
    // One document per run, in the order asked, as a stream (what `jq` reads).
    std::istringstream stream(result.out);
    std::vector<Json> runs;
    while ((stream >> std::ws).peek() != std::char_traits<char>::eof()) {
        Json run;
        stream >> run;
        runs.push_back(std::move(run));
    }
    REQUIRE(runs.size() == 3);
    const std::string categories = "ABD";
    for (std::size_t i = 0; i < runs.size(); ++i) {
        const char category = categories[i];
        CAPTURE(category);
        CHECK(runs[i]["category"] == std::string(1, category));
        CHECK(runs[i]["started_at"] == runs[0]["started_at"]);
        CHECK(joined(kinds_of(runs[i])) == joined(every_kind.at(category)));
        CHECK(unlisted(runs[i]) == "");
        CHECK(schema_errors(runs[i].dump(), "run-output.schema.json") == "");
        CHECK(mixed_scales(runs[i]).empty());
    }
}
