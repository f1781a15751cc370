#pragma once

// The comparison behind category C and the India reports: one piece of code serving both.
// Each reconcile_* function reads the customers from contract.broker_accounts, releases the
// ledger snapshot, fetches from the broker, then reads the ledger in a fresh short snapshot and
// compares (never a snapshot held open across HTTP). The checks turn the result into variances
// (checks/external_support.hpp), the reports into per-customer JSON (lib/india_reports.hpp).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/brokers/broker.hpp"
#include "lib/check.hpp"
#include "lib/config.hpp"
#include "lib/decimal.hpp"
#include "lib/results.hpp"
#include "lib/shard.hpp"
#include "lib/timeutil.hpp"

namespace reconcile {

/// How one compared amount or quantity came out. Absent counts as zero.
enum class LineOutcome {
    match,        ///< the difference is within the match tolerance
    dust,         ///< within the dust tolerance (quantities only): a warning
    mismatch,     ///< both sides hold something, and they differ
    ledger_only,  ///< the ledger holds it, the broker does not (a missed sell, a lost deposit)
    broker_only,  ///< the broker holds it, the ledger does not (a missing buy ingest)
};

/// "match", "quantity_dust", "mismatch", "ledger_only", "broker_only".
std::string_view to_string(LineOutcome outcome);

/// One compared line: a currency's cash or an instrument's share count of one customer.
struct ComparedLine {
    std::string key;  ///< currency or symbol
    Decimal ledger;
    Decimal broker;
    Decimal difference;  ///< ledger - broker (expected - actual)
    LineOutcome outcome = LineOutcome::match;
};

/// Compares per key, absent keys counting as zero: within `match` is a match, within `dust`
/// (when given) dust, else ledger_only / broker_only / mismatch. Sorted by key.
std::vector<ComparedLine> compare_lines(const std::map<std::string, Decimal>& ledger,
                                        const std::map<std::string, Decimal>& broker, const Decimal& match,
                                        const std::optional<Decimal>& dust);

/// Which of a broker's customers an external comparison covers: every one, one (the India
/// reports' --customer), or those of one shard (`run --shard K/N`). Whoever is out of scope is
/// neither fetched nor read from the ledger, nor counted.
struct CustomerScope {
    std::optional<std::string> customer_id;
    std::optional<Shard> shard;
};

/// What a broker fan-out left behind, shared by every external result.
struct ExternalFetch {
    BrokerId broker = BrokerId::gtn;
    std::size_t customers = 0;     ///< accounts at this broker in contract.broker_accounts (in scope)
    std::size_t fetch_errors = 0;  ///< customers whose data could not be fetched
    bool unreachable = false;      ///< the broker as a whole could not be reached
    bool not_configured = false;   ///< ... because its settings are missing
    std::string unreachable_reason;
    std::optional<Timestamp> ledger_as_of;  ///< when the ledger was read (nullopt: not read)
    std::optional<Timestamp> broker_as_of_earliest;
    std::optional<Timestamp> broker_as_of_latest;
};

/// How the fetch went as a whole: nothing to ask, reachable, unreachable or not configured.
BrokerReach broker_status(const ExternalFetch& fetch);

/// The check-level verdict of an external result: the worst customer status, raised to error
/// when the broker was unreachable as a whole or more than RECON_BROKER_MAX_FAILED_SHARE of
/// the customers could not be fetched (a proven break still outranks that error).
struct ExternalVerdict {
    CheckStatus status = CheckStatus::ok;
    std::optional<std::string> incomplete;  ///< why the result is not complete, when it is not
};
ExternalVerdict external_verdict(const ExternalFetch& fetch, CheckStatus worst_customer,
                                 const BrokerSettings& settings);

/// One customer's account compared with the ledger (cash and/or share counts).
struct CustomerRecon {
    BrokerAccount account;
    std::optional<std::string> fetch_error;
    std::optional<Timestamp> broker_as_of;
    std::vector<ComparedLine> cash;        ///< empty unless cash is compared
    std::vector<ComparedLine> securities;  ///< share counts per instrument
    /// fail on any break, warn on dust or a fetch error, else ok.
    CheckStatus status() const;
};

/// Every account of one broker compared: gtn_ledger_recon, viewtrade_ledger_recon (with cash),
/// zag_holdings_recon, viewtrade_holdings_recon (share counts only), India reports.
struct AccountsRecon {
    ExternalFetch fetch;
    bool with_cash = false;
    std::vector<CustomerRecon> customers;  ///< ordered by customer id
};

/// Reads the accounts of `broker` in `scope`, fetches their cash (when
/// `with_cash`) and positions, and compares with the ledger's customer-wallet balances per
/// currency and Σ signed quantity of booked transactions per symbol (custody at cost: share
/// counts, never market values). No broker call when there is no account.
AccountsRecon reconcile_accounts(SnapshotProvider& ledger, BrokerHub& hub, const Settings& settings, BrokerId broker,
                                 bool with_cash, const CustomerScope& scope);

// ---- LRS remittances vs ViewTrade wires ---------------------------------------------------

/// Where a remittance stands.
enum class LrsBucket {
    matched,          ///< a wire into ViewTrade accounts for it (alone or with others)
    in_transit,       ///< no wire yet, younger than RECON_LRS_AGED_DAYS: timing
    aged_in_transit,  ///< no wire after RECON_LRS_AGED_DAYS: a break
};
/// "matched", "in_transit", "aged_in_transit".
std::string_view to_string(LrsBucket bucket);

/// A USD amount as every output shows it: at least the currency's 2 decimals (cents), so an
/// empty bucket's "0.00" sits beside "750.00", never "0" (the LRS report and check metrics).
std::string usd_text(const Decimal& amount);

/// One LRS remittance of the ledger (status sent or settled).
struct LrsRemittance {
    std::string remittance_id;
    Decimal usd_amount;
    Timestamp remitted_at{};  ///< settled_at, else initiated_at
    std::string status;
    std::string utr;
};

/// The rules of the tie-out (settings).
struct LrsRules {
    Decimal fee_tolerance;         ///< a wire may arrive this much below what it settles (bank fees)
    Decimal cash_tolerance;        ///< ... and this much above
    std::int64_t window_days = 7;  ///< a wire lands within this many days after a remittance
    std::int64_t aged_days = 5;    ///< unmatched longer than this is aged
};

struct RemittanceResult {
    LrsRemittance remittance;
    LrsBucket bucket = LrsBucket::in_transit;
    std::optional<std::string> wire_id;
    std::int64_t age_days = 0;  ///< whole days from remitted_at to the as-of time
};

struct WireResult {
    std::string wire_id;
    Decimal amount;
    std::optional<Timestamp> received_at;
    std::vector<std::string> remittance_ids;  ///< empty: unmatched funding (informational)
    Decimal fee;                              ///< remitted - wired, for matched wires
};

/// One customer's remittances against the wires ViewTrade received.
struct LrsTieOut {
    std::vector<RemittanceResult> remittances;  ///< by remitted_at
    std::vector<WireResult> wires;              ///< completed USD wires, by received_at
    std::size_t other_funding = 0;              ///< deposits not counted (pending, returned, not USD)
    Decimal remitted_usd;
    Decimal wired_usd;
};

/// Matches wires to remittances of one customer: a wire settles one remittance, or a run of
/// consecutive unmatched ones ("many remittances may settle as one wire"), when it arrived
/// from a day before to `window_days` after each of them and its amount is at most
/// `fee_tolerance` below (or `cash_tolerance` above) their sum. A single remittance is
/// preferred over a run. Pure: the unit tests drive it directly.
LrsTieOut tie_out_lrs(std::vector<LrsRemittance> remittances, const std::vector<BrokerFunding>& funding,
                      const LrsRules& rules, Timestamp as_of);

struct CustomerLrs {
    BrokerAccount account;
    std::optional<std::string> fetch_error;
    std::optional<Timestamp> broker_as_of;
    LrsTieOut tie_out;
    /// fail when a remittance is aged in transit, warn on a fetch error, else ok.
    CheckStatus status() const;
};

struct LrsRecon {
    ExternalFetch fetch;
    std::vector<CustomerLrs> customers;
    std::size_t remittances_excluded = 0;  ///< not yet sent, failed or returned
};

/// Per India customer with a ViewTrade account (in `scope`): Σ USD remitted under LRS vs Σ USD
/// wired in.
LrsRecon reconcile_lrs(SnapshotProvider& ledger, BrokerHub& hub, const Settings& settings, const CustomerScope& scope,
                       Timestamp as_of);

}  // namespace reconcile
