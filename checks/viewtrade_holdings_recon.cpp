// viewtrade_holdings_recon (C): Per (India customer, instrument): ledger share count vs ViewTrade positions; each row
// match, mismatch, ledger_only (likely a missed sell) or broker_only (likely a missing buy ingest). Variances:
// mismatch, ledger_only, broker_only, quantity_dust, fetch_error. Matches are counted in the metrics, not listed. The
// comparison (lib/external_recon.cpp) is shared with the India reports.
#include "checks/external_support.hpp"

namespace reconcile {

std::unique_ptr<Check> make_viewtrade_holdings_recon()
{
    return std::make_unique<AccountsReconCheck>(
        "viewtrade_holdings_recon",
        "Per (India customer, instrument): ledger share count vs ViewTrade positions; each row match, mismatch, "
        "ledger_only (likely a missed sell) or broker_only (likely a missing buy ingest).",
        BrokerId::viewtrade, false, QuantityNaming::outcome);
}

}  // namespace reconcile
