// The comparison shared by the category C checks and the India reports: line outcomes with
// their tolerances, and the LRS remittance-to-wire matching.
#include <doctest/doctest.h>

#include "lib/external_recon.hpp"

using namespace reconcile;
using namespace std::chrono_literals;

namespace {

Decimal d(const char* text)
{
    return Decimal::parse(text);
}

std::vector<std::string> lines_of(const std::vector<ComparedLine>& lines)
{
    std::vector<std::string> result;
    for (const auto& line : lines) {
        result.push_back(line.key + " " + std::string(to_string(line.outcome)) + " " + line.difference.to_string());
    }
    return result;
}

Timestamp at(const char* text)
{
    return *parse_utc(text);
}

LrsRemittance remittance(const char* id, const char* usd, const char* when)
{
    return {.remittance_id = id, .usd_amount = d(usd), .remitted_at = at(when), .status = "settled", .utr = ""};
}

BrokerFunding wire(const char* id, const char* amount, const char* when, const char* status = "completed",
                   const char* currency = "USD")
{
    return {.funding_id = id, .amount = d(amount), .currency = currency, .status = status, .completed_at = at(when)};
}

const LrsRules rules{.fee_tolerance = d("30.00"), .cash_tolerance = d("0.01"), .window_days = 7, .aged_days = 5};

std::vector<std::string> buckets_of(const LrsTieOut& tie_out)
{
    std::vector<std::string> result;
    for (const auto& r : tie_out.remittances) {
        result.push_back(r.remittance.remittance_id + " " + std::string(to_string(r.bucket)) +
                         (r.wire_id ? " " + *r.wire_id : ""));
    }
    return result;
}

}  // namespace

TEST_CASE("quantities: match within 1e-6, dust up to 1e-4, then a break named by which side holds it")
{
    const std::map<std::string, Decimal> ledger{{"AAPL", d("10")}, {"MSFT", d("2.0000005")}, {"NVDA", d("1.00005")},
                                                {"TSLA", d("3")},  {"AMZN", d("5")},         {"ZERO", d("0")}};
    const std::map<std::string, Decimal> broker{
        {"AAPL", d("9")}, {"MSFT", d("2")}, {"NVDA", d("1")}, {"GOOG", d("4")}, {"AMZN", d("0")}};
    CHECK(lines_of(compare_lines(ledger, broker, d("0.000001"), d("0.0001"))) ==
          std::vector<std::string>{"AAPL mismatch 1", "AMZN ledger_only 5", "GOOG broker_only -4",
                                   "MSFT match 0.0000005", "NVDA quantity_dust 0.00005", "TSLA ledger_only 3",
                                   "ZERO match 0"});
}

TEST_CASE("cash: within the cash tolerance matches, there is no dust")
{
    const std::map<std::string, Decimal> ledger{{"USD", d("100.00")}, {"AED", d("5.00")}};
    const std::map<std::string, Decimal> broker{{"USD", d("100.01")}, {"AED", d("5.02")}};
    CHECK(lines_of(compare_lines(ledger, broker, d("0.01"), std::nullopt)) ==
          std::vector<std::string>{"AED mismatch -0.02", "USD match -0.01"});
}

TEST_CASE("LRS: one wire per remittance within the fee tolerance and the day window")
{
    const auto tie_out = tie_out_lrs(
        {remittance("R1", "1000.00", "2026-11-01T10:00:00Z"), remittance("R2", "500.00", "2026-11-10T10:00:00Z")},
        {wire("W1", "985.00", "2026-11-02T09:00:00Z"), wire("W2", "500.00", "2026-11-11T09:00:00Z")}, rules,
        at("2026-11-28T00:00:00Z"));
    CHECK(buckets_of(tie_out) == std::vector<std::string>{"R1 matched W1", "R2 matched W2"});
    CHECK(tie_out.remitted_usd.to_string() == "1500.00");
    CHECK(tie_out.wired_usd.to_string() == "1485.00");
    CHECK(tie_out.wires[0].fee.to_string() == "15.00");
    CHECK(tie_out.wires[0].remittance_ids == std::vector<std::string>{"R1"});
}

TEST_CASE("LRS: many remittances settle as one wire")
{
    const auto tie_out = tie_out_lrs(
        {remittance("R1", "300.00", "2026-11-01T10:00:00Z"), remittance("R2", "200.00", "2026-11-02T10:00:00Z"),
         remittance("R3", "250.00", "2026-11-03T10:00:00Z")},
        {wire("W1", "730.00", "2026-11-04T09:00:00Z")}, rules, at("2026-11-28T00:00:00Z"));
    CHECK(buckets_of(tie_out) == std::vector<std::string>{"R1 matched W1", "R2 matched W1", "R3 matched W1"});
    CHECK(tie_out.wires[0].fee.to_string() == "20.00");
}

TEST_CASE("LRS: unmatched remittances are in transit, then aged; unexplained wires are unmatched funding")
{
    const auto tie_out = tie_out_lrs(
        {remittance("R-OLD", "400.00", "2026-11-10T10:00:00Z"), remittance("R-NEW", "250.00", "2026-11-26T10:00:00Z"),
         remittance("R-FAR", "100.00", "2026-11-01T10:00:00Z")},
        {wire("W-ODD", "999.00", "2026-11-12T09:00:00Z"),
         // too late for R-FAR's window: no match, unmatched funding
         wire("W-LATE", "100.00", "2026-11-20T09:00:00Z"), wire("W-PEND", "250.00", "2026-11-27T09:00:00Z", "pending"),
         wire("W-INR", "250.00", "2026-11-27T09:00:00Z", "completed", "INR")},
        rules, at("2026-11-28T00:00:00Z"));
    CHECK(buckets_of(tie_out) ==
          std::vector<std::string>{"R-FAR aged_in_transit", "R-OLD aged_in_transit", "R-NEW in_transit"});
    CHECK(tie_out.remittances[1].age_days == 17);
    CHECK(tie_out.other_funding == 2);
    REQUIRE(tie_out.wires.size() == 2);
    CHECK(tie_out.wires[0].remittance_ids.empty());
    CHECK(tie_out.wires[1].remittance_ids.empty());
    CHECK(tie_out.wired_usd.to_string() == "1099.00");
}

TEST_CASE(
    "LRS: a wire above the remittance by more than the cash tolerance, or short by more than the fee, does not match")
{
    const auto tie_out = tie_out_lrs(
        {remittance("R1", "1000.00", "2026-11-01T10:00:00Z"), remittance("R2", "1000.00", "2026-11-01T11:00:00Z")},
        {wire("W-HIGH", "1000.02", "2026-11-02T09:00:00Z"), wire("W-LOW", "969.99", "2026-11-02T10:00:00Z")}, rules,
        at("2026-11-03T00:00:00Z"));
    CHECK(buckets_of(tie_out) == std::vector<std::string>{"R1 in_transit", "R2 in_transit"});
}
