#include "lib/india_reports.hpp"

#include <fmt/format.h>

#include <chrono>

#include "lib/db.hpp"
#include "lib/external_recon.hpp"
#include "lib/migrate.hpp"
#include "lib/snapshot.hpp"
#include "lib/text.hpp"
#include "lib/utf8.hpp"

namespace reconcile {
namespace {

using Json = nlohmann::json;

Json time_or_null(const std::optional<Timestamp>& time)
{
    return time ? Json(format_utc(*time)) : Json(nullptr);
}

Json line_json(const ComparedLine& line, const char* key_name)
{
    return {{key_name, line.key},
            {"ledger", line.ledger.to_string()},
            {"broker", line.broker.to_string()},
            {"difference", line.difference.to_string()},
            {"outcome", to_string(line.outcome)}};
}

/// What every report says about one customer before its own lines.
template <typename Customer>
Json customer_entry(const Customer& customer, CheckStatus status)
{
    return {{"customer_id", customer.account.customer_id},
            {"broker_account_ref", customer.account.account_ref},
            {"status", customer.fetch_error ? "fetch_error" : to_string(status)},
            {"error", customer.fetch_error ? Json(*customer.fetch_error) : Json(nullptr)},
            {"broker_as_of", time_or_null(customer.broker_as_of)}};
}

/// The header every report shares: what was asked, when, and how the fetch went.
Json report_header(IndiaReport report, const ExternalFetch& fetch, const ExternalVerdict& verdict,
                   const std::optional<std::string>& customer_id, Timestamp generated_at)
{
    return {{"report", to_string(report)},
            {"book", "india"},
            {"broker", broker_code(fetch.broker)},
            {"customer_id", customer_id ? Json(*customer_id) : Json(nullptr)},
            {"generated_at", format_utc(generated_at)},
            {"status", to_string(verdict.status)},
            {"error", verdict.incomplete ? Json(*verdict.incomplete) : Json(nullptr)},
            {"broker_status", broker_status(fetch)},
            {"ledger_as_of", time_or_null(fetch.ledger_as_of)},
            {"broker_as_of",
             {{"earliest", time_or_null(fetch.broker_as_of_earliest)},
              {"latest", time_or_null(fetch.broker_as_of_latest)}}},
            {"summary",
             {{"customers", fetch.customers},
              {"customers_checked", fetch.unreachable ? 0 : fetch.customers - fetch.fetch_errors},
              {"fetch_errors", fetch.unreachable ? fetch.customers : fetch.fetch_errors}}}};
}

Json accounts_report(IndiaReport report, const AccountsRecon& recon, const BrokerSettings& brokers,
                     const std::optional<std::string>& customer_id, Timestamp generated_at)
{
    CheckStatus worst_customer = CheckStatus::ok;
    Json customers = Json::array();
    std::map<std::string, std::int64_t> outcomes{
        {"match", 0}, {"quantity_dust", 0}, {"mismatch", 0}, {"ledger_only", 0}, {"broker_only", 0}};
    std::int64_t cash_breaks = 0;
    for (const auto& customer : recon.customers) {
        const CheckStatus status = customer.status();
        worst_customer = worst(worst_customer, status);
        Json entry = customer_entry(customer, status);
        if (recon.with_cash) {
            Json cash = Json::array();
            for (const auto& line : customer.cash) {
                if (line.outcome != LineOutcome::match) ++cash_breaks;
                cash.push_back(line_json(line, "currency"));
            }
            entry["cash"] = std::move(cash);
        }
        Json securities = Json::array();
        for (const auto& line : customer.securities) {
            ++outcomes[std::string(to_string(line.outcome))];
            securities.push_back(line_json(line, "symbol"));
        }
        entry[recon.with_cash ? "securities" : "holdings"] = std::move(securities);
        customers.push_back(std::move(entry));
    }
    Json json = report_header(report, recon.fetch, external_verdict(recon.fetch, worst_customer, brokers), customer_id,
                              generated_at);
    if (recon.with_cash) json["summary"]["cash_breaks"] = cash_breaks;
    for (const auto& [outcome, count] : outcomes) json["summary"][outcome == "match" ? "matched" : outcome] = count;
    json["customers"] = std::move(customers);
    return json;
}

Json lrs_report(const LrsRecon& recon, const BrokerSettings& brokers, const std::optional<std::string>& customer_id,
                Timestamp generated_at)
{
    CheckStatus worst_customer = CheckStatus::ok;
    Json customers = Json::array();
    std::map<std::string, std::pair<std::int64_t, Decimal>> totals;
    for (const char* bucket : {"matched", "in_transit", "aged_in_transit", "unmatched_funding"}) totals[bucket] = {};
    Decimal remitted_all;
    Decimal wired_all;
    for (const auto& customer : recon.customers) {
        const CheckStatus status = customer.status();
        worst_customer = worst(worst_customer, status);
        Json entry = customer_entry(customer, status);
        if (!customer.fetch_error) {
            const auto& tie_out = customer.tie_out;
            std::map<std::string, std::pair<std::int64_t, Decimal>> buckets;
            for (const char* bucket : {"matched", "in_transit", "aged_in_transit", "unmatched_funding"}) {
                buckets[bucket] = {};
            }
            Json remittances = Json::array();
            for (const auto& result : tie_out.remittances) {
                auto& bucket = buckets[std::string(to_string(result.bucket))];
                ++bucket.first;
                bucket.second += result.remittance.usd_amount;
                remittances.push_back({{"remittance_id", result.remittance.remittance_id},
                                       {"usd_amount", usd_text(result.remittance.usd_amount)},
                                       {"remitted_at", format_utc(result.remittance.remitted_at)},
                                       {"status", result.remittance.status},
                                       {"utr", result.remittance.utr},
                                       {"bucket", to_string(result.bucket)},
                                       {"wire_id", result.wire_id ? Json(*result.wire_id) : Json(nullptr)},
                                       {"age_days", result.age_days}});
            }
            Json wires = Json::array();
            for (const auto& wire : tie_out.wires) {
                if (wire.remittance_ids.empty()) {
                    ++buckets["unmatched_funding"].first;
                    buckets["unmatched_funding"].second += wire.amount;
                }
                wires.push_back({{"wire_id", wire.wire_id},
                                 {"amount", usd_text(wire.amount)},
                                 {"received_at", time_or_null(wire.received_at)},
                                 {"remittance_ids", wire.remittance_ids},
                                 {"fee", wire.remittance_ids.empty() ? Json(nullptr) : Json(usd_text(wire.fee))}});
            }
            Json bucket_json = Json::object();
            for (const auto& [name, bucket] : buckets) {
                bucket_json[name] = {{"count", bucket.first}, {"usd", usd_text(bucket.second)}};
                totals[name].first += bucket.first;
                totals[name].second += bucket.second;
            }
            remitted_all += tie_out.remitted_usd;
            wired_all += tie_out.wired_usd;
            entry["remitted_usd"] = usd_text(tie_out.remitted_usd);
            entry["wired_usd"] = usd_text(tie_out.wired_usd);
            entry["difference_usd"] = usd_text(tie_out.remitted_usd - tie_out.wired_usd);
            entry["buckets"] = std::move(bucket_json);
            entry["remittances"] = std::move(remittances);
            entry["wires"] = std::move(wires);
        }
        customers.push_back(std::move(entry));
    }
    Json json = report_header(IndiaReport::reconciliation, recon.fetch,
                              external_verdict(recon.fetch, worst_customer, brokers), customer_id, generated_at);
    for (const auto& [name, total] : totals) {
        json["summary"][name] = {{"count", total.first}, {"usd", usd_text(total.second)}};
    }
    json["summary"]["remitted_usd"] = usd_text(remitted_all);
    json["summary"]["wired_usd"] = usd_text(wired_all);
    json["summary"]["remittances_excluded"] = recon.remittances_excluded;
    json["customers"] = std::move(customers);
    return json;
}

std::string text_of(const Json& value)
{
    return value.is_string() ? value.get<std::string>() : value.dump();
}

/// "USD 48.50 = 48.50" for a match, "AAPL ledger 2.25 broker 1.25 difference 1.00 (mismatch)" else.
std::string line_text(const Json& line, const char* key_name)
{
    if (line["outcome"] == "match") {
        return fmt::format("{} {} = {}", text_of(line[key_name]), text_of(line["ledger"]), text_of(line["broker"]));
    }
    return fmt::format("{} ledger {} broker {} difference {} ({})", text_of(line[key_name]), text_of(line["ledger"]),
                       text_of(line["broker"]), text_of(line["difference"]), text_of(line["outcome"]));
}

}  // namespace

std::string_view to_string(IndiaReport report)
{
    switch (report) {
        case IndiaReport::ledger_recon:
            return "ledger-recon";
        case IndiaReport::holdings_recon:
            return "holdings-recon";
        case IndiaReport::reconciliation:
            return "reconciliation";
    }
    return "ledger-recon";
}

nlohmann::json build_india_report(const Settings& settings, const IndiaReportRequest& request)
{
    const std::string book = "india";
    settings.require_book(book);
    Session session(settings.read_database_url(book), "read", request.session_limits);
    verify_book(session, book);
    LedgerSnapshot snapshot(session, settings.statement_timeout_ms);
    BrokerHub hub(settings.brokers);
    hub.set_progress_label(fmt::format("india {}", to_string(request.report)));
    const Timestamp generated_at = std::chrono::system_clock::now();
    const auto require_customer = [&](const ExternalFetch& fetch) {
        if (request.customer_id && fetch.customers == 0) {
            throw Error(ExitCode::usage, fmt::format("no ViewTrade account for customer '{}' in "
                                                     "contract.broker_accounts",
                                                     *request.customer_id));
        }
    };
    nlohmann::json report;
    if (request.report == IndiaReport::reconciliation) {
        const auto recon =
            reconcile_lrs(snapshot, hub, settings, CustomerScope{.customer_id = request.customer_id}, generated_at);
        require_customer(recon.fetch);
        report = lrs_report(recon, settings.brokers, request.customer_id, generated_at);
    } else {
        const auto recon = reconcile_accounts(snapshot, hub, settings, BrokerId::viewtrade,
                                              request.report == IndiaReport::ledger_recon,
                                              CustomerScope{.customer_id = request.customer_id});
        require_customer(recon.fetch);
        report = accounts_report(request.report, recon, settings.brokers, request.customer_id, generated_at);
    }
    // Ledger text as a run reports it (docs/decisions/invalid-utf8-text.md), in every format.
    escape_invalid_utf8(report);
    return report;
}

std::string render_india_report_text(const nlohmann::json& report)
{
    const auto& summary = report["summary"];
    std::string text =
        fmt::format("India {} against {}  {}  generated {}\n", text_of(report["report"]), text_of(report["broker"]),
                    upper(text_of(report["status"])), text_of(report["generated_at"]));
    text += fmt::format("  ledger as of {}, broker as of {}; customers {}, checked {}, fetch errors {}\n",
                        text_of(report["ledger_as_of"]), text_of(report["broker_as_of"]["earliest"]),
                        text_of(summary["customers"]), text_of(summary["customers_checked"]),
                        text_of(summary["fetch_errors"]));
    if (!report["error"].is_null()) text += fmt::format("  error: {}\n", text_of(report["error"]));
    const bool lrs = report["report"] == "reconciliation";
    if (lrs) {
        text += fmt::format(
            "  remitted {} USD, wired {} USD; matched {}, in transit {}, aged in transit {}, "
            "unmatched funding {}\n",
            text_of(summary["remitted_usd"]), text_of(summary["wired_usd"]), text_of(summary["matched"]["count"]),
            text_of(summary["in_transit"]["count"]), text_of(summary["aged_in_transit"]["count"]),
            text_of(summary["unmatched_funding"]["count"]));
    }
    std::size_t width = 4;
    std::size_t ref_width = 4;
    std::size_t status_width = 4;
    for (const auto& customer : report["customers"]) {
        width = std::max(width, text_of(customer["customer_id"]).size());
        ref_width = std::max(ref_width, text_of(customer["broker_account_ref"]).size());
        status_width = std::max(status_width, text_of(customer["status"]).size());
    }
    for (const auto& customer : report["customers"]) {
        const std::string head = fmt::format("  {:<{}}  {:<{}}  {:<{}}", text_of(customer["customer_id"]), width,
                                             upper(text_of(customer["status"])), status_width,
                                             text_of(customer["broker_account_ref"]), ref_width);
        if (!customer["error"].is_null()) {
            text += fmt::format("{}  {}\n", head, text_of(customer["error"]));
            continue;
        }
        if (lrs) {
            const auto& buckets = customer["buckets"];
            text += fmt::format("{}  remitted {} wired {}  matched {}  in transit {}  aged {}  unmatched funding {}\n",
                                head, text_of(customer["remitted_usd"]), text_of(customer["wired_usd"]),
                                text_of(buckets["matched"]["count"]), text_of(buckets["in_transit"]["count"]),
                                text_of(buckets["aged_in_transit"]["count"]),
                                text_of(buckets["unmatched_funding"]["count"]));
            for (const auto& remittance : customer["remittances"]) {
                if (remittance["bucket"] == "matched") continue;
                text += fmt::format("      {} {} USD remitted {} ({} days): {}\n", text_of(remittance["remittance_id"]),
                                    text_of(remittance["usd_amount"]), text_of(remittance["remitted_at"]),
                                    text_of(remittance["age_days"]), text_of(remittance["bucket"]));
            }
            for (const auto& wire : customer["wires"]) {
                if (!wire["remittance_ids"].empty()) continue;
                text += fmt::format("      wire {} {} USD received {}: unmatched funding\n", text_of(wire["wire_id"]),
                                    text_of(wire["amount"]), text_of(wire["received_at"]));
            }
            continue;
        }
        const char* list = customer.contains("securities") ? "securities" : "holdings";
        std::size_t matched = 0;
        std::vector<std::string> breaks;
        std::vector<std::string> cash;
        if (customer.contains("cash")) {
            for (const auto& line : customer["cash"]) {
                if (line["outcome"] == "match") {
                    cash.push_back(line_text(line, "currency"));
                } else {
                    breaks.push_back(line_text(line, "currency"));
                }
            }
        }
        for (const auto& line : customer[list]) {
            if (line["outcome"] == "match") {
                ++matched;
            } else {
                breaks.push_back(line_text(line, "symbol"));
            }
        }
        std::string summary_text;
        for (const auto& item : cash) summary_text += "cash " + item + "; ";
        summary_text += fmt::format("{} instrument(s) match", matched);
        text += fmt::format("{}  {}\n", head, summary_text);
        for (const auto& item : breaks) text += fmt::format("      {}\n", item);
    }
    return text;
}

ExitCode india_report_exit_code(const nlohmann::json& report)
{
    if (report.value("broker_status", "") == "unreachable") return ExitCode::unavailable;
    if (report.value("broker_status", "") == "not_configured") return ExitCode::config;
    const std::string status = report.value("status", "error");
    if (status == "fail") return ExitCode::check_failed;
    if (status == "error") return ExitCode::check_error;
    return ExitCode::ok;
}

}  // namespace reconcile
