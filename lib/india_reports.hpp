#pragma once

// The India on-demand reports (DESIGN §8): `reconcile india ledger-recon|holdings-recon|
// reconciliation` and serve's GET /v1/india/... endpoints call exactly this. They fetch live
// ViewTrade data and read the India ledger with the same comparison code as the category C
// checks (lib/external_recon.hpp), write nothing and create no run row.

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "lib/config.hpp"
#include "lib/db.hpp"
#include "lib/errors.hpp"

namespace reconcile {

enum class IndiaReport { ledger_recon, holdings_recon, reconciliation };
struct IndiaReportRequest {
    IndiaReport report;
    std::optional<std::string> customer_id;
    SessionLimits session_limits;  ///< serve: the ledger session's bounds
};

/// "ledger-recon", "holdings-recon", "reconciliation" (the CLI subcommand and URL path).
std::string_view to_string(IndiaReport report);

/// Fetches live ViewTrade data and reads the India ledger in a short snapshot; writes nothing.
/// Broker trouble is inside the report (status, error, broker_status, per-customer errors);
/// throws Error for the rest: usage (india is not in RECON_BOOKS, or `customer_id` has no
/// ViewTrade account), config (no database, or not the india book's), unavailable (database
/// unreachable).
nlohmann::json build_india_report(const Settings& settings, const IndiaReportRequest& request);

/// The text a person reads for a report built above.
std::string render_india_report_text(const nlohmann::json& report);

/// The exit code a report implies, by the one table: 0 ok or warn, 1 a break, 2 incomplete
/// (too many customers could not be fetched), 69 ViewTrade unreachable as a whole, 78 ViewTrade
/// not configured.
ExitCode india_report_exit_code(const nlohmann::json& report);

}  // namespace reconcile
