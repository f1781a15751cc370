// The export writer (lib/export.hpp): RFC 4180 CSV and JSON Lines with a stable column order,
// and the rows of variances, runs and India reports.
#include <doctest/doctest.h>

#include <sstream>

#include "lib/export.hpp"
#include "lib/variances_api.hpp"

using namespace reconcile;
using Json = nlohmann::json;

TEST_CASE("csv fields are quoted only when RFC 4180 needs it, quotes doubled")
{
    CHECK(csv_field("plain") == "plain");
    CHECK(csv_field("-8.50") == "-8.50");
    CHECK(csv_field("a,b") == "\"a,b\"");
    CHECK(csv_field("say \"hi\"") == "\"say \"\"hi\"\"\"");
    CHECK(csv_field("two\nlines") == "\"two\nlines\"");
    CHECK(csv_field("cr\r") == "\"cr\r\"");
    CHECK(csv_field("") == "");
}

TEST_CASE("the writer: a CSV header and CRLF rows; JSON Lines objects in column order")
{
    std::ostringstream csv;
    RecordWriter writer(csv, RecordFormat::csv, {"zeta", "alpha", "note"});
    writer.write({Json("-0.10"), Json(3), Json(nullptr)});
    writer.write({Json("x"), Json(true), Json("a, \"b\"")});
    CHECK(csv.str() == "zeta,alpha,note\r\n-0.10,3,\r\nx,true,\"a, \"\"b\"\"\"\r\n");
    CHECK_THROWS_AS(writer.write({Json(1)}), std::invalid_argument);

    std::ostringstream jsonl;
    RecordWriter lines(jsonl, RecordFormat::jsonl, {"zeta", "alpha", "note"});
    lines.write({Json("-0.10"), Json(3), Json(nullptr)});
    CHECK(jsonl.str() == "{\"zeta\":\"-0.10\",\"alpha\":3,\"note\":null}\n");
}

TEST_CASE("a break's record: exact decimals, UTC timestamps, its acknowledgement")
{
    VarianceHistory history;
    history.book = "india";
    history.check_name = "viewtrade_ledger_recon";
    history.category = "C";
    history.fingerprint = "0123456789abcdef0123456789abcdef";
    history.kind = "fetch_error";
    history.keys = {{"customer_id", "IN-C025"}};
    history.status = "open";
    history.state = "persisting";
    history.first_seen_at = *parse_utc("2026-12-01T10:00:00Z");
    history.open_since_at = *parse_utc("2026-12-01T10:00:00Z");
    history.last_seen_at = *parse_utc("2026-12-02T10:00:00.250Z");
    history.occurrences = 3;
    history.difference = "0.10";
    history.acknowledgement = Acknowledgement{.variance_class = VarianceClass::timing,
                                              .note = "slow, \"retry\"",
                                              .by = "alice",
                                              .at = *parse_utc("2026-12-02T11:00:00Z")};
    std::ostringstream out;
    RecordWriter writer(out, RecordFormat::csv, variance_history_columns());
    writer.write(variance_history_record(history));
    CHECK(out.str() ==
          "book,check_name,category,fingerprint,kind,keys,status,state,first_seen_at,open_since_at,last_seen_at,"
          "occurrences,reopen_count,resolved_at,expected,actual,difference,class,note,by,"
          "acknowledged_at,until\r\n"
          "india,viewtrade_ledger_recon,C,0123456789abcdef0123456789abcdef,fetch_error,"
          "\"{\"\"customer_id\"\":\"\"IN-C025\"\"}\",open,persisting,2026-12-01T10:00:00.000Z,"
          "2026-12-01T10:00:00.000Z,2026-12-02T10:00:00.250Z,3,0,,,,0.10,timing,\"slow, \"\"retry\"\"\",alice,"
          "2026-12-02T11:00:00.000Z,\r\n");
}

TEST_CASE("India reports become one row per compared line, a fetch_error customer one row")
{
    const Json report = {{"report", "ledger-recon"},
                         {"customers",
                          {{{"customer_id", "IN-C020"},
                            {"broker_account_ref", "V-20"},
                            {"status", "fail"},
                            {"error", nullptr},
                            {"cash",
                             {{{"currency", "USD"},
                               {"ledger", "10.00"},
                               {"broker", "10.00"},
                               {"difference", "0.00"},
                               {"outcome", "match"}}}},
                            {"securities",
                             {{{"symbol", "TSLA"},
                               {"ledger", "0"},
                               {"broker", "3"},
                               {"difference", "-3"},
                               {"outcome", "broker_only"}}}}},
                           {{"customer_id", "IN-C025"},
                            {"broker_account_ref", "V-25"},
                            {"status", "fetch_error"},
                            {"error", "timed out"}}}}};
    const auto table = india_report_records(report);
    std::ostringstream out;
    RecordWriter(out, RecordFormat::csv, table.columns).write_all(table);
    CHECK(out.str() ==
          "report,customer_id,broker_account_ref,status,error,line,key,ledger,broker,difference,outcome\r\n"
          "ledger-recon,IN-C020,V-20,fail,,cash,USD,10.00,10.00,0.00,match\r\n"
          "ledger-recon,IN-C020,V-20,fail,,securities,TSLA,0,3,-3,broker_only\r\n"
          "ledger-recon,IN-C025,V-25,fetch_error,timed out,,,,,,\r\n");
}

TEST_CASE("the console is served with its policy; other paths are not the console's")
{
    const auto page = console_reply("/");
    REQUIRE(page.has_value());
    CHECK(page->content_type == "text/html; charset=utf-8");
    CHECK(page->body.find("<script src=\"/console.js\" defer></script>") != std::string::npos);
    bool has_csp = false;
    for (const auto& [name, value] : page->headers)
        has_csp = has_csp || (name == "Content-Security-Policy" && value == console_csp);
    CHECK(has_csp);
    // No inline script or style anywhere in the page.
    CHECK(page->body.find("<script>") == std::string::npos);
    CHECK(page->body.find("style=") == std::string::npos);
    CHECK(page->body.find("<style") == std::string::npos);
    REQUIRE(console_reply("/console.js").has_value());
    CHECK(console_reply("/console.js")->content_type == "text/javascript; charset=utf-8");
    CHECK(console_reply("/console.js")->body.find("innerHTML") == std::string::npos);
    CHECK(console_reply("/console.css")->content_type == "text/css; charset=utf-8");
    CHECK_FALSE(console_reply("/secret").has_value());
}

TEST_CASE("a run's record: typed fields as their text, UTC timestamps, the variance total over its checks")
{
    RunReport report;
    report.run_id = 7;
    report.book = "india";
    report.category = Category::C;
    report.trigger = Trigger::schedule;
    report.shard = Shard{.index = 2, .count = 4};
    report.scope = RunScope::partial;
    report.status = RunStatus::fail;
    report.started_at = *parse_utc("2026-12-02T03:00:00.125Z");
    report.finished_at = *parse_utc("2026-12-02T03:00:04Z");
    report.duration_ms = 3875;
    CheckResult first;
    first.variances_total = 12;
    CheckResult second;
    second.variances_total = 3;
    report.checks = {first, second};
    std::ostringstream csv;
    RecordWriter(csv, RecordFormat::csv, run_columns()).write(run_record(report));
    CHECK(csv.str() ==
          "run_id,book,category,shard,scope,trigger,status,started_at,finished_at,duration_ms,checks,variances_total,"
          "error\r\n"
          "7,india,C,2/4,partial,schedule,fail,2026-12-02T03:00:00.125Z,2026-12-02T03:00:04.000Z,3875,2,15,\r\n");

    RunReport abandoned;
    abandoned.run_id = 8;
    abandoned.book = "uae";
    abandoned.status = RunStatus::abandoned;
    abandoned.started_at = *parse_utc("2026-12-02T04:00:00Z");
    abandoned.error = "the process ended, \"killed\"";
    std::ostringstream jsonl;
    RecordWriter(jsonl, RecordFormat::jsonl, run_columns()).write(run_record(abandoned));
    CHECK(jsonl.str() ==
          "{\"run_id\":8,\"book\":\"uae\",\"category\":\"A\",\"shard\":null,\"scope\":\"full\",\"trigger\":\"manual\","
          "\"status\":"
          "\"abandoned\",\"started_at\":\"2026-12-02T04:00:00.000Z\",\"finished_at\":null,\"duration_ms\":0,"
          "\"checks\":0,\"variances_total\":0,\"error\":\"the process ended, \\\"killed\\\"\"}\n");
}
