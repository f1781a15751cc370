#pragma once

// Turns the shared external comparison (lib/external_recon.hpp) into a check's metrics,
// variances and status, so the five category C checks differ only in what they ask for.

#include "lib/check.hpp"
#include "lib/external_recon.hpp"

namespace reconcile {

/// How share-count breaks are named: the ledger recon checks call every break a
/// `quantity_break` (the outcome goes in the detail); the holdings checks name the outcome
/// itself (`mismatch`, `ledger_only`, `broker_only`). Dust is `quantity_dust` in both.
enum class QuantityNaming { quantity_break, outcome };

/// Records an accounts comparison: `amount_break`, quantity variances, `fetch_error`s,
/// counts and as-of times in the metrics, and the status (external_verdict).
void record_accounts_recon(CheckContext& context, const AccountsRecon& recon, QuantityNaming naming);

/// The four account checks (gtn_ledger_recon, viewtrade_ledger_recon, zag_holdings_recon,
/// viewtrade_holdings_recon) are this one class with different parameters; each has its own
/// file with its factory.
class AccountsReconCheck : public Check {
public:
    AccountsReconCheck(std::string_view name, std::string_view description, BrokerId broker, bool with_cash,
                       QuantityNaming naming)
        : m_name(name), m_description(description), m_broker(broker), m_with_cash(with_cash), m_naming(naming)
    {
    }
    std::string_view name() const override { return m_name; }
    Category category() const override { return Category::C; }
    std::set<ContractView> reads() const override
    {
        return {ContractView::accounts, ContractView::transactions, ContractView::journal_lines,
                ContractView::broker_accounts};
    }
    std::string_view description() const override { return m_description; }
    std::optional<BrokerId> broker() const override { return m_broker; }
    /// Fetches first, then reads the ledger in a short snapshot (reconcile_accounts).
    void run(CheckContext& context) const override;

private:
    std::string_view m_name;
    std::string_view m_description;
    BrokerId m_broker;
    bool m_with_cash;
    QuantityNaming m_naming;
};

/// Records an LRS tie-out: `aged_in_transit` variances, `fetch_error`s, bucket counts and USD
/// sums in the metrics (in transit and unmatched funding are informational), and the status.
void record_lrs_recon(CheckContext& context, const LrsRecon& recon);

}  // namespace reconcile
