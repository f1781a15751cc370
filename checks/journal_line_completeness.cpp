// journal_line_completeness (A): every booked transaction has at least two lines with at least
// one debit and one credit; no line points at a missing transaction or account; no line lacks
// an amount, a currency or an account.
#include "checks/journal_pass.hpp"
#include "checks/proof.hpp"
#include "checks/sql_support.hpp"

namespace reconcile {
namespace {

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
        context.metrics()["transactions_checked"] = pass.booked_transactions;
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
