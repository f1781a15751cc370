#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <pqxx/pqxx>

#include "lib/check.hpp"

namespace reconcile {

/// How a statement tells a row committed after a stored proof's snapshot from one that snapshot
/// saw, by the row's xmin: the fence is the statement's parameter $1 (`parameter`), either
/// (`listed`) every transaction id that may have committed since, or the numbers test() places
/// an xmin against.
struct Fence {
    bool listed = false;
    std::string parameter;

    /// The SQL test of `xmin` (an expression of type xid): true when that row is newer.
    std::string test(const std::string& xmin) const;
};

/// The proof of categories A and B (docs/decisions/incremental-proof.md): the booked journal
/// grouped once per (account, customer, currency, span of effective time), each transaction's
/// verdict, every defective line and duplicated source key, in temporary tables of the run's
/// snapshot that every A and B check reads:
///   pg_temp.proof_groups      account, customer, currency, after, upto, dr, cr, lines, all_lines
///   pg_temp.proof_account_groups  the same summed over customers: account, currency, after, upto, ...
///   pg_temp.proof_keys        the same summed over spans, one row per key: account, customer,
///                             currency, dr, cr, lines, all_lines
///   pg_temp.proof_currencies  currency, txn_groups
///   pg_temp.proof_wrong_sides every key whose balance is on the wrong side of an account that
///                             forbids it: account, customer, currency, balance (below zero)
///   pg_temp.proof_breaks      txn_id, kind ('unbalanced' | 'misshapen' | 'unknown_status'), currency, debits, credits,
///                             lines, debit_lines, credit_lines
///   pg_temp.proof_defects     line_id, txn_id, account_code, side, amount and one flag per rule
///   pg_temp.proof_duplicates  source, source_txn_id, n
/// A run either proves them from scratch (full) or extends the stored proof of the previous run
/// with what was committed since (incremental); either way the tables hold the same rows' sums.
struct Proof {
    bool available = false;  ///< false on a standby: the checks read the journal themselves
    std::int64_t booked_transactions = 0;
    std::int64_t lines = 0;          ///< every journal line
    std::int64_t transactions = 0;   ///< every transaction row
    std::int64_t suspect_lines = 0;  ///< lines in proof_defects
    /// The run of the last full proof the proof rests on; 0 when this run proved in full. Only when
    /// it is not do pg_temp.proof_keys_new hold just the keys whose sums changed since the stored proof.
    std::int64_t full_run_id = 0;
    /// Whether contract.wallets names each row's xmin (row_xmin of type xid): then the wallets'
    /// fence can tell which wallet rows changed since a stored comparison.
    bool wallets_name_row_xmin = false;
    /// A scheduled full proof that differs from the incremental answer at the same snapshot: one
    /// `incremental_drift` variance per difference (reported by trial_balance_zero in A runs and
    /// account_totals in B runs).
    std::vector<Variance> drift;
};

/// The fence of a stored watermark (a run's snapshot): which rows committed since, by their xmin.
Fence fence_since(pqxx::transaction_base& txn, const std::string& watermark);

/// Adds the proof's drift to the check's variances and metrics (failing it when there is any).
void report_drift(CheckContext& context);

/// The session setup the proof needs (its temporary tables), for Check::snapshot_setup_sql.
std::string_view proof_setup_sql();

/// The proof of this snapshot, computed by the first check that asks. Throws when it failed.
const Proof& proof(CheckContext& context);

/// A check that reads the proof: the snapshot creates the proof's temporary tables and builds
/// the proof before any check runs, while its groupings may still be planned in parallel.
class ProvedCheck : public Check {
public:
    std::string_view snapshot_setup_sql() const override { return proof_setup_sql(); }
    void prepare_snapshot(CheckContext& context) const override { proof(context); }
};

/// The rule of which balance snapshots are replayed, for snapshot_reconcile, the proof's cut-offs
/// and its test for a snapshot inside a stored span: the CTEs `ranked` (every snapshot of
/// `source`, a relation with the columns of contract.balance_snapshots, with text keys) and
/// `chosen` (the latest snapshot per (account, customer, currency) up to the run's as-of, $2,
/// and those within $1 days before it, each with its key's latest as-of, `latest`, and an id of
/// its key, `key_id`), without WITH or a trailing comma.
std::string chosen_snapshots_ctes(std::string_view source);

/// Whether snapshot `r` (a row of `ranked`) is replayed, given its key's latest as-of up to the
/// run's, `k.latest`: the window rule of chosen_snapshots_ctes, for a check choosing among fewer keys.
inline constexpr const char* chosen_window_sql =
    "r.as_of <= $2::timestamptz AND r.as_of >= k.latest - make_interval(days => $1::int)";

/// The keys whose sums this run's proof changed, each with the end of the earliest span changed
/// (`key` ARRAY[account, customer, currency], `upto`): a span without an end counts in no
/// snapshot. What the proof's store marks dirty, and what snapshot_reconcile adds to the marks.
inline constexpr const char* changed_keys_sql =
    "SELECT ARRAY[account, customer, currency] AS key, min(upto) AS upto FROM pg_temp.proof_groups_new "
    "WHERE upto IS NOT NULL GROUP BY account, customer, currency";

/// The proof's sums per key: the stored keys this run did not sum again and those it did, of the
/// accounts in `accounts` (an SQL array of text; every account when empty): the temporary view
/// pg_temp.proof_keys is it unfiltered. A filter here applies before the stored keys are matched
/// with the new ones, which a filter on the view cannot (0.26 s of wallet_derivation's 0.78 s
/// at 10M lines matched every account's keys, issue 16).
std::string proof_keys_sql(const std::string& accounts = {});

/// The signed balance of a proof_groups row `g` in the direction of account `a`'s normal side
/// (a side other than DR or CR counts every line against it, as the checks always have).
inline constexpr const char* proof_signed_sql =
    "CASE a.normal_side WHEN 'DR' THEN g.dr - g.cr WHEN 'CR' THEN g.cr - g.dr ELSE -(g.dr + g.cr) END";

}  // namespace reconcile
