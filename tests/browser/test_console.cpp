// The console page in a real browser (label `browser`): `reconcile serve` on the demo's ledgers
// (scripts/demo-data), headless Chromium over the DevTools protocol, assertions on the rendered
// DOM, an acknowledgement made by clicking through the page, and a screenshot as an artifact.

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include <sstream>

#include "checks/registry.hpp"
#include "tests/browser/cdp.hpp"
#include "tests/db/broker_fixture.hpp"
#include "tests/e2e/serve_fixture.hpp"
#include "tests/support/cli.hpp"
#include "tests/support/fake_broker.hpp"
#include "tests/support/webhook_receiver.hpp"

namespace reconcile::test {
namespace {

const std::filesystem::path demo_data = std::filesystem::path(RECON_SOURCE_DIR) / "scripts" / "demo-data";

/// Both books as scripts/demo loads them (ledger-side breaks only: category C needs brokers),
/// plus one pending flow whose id is markup, which the page must show as text.
Books& demo_books()
{
    Books& books = clean_books();
    for (BookDb* db : {&books.uae, &books.india}) db->reset();
    books.uae.psql_file(demo_data / "ledger.sql", {"prefix=AE", "broker=GTN"});
    books.india.psql_file(demo_data / "ledger.sql", {"prefix=IN", "broker=VIEWTRADE"});
    books.india.psql_file(demo_data / "lrs-india.sql");
    books.uae.psql_file(demo_data / "breaks-uae.sql");
    books.india.psql_file(demo_data / "breaks-india.sql");
    books.uae.exec(
        "INSERT INTO ledger.pending_flows (flow_id, flow_type, customer_id, amount, currency, status, created_at)"
        " VALUES ('<img id=pwned src=x>', 'cash_request', 'AE-C012', 10.00, 'USD', 'pending', now() - interval '9 "
        "days')");
    return books;
}

std::string js_string(const std::string& text)
{
    return nlohmann::json(text).dump();
}

/// The page's headless browser (fails the test, never skips, when Chromium is absent).
std::unique_ptr<Chromium> start_browser(const std::string& name)
{
    const auto chromium = find_chromium();
    REQUIRE_MESSAGE(chromium.has_value(),
                    "Chromium is not installed: the browser test needs it (scripts/setup installs Debian's chromium, "
                    "or set RECON_CHROMIUM)");
    const auto profile = std::filesystem::path(RECON_BUILD_DIR) / "browser-artifacts" / name;
    std::filesystem::remove_all(profile);
    return std::make_unique<Chromium>(*chromium, profile);
}

/// The lines of a CLI's output.
std::vector<std::string> lines_of(const std::string& text)
{
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

}  // namespace

TEST_CASE("console: tiles, open breaks, charts, a trace and an ack made in headless Chromium")
{
    auto browser_handle = start_browser("profile");
    Chromium& browser = *browser_handle;

    Books& books = demo_books();
    const auto env = book_env(books);
    for (const std::string book : {"uae", "india"}) {
        for (const std::string category : {"A", "B", "D"}) {
            const auto run = reconcile_cli({"run", "--book", book, "--category", category}, env);
            REQUIRE_MESSAGE((run.exit_code == 0 || run.exit_code == 1), run.err);
        }
    }
    const int open_breaks =
        std::stoi(books.uae.query_value("SELECT count(*) FROM recon.variance_fingerprints WHERE status = 'open'")) +
        std::stoi(books.india.query_value("SELECT count(*) FROM recon.variance_fingerprints WHERE status = 'open'"));
    REQUIRE(open_breaks >= 5);
    // The unbalanced deposit the demo plants (breaks-uae.sql): the first check that names it.
    const std::string check_name = books.uae.query_value(
        "SELECT min(check_name) FROM recon.variance_fingerprints WHERE status = 'open' AND keys->>'txn_id' = '900001'");
    REQUIRE(check_name == "trial_balance_zero");
    const std::string fingerprint =
        books.uae.query_value("SELECT fingerprint FROM recon.variance_fingerprints WHERE check_name = '" + check_name +
                              "' AND keys->>'txn_id' = '900001'");
    REQUIRE(fingerprint.size() == 32);

    ServeProcess serve(env);
    const std::string base = "http://127.0.0.1:" + std::to_string(serve.port());

    // The page itself is served open, with a strict policy.
    const auto page = http_get(serve.port(), "/");
    REQUIRE(page.status == 200);
    CHECK(page.headers.find("Content-Security-Policy")->second ==
          "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
          "base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    CHECK(page.body.find("<script src=\"/console.js\" defer></script>") != std::string::npos);
    CHECK(page.body.find("<script>") == std::string::npos);

    browser.navigate(base + "/#token=" + admin_token);
    REQUIRE_MESSAGE(browser.wait_for("document.body && document.body.dataset.loaded"), browser.log());

    // The token left the URL for sessionStorage.
    CHECK(browser.evaluate("location.href") == base + "/");
    CHECK(browser.evaluate("sessionStorage.getItem('reconcile.token')") == admin_token);
    CHECK(browser.evaluate("document.cookie") == "");

    // Tiles: both books, four categories each; C never ran.
    CHECK(browser.evaluate("document.querySelectorAll('.tile').length") == 8);
    CHECK(browser.evaluate("[...document.querySelectorAll('section.book h2')].map(h => h.textContent).join()") ==
          "Book india,Book uae");
    for (const std::string book : {"uae", "india"}) {
        for (const std::string category : {"A", "B", "D"}) {
            const std::string status = (book == "uae" ? books.uae : books.india)
                                           .query_value("SELECT status FROM recon.runs WHERE category = '" + category +
                                                        "' ORDER BY run_id DESC LIMIT 1");
            CHECK(browser.evaluate("document.querySelector('.tile[data-book=" + book + "][data-category=" + category +
                                   "] .tile-status').textContent") == status);
        }
        CHECK(browser.evaluate("document.querySelector('.tile[data-book=" + book +
                               "][data-category=C] .tile-status').textContent") == "no run");
    }
    CHECK(browser.evaluate(
              "document.querySelector('.tile[data-book=uae][data-category=A] .tile-status').textContent") == "fail");

    // Every open break is listed, with its keys as text (markup stays text).
    CHECK(browser.evaluate("document.querySelectorAll('tr.variance-row').length") == open_breaks);
    CHECK(browser.evaluate("document.getElementById('pwned') === null") == true);
    CHECK(browser.evaluate("[...document.querySelectorAll('td.keys')].some(td => td.textContent === "
                           "'currency=USD customer_id=AE-C012 flow_id=<img id=pwned src=x>')") == true);
    const std::string row = "document.querySelector('tr[data-fingerprint=\"" + fingerprint + "\"]')";
    CHECK(browser.evaluate(row + ".querySelector('td.keys').textContent") == "currency=USD txn_id=900001");
    CHECK(browser.evaluate(row + ".querySelector('td.ack').textContent") == "unacknowledged");

    // Once loaded, the token form is out of sight.
    CHECK(browser.evaluate("getComputedStyle(document.getElementById('login')).display") == "none");

    // A 30-day chart per check that ran (A, B and D in each book), a bar for today's count and a
    // dot for its drift (the unbalanced transaction and the USD total: 900.00 each).
    const auto& registry = default_registry();
    const auto checks_ran = registry.select(Category::A, {}).size() + registry.select(Category::B, {}).size() +
                            registry.select(Category::D, {}).size();
    CHECK(browser.evaluate("document.querySelectorAll('svg.chart').length") == 2 * checks_ran);
    const std::string chart = "document.querySelector('figure[data-check=\"uae " + check_name + "\"]')";
    CHECK(browser.evaluate(chart + ".querySelector('rect.bar title').textContent") ==
          browser.evaluate("new Date().toISOString().slice(0, 10)").get<std::string>() +
              ": 2 variance(s), drift 1800.00");
    CHECK(browser.evaluate(chart + ".querySelectorAll('circle.drift-point').length") == 1);

    // A click on the break traces its transaction.
    browser.evaluate(row + ".click()");
    REQUIRE(
        browser.wait_for("[...document.querySelectorAll('#trace-body h3')].some(h => "
                         "h.textContent.startsWith('txn 900001 deposit posted'))"));
    // Its lines, each with the trace's field names (line 900002: the wallet's credit).
    CHECK(browser.evaluate("[...document.querySelectorAll('#trace-body table.lines tbody tr')].map(r => "
                           "[...r.cells].map(c => c.textContent).join(' ')).join('|')") ==
          "900001 BROKER_CASH AE-C007 DR 1000.00 USD|900002 CUSTOMER_WALLET AE-C007 CR 100.00 USD");

    // Acknowledge it through the page.
    browser.evaluate(row + ".querySelector('select').value = 'data'");
    browser.evaluate(row + ".querySelector('input').value = " + js_string("reverse 900001 <b>then</b> re-ingest"));
    browser.evaluate(row + ".querySelector('form button').click()");
    REQUIRE_MESSAGE(browser.wait_for(row + " && " + row + ".classList.contains('acknowledged')"),
                    browser.evaluate("document.getElementById('ack-message').textContent").dump());
    CHECK(browser.evaluate(row + ".querySelector('td.ack').textContent") ==
          "data reverse 900001 <b>then</b> re-ingest (api)");

    const auto listed = reconcile_cli({"variances", "--book", "uae", "--open", "--output", "csv"}, env);
    REQUIRE(listed.exit_code == 0);
    CHECK(listed.out.find("," + fingerprint + ",") != std::string::npos);
    CHECK(listed.out.find(",data,reverse 900001 <b>then</b> re-ingest,api,") != std::string::npos);

    // At 1280 CSS pixels, a laptop's width, every column and the acknowledgement form stay on
    // the page: nothing scrolls sideways.
    browser.send("Emulation.setDeviceMetricsOverride",
                 {{"width", 1280}, {"height", 1000}, {"deviceScaleFactor", 1}, {"mobile", false}});
    CHECK(browser.evaluate("document.documentElement.scrollWidth <= 1280") == true);
    CHECK(browser.evaluate("Math.max(...[...document.querySelectorAll('#variances th, #variances td')].map(c => "
                           "c.getBoundingClientRect().right)) <= 1280") == true);
    CHECK(browser.evaluate("[...document.querySelectorAll('form.ack-form button')].every(b => "
                           "b.getBoundingClientRect().right <= 1280)") == true);

    const auto artifacts = std::filesystem::path(RECON_BUILD_DIR) / "browser-artifacts";
    browser.screenshot(artifacts / "console.png");
    std::ifstream png(artifacts / "console.png", std::ios::binary);
    std::string signature(8, '\0');
    png.read(signature.data(), 8);
    CHECK(signature == "\x89PNG\r\n\x1a\n");
    CHECK(std::filesystem::file_size(artifacts / "console.png") > 20000);
    MESSAGE("screenshot: " << (artifacts / "console.png").string());
}

TEST_CASE(
    "done when (issue 15): serve --dev, the slow customer's fetch_error acked as timing on the page, the "
    "next C run quiet about it, the csv export with class and note")
{
    auto browser_handle = start_browser("profile-done-when");
    Chromium& browser = *browser_handle;

    // India as the category C tests have it: C001 is short at ViewTrade, C004's account answers
    // too slowly.
    Books& books = clean_books();
    // No break histories of the other test: exactly this scenario's breaks are open.
    for (BookDb* db : {&books.uae, &books.india}) db->exec("TRUNCATE recon.variance_fingerprints, recon.check_states");
    books.uae.exec(uae_broker_accounts_sql);
    books.india.exec(india_broker_accounts_sql);
    books.india.exec(
        "INSERT INTO ledger.broker_accounts (customer_id, broker, broker_account_ref) VALUES ('C004', 'VIEWTRADE', "
        "'V-004')");
    nlohmann::json fixture = clean_broker_fixture();
    fixture["viewtrade"]["accounts"]["V-001"]["positions"][0]["quantity"] = "0.25";  // a short position alerts on
    fixture["viewtrade"]["accounts"]["V-004"] = {{"cash", {{{"currency", "USD"}, {"amount", "10.00"}}}}};
    fixture["faults"] = {{{"broker", "viewtrade"}, {"account", "V-004"}, {"kind", "latency"}, {"ms", 3000}}};
    FakeBroker broker(fixture);
    WebhookReceiver webhook;
    auto env = book_env(books, broker.settings({{"RECON_BROKER_TIMEOUT_MS", "1000"},
                                                {"RECON_BROKER_RETRIES", "0"},
                                                {"INDIA_RECON_ENABLED", "true"},
                                                {"RECON_ALERT_MODE", "every"},
                                                {"ALERT_WEBHOOK_URL", webhook.url()}}));
    std::erase(env.unset_env, "ALERT_WEBHOOK_URL");

    // The UAE book has breaks of its own (category B), so the page shows both books' breaks.
    books.uae.exec(three_b_breaks_sql);
    REQUIRE(reconcile_cli({"run", "--book", "uae", "--category", "B"}, env).exit_code == 1);
    const auto first = reconcile_cli({"run", "--book", "india", "--category", "C"}, env);
    REQUIRE_MESSAGE(first.exit_code == 1, first.err);
    const std::string fetch_errors_sql =
        "FROM recon.variance_fingerprints WHERE kind = 'fetch_error' AND status = 'open' AND keys->>'customer_id' = "
        "'C004'";
    REQUIRE(books.india.query_value("SELECT count(*) " + fetch_errors_sql) == "3");
    const auto alerted_before = webhook.requests().size();
    REQUIRE(alerted_before == 6);  // three B checks of uae, three C checks of india
    std::size_t mentioned_before = 0;
    for (const auto& request : webhook.requests()) {
        if (request.body.find("fetch_error") != std::string::npos) ++mentioned_before;
    }
    REQUIRE(mentioned_before == 3);

    // `reconcile serve --dev` and the URL scripts/demo prints.
    ServeProcess serve(env, {"--dev"});
    const std::string base = "http://127.0.0.1:" + std::to_string(serve.port());
    browser.navigate(base + "/#token=localdev");
    REQUIRE_MESSAGE(browser.wait_for("document.body && document.body.dataset.loaded"), browser.log());
    // Both books' breaks on one page.
    CHECK(browser.evaluate("[...document.querySelectorAll('section.book h2')].map(h => h.textContent).join()") ==
          "Book india,Book uae");
    const int open_breaks =
        std::stoi(books.uae.query_value("SELECT count(*) FROM recon.variance_fingerprints WHERE status = 'open'")) +
        std::stoi(books.india.query_value("SELECT count(*) FROM recon.variance_fingerprints WHERE status = 'open'"));
    CHECK(open_breaks == 8);  // 3 in uae; in india the short position twice and C004 in each C check
    CHECK(browser.evaluate("document.querySelectorAll('tr.variance-row').length") == open_breaks);
    CHECK(browser.evaluate(
              "new Set([...document.querySelectorAll('tr.variance-row')].map(r => r.dataset.book)).size") == 2);

    // Each of the three checks' fetch_error of C004, acknowledged as timing with a note.
    const std::string note = "C004's ViewTrade account is slow; heals next cycle";
    const auto fingerprints = lines_of(
        books.india.query_value("SELECT string_agg(fingerprint, E'\\n' ORDER BY check_name) " + fetch_errors_sql));
    REQUIRE(fingerprints.size() == 3);
    for (const auto& fingerprint : fingerprints) {
        CAPTURE(fingerprint);
        const std::string row = "document.querySelector('tr[data-fingerprint=\"" + fingerprint + "\"]')";
        REQUIRE(browser.evaluate(row + " !== null") == true);
        CHECK(browser.evaluate(row + ".querySelector('td.keys').textContent") == "customer_id=C004");
        browser.evaluate(row + ".querySelector('select').value = 'timing'");
        browser.evaluate(row + ".querySelector('input').value = " + js_string(note));
        browser.evaluate(row + ".querySelector('form button').click()");
        REQUIRE_MESSAGE(browser.wait_for(row + " && " + row + ".classList.contains('acknowledged')"),
                        browser.evaluate("document.getElementById('ack-message').textContent").dump());
        CHECK(browser.evaluate(row + ".querySelector('td.ack').textContent") == "timing " + note + " (api)");
    }

    // The next C run lists them, flagged, counted as acknowledged, and alerts without them.
    const auto second = reconcile_cli({"run", "--book", "india", "--category", "C", "--output", "json"}, env);
    REQUIRE_MESSAGE(second.exit_code == 1, second.err);
    const auto run = nlohmann::json::parse(second.out);
    std::size_t flagged = 0;
    for (const auto& check : run["checks"]) {
        for (const auto& variance : check["variances"]) {
            if (variance["kind"] != "fetch_error") continue;
            ++flagged;
            CHECK(check["metrics"]["acknowledged"] == 1);
            CHECK(variance["acknowledgement"]["class"] == "timing");
            CHECK(variance["acknowledgement"]["note"] == note);
            CHECK(variance["acknowledgement"]["by"] == "api");
        }
    }
    CHECK(flagged == 3);
    const auto requests = webhook.requests();
    CHECK(requests.size() > alerted_before);
    for (std::size_t i = alerted_before; i < requests.size(); ++i) {
        CHECK(requests[i].body.find("fetch_error") == std::string::npos);
    }

    // The export: every one of them with its class and note (the note's apostrophe as is).
    const auto csv = reconcile_cli({"variances", "--book", "india", "--output", "csv"}, env);
    REQUIRE_MESSAGE(csv.exit_code == 0, csv.err);
    std::size_t exported = 0;
    for (const auto& line : lines_of(csv.out)) {
        if (line.find(",fetch_error,") == std::string::npos) continue;
        ++exported;
        CHECK(line.find(",timing," + note + ",api,") != std::string::npos);
    }
    CHECK(exported == 3);
    browser.screenshot(std::filesystem::path(RECON_BUILD_DIR) / "browser-artifacts" / "console-done-when.png");
}

TEST_CASE("console: a partial run's or one shard's ok never turns a failing tile green; the tile says it is newer")
{
    auto browser_handle = start_browser("profile-partial");
    Chromium& browser = *browser_handle;

    Books& books = clean_books();
    // Two A checks break; trial_balance_zero still passes (neither break touches the journal).
    books.uae.exec(
        "INSERT INTO ledger.transactions (txn_id, source, source_txn_id, customer_id, txn_type, status,"
        " effective_at) VALUES (3001, 'bank', 'DEP-1', 'C001', 'deposit', 'reversed', now()),"
        " (2001, 'bank', 'EMPTY-1', 'C001', 'deposit', 'posted', now())");
    // C001 is short at GTN: gtn_ledger_recon fails in C001's shard only.
    books.uae.exec(uae_broker_accounts_sql);
    nlohmann::json fixture = clean_broker_fixture();
    fixture["gtn"]["accounts"]["G-001"]["cash"][0]["balance"] = "40.00";
    FakeBroker broker(fixture);
    const auto env = book_env(books, broker.settings());
    const auto run_id = [&](const std::vector<std::string>& args, int exit_code) {
        auto argv = args;
        argv.insert(argv.end(), {"--output", "json"});
        const auto run = reconcile_cli(argv, env);
        REQUIRE_MESSAGE(run.exit_code == exit_code, run.err);
        return nlohmann::json::parse(run.out)["run_id"].get<std::int64_t>();
    };

    const auto full = run_id({"run", "--book", "uae", "--category", "A"}, 1);
    const auto partial = run_id({"run", "--book", "uae", "--category", "A", "--check", "trial_balance_zero"}, 0);
    const auto first = reconcile_cli({"run", "--book", "uae", "--category", "C", "--shard", "1/2"}, env);
    const auto second = reconcile_cli({"run", "--book", "uae", "--category", "C", "--shard", "2/2"}, env);
    REQUIRE(((first.exit_code == 1) != (second.exit_code == 1)));
    const std::string clean_shard = first.exit_code == 1 ? "2/2" : "1/2";
    const auto shard_ok = run_id({"run", "--book", "uae", "--category", "C", "--shard", clean_shard}, 0);

    ServeProcess serve(env);
    browser.navigate("http://127.0.0.1:" + std::to_string(serve.port()) + "/#token=" + read_token);
    REQUIRE_MESSAGE(browser.wait_for("document.body && document.body.dataset.loaded"), browser.log());
    const auto tile = [&](const std::string& category, const std::string& part) {
        return browser.evaluate("document.querySelector('.tile[data-book=uae][data-category=" + category + "] ." +
                                part + "')?.textContent ?? null");
    };
    CHECK(tile("A", "tile-status") == "fail");
    CHECK(browser.evaluate("document.querySelector('.tile[data-book=uae][data-category=A]').className") ==
          "tile status-fail");
    CHECK(browser.evaluate("[...document.querySelectorAll('.tile[data-book=uae][data-category=A] .tile-meta')]"
                           ".map(m => m.textContent)[1]") == "run " + std::to_string(full));
    CHECK(tile("A", "tile-note") ==
          "a partial run is newer: run " + std::to_string(partial) + " (ok) ran only trial_balance_zero");
    CHECK(tile("C", "tile-status") == "fail");
    CHECK(tile("C", "tile-note") ==
          "a shard run is newer: run " + std::to_string(shard_ok) + " (ok), shard " + clean_shard);
    CHECK(tile("B", "tile-status") == "no run");
    CHECK(tile("B", "tile-note") == nullptr);
    browser.screenshot(std::filesystem::path(RECON_BUILD_DIR) / "browser-artifacts" / "console-partial.png");
}

}  // namespace reconcile::test
