// wallet_derivation (B): each customer wallet's stored balance equals the sum of that customer's
// booked journal lines on the wallet account, read in the account's normal-side direction.
#include <fmt/format.h>

#include "checks/proof.hpp"
#include "checks/sql_support.hpp"

namespace reconcile {
namespace {

// One grouping of the wallet accounts' booked lines by (customer, account, currency), fully
// joined with the stored wallets; the summary row and the capped break rows come from the same
// comparison, with per-kind totals from window sums so they survive the LIMIT. Amounts are
// compared exactly in NUMERIC.
const std::string wallet_accounts_cte = fmt::format(R"sql(
WITH wallet_accounts AS (
    SELECT account_code, normal_side FROM {} a
    WHERE is_customer_wallet OR account_code IN (SELECT account_code::text FROM contract.wallets)
),
)sql",
                                                    chart_sql);

/// The wallet accounts named by parameter $N (a text[]: those the stored comparison recorded,
/// when no wallet row is on another): a comparison of some wallets does not look for them among
/// every wallet again (30-40 ms at 102,000 each time).
std::string given_accounts_cte(int parameter)
{
    return fmt::format(R"sql(
WITH wallet_accounts AS (
    SELECT account_code, normal_side FROM {} a
    WHERE account_code = ANY (${}::text[])
),
)sql",
                       chart_sql, parameter);
}

/// The wallet accounts as one text, as the stored comparison records them.
constexpr const char* accounts_text_sql =
    "(SELECT coalesce(array_agg(account_code ORDER BY account_code), '{}')::text FROM wallet_accounts)";

/// A wallet row's key, as one value (nulls match themselves, as in the proof's keys), and a
/// 64-bit hash of it.
constexpr const char* wallet_key_sql = "ARRAY[w.account_code::text, w.customer_id::text, w.currency::text]";
constexpr const char* wallet_key_hash_sql =
    "hash_record_extended(ROW(w.account_code::text, w.customer_id::text, w.currency::text), 0)";

// The wallet accounts' balances from the journal itself (a standby, which holds no proof)...
const std::string derived_from_journal = fmt::format(R"sql(
derived AS MATERIALIZED (
    SELECT l.customer_id::text AS customer_id, l.account_code::text AS account_code, l.currency::text AS currency,
           sum(CASE WHEN l.side::text = a.normal_side THEN l.amount ELSE -l.amount END) AS balance,
           count(*) AS lines
    FROM contract.journal_lines l
    JOIN wallet_accounts a ON a.account_code = l.account_code::text
    JOIN contract.transactions t ON t.txn_id::txnid = l.txn_id::txnid
    WHERE t.status IN {} AND l.side IN ('DR', 'CR') AND l.amount IS NOT NULL
    GROUP BY 1, 2, 3
),
)sql",
                                                     booked_statuses_sql);

// ... or from the proof's sums per key (checks/proof.hpp) of the wallet accounts: the same
// figures, one row per key, read once by the comparison below, which reads them in place (a
// materialized copy of the 102,000 keys of 10M lines cost 40 ms of 320).
const std::string derived_from_proof =
    fmt::format(R"sql(
derived AS NOT MATERIALIZED (
    SELECT g.customer AS customer_id, g.account AS account_code, g.currency AS currency, {} AS balance, g.lines
    FROM ({}) g
    JOIN wallet_accounts a ON a.account_code = g.account
    WHERE g.lines > 0
),
)sql",
                proof_signed_sql, proof_keys_sql("ARRAY(SELECT account_code FROM wallet_accounts)"));

// ... or those of the keys compared again (pg_temp.wallet_rechecked) alone: the key's sums this
// run changed, else the stored ones (an index search per key).
const std::string derived_rechecked = fmt::format(R"sql(
derived AS MATERIALIZED (
    SELECT g.customer AS customer_id, g.account AS account_code, g.currency AS currency, {} AS balance, g.lines
    FROM (
        SELECT k.account, k.customer, k.currency, k.dr, k.cr, k.lines FROM pg_temp.proof_keys_new k
        WHERE ARRAY[k.account, k.customer, k.currency] IN (SELECT key FROM pg_temp.wallet_rechecked)
        UNION ALL
        SELECT s.account, s.customer, s.currency, s.dr, s.cr, s.lines
        FROM pg_temp.wallet_rechecked r
        CROSS JOIN LATERAL (SELECT s.* FROM recon.proof_keys s
                            WHERE ARRAY[s.account, s.customer, s.currency] = r.key OFFSET 0) s
        WHERE NOT EXISTS (SELECT 1 FROM pg_temp.proof_keys_new k WHERE ARRAY[k.account, k.customer, k.currency] = r.key)
    ) g
    JOIN wallet_accounts a ON a.account_code = g.account
    WHERE g.lines > 0
),
)sql",
                                                  proof_signed_sql);

/// What differs between comparing every wallet and comparing some again.
struct Comparison {
    std::string wallets;   ///< the wallet rows compared (a FROM item aliased w)
    std::string carried;   ///< stored breaks of the keys not compared: a UNION ALL branch, or ""
    std::string summary;   ///< the summary's three totals over `compared`
    std::string recorded;  ///< the CTEs that record the comparison for the proof's store, or ""
    int limit_parameter = 1;
};

// The comparison: each wallet row against its key's derived balance (a FULL JOIN: rows without a
// partner are breaks of their own), the breaks, and the summary.
std::string comparison_sql(const Comparison& c)
{
    return fmt::format(R"sql(
compared AS MATERIALIZED (
    SELECT coalesce(w.customer_id, d.customer_id) AS customer_id,
           coalesce(w.account_code, d.account_code) AS account_code,
           coalesce(w.currency, d.currency) AS currency,
           d.balance AS derived, w.balance AS stored, coalesce(d.lines, 0) AS lines,
           CASE WHEN w.account_code IS NULL THEN 'wallet_missing'
                WHEN d.account_code IS NULL THEN 'wallet_without_lines'
                ELSE 'wallet_mismatch' END AS kind,
           coalesce(w.key, ARRAY[d.account_code, d.customer_id, d.currency]) AS key,
           w.key_hash, w.key IS NOT NULL AS from_wallet
    FROM (SELECT w.customer_id::text AS customer_id, w.account_code::text AS account_code,
                 w.currency::text AS currency, w.balance, {wallet_key} AS key, {wallet_key_hash} AS key_hash
          FROM {wallets}) w
    -- One array equality: a null part (a wallet without a customer) matches its null, as the
    -- proof's keys do; three equalities never match it, and it was missing and without lines.
    FULL JOIN derived d ON ARRAY[d.account_code, d.customer_id, d.currency] = w.key
),
found_breaks AS MATERIALIZED (
    SELECT key, kind, customer_id, account_code, currency, derived, stored, lines FROM compared
    WHERE kind = 'wallet_missing' OR (kind = 'wallet_without_lines' AND stored <> 0) OR derived <> stored
),
breaks AS (
    SELECT *, coalesce(stored, 0) - coalesce(derived, 0) AS difference,
           sum((kind = 'wallet_mismatch')::int) OVER () AS mismatched,
           sum((kind = 'wallet_missing')::int) OVER () AS missing,
           sum((kind = 'wallet_without_lines')::int) OVER () AS without_lines
    FROM ({carried}
          SELECT kind, customer_id, account_code, currency, derived, stored, lines FROM found_breaks) b
),
summary AS MATERIALIZED (
    SELECT {summary} FROM compared
){recorded}
SELECT 'summary' AS row_kind, NULL AS kind, NULL AS customer_id, NULL AS account_code, NULL AS currency,
       NULL AS derived, NULL AS stored, NULL AS difference, NULL::bigint AS lines, NULL::bigint AS mismatched,
       NULL::bigint AS missing, NULL::bigint AS without_lines, wallets_checked, journal_wallets, lines_checked
FROM summary
UNION ALL
(SELECT 'break', kind, customer_id, account_code, currency, coalesce(derived, 0)::text, stored::text,
        difference::text, lines, mismatched, missing, without_lines, NULL, NULL, NULL
 FROM breaks
 ORDER BY abs(difference) DESC, account_code, customer_id, currency LIMIT ${limit})
)sql",
                       fmt::arg("wallet_key", wallet_key_sql), fmt::arg("wallet_key_hash", wallet_key_hash_sql),
                       fmt::arg("wallets", c.wallets), fmt::arg("carried", c.carried), fmt::arg("summary", c.summary),
                       fmt::arg("recorded", c.recorded), fmt::arg("limit", c.limit_parameter));
}

constexpr const char* every_total_sql =
    "count(stored) AS wallets_checked, count(derived) AS journal_wallets, coalesce(sum(lines), 0) AS lines_checked";

// What the comparison records for the proof's store (pg_temp.wallet_*, stored with the proof):
// per key met, its wallet rows and its compared rows with a derived balance and their lines
// (what a later comparison subtracts when it compares the key again), its breaks, and the state
// with the keys that have more than one wallet row.
std::string recorded_sql(const std::string& everything, const std::string& accounts, const std::string& n,
                         const std::string& digest, const std::string& rechecked)
{
    return fmt::format(R"sql(,
recorded_keys AS (
    INSERT INTO pg_temp.wallet_keys_new (key, wallet_rows, derived_rows, lines)
    SELECT key, count(*) FILTER (WHERE from_wallet), count(derived), coalesce(sum(lines), 0) FROM compared GROUP BY key
    RETURNING wallet_rows
),
recorded_breaks AS (
    INSERT INTO pg_temp.wallet_breaks_new (key, kind, customer, account, currency, derived, stored, lines)
    SELECT key, kind, customer_id, account_code, currency, derived, stored, lines FROM found_breaks
    RETURNING 1
),
recorded_state AS (
    INSERT INTO pg_temp.wallet_checked (everything, accounts, n, digest, rechecked, duplicated, journal_wallets,
                                        lines_checked)
    SELECT {}, {}, {}, {}, {}, (SELECT count(*) FROM recorded_keys WHERE wallet_rows > 1), journal_wallets,
           lines_checked
    FROM summary
    RETURNING 1
))sql",
                       everything, accounts, n, digest, rechecked);
}

// The stored comparison, when one can be compared against: none of its keys had a second wallet
// row, and its snapshot, the fence of which wallet rows changed since, is not too old to tell
// (as the proof's own watermark).
const std::string stored_comparison_sql = R"sql(
SELECT watermark, accounts, n, digest::text AS digest, journal_wallets, lines_checked::text AS lines_checked
FROM recon.proof_wallet_state
WHERE id = 1 AND duplicated = 0
  AND age((pg_snapshot_xmin(watermark::pg_snapshot)::text::numeric % 4294967296)::text::xid) BETWEEN 0 AND 1000000000
  AND pg_snapshot_xmax(watermark::pg_snapshot) <= pg_snapshot_xmax(pg_current_snapshot())
)sql";

// Comparing again only some wallets: first the keys whose sums changed since the stored
// comparison, in this run's proof and in runs since that did not compare (an A run). $1 the
// wallet accounts then.
const std::string rechecked_sums_sql = R"sql(
INSERT INTO pg_temp.wallet_rechecked (key)
SELECT ARRAY[k.account, k.customer, k.currency] FROM pg_temp.proof_keys_new k WHERE k.account = ANY ($1::text[])
UNION
SELECT d.key FROM recon.proof_wallet_dirty d WHERE d.key[1] = ANY ($1::text[])
)sql";

// Then one pass over the wallets keeping the rows that changed since and those of the keys just
// listed (pg_temp.wallet_rows; a customer's keys are found by a hashed lookup of the customer
// first), and one counting every row with the sum of a hash of its key and the rows on an account
// the comparison did not know. $1 the fence, $2 the wallet accounts then.
std::string wallet_scan_sql(const Fence& fence)
{
    return fmt::format(R"sql(
WITH listed AS (
    INSERT INTO pg_temp.wallet_rows (key, key_hash, fresh, customer_id, account_code, currency, balance)
    SELECT {0}, {1}, coalesce({2}, false), w.customer_id::text, w.account_code::text, w.currency::text, w.balance
    FROM contract.wallets w
    WHERE {2} OR ((w.customer_id IS NULL OR w.customer_id::text IN (SELECT key[2] FROM pg_temp.wallet_rechecked))
                  AND {0} IN (SELECT key FROM pg_temp.wallet_rechecked))
    RETURNING key_hash, fresh
),
every_row AS (
    SELECT count(*) AS n, count(*) - count(w.row_xmin) AS unknown, count(w.balance) AS balances,
           coalesce(sum({1}), 0) AS digest, count(*) FILTER (WHERE w.account_code::text <> ALL ($2::text[])) AS others
    FROM contract.wallets w
)
SELECT e.n, e.unknown, e.balances, e.others, e.digest::text AS digest, f.n AS fresh,
       (e.digest - f.digest)::text AS seen_digest
FROM every_row e,
     (SELECT count(*) FILTER (WHERE fresh) AS n, coalesce(sum(key_hash) FILTER (WHERE fresh), 0) AS digest
      FROM listed) f
)sql",
                       wallet_key_sql, wallet_key_hash_sql, fence.test("w.row_xmin"));
}

// Whether the rows that changed since are the wallets listed as changed: every row the previous
// comparison met and no longer unchanged (updated or deleted) must have the key of a changed row
// that key had then, row for row (a count and a digest of their keys; the stored keys had one row
// each). A wallet deleted, a key edited or a second row for a key fails it: every wallet is then
// compared. When it holds, the changed rows and those of the keys whose sums changed are all the
// rows of the keys compared again. $1 the rows then, $2 their digest, $3 the unchanged rows now,
// $4 their digest.
const std::string changed_rows_sql = R"sql(
SELECT count(*) = $1::bigint - $3::bigint AND coalesce(sum(f.key_hash), 0) = $2::numeric - $4::numeric AS same
FROM pg_temp.wallet_rows f
CROSS JOIN LATERAL (SELECT k.wallet_rows FROM recon.proof_wallet_keys k WHERE k.key = f.key OFFSET 0) k
WHERE f.fresh AND k.wallet_rows > 0
)sql";

// The keys of the changed rows join those compared again.
const std::string rechecked_rows_sql = R"sql(
INSERT INTO pg_temp.wallet_rechecked (key)
SELECT DISTINCT key FROM pg_temp.wallet_rows WHERE fresh
EXCEPT
SELECT key FROM pg_temp.wallet_rechecked
)sql";

/// What the stored comparison recorded of the keys compared again (`column` of
/// recon.proof_wallet_keys, summed; an index search per key).
std::string rechecked_before_sql(const char* column)
{
    return fmt::format(
        "(SELECT coalesce(sum(k.{0}), 0) FROM pg_temp.wallet_rechecked r CROSS JOIN LATERAL "
        "(SELECT k.{0} FROM recon.proof_wallet_keys k WHERE k.key = r.key OFFSET 0) k)",
        column);
}

/// The SQL of comparing again the keys in pg_temp.wallet_rechecked, carrying the stored verdicts
/// of the others. $1 and $2 the stored totals of derived rows and lines, $3 the wallet rows with
/// a balance now, $4 the wallet rows now, $5 their digest, $6 the wallet accounts, $7 the limit.
const std::string rechecked_comparison_sql =
    given_accounts_cte(6) + derived_rechecked +
    comparison_sql(
        {.wallets = "pg_temp.wallet_rows w",
         .carried = "SELECT kind, customer AS customer_id, account AS account_code, currency, derived, stored, lines "
                    "FROM recon.proof_wallet_breaks "
                    "WHERE key NOT IN (SELECT key FROM pg_temp.wallet_rechecked)\n          UNION ALL\n          ",
         .summary = "$3::bigint AS wallets_checked, $1::bigint + count(derived) - " +
                    rechecked_before_sql("derived_rows") +
                    " AS journal_wallets, $2::numeric + coalesce(sum(lines), 0) - " + rechecked_before_sql("lines") +
                    " AS lines_checked",
         .recorded = recorded_sql("false", "$6::text", "$4::bigint", "$5::numeric",
                                  "(SELECT count(*) FROM pg_temp.wallet_rechecked)"),
         .limit_parameter = 7});

class WalletDerivation : public ProvedCheck {
public:
    std::string_view name() const override { return "wallet_derivation"; }
    Category category() const override { return Category::B; }
    std::set<ContractView> reads() const override
    {
        return {ContractView::accounts, ContractView::transactions, ContractView::journal_lines, ContractView::wallets};
    }
    std::string_view description() const override
    {
        return "Each customer wallet's stored balance equals the sum of its booked journal lines on the wallet "
               "account.";
    }

    void run(CheckContext& context) const override
    {
        const Proof& proved = proof(context);
        auto rows =
            proved.available
                ? compare_with_proof(context, proved)
                : CappedRows::listing(context, ids_sql(context, wallet_accounts_cte + derived_from_journal +
                                                                    comparison_sql({.wallets = "contract.wallets w",
                                                                                    .summary = every_total_sql})));
        const NamedRow summary = rows.one();
        context.metrics()["wallets_checked"] = summary.number("wallets_checked");
        context.metrics()["journal_wallets"] = summary.number("journal_wallets");
        context.metrics()["lines_checked"] = summary.number("lines_checked");
        rows.list(context, "break", {"mismatched", "missing", "without_lines"}, [](const NamedRow& row) {
            Variance variance{
                .kind = row.text("kind"),
                .keys = row.keys(
                    {{"customer_id", "customer_id", true}, {"account", "account_code"}, {"currency", "currency"}}),
                .expected = row.text("derived"),
                .actual = row.optional_text("stored"),
                .difference = row.text("difference")};
            variance.detail = {{"booked_lines", row.number("lines")}};
            return variance;
        });
        context.metrics()["mismatched"] = rows.total("break", {"mismatched"});
        context.metrics()["missing"] = rows.total("break", {"missing"});
        context.metrics()["without_lines"] = rows.total("break", {"without_lines"});
        if (context.variances().total() > 0) context.raise(CheckStatus::fail);
    }

private:
    /// Compares again only the wallets whose rows or sums changed since the stored comparison,
    /// when this run extends the proof and the wallets name their row versions; every wallet
    /// otherwise. Either way it records what the proof's store keeps.
    static CappedRows compare_with_proof(CheckContext& context, const Proof& proved)
    {
        auto& txn = context.ledger();
        if (proved.full_run_id != 0 && proved.wallets_name_row_xmin) {
            const auto stored = txn.exec(stored_comparison_sql);
            if (!stored.empty()) {
                const NamedRow state(stored[0]);
                const std::string accounts = state.text("accounts");
                const Fence fence = fence_since(txn, state.text("watermark"));
                txn.exec_params0(rechecked_sums_sql, accounts);
                const NamedRow now(txn.exec_params1(wallet_scan_sql(fence), fence.parameter, accounts));
                const bool comparable =
                    now.number("unknown") == 0 && now.number("others") == 0 &&
                    NamedRow(txn.exec_params1(changed_rows_sql, state.number("n"), state.text("digest"),
                                              now.number("n") - now.number("fresh"), now.text("seen_digest")))
                        .flag("same");
                if (comparable) {
                    txn.exec0(rechecked_rows_sql);
                    return CappedRows::listing(context, rechecked_comparison_sql, state.number("journal_wallets"),
                                               state.text("lines_checked"), now.number("balances"), now.number("n"),
                                               now.text("digest"), accounts);
                }
                txn.exec0("DELETE FROM pg_temp.wallet_rechecked");
            }
        }
        return CappedRows::listing(
            context,
            wallet_accounts_cte + derived_from_proof +
                comparison_sql({.wallets = "contract.wallets w",
                                .summary = std::string(every_total_sql) + ", count(*) FILTER (WHERE from_wallet) AS n, "
                                                                          "coalesce(sum(key_hash), 0) AS digest",
                                .recorded = recorded_sql("true", accounts_text_sql, "n", "digest",
                                                         "(SELECT count(*) FROM recorded_keys)")}));
    }
};

}  // namespace

std::unique_ptr<Check> make_wallet_derivation()
{
    return std::make_unique<WalletDerivation>();
}

}  // namespace reconcile
