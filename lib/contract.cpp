#include "lib/contract.hpp"

#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <pqxx/pqxx>

#include "lib/db.hpp"
#include "lib/errors.hpp"

namespace reconcile {

const std::vector<ContractViewSpec>& contract_views()
{
    static const std::vector<ContractViewSpec> views{
        {ContractView::book_identity, "book_identity", {"entity_id", "book"}},
        {ContractView::accounts,
         "accounts",
         {"account_code", "name", "account_type", "normal_side", "allow_wrong_side", "is_customer_wallet"}},
        {ContractView::transactions,
         "transactions",
         {"txn_id", "source", "source_txn_id", "customer_id", "txn_type", "status", "effective_at", "posted_at",
          "symbol", "quantity", "reverses_txn_id"}},
        {ContractView::journal_lines,
         "journal_lines",
         {"line_id", "txn_id", "account_code", "customer_id", "side", "amount", "currency"}},
        {ContractView::wallets, "wallets", {"customer_id", "account_code", "currency", "balance", "updated_at"}},
        {ContractView::account_totals,
         "account_totals",
         {"account_code", "currency", "debit_total", "credit_total", "net", "updated_at"}},
        {ContractView::balance_snapshots,
         "balance_snapshots",
         {"snapshot_id", "account_code", "customer_id", "currency", "as_of", "balance"}},
        {ContractView::pending_flows,
         "pending_flows",
         {"flow_id", "flow_type", "customer_id", "amount", "currency", "status", "created_at", "reference"}},
        {ContractView::broker_accounts, "broker_accounts", {"customer_id", "broker", "broker_account_ref"}},
        {ContractView::lrs_remittances,
         "lrs_remittances",
         {"remittance_id", "customer_id", "pan", "inr_amount", "usd_amount", "fx_rate", "purpose_code", "utr", "status",
          "initiated_at", "settled_at", "value_date"}},
    };
    return views;
}

std::string_view to_string(ContractView view)
{
    for (const auto& spec : contract_views()) {
        if (spec.view == view) return spec.name;
    }
    return "unknown";
}

std::vector<std::string> contract_gaps(Session& session, const std::set<ContractView>& views)
{
    // Every relation of the contract schema (a dozen) with its columns, read from the catalog: unlike
    // information_schema it lists columns the role may not read (a missing privilege is reported
    // as such when a check reads the view).
    pqxx::read_transaction txn(session.connection());
    const auto rows = txn.exec_params(
        "SELECT c.relname::text AS view_name, a.attname::text AS column_name"
        " FROM pg_catalog.pg_class c"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'contract'"
        " LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
        " WHERE c.relkind IN ('v', 'm', 'r', 'p', 'f')");
    std::map<std::string, std::set<std::string>> present;
    for (const auto& row : rows) {
        auto& columns = present[row["view_name"].as<std::string>()];
        if (!row["column_name"].is_null()) columns.insert(row["column_name"].as<std::string>());
    }
    std::vector<std::string> gaps;
    for (const auto& spec : contract_views()) {
        if (views.count(spec.view) == 0) continue;
        const auto found = present.find(std::string(spec.name));
        if (found == present.end()) {
            gaps.push_back(fmt::format("there is no view contract.{}", spec.name));
            continue;
        }
        std::vector<std::string_view> missing;
        for (const auto column : spec.columns) {
            if (found->second.count(std::string(column)) == 0) missing.push_back(column);
        }
        if (!missing.empty()) {
            gaps.push_back(fmt::format("contract.{} has no column{} {}", spec.name, missing.size() > 1 ? "s" : "",
                                       fmt::join(missing, ", ")));
        }
    }
    return gaps;
}

void verify_contract(Session& session, const std::string& book, const std::set<ContractView>& views)
{
    const auto gaps = contract_gaps(session, views);
    if (gaps.empty()) return;
    throw Error(ExitCode::config,
                fmt::format("the ledger contract of book '{}' is incomplete: {} (see docs/ledger-contract.md); nothing "
                            "written",
                            book, fmt::join(gaps, "; ")));
}

std::string cast_txn_ids(std::string sql, bool differ)
{
    const std::string_view cast = differ ? "::text" : "";
    for (auto at = sql.find(txn_id_marker); at != std::string::npos; at = sql.find(txn_id_marker, at + cast.size())) {
        sql.replace(at, txn_id_marker.size(), cast);
    }
    return sql;
}

bool txn_ids_differ(pqxx::transaction_base& txn)
{
    return txn.exec_params1(fmt::format("SELECT {} AS differ", txn_ids_differ_sql))["differ"].as<bool>();
}

}  // namespace reconcile
