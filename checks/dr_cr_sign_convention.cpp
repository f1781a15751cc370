// dr_cr_sign_convention (A): every line has side DR or CR and a strictly positive amount, and
// no account whose chart-of-accounts entry forbids it carries a balance on the wrong side of
// its normal side (an overdrawn customer wallet, say).
#include <fmt/format.h>

#include <algorithm>

#include "checks/journal_pass.hpp"
#include "checks/proof.hpp"
#include "checks/sql_support.hpp"

namespace reconcile {
namespace {

// Balances per (account, customer, currency) in the direction of the account's normal side: the
// second grouping of the journal (the first, per transaction, is the shared journal pass). The
// keys are grouped as bytes (COLLATE "C"): sorting them by locale rules would cost more than the
// sums. `{lines}` chooses which lines count as booked (see booked_lines_*).
const std::string wrong_side_sql_template = R"sql(
WITH balances AS (
    SELECT l.account_code::text COLLATE "C" AS account_code, l.customer_id::text COLLATE "C" AS customer_id,
           l.currency::text COLLATE "C" AS currency, min(a.normal_side::text) AS normal_side,
           sum(CASE WHEN l.side::text = a.normal_side THEN l.amount ELSE -l.amount END) AS balance
    FROM contract.journal_lines l
    JOIN {chart} a ON a.account_code = l.account_code::text
    {lines}
    GROUP BY 1, 2, 3
)
SELECT 'wrong_side' AS row_kind, account_code::text AS account_code, customer_id::text AS customer_id,
       currency::text AS currency, normal_side::text AS normal_side, balance::text AS balance,
       count(*) OVER () AS total
FROM balances WHERE balance < 0
ORDER BY balances.balance, balances.account_code, balances.customer_id LIMIT $1
)sql";

// The same from the proof (checks/proof.hpp), which keeps every key on the wrong side and
// re-proves only the keys whose lines changed.
const std::string wrong_side_proof_sql = fmt::format(R"sql(
SELECT 'wrong_side' AS row_kind, w.account AS account_code, w.customer AS customer_id, w.currency,
       a.normal_side AS normal_side, w.balance::text AS balance, count(*) OVER () AS total
FROM pg_temp.proof_wrong_sides w
JOIN {} a ON a.account_code = w.account
ORDER BY w.balance, w.account COLLATE "C", w.customer COLLATE "C" LIMIT $1
)sql",
                                                     chart_sql);

// Exact: each line joined to its transaction (every line probes all transactions).
const std::string wrong_side_joined_sql = fmt::format(
    fmt::runtime(wrong_side_sql_template), fmt::arg("chart", chart_sql),
    fmt::arg("lines", fmt::format("JOIN contract.transactions t ON t.txn_id::txnid = l.txn_id::txnid\n"
                                  "    WHERE NOT a.allow_wrong_side AND l.side IN ('DR', 'CR') AND t.status IN {}",
                                  booked_statuses_sql)));

// The same when the journal pass found no orphaned line (every line has its transaction): only
// the few transactions that are not booked are excluded, a small hash every line probes.
const std::string wrong_side_sql = fmt::format(
    fmt::runtime(wrong_side_sql_template), fmt::arg("chart", chart_sql),
    fmt::arg("lines",
             fmt::format("WHERE NOT a.allow_wrong_side AND l.side IN ('DR', 'CR') AND NOT EXISTS (\n"
                         "        SELECT 1 FROM contract.transactions t WHERE t.txn_id::txnid = l.txn_id::txnid\n"
                         "        AND (t.status IS NULL OR t.status NOT IN {}))",
                         booked_statuses_sql)));

class DrCrSignConvention : public ProvedCheck {
public:
    std::string_view name() const override { return "dr_cr_sign_convention"; }
    Category category() const override { return Category::A; }
    std::set<ContractView> reads() const override
    {
        return {ContractView::accounts, ContractView::transactions, ContractView::journal_lines};
    }
    std::string_view description() const override
    {
        return "Every line has side DR or CR and a strictly positive amount; no account that forbids it "
               "carries a balance on the wrong side of its normal side.";
    }

    void run(CheckContext& context) const override
    {
        auto& variances = context.variances();
        // Invalid sides and amounts are flagged by the shared journal pass and detailed once.
        const LineDefects& defects = line_defects(context);
        std::int64_t line_listed = 0;
        for (const auto& line : defects.sign) {
            std::vector<std::pair<std::string, std::string>> keys{{"line_id", line.line_id},
                                                                  {"txn_id", line.txn_id.value_or("")}};
            if (line.invalid_side) {
                // The side is text, not a figure: it goes in the detail (expected and actual are
                // decimals or null in every variance).
                Variance variance{.kind = "invalid_side", .keys = keys};
                variance.detail = {{"side", line.side ? nlohmann::json(*line.side) : nlohmann::json(nullptr)}};
                variances.add(std::move(variance));
                ++line_listed;
            }
            if (line.non_positive_amount) {
                variances.add(Variance{.kind = "non_positive_amount", .keys = keys, .actual = line.amount});
                ++line_listed;
            }
        }
        const std::int64_t line_total = defects.invalid_sides + defects.non_positive_amounts;
        variances.add_unlisted(line_total - line_listed);
        context.metrics()["invalid_lines"] = line_total;

        const std::string& balances_sql = proof(context).available ? wrong_side_proof_sql
                                          : defects.orphans == 0   ? wrong_side_sql
                                                                   : wrong_side_joined_sql;
        const auto rows = CappedRows::listing(context, ids_sql(context, balances_sql));
        context.metrics()["wrong_side_balances"] = rows.list(context, "wrong_side", {"total"}, [](const NamedRow& row) {
            Variance variance{
                .kind = "wrong_side_balance",
                .keys = row.keys(
                    {{"account", "account_code"}, {"customer_id", "customer_id", true}, {"currency", "currency"}}),
                .expected = "0",
                .actual = row.text("balance"),
                .difference = row.text("balance")};
            variance.detail = {{"normal_side", row.text("normal_side")}};
            return variance;
        });
        if (variances.total() > 0) context.raise(CheckStatus::fail);
    }
};

}  // namespace

std::unique_ptr<Check> make_dr_cr_sign_convention()
{
    return std::make_unique<DrCrSignConvention>();
}

}  // namespace reconcile
