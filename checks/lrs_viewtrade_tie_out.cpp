// lrs_viewtrade_tie_out (C): per India customer, Σ USD remitted under LRS vs Σ USD wired into
// ViewTrade, each remittance bucketed matched / in_transit / aged_in_transit; wires nobody
// remitted are unmatched funding (informational). Only aged money in transit fails.
// The matching is lib/external_recon.cpp (tie_out_lrs), shared with the India reports.
#include "checks/external_support.hpp"

namespace reconcile {
namespace {

class LrsViewtradeTieOut : public Check {
public:
    std::string_view name() const override { return "lrs_viewtrade_tie_out"; }
    Category category() const override { return Category::C; }
    std::set<ContractView> reads() const override
    {
        return {ContractView::broker_accounts, ContractView::lrs_remittances};
    }
    std::string_view description() const override
    {
        return "Per India customer: USD remitted under LRS vs USD wired into ViewTrade, bucketed matched, "
               "in_transit, aged_in_transit (fails) and unmatched_funding (informational).";
    }

    std::optional<BrokerId> broker() const override { return BrokerId::viewtrade; }

    void run(CheckContext& context) const override
    {
        const auto recon = reconcile_lrs(context.snapshot(), context.brokers(), context.settings(),
                                         CustomerScope{.shard = context.shard()}, context.as_of());
        record_lrs_recon(context, recon);
    }
};

}  // namespace

std::unique_ptr<Check> make_lrs_viewtrade_tie_out()
{
    return std::make_unique<LrsViewtradeTieOut>();
}

}  // namespace reconcile
