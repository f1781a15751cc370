// wallet_derivation (B): each customer wallet's stored balance equals the sum of that customer's
// booked journal lines on the wallet account, read in the account's normal-side direction.
#include <fmt/format.h>

#include "checks/sql_support.hpp"

namespace reconcile {
namespace {

// One grouping of the wallet accounts' booked lines by (customer, account, currency), fully
// joined with the stored wallets; the summary row and the capped break rows come from the same
// comparison, with per-kind totals from window sums so they survive the LIMIT. Amounts are
// compared exactly in NUMERIC.
const std::string wallet_derivation_sql = fmt::format(R"sql(
WITH wallet_accounts AS (
    SELECT account_code::text AS account_code, normal_side FROM contract.accounts
    WHERE is_customer_wallet OR account_code::text IN (SELECT account_code::text FROM contract.wallets)
),
derived AS MATERIALIZED (
    SELECT l.customer_id::text AS customer_id, l.account_code::text AS account_code, l.currency::text AS currency,
           sum(CASE WHEN l.side = a.normal_side THEN l.amount ELSE -l.amount END) AS balance,
           count(*) AS lines
    FROM contract.journal_lines l
    JOIN wallet_accounts a ON a.account_code = l.account_code::text
    JOIN contract.transactions t ON t.txn_id = l.txn_id
    WHERE t.status IN {} AND l.side IN ('DR', 'CR') AND l.amount IS NOT NULL
    GROUP BY 1, 2, 3
),
compared AS MATERIALIZED (
    SELECT coalesce(w.customer_id, d.customer_id) AS customer_id,
           coalesce(w.account_code, d.account_code) AS account_code,
           coalesce(w.currency, d.currency) AS currency,
           d.balance AS derived, w.balance AS stored, coalesce(d.lines, 0) AS lines,
           CASE WHEN w.account_code IS NULL THEN 'wallet_missing'
                WHEN d.account_code IS NULL THEN 'wallet_without_lines'
                ELSE 'wallet_mismatch' END AS kind
    FROM (SELECT customer_id::text AS customer_id, account_code::text AS account_code, currency::text AS currency,
                 balance
          FROM contract.wallets) w
    FULL JOIN derived d
      ON d.customer_id = w.customer_id AND d.account_code = w.account_code AND d.currency = w.currency
),
breaks AS (
    SELECT *, coalesce(stored, 0) - coalesce(derived, 0) AS difference,
           sum((kind = 'wallet_mismatch')::int) OVER () AS mismatched,
           sum((kind = 'wallet_missing')::int) OVER () AS missing,
           sum((kind = 'wallet_without_lines')::int) OVER () AS without_lines
    FROM compared
    WHERE kind = 'wallet_missing' OR (kind = 'wallet_without_lines' AND stored <> 0) OR derived <> stored
)
SELECT 'summary' AS row_kind, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       count(stored), count(derived), coalesce(sum(lines), 0), 0
FROM compared
UNION ALL
(SELECT 'break', kind, customer_id, account_code, currency, coalesce(derived, 0)::text, stored::text,
        difference::text, lines, mismatched, missing, without_lines
 FROM breaks
 ORDER BY abs(difference) DESC, account_code, customer_id, currency LIMIT $1)
)sql",
                                                      booked_statuses_sql);

class WalletDerivation : public Check {
public:
    std::string_view name() const override { return "wallet_derivation"; }
    char category() const override { return 'B'; }
    std::string_view description() const override
    {
        return "Each customer wallet's stored balance equals the sum of its booked journal lines on the wallet "
               "account.";
    }

    void run(CheckContext& context) const override
    {
        auto& variances = context.variances();
        std::int64_t mismatched = 0;
        std::int64_t missing = 0;
        std::int64_t without_lines = 0;
        std::int64_t listed = 0;
        for (const auto& row : context.ledger().exec_params(wallet_derivation_sql, listing_limit(context))) {
            if (row[0].as<std::string>() == "summary") {
                context.metrics()["wallets_checked"] = row[8].as<std::int64_t>();
                context.metrics()["journal_wallets"] = row[9].as<std::int64_t>();
                context.metrics()["lines_checked"] = row[10].as<std::int64_t>();
                continue;
            }
            mismatched = row[9].as<std::int64_t>();
            missing = row[10].as<std::int64_t>();
            without_lines = row[11].as<std::int64_t>();
            ++listed;
            std::vector<std::pair<std::string, std::string>> keys;
            if (!row[2].is_null()) keys.emplace_back("customer_id", row[2].as<std::string>());
            keys.emplace_back("account", text_or_empty(row[3]));
            keys.emplace_back("currency", text_or_empty(row[4]));
            Variance variance{.kind = row[1].as<std::string>(),
                              .keys = std::move(keys),
                              .expected = row[5].as<std::string>(),
                              .actual = optional_text(row[6]),
                              .difference = row[7].as<std::string>()};
            variance.detail = {{"booked_lines", row[8].as<std::int64_t>()}};
            variances.add(std::move(variance));
        }
        variances.add_unlisted(mismatched + missing + without_lines - listed);
        context.metrics()["mismatched"] = mismatched;
        context.metrics()["missing"] = missing;
        context.metrics()["without_lines"] = without_lines;
        if (variances.total() > 0) context.raise(CheckStatus::fail);
    }
};

}  // namespace

std::unique_ptr<Check> make_wallet_derivation()
{
    return std::make_unique<WalletDerivation>();
}

}  // namespace reconcile
