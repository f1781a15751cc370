// journal_line_completeness (A): every booked transaction has at least two lines with at least
// one debit and one credit; no line points at a missing transaction or account; no line lacks
// an amount, a currency or an account.
#include <fmt/format.h>

#include "checks/journal_pass.hpp"
#include "checks/proof.hpp"
#include "checks/sql_support.hpp"

namespace reconcile {
namespace {

// Transactions whose status is outside the contract's set, by txn_id: from the proof's verdicts
// (kind 'unknown_status', re-proved for touched transactions and carried for the rest), each
// listed one's status read back by its id...
const std::string unknown_status_proof_sql = fmt::format(R"sql(
WITH listed AS (
    SELECT b.txn_id, b.lines, count(*) OVER () AS total
    FROM pg_temp.proof_breaks b WHERE b.kind = 'unknown_status'
    ORDER BY b.txn_id LIMIT $1
)
SELECT 'unknown_status' AS row_kind, x.txn_id::text AS txn_id, x.lines, s.status, x.total
FROM listed x
LEFT JOIN (SELECT t.txn_id::txnid AS txn_id, min(t.status::text) AS status FROM contract.transactions t
           WHERE t.txn_id::txnid IN (SELECT txn_id::txnid FROM listed) AND {0} GROUP BY 1) s
    ON s.txn_id = x.txn_id::txnid
ORDER BY x.txn_id
)sql",
                                                         unknown_status_sql);

// ... or from the transactions themselves (a standby, which holds no proof). Either way the
// listed transactions' statuses or lines are grouped and joined, never searched one by one: a
// ledger whose ids no index serves is read once, not once per listed row (stop 41).
const std::string unknown_status_journal_sql =
    fmt::format(R"sql(
WITH listed AS (
    SELECT t.txn_id, t.status::text AS status, count(*) OVER () AS total
    FROM contract.transactions t WHERE t.txn_id IS NOT NULL AND {0}
    ORDER BY t.txn_id LIMIT $1
)
SELECT 'unknown_status' AS row_kind, x.txn_id::text AS txn_id, coalesce(c.lines, 0) AS lines, x.status, x.total
FROM listed x
LEFT JOIN ({1}) c ON c.txn_id = x.txn_id::txnid
ORDER BY x.txn_id
)sql",
                unknown_status_sql, lines_per_transaction_sql("SELECT txn_id FROM listed"));

// Account codes the chart lists more than once (as text): every check reads the chart one row per
// code (chart_sql), so sums never double, but the chart itself is defective and said so here, with
// whether its rows disagree on what the account is. The chart is small: read whole every run.
const std::string duplicate_accounts_sql = R"sql(
SELECT 'duplicate_account' AS row_kind, account_code::text AS account, count(*) AS rows,
       count(DISTINCT concat_ws('|', normal_side, allow_wrong_side, is_customer_wallet)) > 1 AS conflicting,
       count(*) OVER () AS total
FROM contract.accounts WHERE account_code IS NOT NULL
GROUP BY account_code::text HAVING count(*) > 1
ORDER BY 2 LIMIT $1
)sql";

// Transaction shapes come from the shared journal pass; the per-line detail (orphans, unknown
// accounts, missing fields) is read only when that pass counted suspect lines.
class JournalLineCompleteness : public ProvedCheck {
public:
    std::string_view name() const override { return "journal_line_completeness"; }
    Category category() const override { return Category::A; }
    std::set<ContractView> reads() const override
    {
        return {ContractView::accounts, ContractView::transactions, ContractView::journal_lines};
    }
    std::string_view description() const override
    {
        return "Every booked transaction has at least two lines with a debit and a credit; no line points "
               "at a missing transaction or account or lacks amount, currency or account.";
    }

    void run(CheckContext& context) const override
    {
        auto& variances = context.variances();
        const JournalPass& pass = journal_pass(context);
        for (const auto& txn : pass.misshapen) {
            Variance variance{.kind = txn.lines < 2 ? "too_few_lines" : "one_sided_txn",
                              .keys = {{"txn_id", txn.txn_id}}};
            variance.detail = {
                {"lines", txn.lines}, {"debit_lines", txn.debit_lines}, {"credit_lines", txn.credit_lines}};
            variances.add(std::move(variance));
        }
        variances.add_unlisted(pass.misshapen_total - static_cast<std::int64_t>(pass.misshapen.size()));

        const LineDefects& defects = line_defects(context);
        std::int64_t listed = 0;
        for (const auto& line : defects.completeness) {
            std::vector<std::pair<std::string, std::string>> keys{{"line_id", line.line_id}};
            if (line.txn_id) keys.emplace_back("txn_id", *line.txn_id);
            if (line.orphan) {
                variances.add(Variance{.kind = "orphan_line", .keys = keys});
                ++listed;
            }
            if (line.unknown_account) {
                auto with_account = keys;
                with_account.emplace_back("account", line.account.value_or(""));
                variances.add(Variance{.kind = "unknown_account", .keys = std::move(with_account)});
                ++listed;
            }
            nlohmann::json missing = nlohmann::json::array();
            if (line.no_amount) missing.push_back("amount");
            if (line.no_currency) missing.push_back("currency");
            if (line.no_account) missing.push_back("account");
            if (!missing.empty()) {
                Variance variance{.kind = "incomplete_line", .keys = keys};
                variance.detail = {{"missing", std::move(missing)}};
                variances.add(std::move(variance));
                ++listed;
            }
        }
        variances.add_unlisted(defects.orphans + defects.unknown_accounts + defects.incomplete - listed);
        // Not booked, so in no sum: named, or its money would vanish from the proof unseen.
        const auto unknown = CappedRows::listing(
            context,
            ids_sql(context, proof(context).available ? unknown_status_proof_sql : unknown_status_journal_sql));
        const std::int64_t unknown_statuses =
            unknown.list(context, "unknown_status", {"total"}, [](const NamedRow& row) {
                Variance variance{.kind = "unknown_status", .keys = {{"txn_id", row.text("txn_id")}}};
                variance.detail = {
                    {"status", row.is_null("status") ? nlohmann::json(nullptr) : nlohmann::json(row.text("status"))},
                    {"lines", row.number("lines")}};
                return variance;
            });
        const std::int64_t duplicate_accounts =
            CappedRows::listing(context, duplicate_accounts_sql)
                .list(context, "duplicate_account", {"total"}, [](const NamedRow& row) {
                    Variance variance{.kind = "duplicate_account", .keys = {{"account", row.text("account")}}};
                    variance.detail = {{"rows", row.number("rows")}, {"conflicting", row.flag("conflicting")}};
                    return variance;
                });
        context.metrics()["transactions_checked"] = pass.booked_transactions;
        context.metrics()["duplicate_accounts"] = duplicate_accounts;
        context.metrics()["unknown_status_transactions"] = unknown_statuses;
        context.metrics()["lines_checked"] = pass.lines;
        context.metrics()["orphan_lines"] = defects.orphans;
        context.metrics()["unknown_account_lines"] = defects.unknown_accounts;
        context.metrics()["incomplete_lines"] = defects.incomplete;
        context.metrics()["broken_transactions"] = pass.misshapen_total;
        if (variances.total() > 0) context.raise(CheckStatus::fail);
    }
};

}  // namespace

std::unique_ptr<Check> make_journal_line_completeness()
{
    return std::make_unique<JournalLineCompleteness>();
}

}  // namespace reconcile
