#pragma once

// The ledger contract: the views in the `contract` schema the checks read, and the columns each
// must have (docs/ledger-contract.md). A team adopting reconcile defines these views over its own
// tables; a view or column it forgot is a configuration error found before a run starts, not a
// check that ends `error` halfway through.

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <pqxx/pqxx>

namespace reconcile {

class Session;  // lib/db.hpp

enum class ContractView {
    book_identity,
    accounts,
    transactions,
    journal_lines,
    wallets,
    account_totals,
    balance_snapshots,
    pending_flows,
    broker_accounts,
    lrs_remittances,
};

/// One view of the contract: its name in the `contract` schema and the columns it must have.
struct ContractViewSpec {
    ContractView view;
    std::string_view name;
    std::vector<std::string_view> columns;
};

/// contract.accounts with one row per account code (as text), the relation every statement that
/// joins the chart reads (aliased by the caller): a code the chart lists twice counts once, or its
/// journal sums would double (journal_line_completeness reports it, `duplicate_account`). Its rows
/// are read strictly: allowed on the wrong side only when every row allows it, a wallet account
/// when any row says so, its normal side the least of theirs (docs/decisions/duplicated-accounts.md).
inline constexpr const char* chart_sql =
    "(SELECT account_code::text AS account_code, min(normal_side::text) AS normal_side, "
    "NOT bool_or(NOT allow_wrong_side) AS allow_wrong_side, bool_or(is_customer_wallet) AS is_customer_wallet "
    "FROM contract.accounts GROUP BY account_code::text)";

/// Whether contract.journal_lines.txn_id and contract.transactions.txn_id are of different types
/// (an SQL boolean expression).
inline constexpr const char* txn_ids_differ_sql =
    "(SELECT count(DISTINCT a.atttypid) > 1 FROM pg_attribute a WHERE a.attrelid IN "
    "('contract.journal_lines'::regclass, 'contract.transactions'::regclass) AND a.attname = 'txn_id' "
    "AND NOT a.attisdropped)";

/// Transaction ids of two views are compared as text (docs/decisions/ids-compared-as-text.md).
/// Statements write both sides of such a comparison with this marker (`l.txn_id::txnid =
/// t.txn_id::txnid`); cast_txn_ids makes it `::text` when the two views' ids are of different
/// types, and removes it when they are of one type, whose own equality is the same comparison
/// and keeps the plans and indexes of such a ledger as they were.
inline constexpr std::string_view txn_id_marker = "::txnid";

/// `sql` with every txn_id_marker made `::text` when `differ`, else removed.
std::string cast_txn_ids(std::string sql, bool differ);

/// Whether this ledger's transaction ids differ in type between journal_lines and transactions.
bool txn_ids_differ(pqxx::transaction_base& txn);

/// The whole contract, in the order docs/ledger-contract.md lists it (the one table).
const std::vector<ContractViewSpec>& contract_views();

/// The view's name in the `contract` schema ("journal_lines").
std::string_view to_string(ContractView view);

/// What stops a run from reading `views` in the database of `session`.
struct ContractGaps {
    /// One line per missing view, or per view with the columns it lacks ("contract.pending_flows
    /// has no column created_at").
    std::vector<std::string> missing;
    /// The privileges the session's role lacks to read them ("SELECT on contract.wallets",
    /// "USAGE on schema contract"), and with `reads_stored_proof` the stored proof's tables.
    std::vector<std::string> unreadable;
    /// The session's role (current_user).
    std::string role;
};

ContractGaps contract_gaps(Session& session, const std::set<ContractView>& views, bool reads_stored_proof);

/// Refuses (Error(config), nothing written) a book whose contract lacks any of `views` or any of
/// their columns, naming the first gaps and where the contract is documented; then one whose role
/// may not read them (or, with `reads_stored_proof`, the stored proof), naming the grants.
void verify_contract(Session& session, const std::string& book, const std::set<ContractView>& views,
                     bool reads_stored_proof);

}  // namespace reconcile
