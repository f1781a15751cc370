#include "checks/registry.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "lib/errors.hpp"

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

CheckRegistry::CheckRegistry()
{
    m_checks.push_back(make_trial_balance_zero());
    m_checks.push_back(make_journal_line_completeness());
    m_checks.push_back(make_source_txn_uniqueness());
    m_checks.push_back(make_dr_cr_sign_convention());
    m_checks.push_back(make_wallet_derivation());
    m_checks.push_back(make_account_totals());
    m_checks.push_back(make_snapshot_reconcile());
    m_checks.push_back(make_gtn_ledger_recon());
    m_checks.push_back(make_zag_holdings_recon());
    m_checks.push_back(make_viewtrade_ledger_recon());
    m_checks.push_back(make_viewtrade_holdings_recon());
    m_checks.push_back(make_lrs_viewtrade_tie_out());
    m_checks.push_back(make_pending_flow_age());
}

const Check* CheckRegistry::find(std::string_view name) const
{
    for (const auto& check : m_checks) {
        if (check->name() == name) return check.get();
    }
    return nullptr;
}

std::vector<const Check*> CheckRegistry::select(char category, const std::vector<std::string>& names) const
{
    std::vector<const Check*> selected;
    if (names.empty()) {
        for (const auto& check : m_checks) {
            if (check->category() == category) selected.push_back(check.get());
        }
        return selected;
    }
    for (const auto& name : names) {
        const Check* check = find(name);
        if (check == nullptr) {
            throw Error(ExitCode::usage, fmt::format("unknown check '{}' (see `reconcile checks`)", name));
        }
        if (check->category() != category) {
            throw Error(ExitCode::usage,
                        fmt::format("check '{}' is in category {}, not {}", name, check->category(), category));
        }
        if (std::find(selected.begin(), selected.end(), check) == selected.end()) selected.push_back(check);
    }
    return selected;
}

const CheckRegistry& default_registry()
{
    static const CheckRegistry registry;
    return registry;
}

char parse_category(std::string_view text)
{
    if (text.size() == 1) {
        const char upper = static_cast<char>(std::toupper(static_cast<unsigned char>(text.front())));
        if (upper >= 'A' && upper <= 'D') return upper;
    }
    throw Error(ExitCode::usage, fmt::format("unknown category '{}': expected A, B, C or D", text));
}

}  // namespace reconcile
