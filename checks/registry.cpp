#include "checks/registry.hpp"

namespace reconcile {

// Each check's file defines its factory.
std::unique_ptr<Check> make_trial_balance_zero();
std::unique_ptr<Check> make_journal_line_completeness();
std::unique_ptr<Check> make_source_txn_uniqueness();
std::unique_ptr<Check> make_dr_cr_sign_convention();
std::unique_ptr<Check> make_wallet_derivation();
std::unique_ptr<Check> make_account_totals();
std::unique_ptr<Check> make_snapshot_reconcile();
std::unique_ptr<Check> make_pending_flow_age();
std::unique_ptr<Check> make_gtn_ledger_recon();
std::unique_ptr<Check> make_zag_holdings_recon();
std::unique_ptr<Check> make_viewtrade_ledger_recon();
std::unique_ptr<Check> make_viewtrade_holdings_recon();
std::unique_ptr<Check> make_lrs_viewtrade_tie_out();

namespace {

std::vector<std::unique_ptr<Check>> product_checks()
{
    // The one explicit list: adding a check is its file plus one line here.
    std::vector<std::unique_ptr<Check>> checks;
    checks.push_back(make_trial_balance_zero());
    checks.push_back(make_journal_line_completeness());
    checks.push_back(make_source_txn_uniqueness());
    checks.push_back(make_dr_cr_sign_convention());
    checks.push_back(make_wallet_derivation());
    checks.push_back(make_account_totals());
    checks.push_back(make_snapshot_reconcile());
    checks.push_back(make_gtn_ledger_recon());
    checks.push_back(make_zag_holdings_recon());
    checks.push_back(make_viewtrade_ledger_recon());
    checks.push_back(make_viewtrade_holdings_recon());
    checks.push_back(make_lrs_viewtrade_tie_out());
    checks.push_back(make_pending_flow_age());
    return checks;
}

}  // namespace

const CheckRegistry& default_registry()
{
    static const CheckRegistry registry(product_checks());
    return registry;
}

}  // namespace reconcile
