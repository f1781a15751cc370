#include "lib/external_recon.hpp"
#include "lib/contract.hpp"
#include "lib/sql_values.hpp"
#include "lib/text.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <set>

#include <pqxx/pqxx>

namespace reconcile {
namespace {

constexpr const char* utc_format = R"('YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')";

// The customers of one broker; $1 the broker code, $2 one customer or NULL for all.
const std::string accounts_sql = R"sql(
SELECT customer_id::text, broker_account_ref::text
FROM contract.broker_accounts
WHERE upper(broker::text) = $1 AND ($2::text IS NULL OR customer_id::text = $2)
  AND customer_id IS NOT NULL AND broker_account_ref IS NOT NULL
ORDER BY 1, 2
)sql";

// The same customers as a sub-select, for the ledger reads; $3 the customer ids in scope (a
// shard's) as a text array, or NULL for all.
constexpr const char* customers_of_broker =
    "(SELECT b.customer_id FROM contract.broker_accounts b"
    " WHERE upper(b.broker::text) = $1 AND ($2::text IS NULL OR b.customer_id::text = $2)"
    " AND ($3::text[] IS NULL OR b.customer_id::text = ANY ($3::text[])))";

const std::string ledger_as_of_sql =
    fmt::format("SELECT to_char(now() AT TIME ZONE 'UTC', {}) AS ledger_as_of", utc_format);

// Cash: the journal balance of the customer-wallet accounts per customer and currency, in the
// direction of the account's normal side, over booked lines. Columns as read_amounts reads them:
// customer_id, key (the currency), amount.
const std::string ledger_cash_sql = fmt::format(R"sql(
SELECT l.customer_id::text, l.currency::text AS key,
       sum(CASE WHEN l.side::text = a.normal_side THEN l.amount ELSE -l.amount END)::text AS amount
FROM contract.journal_lines l
JOIN contract.transactions t ON t.txn_id::txnid = l.txn_id::txnid
JOIN {} a ON a.account_code = l.account_code::text
WHERE a.is_customer_wallet AND t.status IN ('posted', 'reversed') AND l.amount IS NOT NULL
  AND l.currency IS NOT NULL AND l.customer_id IN {}
GROUP BY l.customer_id, l.currency
)sql",
                                                chart_sql, customers_of_broker);

// Securities: Σ signed quantity of booked transactions per customer and symbol (custody at
// cost: share counts only). Columns as read_amounts reads them: customer_id, key (the symbol),
// amount.
const std::string ledger_quantities_sql = fmt::format(R"sql(
SELECT t.customer_id::text, t.symbol::text AS key, sum(t.quantity)::text AS amount
FROM contract.transactions t
WHERE t.status IN ('posted', 'reversed') AND t.symbol IS NOT NULL AND t.quantity IS NOT NULL
  AND t.customer_id IN {}
GROUP BY t.customer_id, t.symbol
)sql",
                                                      customers_of_broker);

const std::string remittances_sql = fmt::format(R"sql(
SELECT r.customer_id::text, r.remittance_id::text, r.usd_amount::text, lower(r.status::text) AS status,
       coalesce(r.utr::text, '') AS utr,
       to_char(coalesce(r.settled_at, r.initiated_at) AT TIME ZONE 'UTC', {}) AS remitted_at
FROM contract.lrs_remittances r
WHERE r.customer_id IN {}
ORDER BY 1, 6, 2
)sql",
                                                utc_format, customers_of_broker);

using Amounts = std::map<std::string, Decimal>;
using PerCustomer = std::map<std::string, Amounts>;

/// The accounts of `broker` in scope: filtered by customer in SQL, by shard here (the shard hash
/// lives in one place, lib/shard.cpp).
std::vector<BrokerAccount> read_accounts(SnapshotProvider& ledger, BrokerId broker, const CustomerScope& scope)
{
    std::vector<BrokerAccount> accounts;
    for (const auto& row :
         ledger.ledger().exec_params(accounts_sql, std::string(broker_code(broker)), nullable(scope.customer_id))) {
        BrokerAccount account{row["customer_id"].as<std::string>(), row["broker_account_ref"].as<std::string>()};
        if (scope.shard && !scope.shard->contains(account.customer_id)) continue;
        accounts.push_back(std::move(account));
    }
    return accounts;
}

/// The ledger reads' restriction to the accounts in scope: NULL (every customer of the broker)
/// unless sharded, then the shard's customer ids as a text array (ids need not be UTF-8).
std::optional<std::string> customers_in_scope(const CustomerScope& scope, const std::vector<BrokerAccount>& accounts)
{
    if (!scope.shard) return std::nullopt;
    std::vector<std::string> ids;
    for (const auto& account : accounts) ids.push_back(account.customer_id);
    return text_array_literal(ids);
}

PerCustomer read_amounts(pqxx::transaction_base& txn, const std::string& sql, BrokerId broker,
                         const CustomerScope& scope, const std::optional<std::string>& in_scope)
{
    PerCustomer result;
    for (const auto& row :
         txn.exec_params(sql, std::string(broker_code(broker)), nullable(scope.customer_id), nullable(in_scope))) {
        result[row["customer_id"].as<std::string>()][row["key"].as<std::string>()] +=
            Decimal::parse(row["amount"].as<std::string>());
    }
    return result;
}

Timestamp read_ledger_as_of(pqxx::transaction_base& txn)
{
    return parse_utc(txn.exec_params1(ledger_as_of_sql)["ledger_as_of"].as<std::string>())
        .value_or(std::chrono::system_clock::now());
}

/// Records the fan-out's outcome on `fetch` and stamps the broker's as-of range.
void note_fetch(ExternalFetch& fetch, const BrokerFetch& fetched)
{
    fetch.fetch_errors = fetched.failed;
    fetch.unreachable = fetched.unreachable;
    fetch.not_configured = fetched.not_configured;
    fetch.unreachable_reason = fetched.unreachable_reason;
    for (const auto& account : fetched.accounts) {
        const auto as_of = account.as_of();
        if (!as_of || account.error) continue;
        if (!fetch.broker_as_of_earliest || *as_of < *fetch.broker_as_of_earliest) fetch.broker_as_of_earliest = as_of;
        if (!fetch.broker_as_of_latest || *as_of > *fetch.broker_as_of_latest) fetch.broker_as_of_latest = as_of;
    }
}

template <typename T, typename Key, typename Value>
Amounts summed(const std::vector<T>& items, Key key, Value value)
{
    Amounts result;
    for (const auto& item : items) result[key(item)] += value(item);
    return result;
}

}  // namespace

std::string_view to_string(LineOutcome outcome)
{
    switch (outcome) {
        case LineOutcome::match:
            return "match";
        case LineOutcome::dust:
            return "quantity_dust";  // one name for dust everywhere: outcome, variance kind, metric
        case LineOutcome::mismatch:
            return "mismatch";
        case LineOutcome::ledger_only:
            return "ledger_only";
        case LineOutcome::broker_only:
            return "broker_only";
    }
    return "mismatch";
}

std::string_view to_string(LrsBucket bucket)
{
    switch (bucket) {
        case LrsBucket::matched:
            return "matched";
        case LrsBucket::in_transit:
            return "in_transit";
        case LrsBucket::aged_in_transit:
            return "aged_in_transit";
    }
    return "in_transit";
}

std::string usd_text(const Decimal& amount)
{
    return amount.with_min_scale(2).to_string();
}

std::vector<ComparedLine> compare_lines(const Amounts& ledger, const Amounts& broker, const Decimal& match,
                                        const std::optional<Decimal>& dust)
{
    std::set<std::string> keys;
    for (const auto& [key, value] : ledger) keys.insert(key);
    for (const auto& [key, value] : broker) keys.insert(key);
    std::vector<ComparedLine> lines;
    for (const auto& key : keys) {
        ComparedLine line{.key = key};
        if (const auto found = ledger.find(key); found != ledger.end()) line.ledger = found->second;
        if (const auto found = broker.find(key); found != broker.end()) line.broker = found->second;
        // Both sides at the scale of the finer one, so an absent side reads "0.00" beside
        // "750.00", never "0"; the difference of the two has that scale too.
        align_scales({line.ledger, line.broker});
        line.difference = line.ledger - line.broker;
        const Decimal size = line.difference.abs();
        if (size <= match) {
            line.outcome = LineOutcome::match;
        } else if (dust && size <= *dust) {
            line.outcome = LineOutcome::dust;
        } else if (line.broker.is_zero()) {
            line.outcome = LineOutcome::ledger_only;
        } else if (line.ledger.is_zero()) {
            line.outcome = LineOutcome::broker_only;
        } else {
            line.outcome = LineOutcome::mismatch;
        }
        lines.push_back(std::move(line));
    }
    return lines;
}

BrokerReach broker_status(const ExternalFetch& fetch)
{
    if (fetch.customers == 0) return BrokerReach::not_contacted;
    if (fetch.not_configured) return BrokerReach::not_configured;
    if (fetch.unreachable) return BrokerReach::unreachable;
    return BrokerReach::reachable;
}

ExternalVerdict external_verdict(const ExternalFetch& fetch, CheckStatus worst_customer, const BrokerSettings& settings)
{
    ExternalVerdict verdict{.status = worst_customer};
    if (fetch.unreachable) {
        verdict.incomplete = fetch.unreachable_reason;
    } else if (fetch.customers > 0) {
        const double share = std::stod(settings.max_failed_share.to_string());
        if (static_cast<double>(fetch.fetch_errors) > share * static_cast<double>(fetch.customers)) {
            verdict.incomplete = fmt::format(
                "{} of {} customers could not be fetched from {} (more than "
                "RECON_BROKER_MAX_FAILED_SHARE={})",
                fetch.fetch_errors, fetch.customers, broker_code(fetch.broker), settings.max_failed_share.to_string());
        }
    }
    if (verdict.incomplete) verdict.status = worst(verdict.status, CheckStatus::error);
    return verdict;
}

CheckStatus CustomerRecon::status() const
{
    if (fetch_error) return CheckStatus::warn;
    CheckStatus status = CheckStatus::ok;
    for (const auto* lines : {&cash, &securities}) {
        for (const auto& line : *lines) {
            if (line.outcome == LineOutcome::dust) status = worst(status, CheckStatus::warn);
            if (line.outcome != LineOutcome::match && line.outcome != LineOutcome::dust) return CheckStatus::fail;
        }
    }
    return status;
}

AccountsRecon reconcile_accounts(SnapshotProvider& ledger, BrokerHub& hub, const Settings& settings, BrokerId broker,
                                 bool with_cash, const CustomerScope& scope)
{
    AccountsRecon result;
    result.with_cash = with_cash;
    result.fetch.broker = broker;
    const auto accounts = read_accounts(ledger, broker, scope);
    const auto in_scope = customers_in_scope(scope, accounts);
    ledger.release();  // never hold a snapshot while waiting on the broker
    result.fetch.customers = accounts.size();
    if (accounts.empty()) return result;

    std::vector<BrokerData> kinds{BrokerData::positions};
    if (with_cash) kinds.insert(kinds.begin(), BrokerData::cash);
    const BrokerFetch fetched = hub.fetch(broker, accounts, kinds);
    note_fetch(result.fetch, fetched);
    if (fetched.unreachable) return result;

    // The fetch is done: now a short snapshot of the ledger.
    auto& txn = ledger.ledger();
    result.fetch.ledger_as_of = read_ledger_as_of(txn);
    PerCustomer cash;
    if (with_cash) {
        // Currency codes compare case-insensitively (the broker's are upper-cased too).
        for (auto& [customer, amounts] :
             read_amounts(txn, cast_txn_ids(ledger_cash_sql, txn_ids_differ(txn)), broker, scope, in_scope)) {
            for (auto& [currency, amount] : amounts) cash[customer][upper(currency)] += amount;
        }
    }
    const PerCustomer quantities = read_amounts(txn, ledger_quantities_sql, broker, scope, in_scope);
    ledger.release();

    const auto& tolerances = settings;
    static const Amounts none;
    for (const auto& account : fetched.accounts) {
        CustomerRecon customer{.account = account.account, .fetch_error = account.error};
        if (!account.error) {
            customer.broker_as_of = account.as_of();
            const auto ledger_of = [&](const PerCustomer& all) -> const Amounts& {
                const auto found = all.find(account.account.customer_id);
                return found == all.end() ? none : found->second;
            };
            if (with_cash) {
                const auto broker_cash = summed(
                    account.cash->items, [](const BrokerCash& c) { return upper(c.currency); },
                    [](const BrokerCash& c) { return c.amount; });
                customer.cash = compare_lines(ledger_of(cash), broker_cash, tolerances.cash_tolerance, std::nullopt);
            }
            const auto broker_quantities = summed(
                account.positions->items, [](const BrokerPosition& p) { return p.symbol; },
                [](const BrokerPosition& p) { return p.quantity; });
            customer.securities =
                compare_lines(ledger_of(quantities), broker_quantities, tolerances.quantity_match_tolerance,
                              tolerances.quantity_dust_tolerance);
        }
        result.customers.push_back(std::move(customer));
    }
    return result;
}

// ---- LRS ----------------------------------------------------------------------------------

LrsTieOut tie_out_lrs(std::vector<LrsRemittance> remittances, const std::vector<BrokerFunding>& funding,
                      const LrsRules& rules, Timestamp as_of)
{
    using namespace std::chrono;
    LrsTieOut out;
    std::sort(remittances.begin(), remittances.end(), [](const LrsRemittance& a, const LrsRemittance& b) {
        return std::tie(a.remitted_at, a.remittance_id) < std::tie(b.remitted_at, b.remittance_id);
    });
    for (const auto& remittance : remittances) {
        out.remitted_usd += remittance.usd_amount;
        out.remittances.push_back({.remittance = remittance});
    }

    for (const auto& deposit : funding) {
        if (upper(deposit.currency) != "USD" || lower(deposit.status) != "completed") {
            ++out.other_funding;
            continue;
        }
        out.wired_usd += deposit.amount;
        out.wires.push_back({.wire_id = deposit.funding_id,
                             .amount = deposit.amount,
                             .received_at = deposit.completed_at ? deposit.completed_at : deposit.initiated_at});
    }
    std::sort(out.wires.begin(), out.wires.end(), [](const WireResult& a, const WireResult& b) {
        return std::tie(a.received_at, a.wire_id) < std::tie(b.received_at, b.wire_id);
    });

    std::vector<bool> matched(out.remittances.size(), false);
    const auto fits = [&](const Decimal& sum, const Decimal& wire) {
        return wire <= sum + rules.cash_tolerance && sum - wire <= rules.fee_tolerance;
    };
    for (auto& wire : out.wires) {
        if (!wire.received_at) continue;  // undated: cannot be placed in any window
        std::vector<std::size_t> candidates;
        for (std::size_t i = 0; i < out.remittances.size(); ++i) {
            const Timestamp remitted = out.remittances[i].remittance.remitted_at;
            if (!matched[i] && *wire.received_at >= remitted - days(1) &&
                *wire.received_at <= remitted + days(rules.window_days)) {
                candidates.push_back(i);
            }
        }
        std::vector<std::size_t> chosen;
        // One remittance, the closest in amount.
        std::optional<Decimal> best_gap;
        for (const std::size_t i : candidates) {
            const Decimal& usd = out.remittances[i].remittance.usd_amount;
            if (!fits(usd, wire.amount)) continue;
            const Decimal gap = (usd - wire.amount).abs();
            if (!best_gap || gap < *best_gap) {
                best_gap = gap;
                chosen = {i};
            }
        }
        // Else a run of consecutive remittances settled together, earliest first.
        for (std::size_t start = 0; chosen.empty() && start < candidates.size(); ++start) {
            Decimal sum;
            for (std::size_t end = start; end < candidates.size(); ++end) {
                sum += out.remittances[candidates[end]].remittance.usd_amount;
                if (end > start && fits(sum, wire.amount)) {
                    chosen.assign(candidates.begin() + static_cast<std::ptrdiff_t>(start),
                                  candidates.begin() + static_cast<std::ptrdiff_t>(end) + 1);
                    break;
                }
                if (sum - wire.amount > rules.fee_tolerance) break;  // sums only grow
            }
        }
        Decimal settled;
        for (const std::size_t i : chosen) {
            matched[i] = true;
            out.remittances[i].bucket = LrsBucket::matched;
            out.remittances[i].wire_id = wire.wire_id;
            wire.remittance_ids.push_back(out.remittances[i].remittance.remittance_id);
            settled += out.remittances[i].remittance.usd_amount;
        }
        if (!chosen.empty()) wire.fee = settled - wire.amount;
    }

    for (std::size_t i = 0; i < out.remittances.size(); ++i) {
        auto& result = out.remittances[i];
        const auto age = as_of - result.remittance.remitted_at;
        result.age_days = std::max<std::int64_t>(0, duration_cast<hours>(age).count() / 24);
        if (matched[i]) continue;
        result.bucket = age > days(rules.aged_days) ? LrsBucket::aged_in_transit : LrsBucket::in_transit;
    }
    return out;
}

CheckStatus CustomerLrs::status() const
{
    if (fetch_error) return CheckStatus::warn;
    for (const auto& remittance : tie_out.remittances) {
        if (remittance.bucket == LrsBucket::aged_in_transit) return CheckStatus::fail;
    }
    return CheckStatus::ok;
}

LrsRecon reconcile_lrs(SnapshotProvider& ledger, BrokerHub& hub, const Settings& settings, const CustomerScope& scope,
                       Timestamp as_of)
{
    LrsRecon result;
    result.fetch.broker = BrokerId::viewtrade;
    const auto accounts = read_accounts(ledger, BrokerId::viewtrade, scope);
    const auto in_scope = customers_in_scope(scope, accounts);
    ledger.release();
    result.fetch.customers = accounts.size();
    if (accounts.empty()) return result;

    const BrokerFetch fetched = hub.fetch(BrokerId::viewtrade, accounts, {BrokerData::funding});
    note_fetch(result.fetch, fetched);
    if (fetched.unreachable) return result;

    auto& txn = ledger.ledger();
    result.fetch.ledger_as_of = read_ledger_as_of(txn);
    std::map<std::string, std::vector<LrsRemittance>> remittances;
    for (const auto& row : txn.exec_params(remittances_sql, std::string(broker_code(BrokerId::viewtrade)),
                                           nullable(scope.customer_id), nullable(in_scope))) {
        const std::string status = row["status"].is_null() ? std::string{} : row["status"].as<std::string>();
        const auto remitted_at =
            row["remitted_at"].is_null() ? std::nullopt : parse_utc(row["remitted_at"].as<std::string>());
        if ((status != "sent" && status != "settled") || !remitted_at || row["usd_amount"].is_null()) {
            ++result.remittances_excluded;
            continue;
        }
        remittances[row["customer_id"].as<std::string>()].push_back(
            {.remittance_id = row["remittance_id"].as<std::string>(),
             .usd_amount = Decimal::parse(row["usd_amount"].as<std::string>()),
             .remitted_at = *remitted_at,
             .status = status,
             .utr = row["utr"].as<std::string>()});
    }
    ledger.release();

    const LrsRules rules{.fee_tolerance = settings.brokers.lrs_fee_tolerance,
                         .cash_tolerance = settings.cash_tolerance,
                         .window_days = settings.brokers.lrs_match_window_days,
                         .aged_days = settings.lrs_aged_days};
    for (const auto& account : fetched.accounts) {
        CustomerLrs customer{.account = account.account, .fetch_error = account.error};
        if (!account.error) {
            customer.broker_as_of = account.as_of();
            auto mine = remittances.find(account.account.customer_id);
            customer.tie_out = tie_out_lrs(mine == remittances.end() ? std::vector<LrsRemittance>{} : mine->second,
                                           account.funding->items, rules, as_of);
        }
        result.customers.push_back(std::move(customer));
    }
    return result;
}

}  // namespace reconcile
