// The console page in a real browser (label `browser`): `reconcile serve` on the demo's ledgers
// (scripts/demo-data), headless Chromium over the DevTools protocol, assertions on the rendered
// DOM, an acknowledgement made by clicking through the page, and a screenshot as an artifact.

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "tests/browser/cdp.hpp"
#include "tests/e2e/serve_fixture.hpp"
#include "tests/support/cli.hpp"

namespace reconcile::test {
namespace {

const std::filesystem::path demo_data = std::filesystem::path(RECON_SOURCE_DIR) / "scripts" / "demo-data";

void psql_file(const BookDb& db, const std::filesystem::path& file, const std::vector<std::string>& variables = {})
{
    std::vector<std::string> argv{"psql", "-q", "-X", db.url(), "-v", "ON_ERROR_STOP=1"};
    for (const auto& variable : variables) argv.insert(argv.end(), {"-v", variable});
    argv.insert(argv.end(), {"-f", file.string()});
    const auto result = run_process(argv, ProcessOptions{.env = {{"PGOPTIONS", "-c client_min_messages=warning"}}});
    REQUIRE_MESSAGE(result.exit_code == 0, file.string() << ": " << result.err);
}

/// Both books as scripts/demo loads them (ledger-side breaks only: category C needs brokers),
/// plus one pending flow whose id is markup, which the page must show as text.
Books& demo_books()
{
    Books& books = clean_books();
    for (BookDb* db : {&books.uae, &books.india}) db->reset();
    psql_file(books.uae, demo_data / "ledger.sql", {"prefix=AE", "broker=GTN"});
    psql_file(books.india, demo_data / "ledger.sql", {"prefix=IN", "broker=VIEWTRADE"});
    psql_file(books.india, demo_data / "lrs-india.sql");
    psql_file(books.uae, demo_data / "breaks-uae.sql");
    psql_file(books.india, demo_data / "breaks-india.sql");
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

}  // namespace

TEST_CASE("console: tiles, open breaks, charts, a trace and an ack made in headless Chromium")
{
    const auto chromium = find_chromium();
    REQUIRE_MESSAGE(chromium.has_value(),
                    "Chromium is not installed: the browser test needs it (scripts/setup installs Debian's chromium, "
                    "or set RECON_CHROMIUM)");

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

    const auto profile = std::filesystem::path(RECON_BUILD_DIR) / "browser-artifacts" / "profile";
    std::filesystem::remove_all(profile);
    Chromium browser(*chromium, profile);
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

    // A 30-day chart per check that ran (8 per book: four A, three B, one D), a bar for today's count
    // and a dot for its drift (the unbalanced transaction and the USD total: 900.00 each).
    CHECK(browser.evaluate("document.querySelectorAll('svg.chart').length") == 16);
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

    const auto artifacts = std::filesystem::path(RECON_BUILD_DIR) / "browser-artifacts";
    browser.screenshot(artifacts / "console.png");
    std::ifstream png(artifacts / "console.png", std::ios::binary);
    std::string signature(8, '\0');
    png.read(signature.data(), 8);
    CHECK(signature == "\x89PNG\r\n\x1a\n");
    CHECK(std::filesystem::file_size(artifacts / "console.png") > 20000);
    MESSAGE("screenshot: " << (artifacts / "console.png").string());
}

}  // namespace reconcile::test
