// Alerts and the variance history end to end: the real binary, a real PostgreSQL and a real HTTP
// receiver on loopback that accepts, fails, or never answers.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "lib/hash.hpp"
#include "tests/db/fixture.hpp"
#include "tests/support/process.hpp"
#include "tests/support/webhook_receiver.hpp"

using namespace reconcile;
using namespace reconcile::test;
using namespace std::chrono_literals;

namespace {

const BookDb& uae()
{
    static BookDb db("uae");
    db.reset();
    db.exec("TRUNCATE recon.variance_fingerprints, recon.check_states");
    db.exec(clean_ledger_sql);
    return db;
}

const char* const break_wallet = "UPDATE ledger.wallets SET balance = 40.00 WHERE customer_id = 'C001'";
const char* const repair_wallet = "UPDATE ledger.wallets SET balance = 48.50 WHERE customer_id = 'C001'";

/// The binary's environment for the book, alerting to `url` with `extra` settings.
ProcessOptions alert_env(const BookDb& db, const std::string& url, const std::map<std::string, std::string>& extra = {})
{
    ProcessOptions options;
    options.env = {{"RECON_BOOKS", "uae"}, {"RECON_DATABASE_URL_UAE", db.url()}, {"ALERT_WEBHOOK_URL", url}};
    for (const char* name : {"RECON_CONFIG", "ALERT_WEBHOOK_SECRET", "RECON_ALERT_MODE", "RECON_ALERT_TIMEOUT_MS"}) {
        if (extra.count(name) == 0) options.unset_env.emplace_back(name);
    }
    for (const auto& [key, value] : extra) options.env[key] = value;
    return options;
}

/// `reconcile <args>` against the book, alerting to `url` with `extra` settings.
ProcessResult reconcile_with(const BookDb& db, std::vector<std::string> args, const std::string& url,
                             const std::map<std::string, std::string>& extra = {})
{
    args.insert(args.begin(), reconcile_binary());
    return run_process(args, alert_env(db, url, extra));
}

ProcessResult run_b(const BookDb& db, const std::string& url, const std::map<std::string, std::string>& extra = {})
{
    return reconcile_with(db, {"run", "--book", "uae", "--category", "B", "--output", "json"}, url, extra);
}

}  // namespace

TEST_CASE("a failing check posts one signed alert whose payload matches the run")
{
    const auto& db = uae();
    WebhookReceiver receiver;
    db.exec(break_wallet);
    const auto result = run_b(db, receiver.url(), {{"ALERT_WEBHOOK_SECRET", "s3cret"}});
    CHECK(result.exit_code == 1);
    const auto run = nlohmann::json::parse(result.out);
    const auto requests = receiver.requests();
    REQUIRE(requests.size() == 1);  // only wallet_derivation failed
    const auto& request = requests[0];
    const auto payload = nlohmann::json::parse(request.body);
    CHECK(payload["version"] == 1);
    CHECK(payload["event"] == "problem");
    CHECK(payload["book"] == "uae");
    CHECK(payload["run_id"] == run["run_id"]);
    CHECK(payload["category"] == "B");
    CHECK(payload["check_name"] == "wallet_derivation");
    CHECK(payload["status"] == "fail");
    CHECK(payload["previous_status"] == nullptr);
    CHECK(payload["counts"]["variances_total"] == 1);
    CHECK(payload["counts"]["new"] == 1);
    REQUIRE(payload["variances"].size() == 1);
    CHECK(payload["variances"][0]["kind"] == "wallet_mismatch");
    CHECK(payload["variances"][0]["keys"]["customer_id"] == "C001");
    CHECK(payload["variances"][0]["difference"] == "-8.50");
    CHECK(payload["variances"][0]["state"] == "new");
    CHECK(payload["variances"][0]["fingerprint"] == run["checks"][0]["variances"][0]["fingerprint"]);
    CHECK(payload["summary"] ==
          "uae/B wallet_derivation FAIL: 1 variance(s) (1 new, 0 persisting, 0 reopened, "
          "0 resolved); first: wallet_mismatch customer_id=C001 account=CUSTOMER_WALLET "
          "currency=USD difference=-8.50");
    const std::string fingerprint = payload["variances"][0]["fingerprint"];
    CHECK(payload["dedup_key"] == to_hex(sha256("uae\x1fwallet_derivation\x1f"
                                                "fail\x1f" +
                                                fingerprint)));
    CHECK(request.headers.at("x-reconcile-dedup-key") == payload["dedup_key"]);
    CHECK(request.headers.at("x-reconcile-event") == "problem");
    const auto timestamp = request.headers.at("x-reconcile-timestamp");
    CHECK(request.headers.at("x-reconcile-signature") ==
          "sha256=" + hmac_sha256_hex("s3cret", timestamp + "." + request.body));
    const auto now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    CHECK(std::abs(now - std::stoll(timestamp)) < 60);
    CHECK(result.err.find("webhook: delivered 1 alert(s)") != std::string::npos);
}

TEST_CASE("mode change: nothing on an unchanged run, an alert on a new break and on the recovery")
{
    const auto& db = uae();
    WebhookReceiver receiver;
    db.exec(break_wallet);
    CHECK(run_b(db, receiver.url()).exit_code == 1);
    CHECK(receiver.requests().size() == 1);

    const auto unchanged = run_b(db, receiver.url());
    CHECK(unchanged.exit_code == 1);
    CHECK(receiver.requests().size() == 1);
    CHECK(webhook_lines(unchanged.err).empty());

    db.exec("UPDATE ledger.wallets SET balance = 200.00 WHERE customer_id = 'C002'");
    CHECK(run_b(db, receiver.url()).exit_code == 1);
    REQUIRE(receiver.requests().size() == 2);
    const auto grown = nlohmann::json::parse(receiver.requests()[1].body);
    CHECK(grown["counts"]["new"] == 1);
    CHECK(grown["counts"]["persisting"] == 1);
    CHECK(grown["previous_status"] == "fail");

    db.exec(repair_wallet);
    db.exec("UPDATE ledger.wallets SET balance = 250.00 WHERE customer_id = 'C002'");
    CHECK(run_b(db, receiver.url()).exit_code == 0);
    REQUIRE(receiver.requests().size() == 3);
    const auto recovered = nlohmann::json::parse(receiver.requests()[2].body);
    CHECK(recovered["event"] == "recovered");
    CHECK(recovered["status"] == "ok");
    CHECK(recovered["check_name"] == "wallet_derivation");
    CHECK(recovered["counts"]["resolved"] == 2);
    CHECK(recovered["resolved"].size() == 2);
    CHECK(recovered["variances"].empty());

    CHECK(run_b(db, receiver.url()).exit_code == 0);
    CHECK(receiver.requests().size() == 3);
}

TEST_CASE("mode every: the same break alerts on every run")
{
    const auto& db = uae();
    WebhookReceiver receiver;
    db.exec(break_wallet);
    for (int i = 0; i < 2; ++i) CHECK(run_b(db, receiver.url(), {{"RECON_ALERT_MODE", "every"}}).exit_code == 1);
    const auto requests = receiver.requests();
    REQUIRE(requests.size() == 2);
    CHECK(requests[0].headers.at("x-reconcile-dedup-key") == requests[1].headers.at("x-reconcile-dedup-key"));
    CHECK(nlohmann::json::parse(requests[1].body)["variances"][0]["state"] == "persisting");
}

TEST_CASE("a receiver that accepts and never answers: the run ends within the deadline with its normal exit code")
{
    const auto& db = uae();
    // Three failing checks: three alerts share one deadline.
    db.exec(three_b_breaks_sql);
    const auto hung =
        run_with_hung_webhook({"run", "--book", "uae", "--category", "B", "--output", "json"}, alert_env(db, ""), 1000);
    CHECK(hung.result.exit_code == 1);
    CHECK(hung.elapsed < 1000ms + 2s);
    CHECK(hung.connections == 3);
    const auto lines = webhook_lines(hung.result.err);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].find("reconcile: warn: webhook: 3 of 3 alert(s) of run ") == 0);
    CHECK(lines[0].find("wallet_derivation: no answer within the alert deadline of 1000 ms") != std::string::npos);
    // The results were committed before the alerts went out.
    CHECK(db.query_value("SELECT status FROM recon.runs") == "fail");
    CHECK(nlohmann::json::parse(hung.result.out)["status"] == "fail");
}

TEST_CASE("a receiver answering 500: one log line, exit code unchanged, and the alert is tried again next run")
{
    const auto& db = uae();
    WebhookReceiver receiver(WebhookReceiver::Behaviour::fail);
    db.exec(break_wallet);
    const auto result = run_b(db, receiver.url());
    CHECK(result.exit_code == 1);
    const auto lines = webhook_lines(result.err);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].find("not delivered: wallet_derivation: webhook answered HTTP 500") != std::string::npos);
    CHECK(lines[0].find(receiver.url()) == std::string::npos);  // the URL may carry a token: never logged
    // Not delivered, so mode `change` sends it again on the next (unchanged) run.
    CHECK(run_b(db, receiver.url()).exit_code == 1);
    CHECK(receiver.requests().size() == 2);
}

TEST_CASE("a warn check alerts too, and the exit code follows --fail-on as without alerts")
{
    const auto& db = uae();
    WebhookReceiver receiver;
    db.exec(
        "INSERT INTO ledger.pending_flows VALUES ('F-9', 'cash_request', 'C001', 1, 'USD', 'pending',"
        " now() - interval '30 hours', NULL, NULL)");
    CHECK(reconcile_with(db, {"run", "--book", "uae", "--category", "D"}, receiver.url()).exit_code == 0);
    REQUIRE(receiver.requests().size() == 1);
    CHECK(nlohmann::json::parse(receiver.requests()[0].body)["status"] == "warn");
}

TEST_CASE("reconcile variances tells a break's story: new, persisting since its first run, resolved")
{
    const auto& db = uae();
    WebhookReceiver receiver;
    const auto variances = [&](std::vector<std::string> extra = {}) {
        std::vector<std::string> args{"variances", "--book", "uae", "--output", "json"};
        args.insert(args.end(), extra.begin(), extra.end());
        const auto result = reconcile_with(db, args, receiver.url());
        REQUIRE_MESSAGE(result.exit_code == 0, result.err);
        return nlohmann::json::parse(result.out);
    };
    CHECK(variances().empty());

    db.exec(break_wallet);
    const auto first = nlohmann::json::parse(run_b(db, receiver.url()).out)["run_id"].get<std::int64_t>();
    auto story = variances();
    REQUIRE(story.size() == 1);
    CHECK(story[0]["state"] == "new");
    CHECK(story[0]["check_name"] == "wallet_derivation");
    CHECK(story[0]["kind"] == "wallet_mismatch");
    CHECK(story[0]["keys"]["customer_id"] == "C001");
    CHECK(story[0]["first_seen_run"] == first);

    const auto second = nlohmann::json::parse(run_b(db, receiver.url()).out)["run_id"].get<std::int64_t>();
    story = variances({"--open"});
    REQUIRE(story.size() == 1);
    CHECK(story[0]["state"] == "persisting");
    CHECK(story[0]["occurrences"] == 2);
    CHECK(story[0]["first_seen_run"] == first);
    CHECK(story[0]["open_since_run"] == first);
    CHECK(story[0]["last_seen_run"] == second);
    CHECK(story[0]["last"]["difference"] == "-8.50");

    db.exec(repair_wallet);
    const auto third = nlohmann::json::parse(run_b(db, receiver.url()).out)["run_id"].get<std::int64_t>();
    story = variances({"--check", "wallet_derivation"});
    REQUIRE(story.size() == 1);
    CHECK(story[0]["state"] == "resolved");
    CHECK(story[0]["status"] == "resolved");
    CHECK(story[0]["resolved_run"] == third);
    CHECK(story[0]["first_seen_run"] == first);
    CHECK(story[0]["occurrences"] == 2);
    CHECK(variances({"--open"}).empty());
    CHECK(variances({"--resolved"}).size() == 1);

    const auto text = reconcile_with(db, {"variances"}, receiver.url());
    CHECK(text.exit_code == 0);
    // A table: a header of docs/output-names.md names, then one row per break.
    CHECK(text.out.find("state     book  check_name         kind             keys") == 0);
    CHECK(text.out.find("\nresolved  uae   wallet_derivation  wallet_mismatch  ") != std::string::npos);
    CHECK(text.out.find("1 break(s): 1 resolved") != std::string::npos);

    CHECK(reconcile_with(db, {"variances", "--open", "--resolved"}, receiver.url()).exit_code == 64);
    CHECK(reconcile_with(db, {"variances", "--check", "no_such_check"}, receiver.url()).exit_code == 64);
    CHECK(reconcile_with(db, {"variances", "--book", "emea"}, receiver.url()).exit_code == 64);
}
