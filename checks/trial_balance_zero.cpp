// trial_balance_zero (A): debits equal credits per currency over all booked lines, and every
// booked transaction balances on its own in each currency.
#include <fmt/format.h>

#include "checks/sql_support.hpp"

namespace reconcile {
namespace {

// One grouping of the booked lines by (transaction, currency) feeds both the per-currency
// totals and the per-transaction breaks, so the journal is scanned once.
const std::string trial_balance_sql = fmt::format(R"sql(
WITH per_txn AS MATERIALIZED (
    SELECT l.txn_id, l.currency,
           count(*) AS lines,
           coalesce(sum(l.amount) FILTER (WHERE l.side = 'DR'), 0) AS debits,
           coalesce(sum(l.amount) FILTER (WHERE l.side = 'CR'), 0) AS credits
    FROM contract.journal_lines l
    JOIN contract.transactions t ON t.txn_id = l.txn_id
    WHERE t.status IN {}
    GROUP BY l.txn_id, l.currency
),
totals AS (
    SELECT currency, sum(debits) AS debits, sum(credits) AS credits, sum(lines) AS lines, count(*) AS groups
    FROM per_txn GROUP BY currency
),
breaks AS (
    SELECT txn_id, currency, debits, credits, count(*) OVER () AS total
    FROM per_txn WHERE debits <> credits
    ORDER BY abs(debits - credits) DESC, txn_id
    LIMIT $1
)
SELECT 'total' AS row_kind, NULL AS txn_id, currency, debits::text, credits::text,
       (debits - credits)::text, lines, groups
FROM totals
UNION ALL
SELECT 'break', txn_id::text, currency, debits::text, credits::text, (debits - credits)::text, total, 0
FROM breaks
)sql",
                                                  booked_statuses_sql);

class TrialBalanceZero : public Check {
public:
    std::string_view name() const override { return "trial_balance_zero"; }
    char category() const override { return 'A'; }
    std::string_view description() const override
    {
        return "Debits equal credits per currency over all booked lines, and every booked transaction "
               "balances on its own.";
    }

    void run(CheckContext& context) const override
    {
        const auto rows = context.ledger().exec_params(trial_balance_sql, listing_limit(context));
        nlohmann::json currencies = nlohmann::json::object();
        std::int64_t lines = 0;
        std::int64_t groups = 0;
        std::int64_t unbalanced_total = 0;
        std::int64_t unbalanced_listed = 0;
        for (const auto& row : rows) {
            const std::string currency = text_or_empty(row[2]);
            if (row[0].as<std::string>() == "total") {
                currencies[currency] = {{"debits", row[3].as<std::string>()},
                                        {"credits", row[4].as<std::string>()},
                                        {"difference", row[5].as<std::string>()}};
                lines += row[6].as<std::int64_t>();
                groups += row[7].as<std::int64_t>();
                if (!Decimal::parse(row[5].as<std::string>()).is_zero()) {
                    context.variances().add(Variance{.kind = "unbalanced_currency",
                                                     .keys = {{"currency", currency}},
                                                     .expected = row[3].as<std::string>(),
                                                     .actual = row[4].as<std::string>(),
                                                     .difference = row[5].as<std::string>()});
                }
                continue;
            }
            unbalanced_total = row[6].as<std::int64_t>();
            ++unbalanced_listed;
            context.variances().add(Variance{.kind = "unbalanced_txn",
                                             .keys = {{"txn_id", row[1].as<std::string>()}, {"currency", currency}},
                                             .expected = row[3].as<std::string>(),
                                             .actual = row[4].as<std::string>(),
                                             .difference = row[5].as<std::string>()});
        }
        context.variances().add_unlisted(unbalanced_total - unbalanced_listed);
        context.metrics()["lines_checked"] = lines;
        context.metrics()["txn_currency_groups"] = groups;
        context.metrics()["unbalanced_txns"] = unbalanced_total;
        context.metrics()["currencies"] = std::move(currencies);
        if (context.variances().total() > 0) context.raise(CheckStatus::fail);
    }
};

}  // namespace

std::unique_ptr<Check> make_trial_balance_zero() { return std::make_unique<TrialBalanceZero>(); }

}  // namespace reconcile
