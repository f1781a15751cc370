// dr_cr_sign_convention (A): every line has side DR or CR and a strictly positive amount, and
// no account whose chart-of-accounts entry forbids it carries a balance on the wrong side of
// its normal side (an overdrawn customer wallet, say).
#include <fmt/format.h>

#include <algorithm>

#include "checks/journal_pass.hpp"
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
           sum(CASE WHEN l.side = a.normal_side THEN l.amount ELSE -l.amount END) AS balance
    FROM contract.journal_lines l
    JOIN contract.accounts a ON a.account_code = l.account_code
    {lines}
    GROUP BY 1, 2, 3
)
SELECT account_code::text, customer_id::text, currency::text, normal_side::text, balance::text,
       count(*) OVER () AS total
FROM balances WHERE balance < 0
ORDER BY balances.balance, balances.account_code, balances.customer_id LIMIT $1
)sql";

// Exact: each line joined to its transaction (every line probes all transactions).
const std::string wrong_side_joined_sql = fmt::format(
    fmt::runtime(wrong_side_sql_template),
    fmt::arg("lines", fmt::format("JOIN contract.transactions t ON t.txn_id = l.txn_id\n"
                                  "    WHERE NOT a.allow_wrong_side AND l.side IN ('DR', 'CR') AND t.status IN {}",
                                  booked_statuses_sql)));

// The same when the journal pass found no orphaned line (every line has its transaction): only
// the few transactions that are not booked are excluded, a small hash every line probes.
const std::string wrong_side_sql = fmt::format(
    fmt::runtime(wrong_side_sql_template),
    fmt::arg("lines", fmt::format("WHERE NOT a.allow_wrong_side AND l.side IN ('DR', 'CR') AND NOT EXISTS (\n"
                                  "        SELECT 1 FROM contract.transactions t WHERE t.txn_id = l.txn_id\n"
                                  "        AND (t.status IS NULL OR t.status NOT IN {}))",
                                  booked_statuses_sql)));

class DrCrSignConvention : public Check {
public:
    std::string_view name() const override { return "dr_cr_sign_convention"; }
    char category() const override { return 'A'; }
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
                variances.add(Variance{.kind = "invalid_side", .keys = keys, .expected = "DR|CR", .actual = line.side});
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

        std::int64_t account_total = 0;
        std::int64_t account_listed = 0;
        const std::string& balances_sql = defects.orphans == 0 ? wrong_side_sql : wrong_side_joined_sql;
        // At least one row even when the line variances filled the cap: its window total is the
        // only count of the wrong-side balances (found by the oracle test, ORACLE_SEED=55).
        const auto limit = std::max<std::int64_t>(listing_limit(context), 1);
        for (const auto& row : context.ledger().exec_params(balances_sql, limit)) {
            account_total = row[5].as<std::int64_t>();
            ++account_listed;
            std::vector<std::pair<std::string, std::string>> keys{{"account", row[0].as<std::string>()}};
            if (!row[1].is_null()) keys.emplace_back("customer_id", row[1].as<std::string>());
            keys.emplace_back("currency", text_or_empty(row[2]));
            Variance variance{.kind = "wrong_side_balance",
                              .keys = std::move(keys),
                              .expected = "0",
                              .actual = row[4].as<std::string>(),
                              .difference = row[4].as<std::string>()};
            variance.detail = {{"normal_side", row[3].as<std::string>()}};
            variances.add(std::move(variance));
        }
        variances.add_unlisted(account_total - account_listed);
        context.metrics()["wrong_side_balances"] = account_total;
        if (variances.total() > 0) context.raise(CheckStatus::fail);
    }
};

}  // namespace

std::unique_ptr<Check> make_dr_cr_sign_convention()
{
    return std::make_unique<DrCrSignConvention>();
}

}  // namespace reconcile
