// snapshot_reconcile (B): each stored balance snapshot equals the balance replayed from the
// booked journal up to the snapshot's as-of time. The clock is the transaction's effective_at
// (business time, inclusive): a posting back-dated into a snapshotted period is a break.
// Cost is bounded by RECON_SNAPSHOT_WINDOW_DAYS: per (account, customer, currency) only the
// latest snapshot and those within that many days before it are replayed.
#include <fmt/format.h>

#include "checks/sql_support.hpp"

namespace reconcile {
namespace {

// The replay is one pass: the chosen snapshots and the booked lines of their keys form one
// event stream per key, ordered by time (lines before a snapshot at the same instant, since
// as_of is inclusive), and a running sum gives each snapshot its replayed balance. A snapshot
// without a customer covers the whole account (every customer's lines and those without one);
// a snapshot with a customer covers that customer's lines of the account.
const std::string snapshot_reconcile_sql = fmt::format(R"sql(
WITH ranked AS (
    SELECT snapshot_id::text AS snapshot_id, account_code::text AS account_code,
           customer_id::text AS customer_id, currency::text AS currency, as_of, balance,
           max(as_of) OVER (PARTITION BY account_code::text, customer_id::text, currency::text) AS latest
    FROM contract.balance_snapshots
),
chosen AS MATERIALIZED (
    SELECT * FROM ranked WHERE as_of >= latest - make_interval(days => $1::int)
),
snapshot_keys AS MATERIALIZED (
    SELECT account_code, customer_id, currency, max(as_of) AS until FROM chosen GROUP BY 1, 2, 3
),
movements AS MATERIALIZED (
    SELECT l.account_code::text AS account_code, l.customer_id::text AS customer_id, l.currency::text AS currency,
           t.effective_at AS at, CASE WHEN l.side = a.normal_side THEN l.amount ELSE -l.amount END AS delta
    FROM contract.journal_lines l
    JOIN contract.accounts a ON a.account_code = l.account_code
    JOIN contract.transactions t ON t.txn_id = l.txn_id
    WHERE t.status IN {} AND l.side IN ('DR', 'CR') AND l.amount IS NOT NULL
      AND l.account_code::text IN (SELECT account_code FROM snapshot_keys)
),
events AS (
    SELECT k.account_code, k.customer_id, k.currency, m.at, 0 AS ord, m.delta,
           NULL::text AS snapshot_id, NULL::numeric AS stored, NULL::timestamptz AS as_of
    FROM movements m
    JOIN snapshot_keys k ON k.customer_id IS NOT NULL AND k.account_code = m.account_code
                        AND k.customer_id = m.customer_id AND k.currency = m.currency AND m.at <= k.until
    UNION ALL
    SELECT k.account_code, NULL, k.currency, m.at, 0, m.delta, NULL, NULL, NULL
    FROM movements m
    JOIN snapshot_keys k ON k.customer_id IS NULL AND k.account_code = m.account_code
                        AND k.currency = m.currency AND m.at <= k.until
    UNION ALL
    SELECT account_code, customer_id, currency, as_of, 1, 0, snapshot_id, balance, as_of FROM chosen
),
replayed AS MATERIALIZED (
    SELECT snapshot_id, account_code, customer_id, currency, as_of, stored, replayed
    FROM (SELECT *, sum(delta) OVER (PARTITION BY account_code, customer_id, currency
                                     ORDER BY at, ord ROWS UNBOUNDED PRECEDING) AS replayed
          FROM events) e
    WHERE ord = 1
),
breaks AS (
    SELECT *, stored - replayed AS difference, count(*) OVER () AS total
    FROM replayed WHERE stored <> replayed
)
SELECT 'summary' AS row_kind, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       (SELECT count(*) FROM contract.balance_snapshots), count(*),
       coalesce(to_char(max(as_of) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), '')
FROM replayed
UNION ALL
(SELECT 'break', snapshot_id, account_code, customer_id, currency,
        to_char(as_of AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        replayed::text, stored::text, difference::text, total, 0, ''
 FROM breaks
 ORDER BY abs(difference) DESC, account_code, customer_id, currency, as_of, snapshot_id LIMIT $2)
)sql",
                                                       booked_statuses_sql);

class SnapshotReconcile : public Check {
public:
    std::string_view name() const override { return "snapshot_reconcile"; }
    char category() const override { return 'B'; }
    std::string_view description() const override
    {
        return "Each stored balance snapshot equals the balance replayed from the journal up to its as-of time.";
    }

    void run(CheckContext& context) const override
    {
        const auto window_days = context.settings().snapshot_window_days;
        std::int64_t total = 0;
        std::int64_t listed = 0;
        for (const auto& row :
             context.ledger().exec_params(snapshot_reconcile_sql, window_days, listing_limit(context))) {
            if (row[0].as<std::string>() == "summary") {
                context.metrics()["snapshots_total"] = row[9].as<std::int64_t>();
                context.metrics()["snapshots_checked"] = row[10].as<std::int64_t>();
                context.metrics()["latest_as_of"] = row[11].as<std::string>();
                continue;
            }
            total = row[9].as<std::int64_t>();
            ++listed;
            std::vector<std::pair<std::string, std::string>> keys{{"snapshot_id", row[1].as<std::string>()},
                                                                  {"account", text_or_empty(row[2])}};
            if (!row[3].is_null()) keys.emplace_back("customer_id", row[3].as<std::string>());
            keys.emplace_back("currency", text_or_empty(row[4]));
            Variance variance{.kind = "snapshot_mismatch", .keys = std::move(keys),
                              .expected = row[6].as<std::string>(), .actual = row[7].as<std::string>(),
                              .difference = row[8].as<std::string>()};
            variance.detail = {{"as_of", row[5].as<std::string>()}};
            context.variances().add(std::move(variance));
        }
        context.variances().add_unlisted(total - listed);
        context.metrics()["mismatched"] = total;
        context.metrics()["window_days"] = window_days;
        context.metrics()["clock"] = "effective_at";
        if (context.variances().total() > 0) context.raise(CheckStatus::fail);
    }
};

}  // namespace

std::unique_ptr<Check> make_snapshot_reconcile() { return std::make_unique<SnapshotReconcile>(); }

}  // namespace reconcile
