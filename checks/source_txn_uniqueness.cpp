// source_txn_uniqueness (A): (source, source_txn_id), the ingest idempotency key, is unique
// across all transactions whatever their status.
#include <fmt/format.h>

#include "checks/proof.hpp"
#include "checks/sql_support.hpp"
#include "lib/log.hpp"
#include "lib/sql_values.hpp"

namespace reconcile {
namespace {

// One streaming grouping (index order on the bundled schema) keeps only the duplicated keys;
// the summary counts the transactions instead of re-reading every key. Only the listed
// duplicates go back for their txn_ids, grouped and joined: one scan where no index serves the
// key, not one per listed key (stop 41).
// {dups}: the duplicated keys with their counts; {transactions}: how many transactions there are;
// {limit}: the listing's limit parameter.
std::string duplicates_sql(const char* dups, const char* transactions, const char* limit)
{
    return fmt::format(R"sql(
WITH dups AS MATERIALIZED ({0}),
listed AS (
    SELECT source, source_txn_id, n, count(*) OVER () AS total
    FROM dups
    ORDER BY n DESC, source, source_txn_id LIMIT {2}
)
SELECT 'summary' AS row_kind, NULL AS source, NULL AS source_txn_id, NULL::bigint AS count, NULL AS txn_ids,
       NULL::bigint AS total, t.n AS transactions_checked, t.n - coalesce(d.extra, 0) AS distinct_keys
FROM (SELECT {1} AS n) t, (SELECT sum(n - 1) AS extra FROM dups) d
UNION ALL
SELECT * FROM (
    SELECT 'duplicate', d.source::text, d.source_txn_id::text, d.n, i.txn_ids::text, d.total, NULL::bigint, NULL::bigint
    FROM listed d
    LEFT JOIN (SELECT t.source, t.source_txn_id, array_agg(t.txn_id::text ORDER BY t.txn_id) AS txn_ids
               FROM contract.transactions t
               WHERE (t.source, t.source_txn_id) IN (SELECT source, source_txn_id FROM listed)
               GROUP BY 1, 2) i
        ON i.source = d.source AND i.source_txn_id = d.source_txn_id
    ORDER BY d.n DESC, d.source, d.source_txn_id
) duplicates
)sql",
                       dups, transactions, limit);
}

// From the transactions themselves: one streaming grouping (index order on the bundled schema)
// keeps only the duplicated keys ...
const std::string duplicates_journal_sql = duplicates_sql(
    "SELECT source, source_txn_id, count(*) AS n FROM contract.transactions GROUP BY source, source_txn_id "
    "HAVING count(*) > 1",
    "(SELECT count(*) FROM contract.transactions)", "$1");

// ... or from the proof's duplicated keys (checks/proof.hpp): $1 the transactions it counted.
const std::string duplicates_proof_sql =
    duplicates_sql("SELECT source, source_txn_id, n FROM pg_temp.proof_duplicates", "$1::bigint", "$2");

class SourceTxnUniqueness : public ProvedCheck {
public:
    std::string_view name() const override { return "source_txn_uniqueness"; }
    Category category() const override { return Category::A; }
    std::set<ContractView> reads() const override { return {ContractView::transactions}; }
    std::string_view description() const override
    {
        return "(source, source_txn_id), the ingest idempotency key, is unique across transactions.";
    }

    void run(CheckContext& context) const override
    {
        // Only this check of A needs no journal line: when the proof failed (a journal past the
        // statement timeout) it still reads the transactions itself.
        const Proof* proved = nullptr;
        try {
            proved = &proof(context);
        } catch (const pqxx::broken_connection&) {
            throw;
        } catch (const std::exception& e) {
            log_warn("source_txn_uniqueness reads the transactions itself: the proof failed: {}", first_line(e.what()));
        }
        const auto rows = proved != nullptr && proved->available
                              ? CappedRows::listing(context, duplicates_proof_sql, proved->transactions)
                              : CappedRows::listing(context, duplicates_journal_sql);
        const NamedRow summary = rows.one();
        context.metrics()["transactions_checked"] = summary.number("transactions_checked");
        context.metrics()["distinct_keys"] = summary.number("distinct_keys");
        const std::int64_t total = rows.list(context, "duplicate", {"total"}, [](const NamedRow& row) {
            Variance variance{.kind = "duplicate_source_txn",
                              .keys = {{"source", row.text_or_empty("source")},
                                       {"source_txn_id", row.text_or_empty("source_txn_id")}}};
            nlohmann::json txn_ids = nlohmann::json::array();
            if (!row.is_null("txn_ids")) {
                for (const auto& txn_id : text_array_elements(row.text("txn_ids"))) {
                    txn_ids.push_back(txn_id ? nlohmann::json(*txn_id) : nlohmann::json(nullptr));
                }
            }
            variance.detail = {{"count", row.number("count")}, {"txn_ids", std::move(txn_ids)}};
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
