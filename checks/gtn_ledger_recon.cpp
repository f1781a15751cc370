// gtn_ledger_recon (C): Per UAE customer: ledger cash per currency and share counts per instrument vs the live GTN
// account (custody at cost: quantities, never market values). Variances: amount_break, quantity_break, quantity_dust,
// fetch_error. Matches are counted in the metrics, not listed. The comparison (lib/external_recon.cpp) is shared with
// the India reports.
#include "checks/external_support.hpp"

namespace reconcile {

std::unique_ptr<Check> make_gtn_ledger_recon()
{
    return std::make_unique<AccountsReconCheck>(
        "gtn_ledger_recon",
        "Per UAE customer: ledger cash per currency and share counts per instrument vs the live GTN account "
        "(custody at cost: quantities, never market values).",
        BrokerId::gtn, true, QuantityNaming::quantity_break);
}

}  // namespace reconcile
