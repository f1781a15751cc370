// trial_balance_zero (A): debits equal credits per currency over all booked lines, and every
// booked transaction balances on its own in each currency.
#include "checks/journal_pass.hpp"
#include "checks/proof.hpp"
#include "checks/sql_support.hpp"

namespace reconcile {
namespace {

// The grouping per (transaction, currency) is the shared journal pass (checks/journal_pass).
class TrialBalanceZero : public ProvedCheck {
public:
    std::string_view name() const override { return "trial_balance_zero"; }
    Category category() const override { return Category::A; }
    std::set<ContractView> reads() const override
    {
        return {ContractView::accounts, ContractView::transactions, ContractView::journal_lines};
    }
    std::string_view description() const override
    {
        return "Debits equal credits per currency over all booked lines, and every booked transaction "
               "balances on its own.";
    }

    void run(CheckContext& context) const override
    {
        const JournalPass& pass = journal_pass(context);
        nlohmann::json currencies = nlohmann::json::object();
        std::int64_t lines = 0;
        std::int64_t groups = 0;
        for (const auto& total : pass.currencies) {
            currencies[total.currency] = {
                {"debits", total.debits}, {"credits", total.credits}, {"difference", total.difference}};
            lines += total.lines;
            groups += total.groups;
            if (!Decimal::parse(total.difference).is_zero()) {
                context.variances().add(Variance{.kind = "unbalanced_currency",
                                                 .keys = {{"currency", total.currency}},
                                                 .expected = total.debits,
                                                 .actual = total.credits,
                                                 .difference = total.difference});
            }
        }
        for (const auto& txn : pass.unbalanced) {
            context.variances().add(Variance{.kind = "unbalanced_txn",
                                             .keys = {{"txn_id", txn.txn_id}, {"currency", txn.currency}},
                                             .expected = txn.debits,
                                             .actual = txn.credits,
                                             .difference = txn.difference});
        }
        context.variances().add_unlisted(pass.unbalanced_total - static_cast<std::int64_t>(pass.unbalanced.size()));
        context.metrics()["lines_checked"] = lines;
        context.metrics()["txn_currency_groups"] = groups;
        context.metrics()["unbalanced_txns"] = pass.unbalanced_total;
        context.metrics()["currencies"] = std::move(currencies);
        report_drift(context);
        if (context.variances().total() > 0) context.raise(CheckStatus::fail);
    }
};

}  // namespace

std::unique_ptr<Check> make_trial_balance_zero()
{
    return std::make_unique<TrialBalanceZero>();
}

}  // namespace reconcile
