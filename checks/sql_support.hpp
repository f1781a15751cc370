#pragma once

#include "lib/capped_rows.hpp"
#include "lib/check.hpp"

namespace reconcile {

/// Statuses of transactions whose lines are booked (count toward balances). A reversed
/// transaction stays booked: its reversal is a separate posted transaction.
inline constexpr const char* booked_statuses_sql = "('posted', 'reversed')";

}  // namespace reconcile
