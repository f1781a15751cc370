#pragma once

#include <string>

#include <fmt/format.h>

#include "lib/capped_rows.hpp"
#include "lib/check.hpp"
#include "lib/contract.hpp"

namespace reconcile {

/// Statuses of transactions whose lines are booked (count toward balances). A reversed
/// transaction stays booked: its reversal is a separate posted transaction.
inline constexpr const char* booked_statuses_sql = "('posted', 'reversed')";

/// `sql` with its comparisons of transaction ids across views cast as this ledger needs
/// (cast_txn_ids, lib/contract.hpp), decided once per snapshot.
inline std::string ids_sql(CheckContext& context, const std::string& sql)
{
    const bool differ = context.shared<bool>("txn_ids_differ", [&] { return txn_ids_differ(context.ledger()); });
    return cast_txn_ids(sql, differ);
}

/// Whether transaction `t`'s status is outside the contract's set (another case, another word,
/// null): such a transaction is not booked, and journal_line_completeness names it
/// (`unknown_status`) so its money cannot vanish unseen (docs/decisions/unknown-status.md).
inline constexpr const char* unknown_status_sql =
    "NOT coalesce(t.status::text IN ('posted', 'pending', 'reversed'), false)";

/// Whether contract view `view` (a name such as 'contract.wallets', which may not exist) names
/// each row's own xmin: a column row_xmin of type xid. A boolean SQL expression.
inline std::string names_row_xmin_sql(const char* view)
{
    return fmt::format(
        "EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('{}') AND attname = 'row_xmin' "
        "AND atttypid = 'xid'::regtype AND NOT attisdropped)",
        view);
}

/// The lines of the transactions the query `ids` selects (its column txn_id), counted per id:
/// columns `txn_id` and `lines`, ids compared through the txnid marker (ids_sql). Grouped, never
/// a count per id: a journal without an index on its txn_id is read once, not once per id.
inline std::string lines_per_transaction_sql(const std::string& ids)
{
    return fmt::format(
        "SELECT l.txn_id::txnid AS txn_id, count(*) AS lines FROM contract.journal_lines l "
        "WHERE l.txn_id::txnid IN (SELECT txn_id::txnid FROM ({}) ids) GROUP BY 1",
        ids);
}

}  // namespace reconcile
