#include "lib/contract.hpp"

#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <pqxx/pqxx>

#include "lib/capped_rows.hpp"
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

ContractGaps contract_gaps(Session& session, const std::set<ContractView>& views, bool reads_stored_proof)
{
    // Every relation of the contract schema (a dozen) with its columns, read from the catalog: unlike
    // information_schema it lists columns the role may not read, and says which it may (a grant
    // made ON ALL TABLES before a migration added a view does not cover that view). With
    // `reads_stored_proof`, the engine's stored proof tables too, which the snapshot reads.
    pqxx::read_transaction txn(session.connection());
    const auto rows = txn.exec_params(
        "SELECT n.nspname::text AS schema_name, c.relname::text AS view_name, a.attname::text AS column_name,"
        " has_schema_privilege(n.oid, 'USAGE') AS schema_usable, has_table_privilege(c.oid, 'SELECT') AS readable,"
        " a.attname IS NOT NULL AND has_column_privilege(c.oid, a.attnum, 'SELECT') AS column_readable,"
        " current_user::text AS role_name"
        " FROM pg_catalog.pg_class c"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
        "  AND n.nspname = 'contract'"
        " WHERE c.relkind IN ('v', 'm', 'r', 'p', 'f')"
        "  AND (n.nspname = 'contract' OR ($1 AND n.nspname = 'recon' AND c.relname LIKE 'proof%'))",
        reads_stored_proof);
    struct Relation {
        std::set<std::string> columns;
        std::set<std::string> readable_columns;
        bool readable = false;
        bool schema_usable = false;
    };
    std::map<std::string, Relation> present;
    ContractGaps gaps;
    for (const auto& row : rows) {
        const NamedRow named(row);
        gaps.role = named.text("role_name");
        auto& relation = present[named.text("schema_name") + "." + named.text("view_name")];
        relation.readable = named.flag("readable");
        relation.schema_usable = named.flag("schema_usable");
        if (named.is_null("column_name")) continue;
        relation.columns.insert(named.text("column_name"));
        if (named.flag("column_readable")) relation.readable_columns.insert(named.text("column_name"));
    }
    std::set<std::string> unusable_schemas;
    const auto note_unreadable = [&](const std::string& name, const Relation& relation, const std::string& what) {
        const std::string schema = name.substr(0, name.find('.'));
        if (!relation.schema_usable) {
            if (unusable_schemas.insert(schema).second) gaps.unreadable.push_back("USAGE on schema " + schema);
            return;
        }
        gaps.unreadable.push_back(what);
    };
    for (const auto& spec : contract_views()) {
        if (views.count(spec.view) == 0) continue;
        const std::string name = fmt::format("contract.{}", spec.name);
        const auto found = present.find(name);
        if (found == present.end()) {
            gaps.missing.push_back(fmt::format("there is no view {}", name));
            continue;
        }
        std::vector<std::string_view> missing;
        std::vector<std::string_view> unreadable;
        for (const auto column : spec.columns) {
            if (found->second.columns.count(std::string(column)) == 0) {
                missing.push_back(column);
            } else if (found->second.readable_columns.count(std::string(column)) == 0) {
                unreadable.push_back(column);
            }
        }
        if (!missing.empty()) {
            gaps.missing.push_back(
                fmt::format("{} has no column{} {}", name, missing.size() > 1 ? "s" : "", fmt::join(missing, ", ")));
        }
        if (!unreadable.empty()) {
            note_unreadable(name, found->second,
                            unreadable.size() == spec.columns.size()
                                ? fmt::format("SELECT on {}", name)
                                : fmt::format("SELECT on {} ({})", name, fmt::join(unreadable, ", ")));
        }
    }
    for (const auto& [name, relation] : present) {
        if (name.rfind("recon.", 0) == 0 && !relation.readable) note_unreadable(name, relation, "SELECT on " + name);
    }
    return gaps;
}

void verify_contract(Session& session, const std::string& book, const std::set<ContractView>& views,
                     bool reads_stored_proof)
{
    const auto gaps = contract_gaps(session, views, reads_stored_proof);
    if (!gaps.missing.empty()) {
        throw Error(ExitCode::config, fmt::format("the ledger contract of book '{}' is incomplete: {} (see "
                                                  "docs/ledger-contract.md); nothing written",
                                                  book, fmt::join(gaps.missing, "; ")));
    }
    if (!gaps.unreadable.empty()) {
        // What a check would meet as SQLSTATE 42501 mid-run, named before anything is written.
        throw Error(ExitCode::config, fmt::format("the database role '{}' of book '{}' lacks a privilege: {}; grant {} "
                                                  "(docs/deployment.md) and run again; nothing written",
                                                  gaps.role, book, fmt::join(gaps.unreadable, "; "),
                                                  gaps.unreadable.size() > 1 ? "them" : "it"));
    }
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
