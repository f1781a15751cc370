#include "checks/external_support.hpp"

#include <fmt/format.h>

namespace reconcile {
namespace {

nlohmann::json optional_time(const std::optional<Timestamp>& time)
{
    return time ? nlohmann::json(format_utc(*time)) : nlohmann::json(nullptr);
}

/// Metrics every external check reports, whatever it compares. Returns false when the book has
/// no customer at this broker: then the check is ok and says only that.
bool fetch_metrics(CheckContext& context, const ExternalFetch& fetch)
{
    auto& metrics = context.metrics();
    metrics["broker"] = broker_code(fetch.broker);
    metrics["broker_contract"] = to_string(contract_of(fetch.broker));
    context.set_broker_reach(broker_status(fetch));
    metrics["broker_status"] = broker_status(fetch);
    metrics["customers"] = fetch.customers;
    metrics["customers_checked"] = fetch.unreachable ? 0 : fetch.customers - fetch.fetch_errors;
    if (fetch.customers == 0) return false;
    metrics["fetch_errors"] = fetch.unreachable ? fetch.customers : fetch.fetch_errors;
    metrics["ledger_as_of"] = optional_time(fetch.ledger_as_of);
    metrics["broker_as_of"] = {{"earliest", optional_time(fetch.broker_as_of_earliest)},
                               {"latest", optional_time(fetch.broker_as_of_latest)}};
    return true;
}

/// A customer whose data could not be fetched.
void add_fetch_error(CheckContext& context, BrokerId broker, const BrokerAccount& account, const std::string& error)
{
    Variance variance{.kind = "fetch_error", .keys = {{"customer_id", account.customer_id}}};
    variance.detail = {{"broker", broker_code(broker)}, {"broker_account_ref", account.account_ref}, {"error", error}};
    context.variances().add(std::move(variance));
}

/// Ends the check with the verdict: its status, and why it is incomplete when it is.
void conclude(CheckContext& context, const ExternalFetch& fetch, CheckStatus worst_customer)
{
    const auto verdict = external_verdict(fetch, worst_customer, context.settings().brokers);
    if (verdict.incomplete) {
        context.metrics()[verdict.status == CheckStatus::error ? "error" : "incomplete"] = *verdict.incomplete;
    }
    if (fetch.unreachable) context.metrics()["broker_unreachable"] = true;
    context.raise(verdict.status);
}

}  // namespace

void record_accounts_recon(CheckContext& context, const AccountsRecon& recon, QuantityNaming naming)
{
    if (!fetch_metrics(context, recon.fetch)) return;
    std::map<std::string, std::int64_t> counts{
        {"match", 0}, {"quantity_dust", 0}, {"mismatch", 0}, {"ledger_only", 0}, {"broker_only", 0}};
    std::int64_t cash_compared = 0;
    std::int64_t cash_breaks = 0;
    CheckStatus worst_customer = CheckStatus::ok;
    const std::string ledger_as_of = recon.fetch.ledger_as_of ? format_utc(*recon.fetch.ledger_as_of) : "";
    for (const auto& customer : recon.customers) {
        worst_customer = worst(worst_customer, customer.status());
        if (customer.fetch_error) {
            add_fetch_error(context, recon.fetch.broker, customer.account, *customer.fetch_error);
            continue;
        }
        const nlohmann::json stamps = {{"broker_account_ref", customer.account.account_ref},
                                       {"ledger_as_of", ledger_as_of},
                                       {"broker_as_of", optional_time(customer.broker_as_of)}};
        for (const auto& line : customer.cash) {
            ++cash_compared;
            if (line.outcome == LineOutcome::match) continue;
            ++cash_breaks;
            Variance variance{.kind = "amount_break",
                              .keys = {{"customer_id", customer.account.customer_id}, {"currency", line.key}},
                              .expected = line.ledger.to_string(),
                              .actual = line.broker.to_string(),
                              .difference = line.difference.to_string()};
            variance.detail = stamps;
            variance.detail["outcome"] = to_string(line.outcome);
            context.variances().add(std::move(variance));
        }
        for (const auto& line : customer.securities) {
            ++counts[std::string(to_string(line.outcome))];
            if (line.outcome == LineOutcome::match) continue;
            std::string kind = line.outcome == LineOutcome::dust   ? "quantity_dust"
                               : naming == QuantityNaming::outcome ? std::string(to_string(line.outcome))
                                                                   : "quantity_break";
            Variance variance{.kind = std::move(kind),
                              .keys = {{"customer_id", customer.account.customer_id}, {"symbol", line.key}},
                              .expected = line.ledger.to_string(),
                              .actual = line.broker.to_string(),
                              .difference = line.difference.to_string()};
            variance.detail = stamps;
            if (naming == QuantityNaming::quantity_break) variance.detail["outcome"] = to_string(line.outcome);
            context.variances().add(std::move(variance));
        }
    }
    auto& metrics = context.metrics();
    if (recon.with_cash) {
        metrics["cash_compared"] = cash_compared;
        metrics["cash_breaks"] = cash_breaks;
    }
    std::int64_t instruments = 0;
    for (const auto& [outcome, count] : counts) instruments += count;
    metrics["instruments_compared"] = instruments;
    metrics["matched"] = counts["match"];
    metrics["quantity_dust"] = counts["quantity_dust"];
    metrics["mismatch"] = counts["mismatch"];
    metrics["ledger_only"] = counts["ledger_only"];
    metrics["broker_only"] = counts["broker_only"];
    conclude(context, recon.fetch, worst_customer);
}

void AccountsReconCheck::run(CheckContext& context) const
{
    const auto recon = reconcile_accounts(context.snapshot(), context.brokers(), context.settings(), m_broker,
                                          m_with_cash, CustomerScope{.shard = context.shard()});
    record_accounts_recon(context, recon, m_naming);
}

void record_lrs_recon(CheckContext& context, const LrsRecon& recon)
{
    if (!fetch_metrics(context, recon.fetch)) return;
    std::map<std::string, std::int64_t> buckets{{"matched", 0}, {"in_transit", 0}, {"aged_in_transit", 0}};
    std::map<std::string, Decimal> bucket_usd;
    Decimal remitted;
    Decimal wired;
    Decimal unmatched_usd;
    std::int64_t unmatched_funding = 0;
    CheckStatus worst_customer = CheckStatus::ok;
    const std::string ledger_as_of = recon.fetch.ledger_as_of ? format_utc(*recon.fetch.ledger_as_of) : "";
    for (const auto& customer : recon.customers) {
        worst_customer = worst(worst_customer, customer.status());
        if (customer.fetch_error) {
            add_fetch_error(context, BrokerId::viewtrade, customer.account, *customer.fetch_error);
            continue;
        }
        remitted += customer.tie_out.remitted_usd;
        wired += customer.tie_out.wired_usd;
        for (const auto& wire : customer.tie_out.wires) {
            if (!wire.remittance_ids.empty()) continue;
            ++unmatched_funding;
            unmatched_usd += wire.amount;
        }
        for (const auto& result : customer.tie_out.remittances) {
            const std::string bucket(to_string(result.bucket));
            ++buckets[bucket];
            bucket_usd[bucket] += result.remittance.usd_amount;
            if (result.bucket != LrsBucket::aged_in_transit) continue;
            Variance variance{.kind = "aged_in_transit",
                              .keys = {{"customer_id", customer.account.customer_id},
                                       {"remittance_id", result.remittance.remittance_id}},
                              .expected = usd_text(result.remittance.usd_amount)};
            variance.detail = {{"broker_account_ref", customer.account.account_ref},
                               {"remitted_at", format_utc(result.remittance.remitted_at)},
                               {"age_days", result.age_days},
                               {"utr", result.remittance.utr},
                               {"ledger_as_of", ledger_as_of},
                               {"broker_as_of", optional_time(customer.broker_as_of)}};
            context.variances().add(std::move(variance));
        }
    }
    auto& metrics = context.metrics();
    for (const auto& [bucket, count] : buckets) {
        metrics[bucket] = count;
        metrics[bucket + "_usd"] = usd_text(bucket_usd[bucket]);
    }
    metrics["unmatched_funding"] = unmatched_funding;
    metrics["unmatched_funding_usd"] = usd_text(unmatched_usd);
    metrics["remitted_usd"] = usd_text(remitted);
    metrics["wired_usd"] = usd_text(wired);
    metrics["remittances_excluded"] = recon.remittances_excluded;
    metrics["aged_days"] = context.settings().lrs_aged_days;
    conclude(context, recon.fetch, worst_customer);
}

}  // namespace reconcile
