// source_txn_uniqueness (A): (source, source_txn_id), the ingest idempotency key, is unique
// across all transactions whatever their status.
#include "checks/proof.hpp"
#include "checks/sql_support.hpp"

namespace reconcile {
namespace {

// One streaming grouping (index order on the bundled schema) keeps only the duplicated keys;
// the summary counts the transactions instead of re-reading every key. Only the listed
// duplicates go back for their txn_ids.
const std::string duplicates_sql = R"sql(
WITH dups AS MATERIALIZED (
    SELECT source, source_txn_id, count(*) AS n
    FROM contract.transactions
    GROUP BY source, source_txn_id
    HAVING count(*) > 1
),
listed AS (
    SELECT source, source_txn_id, n, count(*) OVER () AS total
    FROM dups
    ORDER BY n DESC, source, source_txn_id LIMIT $1
)
SELECT 'summary' AS row_kind, NULL AS source, NULL AS source_txn_id, NULL::bigint AS count, NULL AS txn_ids,
       NULL::bigint AS total, t.n AS transactions_checked, t.n - coalesce(d.extra, 0) AS distinct_keys
FROM (SELECT count(*) AS n FROM contract.transactions) t, (SELECT sum(n - 1) AS extra FROM dups) d
UNION ALL
SELECT 'duplicate', d.source::text, d.source_txn_id::text, d.n,
       (SELECT json_agg(t.txn_id::text ORDER BY t.txn_id) FROM contract.transactions t
        WHERE t.source = d.source AND t.source_txn_id = d.source_txn_id)::text,
       d.total, NULL, NULL
FROM listed d
)sql";

// The same from the proof's duplicated keys (checks/proof.hpp): $1 the transactions counted
// by the proof, $2 the listing's limit.
const std::string duplicates_proof_sql = R"sql(
WITH dups AS (SELECT source, source_txn_id, n FROM pg_temp.proof_duplicates),
listed AS (
    SELECT source, source_txn_id, n, count(*) OVER () AS total
    FROM dups
    ORDER BY n DESC, source, source_txn_id LIMIT $2
)
SELECT 'summary' AS row_kind, NULL AS source, NULL AS source_txn_id, NULL::bigint AS count, NULL AS txn_ids,
       NULL::bigint AS total, $1::bigint AS transactions_checked, $1::bigint - coalesce(d.extra, 0) AS distinct_keys
FROM (SELECT sum(n - 1) AS extra FROM dups) d
UNION ALL
SELECT 'duplicate', d.source::text, d.source_txn_id::text, d.n,
       (SELECT json_agg(t.txn_id::text ORDER BY t.txn_id) FROM contract.transactions t
        WHERE t.source = d.source AND t.source_txn_id = d.source_txn_id)::text,
       d.total, NULL, NULL
FROM listed d
)sql";

class SourceTxnUniqueness : public Check {
public:
    std::string_view name() const override { return "source_txn_uniqueness"; }
    Category category() const override { return Category::A; }
    std::set<ContractView> reads() const override { return {ContractView::transactions}; }
    std::string_view snapshot_setup_sql() const override { return proof_setup_sql(); }
    std::string_view description() const override
    {
        return "(source, source_txn_id), the ingest idempotency key, is unique across transactions.";
    }

    void run(CheckContext& context) const override
    {
        const Proof& proved = proof(context);
        const auto rows = proved.available ? CappedRows::listing(context, duplicates_proof_sql, proved.transactions)
                                           : CappedRows::listing(context, duplicates_sql);
        const NamedRow summary = rows.one();
        context.metrics()["transactions_checked"] = summary.number("transactions_checked");
        context.metrics()["distinct_keys"] = summary.number("distinct_keys");
        const std::int64_t total = rows.list(context, "duplicate", {"total"}, [](const NamedRow& row) {
            Variance variance{.kind = "duplicate_source_txn",
                              .keys = {{"source", row.text_or_empty("source")},
                                       {"source_txn_id", row.text_or_empty("source_txn_id")}}};
            variance.detail = {{"count", row.number("count")},
                               {"txn_ids", row.is_null("txn_ids") ? nlohmann::json::array()
                                                                  : nlohmann::json::parse(row.text("txn_ids"))}};
            return variance;
        });
        context.metrics()["duplicate_keys"] = total;
        if (total > 0) context.raise(CheckStatus::fail);
    }
};

}  // namespace

std::unique_ptr<Check> make_source_txn_uniqueness()
{
    return std::make_unique<SourceTxnUniqueness>();
}

}  // namespace reconcile
