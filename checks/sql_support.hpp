#pragma once

#include "lib/capped_rows.hpp"
#include "lib/check.hpp"
#include "lib/decimal.hpp"

namespace reconcile {

/// Statuses of transactions whose lines are booked (count toward balances). A reversed
/// transaction stays booked: its reversal is a separate posted transaction.
inline constexpr const char* booked_statuses_sql = "('posted', 'reversed')";

/// A variance as a check lists it: expected, actual and difference at one scale, the finest of
/// them, so a zero or absent side reads "0.00" beside "10.00", never "0" (align_decimal_texts;
/// docs/output-names.md, "Money and time"). Every check that compares two figures lists its
/// variances through this.
inline Variance at_one_scale(Variance variance)
{
    align_decimal_texts({variance.expected, variance.actual, variance.difference});
    return variance;
}

}  // namespace reconcile
