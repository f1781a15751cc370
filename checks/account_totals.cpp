// account_totals (B): each account's stored running totals (debit, credit, net in the direction
// of its normal side) equal the aggregate of its booked lines, per currency.
#include <fmt/format.h>

#include "checks/proof.hpp"
#include "checks/sql_support.hpp"

namespace reconcile {
namespace {

// Booked lines grouped by (account, currency), fully joined with the stored totals. A row
// present on both sides yields one break per column that differs (account_totals_mismatch,
// keyed by the column); a journal group without a stored row is account_totals_missing; a
// stored row with non-zero totals and no booked lines is account_totals_without_lines.
// The journal's totals from the journal itself (a standby, which holds no proof)...
const std::string derived_from_journal = fmt::format(R"sql(
WITH derived AS MATERIALIZED (
    SELECT l.account_code::text AS account_code, l.currency::text AS currency,
           coalesce(sum(l.amount) FILTER (WHERE l.side = 'DR'), 0) AS debit_total,
           coalesce(sum(l.amount) FILTER (WHERE l.side = 'CR'), 0) AS credit_total,
           sum(CASE WHEN l.side::text = a.normal_side THEN l.amount ELSE -l.amount END) AS net,
           count(*) AS lines
    FROM contract.journal_lines l
    JOIN {1} a ON a.account_code = l.account_code::text
    JOIN contract.transactions t ON t.txn_id::txnid = l.txn_id::txnid
    WHERE t.status IN {0} AND l.side IN ('DR', 'CR') AND l.amount IS NOT NULL
    GROUP BY 1, 2
),
)sql",
                                                     booked_statuses_sql, chart_sql);

// ... or from the proof's groups summed over customers (checks/proof.hpp): the same sums, summed
// per account.
const std::string derived_from_proof = fmt::format(R"sql(
WITH derived AS MATERIALIZED (
    SELECT g.account AS account_code, g.currency AS currency, sum(g.dr) AS debit_total, sum(g.cr) AS credit_total,
           sum({0}) AS net, sum(g.lines) AS lines
    FROM pg_temp.proof_account_groups g
    JOIN {1} a ON a.account_code = g.account
    GROUP BY 1, 2 HAVING sum(g.lines) > 0
),
)sql",
                                                   proof_signed_sql, chart_sql);

const std::string totals_comparison_sql = R"sql(
compared AS MATERIALIZED (
    SELECT coalesce(s.account_code, d.account_code) AS account_code, coalesce(s.currency, d.currency) AS currency,
           d.debit_total AS d_debit, d.credit_total AS d_credit, d.net AS d_net, coalesce(d.lines, 0) AS lines,
           s.debit_total AS s_debit, s.credit_total AS s_credit, s.net AS s_net,
           s.account_code IS NOT NULL AS has_stored, d.account_code IS NOT NULL AS has_lines
    FROM (SELECT account_code::text AS account_code, currency::text AS currency, debit_total, credit_total, net
          FROM contract.account_totals) s
    -- A null part (a currency the lines lack) matches its null: one array equality.
    FULL JOIN derived d ON ARRAY[d.account_code, d.currency] = ARRAY[s.account_code, s.currency]
),
breaks AS (
    SELECT c.account_code, c.currency, c.lines, x.kind, x.column_name, x.expected, x.actual,
           coalesce(x.actual, 0) - x.expected AS difference, c.s_debit, c.s_credit, c.d_debit, c.d_credit
    FROM compared c
    CROSS JOIN LATERAL (VALUES
        ('account_totals_mismatch', 'debit_total', c.d_debit, c.s_debit, c.has_stored AND c.has_lines),
        ('account_totals_mismatch', 'credit_total', c.d_credit, c.s_credit, c.has_stored AND c.has_lines),
        ('account_totals_mismatch', 'net', c.d_net, c.s_net, c.has_stored AND c.has_lines),
        ('account_totals_missing', NULL, c.d_net, NULL, NOT c.has_stored),
        ('account_totals_without_lines', NULL, 0, c.s_net,
         NOT c.has_lines AND (c.s_debit <> 0 OR c.s_credit <> 0 OR c.s_net <> 0))
    ) AS x(kind, column_name, expected, actual, applies)
    WHERE x.applies AND (x.kind <> 'account_totals_mismatch' OR x.expected <> x.actual)
),
counted AS (
    SELECT *,
           sum((kind = 'account_totals_mismatch')::int) OVER () AS mismatched,
           sum((kind = 'account_totals_missing')::int) OVER () AS missing,
           sum((kind = 'account_totals_without_lines')::int) OVER () AS without_lines
    FROM breaks
)
SELECT 'summary' AS row_kind, NULL AS kind, NULL AS account_code, NULL AS currency, NULL AS column_name,
       NULL AS expected, NULL AS actual, NULL AS difference, NULL AS stored_debit, NULL AS stored_credit,
       NULL AS journal_debit, NULL AS journal_credit, NULL::bigint AS lines, NULL::bigint AS mismatched,
       NULL::bigint AS missing, NULL::bigint AS without_lines, count(*) FILTER (WHERE has_stored) AS totals_checked,
       count(*) FILTER (WHERE has_lines) AS journal_groups, coalesce(sum(lines), 0) AS lines_checked
FROM compared
UNION ALL
(SELECT 'break', kind, account_code, currency, column_name, expected::text, actual::text, difference::text,
        s_debit::text, s_credit::text, d_debit::text, d_credit::text, lines, mismatched, missing, without_lines,
        NULL, NULL, NULL
 FROM counted
 ORDER BY abs(difference) DESC, account_code, currency, column_name LIMIT $1)
)sql";

class AccountTotals : public ProvedCheck {
public:
    std::string_view name() const override { return "account_totals"; }
    Category category() const override { return Category::B; }
    std::set<ContractView> reads() const override
    {
        return {ContractView::accounts, ContractView::transactions, ContractView::journal_lines,
                ContractView::account_totals};
    }
    std::string_view description() const override
    {
        return "Each account's stored debit, credit and net totals equal the aggregate of its booked lines.";
    }

    void run(CheckContext& context) const override
    {
        const auto rows = CappedRows::listing(
            context, ids_sql(context, (proof(context).available ? derived_from_proof : derived_from_journal) +
                                          totals_comparison_sql));
        const NamedRow summary = rows.one();
        context.metrics()["totals_checked"] = summary.number("totals_checked");
        context.metrics()["journal_groups"] = summary.number("journal_groups");
        context.metrics()["lines_checked"] = summary.number("lines_checked");
        rows.list(context, "break", {"mismatched", "missing", "without_lines"}, [](const NamedRow& row) {
            const std::string kind = row.text("kind");
            Variance variance{
                .kind = kind,
                .keys =
                    row.keys({{"account", "account_code"}, {"currency", "currency"}, {"column", "column_name", true}}),
                .expected = row.optional_text("expected"),
                .actual = row.optional_text("actual"),
                .difference = row.optional_text("difference")};
            variance.detail = {{"booked_lines", row.number("lines")}};
            // The two totals side by side share their scale too ("0.00" beside "1.50").
            const auto pair_in_detail = [&](const char* debit_name, const char* debit_column, const char* credit_name,
                                            const char* credit_column) {
                std::string debit = row.text(debit_column);
                std::string credit = row.text(credit_column);
                align_decimal_texts({debit, credit});
                variance.detail[debit_name] = debit;
                variance.detail[credit_name] = credit;
            };
            if (kind == "account_totals_missing") {
                pair_in_detail("journal_debit_total", "journal_debit", "journal_credit_total", "journal_credit");
            } else if (kind == "account_totals_without_lines") {
                pair_in_detail("stored_debit_total", "stored_debit", "stored_credit_total", "stored_credit");
            }
            return variance;
        });
        context.metrics()["mismatched_columns"] = rows.total("break", {"mismatched"});
        context.metrics()["missing"] = rows.total("break", {"missing"});
        context.metrics()["without_lines"] = rows.total("break", {"without_lines"});
        report_drift(context);
        if (context.variances().total() > 0) context.raise(CheckStatus::fail);
    }
};

}  // namespace

std::unique_ptr<Check> make_account_totals()
{
    return std::make_unique<AccountTotals>();
}

}  // namespace reconcile
