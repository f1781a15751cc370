// journal_line_completeness (A): every booked transaction has at least two lines with at least
// one debit and one credit; no line points at a missing transaction or account; no line lacks
// an amount, a currency or an account.
#include <fmt/format.h>

#include "checks/sql_support.hpp"

namespace reconcile {
namespace {

const std::string transaction_shape_sql = fmt::format(R"sql(
WITH per_txn AS MATERIALIZED (
    SELECT t.txn_id,
           count(l.txn_id) AS lines,
           count(*) FILTER (WHERE l.side = 'DR') AS debit_lines,
           count(*) FILTER (WHERE l.side = 'CR') AS credit_lines
    FROM contract.transactions t
    LEFT JOIN contract.journal_lines l ON l.txn_id = t.txn_id
    WHERE t.status IN {}
    GROUP BY t.txn_id
),
broken AS (
    SELECT txn_id, lines, debit_lines, credit_lines, count(*) OVER () AS total
    FROM per_txn WHERE lines < 2 OR debit_lines = 0 OR credit_lines = 0
    ORDER BY txn_id LIMIT $1
)
SELECT 'summary' AS row_kind, NULL AS txn_id, count(*) AS lines, 0, 0, 0 FROM per_txn
UNION ALL
SELECT 'broken', txn_id::text, lines, debit_lines, credit_lines, total FROM broken
)sql",
                                                      booked_statuses_sql);

// Per-kind totals come from window sums so the true count survives the LIMIT.
const std::string line_defects_sql = R"sql(
WITH flagged AS (
    SELECT l.line_id, l.txn_id, l.account_code,
           (l.txn_id IS NULL OR NOT EXISTS (
               SELECT 1 FROM contract.transactions t WHERE t.txn_id = l.txn_id)) AS orphan,
           (l.account_code IS NOT NULL AND NOT EXISTS (
               SELECT 1 FROM contract.accounts a WHERE a.account_code = l.account_code)) AS unknown_account,
           l.amount IS NULL AS no_amount,
           l.currency IS NULL AS no_currency,
           l.account_code IS NULL AS no_account
    FROM contract.journal_lines l
),
defects AS (
    SELECT *,
           sum(orphan::int) OVER () AS orphans,
           sum(unknown_account::int) OVER () AS unknown_accounts,
           sum((no_amount OR no_currency OR no_account)::int) OVER () AS incomplete,
           count(*) OVER () AS lines_total
    FROM flagged
)
SELECT 'summary' AS row_kind, NULL, NULL, NULL, false, false, false, false, false,
       coalesce(max(orphans), 0), coalesce(max(unknown_accounts), 0), coalesce(max(incomplete), 0),
       coalesce(max(lines_total), 0)
FROM defects
UNION ALL
(SELECT 'defect', line_id::text, txn_id::text, account_code::text, orphan, unknown_account,
        no_amount, no_currency, no_account, 0, 0, 0, 0
 FROM defects
 WHERE orphan OR unknown_account OR no_amount OR no_currency OR no_account
 ORDER BY line_id LIMIT $1)
)sql";

class JournalLineCompleteness : public Check {
public:
    std::string_view name() const override { return "journal_line_completeness"; }
    char category() const override { return 'A'; }
    std::string_view description() const override
    {
        return "Every booked transaction has at least two lines with a debit and a credit; no line points "
               "at a missing transaction or account or lacks amount, currency or account.";
    }

    void run(CheckContext& context) const override
    {
        auto& variances = context.variances();
        std::int64_t shape_total = 0;
        std::int64_t shape_listed = 0;
        for (const auto& row : context.ledger().exec_params(transaction_shape_sql, listing_limit(context))) {
            if (row[0].as<std::string>() == "summary") {
                context.metrics()["transactions_checked"] = row[2].as<std::int64_t>();
                continue;
            }
            shape_total = row[5].as<std::int64_t>();
            ++shape_listed;
            const auto lines = row[2].as<std::int64_t>();
            Variance variance{.kind = lines < 2 ? "too_few_lines" : "one_sided_txn",
                              .keys = {{"txn_id", row[1].as<std::string>()}}};
            variance.detail = {{"lines", lines},
                               {"debit_lines", row[3].as<std::int64_t>()},
                               {"credit_lines", row[4].as<std::int64_t>()}};
            variances.add(std::move(variance));
        }
        variances.add_unlisted(shape_total - shape_listed);

        std::int64_t defect_total = 0;
        std::int64_t defect_listed = 0;
        for (const auto& row : context.ledger().exec_params(line_defects_sql, listing_limit(context))) {
            if (row[0].as<std::string>() == "summary") {
                const auto orphans = row[9].as<std::int64_t>();
                const auto unknown = row[10].as<std::int64_t>();
                const auto incomplete = row[11].as<std::int64_t>();
                defect_total = orphans + unknown + incomplete;
                context.metrics()["lines_checked"] = row[12].as<std::int64_t>();
                context.metrics()["orphan_lines"] = orphans;
                context.metrics()["unknown_account_lines"] = unknown;
                context.metrics()["incomplete_lines"] = incomplete;
                continue;
            }
            std::vector<std::pair<std::string, std::string>> keys{{"line_id", row[1].as<std::string>()}};
            if (!row[2].is_null()) keys.emplace_back("txn_id", row[2].as<std::string>());
            if (row[4].as<bool>()) {
                variances.add(Variance{.kind = "orphan_line", .keys = keys});
                ++defect_listed;
            }
            if (row[5].as<bool>()) {
                auto with_account = keys;
                with_account.emplace_back("account", row[3].as<std::string>());
                variances.add(Variance{.kind = "unknown_account", .keys = std::move(with_account)});
                ++defect_listed;
            }
            nlohmann::json missing = nlohmann::json::array();
            if (row[6].as<bool>()) missing.push_back("amount");
            if (row[7].as<bool>()) missing.push_back("currency");
            if (row[8].as<bool>()) missing.push_back("account");
            if (!missing.empty()) {
                Variance variance{.kind = "incomplete_line", .keys = keys};
                variance.detail = {{"missing", std::move(missing)}};
                variances.add(std::move(variance));
                ++defect_listed;
            }
        }
        variances.add_unlisted(defect_total - defect_listed);
        context.metrics()["broken_transactions"] = shape_total;
        if (variances.total() > 0) context.raise(CheckStatus::fail);
    }
};

}  // namespace

std::unique_ptr<Check> make_journal_line_completeness() { return std::make_unique<JournalLineCompleteness>(); }

}  // namespace reconcile
