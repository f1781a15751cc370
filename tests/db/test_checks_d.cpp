// Category D: pending_flow_age warns past one threshold and fails past the other.
#include <doctest/doctest.h>

#include "tests/db/fixture.hpp"

using reconcile::CheckStatus;
using reconcile::test::BookDb;
using reconcile::test::variance_lines;
using Lines = std::vector<std::string>;

namespace {

BookDb& clean_book()
{
    return reconcile::test::clean_book("checks_d");
}

}  // namespace

TEST_CASE("pending_flow_age passes while every open flow is young")
{
    auto& db = clean_book();
    db.exec(
        "INSERT INTO ledger.pending_flows VALUES ('F-old-done', 'cash_request', 'C001', 10, 'USD',"
        " 'completed', now() - interval '30 days', NULL, NULL)");
    const auto result = db.run_check("pending_flow_age");
    CHECK(result.status == CheckStatus::ok);
    CHECK(result.variances_total == 0);
    CHECK(result.metrics["open_flows"] == 1);
}

TEST_CASE("pending_flow_age warns past the warn threshold")
{
    auto& db = clean_book();
    db.exec(
        "INSERT INTO ledger.pending_flows VALUES ('F-2', 'cash_request', 'C001', 10.00, 'USD',"
        " 'pending', now() - interval '30 hours', NULL, NULL)");
    const auto result = db.run_check("pending_flow_age");
    CHECK(result.status == CheckStatus::warn);
    CHECK(variance_lines(result) == Lines{"aged_pending currency=USD customer_id=C001 flow_id=F-2"});
    CHECK(result.variances[0].detail["severity"] == "warn");
    CHECK(result.variances[0].actual == "10.00");
    CHECK(result.metrics["aged_warn"] == 1);
    CHECK(result.metrics["aged_fail"] == 0);
}

TEST_CASE("pending_flow_age fails past the fail threshold, and the thresholds are settings")
{
    auto& db = clean_book();
    db.exec(
        "INSERT INTO ledger.pending_flows VALUES ('F-3', 'deposit_in_transit', 'C002', 500, 'USD',"
        " 'in_transit', now() - interval '80 hours', NULL, NULL),"
        " ('F-4', 'cash_request', 'C001', 1, 'USD', 'pending', now() - interval '30 hours', NULL, NULL)");
    const auto result = db.run_check("pending_flow_age");
    CHECK(result.status == CheckStatus::fail);
    CHECK(variance_lines(result) == Lines{"aged_pending currency=USD customer_id=C001 flow_id=F-4",
                                          "aged_pending currency=USD customer_id=C002 flow_id=F-3"});
    CHECK(result.metrics["aged_fail"] == 1);
    CHECK(result.metrics["aged_warn"] == 1);

    const auto relaxed =
        db.run_check("pending_flow_age", {{"RECON_PENDING_WARN_HOURS", "48"}, {"RECON_PENDING_FAIL_HOURS", "100"}});
    CHECK(relaxed.status == CheckStatus::warn);
    CHECK(variance_lines(relaxed) == Lines{"aged_pending currency=USD customer_id=C002 flow_id=F-3"});
}
