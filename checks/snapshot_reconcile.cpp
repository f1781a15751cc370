// snapshot_reconcile (B): each stored balance snapshot equals the balance replayed from the
// booked journal up to the snapshot's as-of time. The clock is the transaction's effective_at
// (business time, inclusive): a posting back-dated into a snapshotted period is a break.
// Cost is bounded by RECON_SNAPSHOT_WINDOW_DAYS: per (account, customer, currency) only the
// latest snapshot up to the run's as-of time and those within that many days before it are
// replayed. The window is anchored at the run's as-of time, so a snapshot dated after it cannot
// become the key's "latest" and push real breaks out of the window: it is reported itself
// (future_snapshot) and never replayed.
#include <fmt/format.h>

#include "checks/proof.hpp"
#include "checks/sql_support.hpp"

namespace reconcile {
namespace {

// The replay is one pass over the journal. Each chosen snapshot key gets a numeric id; every
// booked line of a key up to its latest chosen snapshot is attributed to it (a snapshot without a
// customer covers the whole account: every customer's lines and those without one; a snapshot
// with a customer covers that customer's lines). Each line is offered under two match keys,
// 'c' || its customer and 'a' (the whole account), so one hash join on (match key, account,
// currency) attributes it to both kinds of snapshot in a single scan. The lines are joined
// with their transactions behind OFFSET 0: planned on the tables' own statistics (a parallel
// hash join) instead of after the snapshot keys, whose CTE estimate is a guess that once led
// the planner to probe the transactions index once per line (97 s instead of 38 s at 10M lines). Lines up to the key's
// earliest chosen snapshot are summed into one opening row per key by a hash aggregate, so only the window's own lines,
// the opening rows and the snapshots are sorted; a running sum per key, lines before a snapshot
// at the same instant (as_of is inclusive), gives each snapshot its replayed balance. Which
// snapshots are replayed is chosen_snapshots_ctes (checks/proof.hpp).
const std::string snapshots_chosen_sql = "WITH " + chosen_snapshots_ctes("contract.balance_snapshots") + ",\n";

/// The 64-bit hash of a snapshot's key, from its text columns.
constexpr const char* key_hash_sql =
    "hash_record_extended(ROW(account_code::text, customer_id::text, currency::text), 0)";
/// ... and of a whole snapshot row (numeric hashes ignore the scale: it is hashed too); over the
/// view's columns or their text casts alike.
constexpr const char* row_hash_sql =
    "hash_record_extended(ROW(account_code::text, customer_id::text, currency::text, "
    "snapshot_id::text, as_of, balance, scale(balance)), 0)";

/// Whether a snapshot came due since the last check (dated after its as-of, not after this run's).
constexpr const char* come_due_sql =
    "coalesce(bool_or(as_of > (SELECT as_of FROM checked_before) AND as_of <= $2::timestamptz), false)";

// With the proof, only the keys that may have changed are replayed; the others keep the verdict
// stored by the check that last replayed them (recon.proof_snapshot_*, written with the proof).
// A key's verdict is a function of its snapshot rows (a digest and count of them), of the
// snapshots come due since that check (as-of after its as-of, not after this run's), and of its
// sums up to its latest replayed snapshot: those of the key, or of any customer of its account
// for a whole-account snapshot. Every run since that changed sums marked the keys dirty from the
// earliest span it changed (recon.proof_dirty_keys, and this run's groups): lines effective after
// every replayed snapshot of a key, the hourly case, leave it as it was. Keys are told apart by a
// 64-bit hash (an int8 groups and joins far cheaper than three texts); keys that share one are
// stored and replayed together, each still chosen and replayed by its own key. Every key is
// replayed when nothing was stored, or a full proof came after it (a line deleted leaves no dirty
// key), or with another window, or when the clock went back. When the snapshot rows as a whole
// are as they were (a count and digest of every row) and none came due, only dirty keys are
// looked at, without grouping every snapshot by key.
// $1 window days, $2 run as-of, $3 the run of the proof's last full proof (0: this run).
const std::string snapshots_to_replay_sql =
    fmt::format(R"sql(WITH
all_snapshots AS NOT MATERIALIZED (
    SELECT snapshot_id::text AS snapshot_id, account_code::text AS account_code, customer_id::text AS customer_id,
           currency::text AS currency, as_of, balance, {1} AS key_hash
    FROM contract.balance_snapshots
),
checked_before AS MATERIALIZED (
    SELECT version, as_of, n, digest FROM recon.proof_snapshot_state
    WHERE id = 1 AND window_days = $1::int AND as_of <= $2::timestamptz AND $3::bigint <> 0 AND version >= $3::bigint
),
every_snapshot AS MATERIALIZED (
    SELECT count(*) AS n, coalesce(sum({2}), 0) AS digest, {3} AS come_due FROM all_snapshots
),
unchanged AS MATERIALIZED (
    SELECT EXISTS (SELECT 1 FROM checked_before b, every_snapshot e
                   WHERE b.n = e.n AND b.digest = e.digest AND NOT e.come_due) AS rows
),
key_state AS MATERIALIZED (
    SELECT key_hash, count(*) AS n, sum({2}) AS digest, {3} AS come_due
    FROM all_snapshots WHERE NOT (SELECT rows FROM unchanged) GROUP BY 1
),
stored_keys AS MATERIALIZED (
    SELECT s.key_hash, s.digest, s.n, s.checked, s.latest FROM recon.proof_snapshot_keys s
    WHERE EXISTS (SELECT 1 FROM checked_before)
),
dirty AS MATERIALIZED (
    SELECT key, upto FROM recon.proof_dirty_keys WHERE version > (SELECT version FROM checked_before)
    UNION ALL
    SELECT key, upto FROM ({4}) changed
),
dirty_keys AS MATERIALIZED (
    SELECT key_hash, min(upto) AS upto
    FROM (SELECT hash_record_extended(ROW(key[1], key[2], key[3]), 0) AS key_hash, upto FROM dirty
          UNION ALL
          SELECT hash_record_extended(ROW(key[1], NULL::text, key[3]), 0), upto FROM dirty) d
    GROUP BY key_hash
),
reached AS MATERIALIZED (
    SELECT s.key_hash FROM stored_keys s JOIN dirty_keys d ON d.key_hash = s.key_hash WHERE d.upto <= s.latest
),
rechecked AS MATERIALIZED (
    SELECT k.key_hash, k.n, k.digest
    FROM key_state k
    LEFT JOIN stored_keys s ON s.key_hash = k.key_hash
    WHERE s.key_hash IS NULL OR s.n <> k.n OR s.digest <> k.digest OR k.come_due
       OR k.key_hash IN (SELECT key_hash FROM reached)
    UNION ALL
    SELECT s.key_hash, s.n, s.digest
    FROM stored_keys s
    WHERE (SELECT rows FROM unchanged) AND s.key_hash IN (SELECT key_hash FROM reached)
),
ranked AS MATERIALIZED (
    SELECT *, ARRAY[account_code, customer_id, currency] AS snapshot_key
    FROM all_snapshots WHERE key_hash IN (SELECT key_hash FROM rechecked)
),
snapshot_key_ids AS MATERIALIZED (
    SELECT snapshot_key, latest, row_number() OVER () AS key_id
    FROM (SELECT snapshot_key, max(as_of) FILTER (WHERE as_of <= $2::timestamptz) AS latest
          FROM ranked GROUP BY snapshot_key) k
),
chosen AS MATERIALIZED (
    SELECT r.snapshot_id, r.account_code, r.customer_id, r.currency, r.as_of, r.balance, k.latest, k.key_id, r.key_hash
    FROM ranked r
    JOIN snapshot_key_ids k ON k.snapshot_key = r.snapshot_key
    WHERE {0}
),
carried AS MATERIALIZED (
    SELECT s.key_hash, s.checked, s.latest
    FROM stored_keys s
    WHERE ((SELECT rows FROM unchanged) OR s.key_hash IN (SELECT key_hash FROM key_state))
      AND s.key_hash NOT IN (SELECT key_hash FROM rechecked)
),
)sql",
                chosen_window_sql, key_hash_sql, row_hash_sql, come_due_sql, changed_keys_sql);

// What the check leaves for the proof's store (pg_temp.snapshot_*): the replayed keys' state
// and breaks, the keys whose snapshots are all gone (none left), and that it checked.
const std::string snapshot_state_sql = fmt::format(R"sql(
replayed_keys AS (
    INSERT INTO pg_temp.snapshot_keys_new (key_hash, digest, n, checked, latest)
    SELECT k.key_hash, k.digest, k.n, count(c.key_id), max(c.as_of)
    FROM rechecked k LEFT JOIN chosen c ON c.key_hash = k.key_hash
    GROUP BY k.key_hash, k.digest, k.n
    UNION ALL
    SELECT s.key_hash, 0, 0, 0, NULL FROM stored_keys s
    WHERE NOT (SELECT rows FROM unchanged) AND s.key_hash NOT IN (SELECT key_hash FROM key_state)
    RETURNING 1
),
replayed_breaks AS (
    INSERT INTO pg_temp.snapshot_breaks_new (key_hash, snapshot_id, account, customer, currency, as_of, replayed, stored)
    SELECT {0}, snapshot_id, account_code, customer_id, currency, as_of, replayed, stored
    FROM replayed WHERE stored <> replayed
    RETURNING 1
),
checked_now AS (
    INSERT INTO pg_temp.snapshot_checked (everything, as_of, window_days, n, digest)
    SELECT NOT EXISTS (SELECT 1 FROM checked_before), $2::timestamptz, $1::int, n, digest FROM every_snapshot
    RETURNING 1
),
)sql",
                                                   key_hash_sql);

// The stored verdicts of the keys not replayed: a branch of the breaks.
const std::string carried_breaks_sql = R"sql(
    SELECT 'snapshot_mismatch', b.snapshot_id, b.account, b.customer, b.currency, b.as_of, b.replayed, b.stored,
           b.stored - b.replayed
    FROM recon.proof_snapshot_breaks b WHERE b.key_hash IN (SELECT key_hash FROM carried)
    UNION ALL)sql";

const std::string replayed_from_journal = fmt::format(R"sql(
snapshot_keys AS MATERIALIZED (
    SELECT key_id, min(account_code) AS account_code, min(currency) AS currency,
           coalesce('c' || min(customer_id), 'a') AS match_key, min(as_of) AS first_as_of, max(as_of) AS until
    FROM chosen GROUP BY key_id
),
lines AS NOT MATERIALIZED (
    SELECT l.account_code::text AS account_code, l.currency::text AS currency,
           t.effective_at AS at, CASE WHEN l.side::text = a.normal_side THEN l.amount ELSE -l.amount END AS delta,
           unnest(ARRAY['c' || l.customer_id::text, 'a']) AS match_key
    FROM contract.journal_lines l
    JOIN {1} a ON a.account_code = l.account_code::text
    JOIN contract.transactions t ON t.txn_id::txnid = l.txn_id::txnid
    WHERE t.status IN {0} AND l.side IN ('DR', 'CR') AND l.amount IS NOT NULL
    OFFSET 0
),
attributed AS (
    SELECT k.key_id, k.first_as_of, l.at, l.delta
    FROM lines l
    JOIN snapshot_keys k ON k.match_key = l.match_key AND k.account_code = l.account_code
                        AND k.currency = l.currency AND l.at <= k.until
),
events AS (
    SELECT key_id, CASE WHEN at <= first_as_of THEN '-infinity'::timestamptz ELSE at END AS at, 0 AS ord,
           sum(delta) AS delta, NULL::text AS snapshot_id, NULL::text AS account_code,
           NULL::text AS customer_id, NULL::text AS currency, NULL::timestamptz AS as_of, NULL::numeric AS stored
    FROM attributed GROUP BY 1, 2
    UNION ALL
    SELECT key_id, as_of, 1, 0, snapshot_id, account_code, customer_id, currency, as_of, balance FROM chosen
),
replayed AS MATERIALIZED (
    SELECT snapshot_id, account_code, customer_id, currency, as_of, stored, replayed
    FROM (SELECT *, sum(delta) OVER (PARTITION BY key_id ORDER BY at, ord ROWS UNBOUNDED PRECEDING) AS replayed
          FROM events) e
    WHERE ord = 1
),
)sql",
                                                      booked_statuses_sql, chart_sql);

// The same from the proof's groups (checks/proof.hpp): a snapshot's balance is the sum of its
// key's spans that end at or before its as-of (the proof never lets a span straddle it). A
// customer's snapshot sums that customer's groups, an account's snapshot the account's groups
// summed over customers (proof_account_groups), summed per instant first, once: the planner
// cannot know how few whole-account snapshots there are and would re-sum them per snapshot.
const std::string replayed_from_proof = fmt::format(R"sql(
numbered AS MATERIALIZED (
    SELECT row_number() OVER () AS n, * FROM chosen
),
customer_sums AS (
    SELECT c.n, sum({0}) AS replayed
    FROM numbered c
    JOIN {1} a ON a.account_code = c.account_code
    JOIN pg_temp.proof_groups g ON g.account = c.account_code COLLATE "C" AND g.customer = c.customer_id COLLATE "C"
                               AND g.currency = c.currency COLLATE "C" AND g.upto <= c.as_of
    WHERE c.customer_id IS NOT NULL AND EXISTS (SELECT 1 FROM chosen)
    GROUP BY c.n
),
account_spans AS MATERIALIZED (
    SELECT g.account, g.currency, g.upto, sum({0}) AS delta
    FROM pg_temp.proof_account_groups g
    JOIN {1} a ON a.account_code = g.account
    WHERE g.upto IS NOT NULL AND EXISTS (SELECT 1 FROM chosen WHERE customer_id IS NULL)
      AND (g.account, g.currency) IN (SELECT account_code, currency FROM chosen WHERE customer_id IS NULL)
    GROUP BY 1, 2, 3
),
account_sums AS (
    SELECT c.n, sum(s.delta) AS replayed
    FROM numbered c
    JOIN account_spans s ON s.account = c.account_code AND s.currency = c.currency AND s.upto <= c.as_of
    WHERE c.customer_id IS NULL
    GROUP BY c.n
),
replayed AS MATERIALIZED (
    SELECT c.snapshot_id, c.account_code, c.customer_id, c.currency, c.as_of, c.balance AS stored,
           coalesce(cs.replayed, ac.replayed, 0) AS replayed
    FROM numbered c
    LEFT JOIN customer_sums cs ON cs.n = c.n
    LEFT JOIN account_sums ac ON ac.n = c.n
),
)sql",
                                                    proof_signed_sql, chart_sql);

/// What the breaks and the summary read besides `replayed`, the snapshots replayed now.
struct BreakSources {
    std::string carried;       ///< verdicts kept from an earlier check: a UNION ALL branch of `breaks`, or ""
    std::string checked;       ///< how many snapshots were checked (an aggregate over `replayed`)
    std::string latest_as_of;  ///< the latest as-of checked (likewise)
    std::string limit;         ///< the parameter of the LIMIT
    std::string snapshots;     ///< the relation holding every snapshot (for those dated after the run)
    std::string total;         ///< how many snapshots there are, from what the statement read already
};

/// The breaks and the summary of a snapshot_reconcile statement.
std::string snapshot_breaks_sql(const BreakSources& from)
{
    return fmt::format(R"sql(
breaks AS (
    SELECT 'snapshot_mismatch' AS kind, snapshot_id, account_code, customer_id, currency, as_of, replayed, stored,
           stored - replayed AS difference
    FROM replayed WHERE stored <> replayed
    UNION ALL{0}
    SELECT 'future_snapshot', snapshot_id, account_code, customer_id, currency, as_of, NULL, balance, NULL
    FROM {4} WHERE as_of > $2::timestamptz
),
counted AS (
    SELECT *, count(*) OVER () AS total, sum((kind = 'future_snapshot')::int) OVER () AS future FROM breaks
)
SELECT 'summary' AS row_kind, NULL AS snapshot_id, NULL AS account_code, NULL AS customer_id, NULL AS currency,
       NULL AS as_of, NULL AS replayed, NULL AS stored, NULL AS difference, NULL::bigint AS total,
       {5} AS snapshots_total, {1} AS snapshots_checked,
       coalesce(to_char({2} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), '') AS latest_as_of,
       NULL AS kind, 0::bigint AS future
FROM replayed
UNION ALL
(SELECT 'break', snapshot_id, account_code, customer_id, currency,
        to_char(as_of AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        replayed::text, stored::text, difference::text, total, NULL, NULL, NULL, kind, future
 FROM counted
 ORDER BY kind = 'snapshot_mismatch', abs(difference) DESC, account_code, customer_id, currency, as_of, snapshot_id
 LIMIT {3})
)sql",
                       from.carried, from.checked, from.latest_as_of, from.limit, from.snapshots, from.total);
}

class SnapshotReconcile : public ProvedCheck {
public:
    std::string_view name() const override { return "snapshot_reconcile"; }
    Category category() const override { return Category::B; }
    std::set<ContractView> reads() const override
    {
        return {ContractView::accounts, ContractView::transactions, ContractView::journal_lines,
                ContractView::balance_snapshots};
    }
    std::string_view description() const override
    {
        return "Each stored balance snapshot equals the balance replayed from the journal up to its as-of time.";
    }

    void run(CheckContext& context) const override
    {
        const auto window_days = context.settings().snapshot_window_days;
        const std::string run_as_of = format_utc(context.as_of());
        const Proof& proved = proof(context);
        const auto rows =
            proved.available
                ? CappedRows::listing(
                      context,
                      snapshots_to_replay_sql + replayed_from_proof + snapshot_state_sql +
                          snapshot_breaks_sql(
                              {.carried = carried_breaks_sql,
                               .checked = "count(*) + (SELECT coalesce(sum(checked), 0) FROM carried)",
                               .latest_as_of = "greatest(max(as_of), (SELECT max(latest) FROM carried))",
                               .limit = "$4",
                               .snapshots = "all_snapshots",
                               .total = "(SELECT n FROM every_snapshot)"}),
                      window_days, run_as_of, proved.full_run_id)
                : CappedRows::listing(
                      context,
                      ids_sql(context, snapshots_chosen_sql + replayed_from_journal +
                                           snapshot_breaks_sql({.carried = "",
                                                                .checked = "count(*)",
                                                                .latest_as_of = "max(as_of)",
                                                                .limit = "$3",
                                                                .snapshots = "ranked",
                                                                .total = "(SELECT count(*) FROM ranked)"})),
                      window_days, run_as_of);
        const NamedRow summary = rows.one();
        context.metrics()["snapshots_total"] = summary.number("snapshots_total");
        context.metrics()["snapshots_checked"] = summary.number("snapshots_checked");
        context.metrics()["latest_as_of"] = summary.text("latest_as_of");
        const auto future_row = rows.first("break");
        const std::int64_t future = future_row ? future_row->number("future") : 0;
        const std::int64_t total = rows.list(context, "break", {"total"}, [&](const NamedRow& row) {
            Variance variance{.kind = row.text("kind"),
                              .keys = row.keys({{"snapshot_id", "snapshot_id"},
                                                {"account", "account_code"},
                                                {"customer_id", "customer_id", true},
                                                {"currency", "currency"}}),
                              .expected = row.optional_text("replayed"),
                              .actual = row.text("stored"),
                              .difference = row.optional_text("difference")};
            variance.detail = {{"as_of", row.text("as_of")}};
            // A snapshot dated after the run is not replayed (its balance is not yet knowable).
            if (variance.kind == "future_snapshot") variance.detail["run_as_of"] = run_as_of;
            return variance;
        });
        context.metrics()["mismatched"] = total - future;
        context.metrics()["future_snapshots"] = future;
        context.metrics()["window_days"] = window_days;
        context.metrics()["clock"] = "effective_at";
        if (context.variances().total() > 0) context.raise(CheckStatus::fail);
    }
};

}  // namespace

std::unique_ptr<Check> make_snapshot_reconcile()
{
    return std::make_unique<SnapshotReconcile>();
}

}  // namespace reconcile
