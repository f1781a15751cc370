// One thing, one name (issue 17 item 10): every field name of an output must be in
// docs/output-names.md. Here, without a database: documents built by the output code from
// hand-made reports (every optional field present), the text tables' headers and the export
// columns. tests/e2e/test_output_names.cpp holds the real outputs of real runs to the same table.
#include <doctest/doctest.h>

#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "lib/alerts.hpp"
#include "lib/export.hpp"
#include "lib/lifecycle.hpp"
#include "lib/metrics.hpp"
#include "lib/output.hpp"
#include "tests/support/markdown.hpp"

using namespace reconcile;
using reconcile::test::output_names;
using reconcile::test::unlisted_output_names;

namespace {

/// A partial, sharded, failing run with a variance and a check that ended error: every field
/// of the run document is present.
RunReport full_featured_run()
{
    RunReport report;
    report.run_id = 42;
    report.book = "india";
    report.category = Category::C;
    report.shard = Shard{.index = 1, .count = 2};
    report.scope = RunScope::partial;
    report.checks_requested = {"viewtrade_holdings_recon"};
    report.status = RunStatus::fail;
    report.started_at = parse_utc("2026-12-02T04:50:00.000Z").value();
    report.finished_at = report.started_at;
    report.error = "example";
    CheckResult check;
    check.check_name = "viewtrade_holdings_recon";
    check.category = Category::C;
    check.status = CheckStatus::fail;
    check.variances.push_back(Variance{.kind = "mismatch",
                                       .keys = {{"customer_id", "C001"}, {"symbol", "AAPL"}},
                                       .expected = "2",
                                       .actual = "1",
                                       .difference = "1"});
    check.variances.push_back(Variance{.kind = "fetch_error", .keys = {{"customer_id", "C004"}}});
    check.variances_total = 2;
    finalize_variances(check);
    // The second one acknowledged (issue 15): the run document flags it.
    check.variances[1].acknowledgement = Acknowledgement{.variance_class = VarianceClass::timing,
                                                         .note = "slow account",
                                                         .by = "alice",
                                                         .at = report.started_at,
                                                         .until = report.started_at};
    report.checks.push_back(check);
    return report;
}

/// The words of a text table's header line.
std::vector<std::string> header_words(const std::string& table)
{
    std::istringstream in(table.substr(0, table.find('\n')));
    std::vector<std::string> words;
    for (std::string word; in >> word;) words.push_back(word);
    return words;
}

}  // namespace

TEST_CASE("the naming table is not empty and holds the names chosen once")
{
    const auto names = output_names();
    CHECK(names.size() > 100);
    CHECK(names.count("check_name") == 1);
    CHECK(names.count("quantity_dust") == 1);
    CHECK(names.count("scope") == 1);
    // The names turned down are not in it.
    CHECK(names.count("check") == 0);
    CHECK(names.count("name") == 0);
    CHECK(names.count("dust") == 0);
    CHECK(names.count("account_code") == 0);  // an account is `account`, in variance keys and the trace
}

TEST_CASE("run JSON, runs list and the text tables use only names of docs/output-names.md")
{
    const auto report = full_featured_run();
    CHECK(unlisted_output_names(run_report_to_json(report)).empty());
    const auto runs_header = header_words(render_runs_table({report}));
    CHECK(runs_header.size() == 14);
    CHECK(unlisted_output_names(nlohmann::json::object(), runs_header).empty());

    VarianceHistory history{.book = "india", .check_name = "viewtrade_holdings_recon", .kind = "mismatch"};
    history.keys = {{"customer_id", "C001"}, {"symbol", "AAPL"}};
    history.resolved_run = 44;
    history.resolved_at = report.started_at;
    history.detail = nlohmann::json::object();
    history.acknowledgement = report.checks[0].variances[1].acknowledgement;
    CHECK(unlisted_output_names(variance_history_to_json(history)).empty());
    const auto variances_header = header_words(render_variance_history_table({history}));
    CHECK(variances_header.size() == 13);
    CHECK(unlisted_output_names(nlohmann::json::object(), variances_header).empty());
    const auto open_header = header_words(render_open_variances_table({history}, report.started_at));
    CHECK(open_header == std::vector<std::string>{"book", "check_name", "kind", "keys", "difference", "first_seen_at",
                                                  "age", "occurrences", "class", "note", "by", "fingerprint"});
    CHECK(unlisted_output_names(nlohmann::json::object(), open_header).empty());
    // The csv/jsonl exports' columns, the India reports' included.
    CHECK(unlisted_output_names(nlohmann::json::object(), variance_history_columns()).empty());
    CHECK(unlisted_output_names(nlohmann::json::object(), run_columns()).empty());
    for (const char* india : {"ledger-recon", "holdings-recon", "reconciliation"}) {
        CAPTURE(india);
        const auto table = india_report_records({{"report", india}, {"customers", nlohmann::json::array()}});
        CHECK(table.columns.size() >= 11);
        CHECK(unlisted_output_names(nlohmann::json::object(), table.columns).empty());
    }
}

TEST_CASE("the alert payload and the metric labels use only names of docs/output-names.md")
{
    const auto settings = load_settings({{"RECON_BOOKS", "india"}, {"RECON_ALERT_MODE", "every"}});
    const auto report = full_featured_run();
    RunChanges changes;
    CheckChanges check{.check_name = "viewtrade_holdings_recon"};
    check.states[report.checks[0].variances[0].fingerprint] = FingerprintState{.state = "new"};
    check.resolved.push_back(ResolvedVariance{.fingerprint = "f", .kind = "mismatch", .keys = {{"symbol", "MSFT"}}});
    changes.checks.push_back(check);
    const auto alerts = plan_alerts(settings, report, changes);
    REQUIRE(alerts.size() == 1);
    CHECK(alerts[0].payload["check_name"] == "viewtrade_holdings_recon");
    CHECK(alerts[0].payload["scope"] == "partial");
    CHECK(unlisted_output_names(alerts[0].payload).empty());

    BookMetrics book{.book = "india", .up = true};
    book.last_runs.push_back({.category = Category::C, .run_id = 42, .status = "fail"});
    book.last_checks.push_back(
        {.check_name = "viewtrade_holdings_recon", .category = Category::C, .run_id = 42, .status = "fail"});
    const auto text = render_prometheus({book}, 0);
    std::vector<std::string> labels;
    const std::regex label(R"(([a-z_]+)=")");
    for (auto it = std::sregex_iterator(text.begin(), text.end(), label); it != std::sregex_iterator(); ++it) {
        labels.push_back((*it)[1]);
    }
    CHECK(std::set<std::string>(labels.begin(), labels.end()) ==
          std::set<std::string>{"book", "category", "check_name", "status", "version"});
    CHECK(unlisted_output_names(nlohmann::json::object(), labels).empty());
}
