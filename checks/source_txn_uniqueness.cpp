// source_txn_uniqueness (A): (source, source_txn_id), the ingest idempotency key, is unique
// across all transactions whatever their status.
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
SELECT 'summary' AS row_kind, NULL, NULL, t.n, NULL, t.n - coalesce(d.extra, 0)
FROM (SELECT count(*) AS n FROM contract.transactions) t, (SELECT sum(n - 1) AS extra FROM dups) d
UNION ALL
SELECT 'duplicate', d.source::text, d.source_txn_id::text, d.n,
       (SELECT json_agg(t.txn_id::text ORDER BY t.txn_id) FROM contract.transactions t
        WHERE t.source = d.source AND t.source_txn_id = d.source_txn_id)::text,
       d.total
FROM listed d
)sql";

class SourceTxnUniqueness : public Check {
public:
    std::string_view name() const override { return "source_txn_uniqueness"; }
    char category() const override { return 'A'; }
    std::string_view description() const override
    {
        return "(source, source_txn_id), the ingest idempotency key, is unique across transactions.";
    }

    void run(CheckContext& context) const override
    {
        std::int64_t total = 0;
        std::int64_t listed = 0;
        for (const auto& row : context.ledger().exec_params(duplicates_sql, listing_limit(context))) {
            if (row[0].as<std::string>() == "summary") {
                context.metrics()["transactions_checked"] = row[3].as<std::int64_t>();
                context.metrics()["distinct_keys"] = row[5].as<std::int64_t>();
                continue;
            }
            total = row[5].as<std::int64_t>();
            ++listed;
            Variance variance{.kind = "duplicate_source_txn",
                              .keys = {{"source", text_or_empty(row[1])}, {"source_txn_id", text_or_empty(row[2])}}};
            variance.detail = {{"count", row[3].as<std::int64_t>()},
                               {"txn_ids", row[4].is_null() ? nlohmann::json::array()
                                                            : nlohmann::json::parse(row[4].as<std::string>())}};
            context.variances().add(std::move(variance));
        }
        context.variances().add_unlisted(total - listed);
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
