// The differential test of incremental proofs (issue 16 item 4). Per seed, the oracle's generator
// (oracle_ledger.hpp) makes a random ledger and then changes it step by step: appended balanced
// and unbalanced transactions, lines appended to existing transactions, statuses flipped both
// ways, old lines updated and deleted, source keys edited, wallet, account total and snapshot
// rows edited, deleted and inserted (snapshots "now", back-dated and in the future), new and
// edited accounts. Some steps are written partly by a concurrent writer whose transaction is
// still open while the runs prove the ledger (its rows take lower ids than rows committed after
// it) and commits after one or both of them.
//
// The same ledger lives in two book databases. After every step categories A and B run through
// execute_run: incrementally on the first (the stored proof carried from run to run, in a random
// order, now and then a forced full proof in between), and as a forced full proof on the second.
// Each incremental run must equal the reference's verdict on the ledger as committed (status,
// true total, every listed variance), and equal the full proof exactly (status, total, every
// variance with its keys, figures, detail and fingerprint, the check's metrics). Runs whose
// changes since the previous run were appends only must be incremental; over the whole test both
// kinds of proof must occur.
//
// ORACLE_SEED=N runs one seed (the seed a failure prints); ORACLE_CASES=N changes how many;
// ORACLE_STEPS=N how many steps each seed takes.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <pqxx/pqxx>

#include "checks/registry.hpp"
#include "lib/runner.hpp"
#include "tests/db/fixture.hpp"
#include "tests/oracle/oracle_ledger.hpp"

using namespace reconcile::oracle;
using reconcile::Category;
using reconcile::ProofKind;
using reconcile::RunOutcome;
using reconcile::RunReport;
using reconcile::test::BookDb;

namespace {

// ---------------------------------------------------------------------------------------------
// Reading the committed ledger back, so the reference judges exactly what the runs could see.

Num parse_num(const std::string& text)
{
    Num value;
    const bool negative = !text.empty() && text[0] == '-';
    bool after_point = false;
    for (const char c : text) {
        if (c == '.') {
            after_point = true;
        } else if (c >= '0' && c <= '9') {
            value.units = value.units * 10 + (c - '0');
            if (after_point) ++value.scale;
        }
    }
    if (negative) value.units = -value.units;
    return value;
}

Opt<std::string> optional_text(const pqxx::field& field)
{
    return field.is_null() ? Opt<std::string>() : Opt<std::string>(field.as<std::string>());
}

Ledger read_ledger(pqxx::connection& connection)
{
    pqxx::read_transaction txn(connection);
    Ledger ledger;
    for (const auto& row : txn.exec("SELECT account_code, normal_side, allow_wrong_side, is_customer_wallet"
                                    " FROM ledger.accounts ORDER BY account_code")) {
        ledger.accounts.push_back({row["account_code"].as<std::string>(), row["normal_side"].as<std::string>(),
                                   row["allow_wrong_side"].as<bool>(), row["is_customer_wallet"].as<bool>()});
    }
    for (const auto& row : txn.exec("SELECT txn_id, source, source_txn_id, customer_id, txn_type, status,"
                                    " extract(epoch FROM effective_at)::bigint AS effective_at, reverses_txn_id"
                                    " FROM ledger.transactions ORDER BY txn_id")) {
        Txn item;
        item.id = row["txn_id"].as<std::int64_t>();
        item.source = row["source"].as<std::string>();
        item.source_txn_id = row["source_txn_id"].as<std::string>();
        item.customer = optional_text(row["customer_id"]);
        item.type = row["txn_type"].as<std::string>();
        item.status = row["status"].as<std::string>();
        item.effective_at = row["effective_at"].as<std::int64_t>();
        if (!row["reverses_txn_id"].is_null()) item.reverses = row["reverses_txn_id"].as<std::int64_t>();
        ledger.txns.push_back(item);
    }
    for (const auto& row : txn.exec("SELECT line_id, txn_id, account_code, customer_id, side, amount::text AS amount,"
                                    " currency FROM ledger.journal_lines ORDER BY line_id")) {
        Line item;
        item.id = row["line_id"].as<std::int64_t>();
        if (!row["txn_id"].is_null()) item.txn_id = row["txn_id"].as<std::int64_t>();
        item.account = optional_text(row["account_code"]);
        item.customer = optional_text(row["customer_id"]);
        item.side = optional_text(row["side"]);
        if (!row["amount"].is_null()) item.amount = parse_num(row["amount"].as<std::string>());
        item.currency = optional_text(row["currency"]);
        ledger.lines.push_back(item);
    }
    for (const auto& row : txn.exec("SELECT customer_id, account_code, currency, balance::text AS balance"
                                    " FROM ledger.wallets ORDER BY customer_id, account_code, currency")) {
        ledger.wallets.push_back({row["customer_id"].as<std::string>(), row["account_code"].as<std::string>(),
                                  row["currency"].as<std::string>(), parse_num(row["balance"].as<std::string>())});
    }
    for (const auto& row :
         txn.exec("SELECT account_code, currency, debit_total::text AS debit, credit_total::text AS credit,"
                  " net::text AS net FROM ledger.account_totals ORDER BY account_code, currency")) {
        ledger.totals.push_back({row["account_code"].as<std::string>(), row["currency"].as<std::string>(),
                                 parse_num(row["debit"].as<std::string>()), parse_num(row["credit"].as<std::string>()),
                                 parse_num(row["net"].as<std::string>())});
    }
    for (const auto& row : txn.exec("SELECT snapshot_id, account_code, customer_id, currency,"
                                    " extract(epoch FROM as_of)::bigint AS as_of, balance::text AS balance"
                                    " FROM ledger.balance_snapshots ORDER BY snapshot_id")) {
        ledger.snapshots.push_back({row["snapshot_id"].as<std::int64_t>(), row["account_code"].as<std::string>(),
                                    optional_text(row["customer_id"]), row["currency"].as<std::string>(),
                                    row["as_of"].as<std::int64_t>(), parse_num(row["balance"].as<std::string>())});
    }
    return ledger;
}

// ---------------------------------------------------------------------------------------------
// A batch of changes: the difference between the model before and after, row by row, as SQL.

struct Change {
    std::string row;  ///< "table key": two changes of one row conflict
    std::string sql;
    bool append = false;  ///< an INSERT of a new line or transaction
};

template <typename Rows>
void diff_rows(std::vector<Change>& changes, const Rows& before, const Rows& after, bool appendable)
{
    std::map<std::string, RowSql> old_rows;
    for (const auto& row : before) {
        auto sql = row_sql(row);
        old_rows.emplace(sql.key_values, std::move(sql));
    }
    std::map<std::string, RowSql> new_rows;
    for (const auto& row : after) {
        auto sql = row_sql(row);
        new_rows.emplace(sql.key_values, std::move(sql));  // a second row under a key: the first stays
    }
    for (const auto& [key, row] : old_rows) {
        const std::string where = " WHERE (" + row.key_columns + ") = (" + row.key_values + ")";
        const auto found = new_rows.find(key);
        if (found == new_rows.end()) {
            changes.push_back({row.table + " " + key, "DELETE FROM " + row.table + where, false});
        } else if (found->second.values != row.values) {
            changes.push_back(
                {row.table + " " + key,
                 "UPDATE " + row.table + " SET (" + row.columns + ") = ROW(" + found->second.values + ")" + where,
                 false});
        }
    }
    for (const auto& [key, row] : new_rows) {
        if (old_rows.count(key) == 0) {
            changes.push_back({row.table + " " + key,
                               "INSERT INTO " + row.table + " (" + row.columns + ") VALUES (" + row.values + ")",
                               appendable});
        }
    }
}

std::vector<Change> diff(const Ledger& before, const Ledger& after)
{
    std::vector<Change> changes;
    diff_rows(changes, before.accounts, after.accounts, false);
    diff_rows(changes, before.txns, after.txns, true);
    diff_rows(changes, before.lines, after.lines, true);
    diff_rows(changes, before.wallets, after.wallets, false);
    diff_rows(changes, before.totals, after.totals, false);
    diff_rows(changes, before.snapshots, after.snapshots, false);
    return changes;
}

std::string sql_of(const std::vector<Change>& changes)
{
    std::string sql;
    for (const auto& change : changes) sql += change.sql + ";\n";
    return sql;
}

bool appends_only(const std::vector<Change>& changes)
{
    for (const auto& change : changes) {
        if (!change.append) return false;
    }
    return true;
}

// ---------------------------------------------------------------------------------------------
// The changes of one step, drawn by the oracle's generator.

/// What a batch may change: appends only (new lines and transactions), what an incremental run
/// follows (also open transactions booked, stored rows), or anything.
enum class Batch { appends, followed, anything };

class StepGenerator : public Generator {
public:
    using Generator::chance;
    using Generator::Generator;
    using Generator::pick;

    /// A random batch of changes to `model`. `now` is the test's clock: snapshots "now" are dated a
    /// minute to six hours before it, future ones at least two hours after it, so none falls
    /// between the runs of a step (they are seconds apart).
    void batch(Ledger& model, std::int64_t now, Batch kind)
    {
        // The generator's "future" and "as of the run" snapshots, relative to this clock.
        model.as_of = now + 2 * 3600;
        const auto operations = pick(1, 6);
        for (std::int64_t i = 0; i < operations; ++i) {
            switch (kind) {
                case Batch::appends:
                    append(model, now);
                    break;
                case Batch::followed:
                    followed(model, now);
                    break;
                case Batch::anything:
                    change(model, now);
                    break;
            }
        }
        // A second row under a primary key: the first one stays (as the generator's make()).
        std::set<std::tuple<std::string, std::string, std::string>> wallet_keys;
        std::erase_if(model.wallets, [&](const Wallet& w) {
            return !wallet_keys.insert({w.customer, w.account, w.currency}).second;
        });
        std::set<std::pair<std::string, std::string>> total_keys;
        std::erase_if(model.totals, [&](const Total& t) { return !total_keys.insert({t.account, t.currency}).second; });
        std::set<std::string> account_codes;
        std::erase_if(model.accounts, [&](const Account& a) { return !account_codes.insert(a.code).second; });
    }

private:
    // When appended postings take effect: after the generated journal, lately, or back-dated
    // into snapshotted periods.
    std::int64_t posting_time(const Ledger& model, std::int64_t now)
    {
        switch (pick(0, 3)) {
            case 0: {
                std::int64_t latest = base_time;
                for (const auto& txn : model.txns) latest = std::max(latest, txn.effective_at);
                return std::min(latest + pick(60, 6 * 3600), now - 60);
            }
            case 1:
                return now - pick(60, 5 * day);
            case 2:
                return base_time + pick(0, 62 * day);
            default:  // effective after the run: in the sums, in no snapshot replayed yet
                return now + pick(2 * 3600, 3 * day);
        }
    }

    Txn* some_txn(Ledger& model)
    {
        if (model.txns.empty()) return nullptr;
        // Recent transactions half the time: the ones a live ledger touches most.
        if (chance(50)) {
            const auto recent = std::min<std::int64_t>(20, static_cast<std::int64_t>(model.txns.size()));
            return &model.txns[model.txns.size() - static_cast<std::size_t>(pick(1, recent))];
        }
        return &model.txns[any_txn(model)];
    }

    std::string some_account(const Ledger& model) { return one_of(model.accounts).code; }

    // Inserts of new lines and transactions only.
    void append(Ledger& model, std::int64_t now)
    {
        switch (pick(0, 7)) {
            case 0:
            case 1:
            case 2: {  // clean postings, a few at a time
                std::int64_t at = posting_time(model, now);
                const auto count = pick(1, 8);
                for (std::int64_t i = 0; i < count; ++i) append_transaction(model, at += pick(1, 600));
                break;
            }
            case 3: {  // lines appended to an existing transaction: a balanced pair or one line
                Txn* txn = some_txn(model);
                if (txn == nullptr) break;
                const auto id = txn->id;
                const Num value = amount();
                const auto& currency = one_of(m_currencies);
                const Opt<std::string> customer = txn->customer;
                add_line(model, id, chance(60) ? wallet_account() : some_account(model), customer,
                         chance(50) ? "DR" : "CR", value, currency);
                if (chance(70)) {
                    const std::string side = model.lines.back().side == "DR" ? "CR" : "DR";
                    add_line(model, id, some_account(model), chance(50) ? customer : std::nullopt, side,
                             chance(85) ? value : amount(), currency);
                }
                break;
            }
            case 4: {  // an unbalanced or one-line transaction
                auto& txn = add_txn(model, "fee", chance(50) ? Opt<std::string>(one_of(m_customers)) : std::nullopt,
                                    chance(80) ? "posted" : "pending", posting_time(model, now));
                const auto id = txn.id;
                const auto& currency = one_of(m_currencies);
                add_line(model, id, "SUSPENSE", std::nullopt, "DR", amount(), currency);
                if (chance(60)) add_line(model, id, "FEE_INCOME", std::nullopt, "CR", amount(), currency);
                break;
            }
            case 5: {  // an overdraft, a new customer or currency, or an ingest key seen before
                const bool new_customer = chance(40);
                if (new_customer) m_customers.push_back("New-" + std::to_string(m_next_txn) + (chance(30) ? "-ü" : ""));
                if (chance(20)) m_currencies.push_back(chance(50) ? "CHF" : "ДРМ");
                const std::string customer = new_customer ? m_customers.back() : one_of(m_customers);
                auto& txn = add_txn(model, "fee", customer, "posted", posting_time(model, now));
                const auto id = txn.id;
                if (chance(40) && model.txns.size() > 1) {
                    const Txn& earlier = model.txns[any_txn(model)];
                    model.txns.back().source = earlier.source;
                    model.txns.back().source_txn_id = earlier.source_txn_id;
                }
                const Num value = amount();
                const auto& currency = one_of(m_currencies);
                add_line(model, id, wallet_account(), customer, "DR", value, currency);
                add_line(model, id, "FEE_INCOME", std::nullopt, "CR", value, currency);
                break;
            }
            case 6: {  // a line with defects of its own, or an orphan
                const Num value = amount();
                const Txn* txn = some_txn(model);
                const Opt<std::int64_t> txn_id =
                    chance(30) || txn == nullptr ? Opt<std::int64_t>(900000 + pick(0, 5)) : Opt<std::int64_t>(txn->id);
                model.lines.push_back({m_next_line++, txn_id,
                                       one_of(std::vector<Opt<std::string>>{std::nullopt, "NO_SUCH", "SUSPENSE"}),
                                       std::nullopt, one_of(std::vector<Opt<std::string>>{std::nullopt, "DR", "xx"}),
                                       chance(30) ? Opt<Num>() : Opt<Num>(chance(50) ? neg(value) : value),
                                       chance(20) ? Opt<std::string>() : Opt<std::string>(one_of(m_currencies))});
                break;
            }
            default: {  // a pending transaction, booked later by a status flip
                auto& txn = add_txn(model, "deposit", one_of(m_customers), "pending", posting_time(model, now));
                const auto id = txn.id;
                const Num value = amount();
                const auto& currency = one_of(m_currencies);
                add_line(model, id, "BROKER_CASH", model.txns.back().customer, "DR", value, currency);
                add_line(model, id, wallet_account(), model.txns.back().customer, "CR", value, currency);
                break;
            }
        }
    }

    // What an incremental run follows without a full proof: appends, transactions booked after
    // they were open, and wallet, account total and snapshot rows edited, deleted and inserted.
    void followed(Ledger& model, std::int64_t now)
    {
        switch (pick(0, 7)) {
            case 0:
            case 1:
                append(model, now);
                break;
            case 2:
                flip_status(model, true);
                break;
            case 3:
            case 4:
                mutate_stored(model, 1);
                break;
            case 5:
                repair_stored(model);
                break;
            case 6:
                delete_stored(model);
                break;
            default:
                new_snapshot(model, now);
                break;
        }
    }

    // Anything: the above, the generator's own mutations of lines, any status flip, source
    // keys, deleted or back-dated transactions, lines moved, and the chart of accounts.
    void change(Ledger& model, std::int64_t now)
    {
        switch (pick(0, 7)) {
            case 0:
            case 1:
                followed(model, now);
                break;
            case 2:
                mutate_journal(model, 1);
                break;
            case 3:
                flip_status(model, false);
                break;
            case 4: {  // a source key edited: made unique, or made a duplicate
                Txn* txn = some_txn(model);
                if (txn == nullptr) break;
                if (chance(50)) {
                    txn->source_txn_id = "edited-" + std::to_string(pick(0, 1000000));
                } else {
                    const Txn& other = model.txns[any_txn(model)];
                    txn->source = other.source;
                    txn->source_txn_id = other.source_txn_id;
                }
                break;
            }
            case 5:
                change_chart(model, now);
                break;
            case 6: {  // a transaction row deleted (its lines become orphans) or back-dated
                if (model.txns.empty()) break;
                const auto index = any_txn(model);
                if (chance(50)) {
                    model.txns.erase(model.txns.begin() + static_cast<std::ptrdiff_t>(index));
                } else {
                    model.txns[index].effective_at = base_time + pick(0, 62 * day);
                }
                break;
            }
            default: {  // an old line moved to another transaction, or its amount rescaled
                if (model.lines.empty()) break;
                Line& line = model.lines[any_line(model)];
                if (chance(50)) {
                    if (const Txn* txn = some_txn(model)) line.txn_id = txn->id;
                } else if (line.amount) {
                    line.amount = rescale(*line.amount, line.amount->scale + 1);  // the same value, another text
                }
                break;
            }
        }
    }

    // A status flipped: an open transaction booked, or (unless `only_open`) a booked one opened.
    void flip_status(Ledger& model, bool only_open)
    {
        Txn* txn = some_txn(model);
        if (txn == nullptr) return;
        if (!booked(txn->status)) {
            txn->status = chance(85) ? "posted" : "reversed";
        } else if (!only_open) {
            txn->status = chance(80) ? "pending" : "void";
        }
    }

    // A stored wallet or total written as the journal now implies (a repair).
    void repair_stored(Ledger& model)
    {
        const auto stored = stored_balances(model);
        if (chance(50) && !stored.wallets.empty()) {
            auto it = stored.wallets.begin();
            std::advance(it, pick(0, static_cast<std::int64_t>(stored.wallets.size()) - 1));
            const auto& [customer, account, currency] = it->first;
            std::erase_if(model.wallets, [&](const Wallet& w) {
                return w.customer == customer && w.account == account && w.currency == currency;
            });
            model.wallets.push_back({customer, account, currency, padded(it->second)});
        } else if (!stored.totals.empty()) {
            auto it = stored.totals.begin();
            std::advance(it, pick(0, static_cast<std::int64_t>(stored.totals.size()) - 1));
            const Total& total = it->second;
            std::erase_if(model.totals,
                          [&](const Total& t) { return t.account == total.account && t.currency == total.currency; });
            model.totals.push_back(
                {total.account, total.currency, padded(total.debit), padded(total.credit), padded(total.net)});
        }
    }

    void delete_stored(Ledger& model)
    {
        switch (pick(0, 2)) {
            case 0:
                if (!model.wallets.empty()) model.wallets.erase(model.wallets.begin() + any_of(model.wallets));
                break;
            case 1:
                if (!model.totals.empty()) model.totals.erase(model.totals.begin() + any_of(model.totals));
                break;
            default:
                if (!model.snapshots.empty()) model.snapshots.erase(model.snapshots.begin() + any_of(model.snapshots));
                break;
        }
    }

    // A new snapshot: now, back-dated (sometimes at a posting's instant) or future; usually of the
    // balance the journal implies.
    void new_snapshot(Ledger& model, std::int64_t now)
    {
        const std::string account = one_of(
            std::vector<std::string>{"BROKER_CASH", "CUSTOMER_WALLET", "FEE_INCOME", "WALLET_ÜBER_客户", "SECURITIES"});
        const Opt<std::string> customer = chance(50) ? Opt<std::string>(one_of(m_customers)) : std::nullopt;
        const std::string currency = one_of(m_currencies);
        std::int64_t as_of = 0;
        switch (pick(0, 3)) {
            case 0:
                as_of = now - pick(60, 6 * 3600);
                break;
            case 1:
                as_of = base_time + pick(0, 62 * day);
                break;
            case 2:
                as_of = model.txns.empty() ? now - 60 : std::min(model.txns[any_txn(model)].effective_at, now - 60);
                break;
            default:
                as_of = now + pick(2 * 3600, 40 * day);
                break;
        }
        Num balance = padded(booked_balance(model, account, customer, currency, as_of));
        if (chance(25)) balance = add(balance, amount());
        model.snapshots.push_back({m_next_snapshot++, account, customer, currency, as_of, balance});
    }

    // The chart of accounts: a new account (lines may name it already) or an edited one.
    void change_chart(Ledger& model, std::int64_t now)
    {
        if (chance(60)) {
            const std::string code = one_of(
                std::vector<std::string>{"NO_SUCH", "broker_cash", "NEW_" + std::to_string(m_next_txn), "WALLET_NEW"});
            const bool wallet = code == "WALLET_NEW" || chance(20);
            model.accounts.push_back({code, chance(50) ? "DR" : "CR", chance(50), wallet});
            if (chance(60)) {
                auto& txn = add_txn(model, "fee", one_of(m_customers), "posted", posting_time(model, now));
                const auto id = txn.id;
                const Num value = amount();
                const auto& currency = one_of(m_currencies);
                add_line(model, id, code, model.txns.back().customer, "DR", value, currency);
                add_line(model, id, "SUSPENSE", std::nullopt, "CR", value, currency);
            }
        } else {
            Account& account = model.accounts[static_cast<std::size_t>(any_of(model.accounts))];
            if (chance(50)) {
                account.allow_wrong_side = !account.allow_wrong_side;
            } else {
                account.is_wallet = !account.is_wallet;
            }
        }
    }

    template <typename T>
    std::ptrdiff_t any_of(const std::vector<T>& rows)
    {
        return static_cast<std::ptrdiff_t>(pick(0, static_cast<std::int64_t>(rows.size()) - 1));
    }
};

// ---------------------------------------------------------------------------------------------
// Comparing two runs' documents.

std::string category_name(Category category)
{
    return std::string(reconcile::to_string(category));
}

// A variance in full: what the reference compares plus its detail and fingerprint. The detail's
// run_as_of (a future snapshot's) is the run's own start, which two runs never share.
std::vector<std::string> exact_lines(const reconcile::CheckResult& result)
{
    std::vector<std::string> lines;
    for (const auto& variance : result.variances) {
        auto detail = variance.detail;
        detail.erase("run_as_of");
        lines.push_back(describe(result.check_name, variance.kind, variance.keys, variance.expected, variance.actual,
                                 variance.difference) +
                        " detail=" + detail.dump() + " fingerprint=" + variance.fingerprint);
    }
    std::sort(lines.begin(), lines.end());
    return lines;
}

/// Where the incremental run's verdict departs from the full proof's: nothing may differ but
/// the checks' durations (and the proof summary, which says how).
std::vector<std::string> verdict_differences(const RunReport& incremental, const RunReport& full)
{
    std::vector<std::string> problems;
    if (incremental.status != full.status) {
        problems.push_back("run status " + std::string(reconcile::to_string(incremental.status)) +
                           ", the full proof's " + std::string(reconcile::to_string(full.status)));
    }
    if (incremental.checks.size() != full.checks.size()) {
        problems.push_back(std::to_string(incremental.checks.size()) + " checks, the full proof " +
                           std::to_string(full.checks.size()));
        return problems;
    }
    for (std::size_t i = 0; i < full.checks.size(); ++i) {
        const auto& mine = incremental.checks[i];
        const auto& theirs = full.checks[i];
        const std::string name = theirs.check_name;
        if (mine.check_name != name) {
            problems.push_back("check " + mine.check_name + " where the full proof has " + name);
            continue;
        }
        if (mine.status != theirs.status) {
            problems.push_back(name + ": status " + std::string(reconcile::to_string(mine.status)) +
                               ", the full proof's " + std::string(reconcile::to_string(theirs.status)));
        }
        if (mine.variances_total != theirs.variances_total) {
            problems.push_back(name + ": " + std::to_string(mine.variances_total) +
                               " variances in total, the full proof " + std::to_string(theirs.variances_total));
        }
        auto my_metrics = mine.metrics;
        auto their_metrics = theirs.metrics;
        my_metrics.erase("duration_ms");
        their_metrics.erase("duration_ms");
        if (my_metrics != their_metrics) {
            std::string differing;
            auto keys = my_metrics;
            keys.update(their_metrics);
            for (const auto& [key, value] : keys.items()) {
                const auto mine_value = my_metrics.value(key, nlohmann::json());
                const auto their_value = their_metrics.value(key, nlohmann::json());
                if (mine_value != their_value)
                    differing += " " + key + "=" + mine_value.dump() + " (full: " + their_value.dump() + ")";
            }
            problems.push_back(name + ": metrics differ from the full proof's:" + differing);
        }
        const auto mine_lines = exact_lines(mine);
        const auto their_lines = exact_lines(theirs);
        if (mine_lines != their_lines) {
            problems.push_back(name + ": variances differ from the full proof's" +
                               difference_of(their_lines, mine_lines));
        }
    }
    return problems;
}

// A proof's reason with its numbers as N, so reasons can be counted by kind.
std::string shape_of(const std::string& reason)
{
    std::string shape;
    for (const char c : reason) {
        if (c >= '0' && c <= '9') {
            if (shape.empty() || shape.back() != 'N') shape += 'N';
        } else {
            shape += c;
        }
    }
    return shape;
}

std::string proof_text(const RunReport& report)
{
    if (!report.proof) return "no proof";
    std::string text = std::string(reconcile::to_string(report.proof->kind));
    if (!report.proof->reason.empty()) text += " (" + report.proof->reason + ")";
    return text;
}

/// What the whole test saw, for its closing message and its requirements.
struct Tally {
    std::int64_t incremental = 0;
    std::int64_t incremental_with_changes = 0;       ///< ... that re-proved at least one transaction
    std::int64_t incremental_after_open_writer = 0;  ///< ... over rows in flight at the previous run
    std::int64_t full_by_change = 0;                 ///< full proofs that were neither the first nor forced
    std::int64_t steps = 0;
    std::int64_t concurrent_steps = 0;
    std::map<std::string, std::int64_t> reasons;
};

// ---------------------------------------------------------------------------------------------
// One seed.

class Sequence {
public:
    Sequence(std::uint64_t seed, Tally& tally) : m_tally(tally), m_generator(seed), m_chain("uae"), m_full("uae") {}

    std::vector<std::string> run(int steps)
    {
        const Ledger generated = m_generator.make();
        m_cap = generated.cap;
        m_window_days = generated.window_days;
        for (auto* db : {&m_chain, &m_full}) db->exec(ledger_sql(generated));
        pqxx::connection chain_writer(m_chain.url());
        pqxx::connection full_writer(m_full.url());
        pqxx::connection reader(m_chain.url());
        m_reader = &reader;

        // Step 0: the ledger as generated. The first run has no stored proof: it proves in full.
        m_changed = false;
        prove(0, {Category::A, Category::B}, nullptr);
        for (int step = 1; step <= steps && m_problems.empty(); ++step) {
            ++m_tally.steps;
            const auto now =
                std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                    .count();
            const Ledger committed = read_ledger(reader);
            std::vector<Category> order{Category::A, Category::B};
            if (m_generator.chance(50)) std::swap(order[0], order[1]);
            const auto draw = m_generator.pick(0, 9);
            const Batch kind = draw < 4 ? Batch::appends : draw < 7 ? Batch::followed : Batch::anything;
            const auto mode = m_generator.pick(0, 9);  // 0-4 committed; 5-7 open over both runs; 8-9 over one
            if (mode < 5) {
                Ledger after = committed;
                m_generator.batch(after, now, kind);
                const auto changes = diff(committed, after);
                commit(chain_writer, full_writer, changes);
                prove(step, order, nullptr);
                continue;
            }
            // A concurrent writer: its batch first (lower ids), left open; then a batch on other
            // rows committed by the foreground writer; the runs; its commit after one or both.
            ++m_tally.concurrent_steps;
            Ledger open_model = committed;
            m_generator.batch(open_model, now, kind);
            const auto open_changes = diff(committed, open_model);
            Ledger foreground_model = committed;
            const auto foreground_draw = m_generator.pick(0, 9);
            m_generator.batch(foreground_model, now,
                              foreground_draw < 5   ? Batch::appends
                              : foreground_draw < 8 ? Batch::followed
                                                    : Batch::anything);
            std::set<std::string> open_rows;
            for (const auto& change : open_changes) open_rows.insert(change.row);
            std::vector<Change> foreground;
            for (const auto& change : diff(committed, foreground_model)) {
                if (open_rows.count(change.row) == 0) foreground.push_back(change);
            }
            pqxx::connection background(m_chain.url());
            auto open = std::make_unique<pqxx::work>(background);
            // Half the time under a savepoint, as ORMs nest transactions: its rows then carry a
            // subtransaction id, which the snapshot's list of transactions in progress leaves out.
            if (!open_changes.empty()) {
                open->exec(m_generator.chance(50)
                               ? "SAVEPOINT nested; " + sql_of(open_changes) + "; RELEASE SAVEPOINT nested"
                               : sql_of(open_changes));
            }
            commit(chain_writer, full_writer, foreground);
            const auto commit_open = [&] {
                if (!open) return;
                open->commit();
                open.reset();
                if (!open_changes.empty()) {
                    pqxx::work txn(full_writer);
                    txn.exec(sql_of(open_changes));
                    txn.commit();
                }
                m_changed = m_changed || !appends_only(open_changes);
                m_unreplayed = m_unreplayed || !appends_only(open_changes);
                m_open_committed = !open_changes.empty();
            };
            if (mode < 8) {
                prove(step, order, commit_open);
                commit_open();
            } else {
                prove(step, {order[0]}, commit_open);
                commit_open();
                prove(step, {order[1]}, nullptr);
            }
        }
        if (!m_problems.empty())
            m_problems.push_back("proofs on the incremental database, step and category:" + m_trace);
        return m_problems;
    }

private:
    void commit(pqxx::connection& chain_writer, pqxx::connection& full_writer, const std::vector<Change>& changes)
    {
        if (changes.empty()) return;
        for (auto* connection : {&chain_writer, &full_writer}) {
            pqxx::work txn(*connection);
            txn.exec(sql_of(changes));
            txn.commit();
        }
        m_changed = m_changed || !appends_only(changes);
        m_unreplayed = m_unreplayed || !appends_only(changes);
    }

    reconcile::Settings settings(const BookDb& db) const
    {
        return db.settings({{"RECON_VARIANCE_CAP", std::to_string(m_cap)},
                            {"RECON_SNAPSHOT_WINDOW_DAYS", std::to_string(m_window_days)}});
    }

    // One run through execute_run. While a concurrent writer's transaction is open, `unblock`
    // commits it: a run still waiting after a minute is waiting on that writer (a defect of its
    // own, reported), and the commit lets it finish.
    RunReport execute(const BookDb& db, Category category, bool force_full, const std::function<void()>& unblock,
                      const std::string& where)
    {
        reconcile::RunRequest request;
        request.book = db.book();
        request.category = category;
        request.force_full_proof = force_full;
        const auto config = settings(db);
        auto running = std::async(std::launch::async, [&config, request] {
            return reconcile::execute_run(config, reconcile::default_registry(), request);
        });
        if (unblock && running.wait_for(std::chrono::seconds(60)) == std::future_status::timeout) {
            m_problems.push_back(where + ": the run waited on an open writer's transaction for a minute");
            unblock();
        }
        RunOutcome outcome;
        try {
            outcome = running.get();
        } catch (const std::exception& error) {
            throw std::runtime_error(where + ": the run failed: " + error.what());
        }
        if (outcome.lock_held) m_problems.push_back(where + ": the lock was held");
        return std::move(outcome.report);
    }

    void prove(int step, const std::vector<Category>& categories, const std::function<void()>& unblock)
    {
        for (const auto category : categories) {
            const std::string where = "step " + std::to_string(step) + ", category " + category_name(category);
            // What the runs can see: the ledger as committed (an open writer's rows excluded).
            Ledger committed = read_ledger(*m_reader);
            committed.cap = m_cap;
            committed.window_days = m_window_days;
            const bool appends_since = !m_changed;
            // Only B runs look for a snapshot inside a stored span: an A run extends the proof
            // over changes that may put one there, and the next B run then proves in full.
            const bool unreplayed = m_unreplayed;
            if (category == Category::B) m_unreplayed = false;
            const bool open_committed = m_open_committed;
            m_changed = false;
            m_open_committed = false;

            const RunReport incremental = execute(m_chain, category, false, unblock, where + " (incremental)");
            const RunReport full = execute(m_full, category, true, unblock, where + " (full proof)");
            const std::string proofs = " [" + proof_text(incremental) + "]";
            const auto problem = [&](const std::string& text) { m_problems.push_back(where + proofs + ": " + text); };

            // (a) The reference's verdict on the committed ledger, as of each run's own start.
            for (const auto* report : {&incremental, &full}) {
                committed.as_of =
                    std::chrono::floor<std::chrono::seconds>(report->started_at).time_since_epoch().count();
                const Verdict verdict = reference_verdict(committed);
                for (const auto& result : report->checks) {
                    for (const auto& text : disagreements(result, verdict, m_cap)) {
                        problem((report == &incremental ? "incremental run: " : "full proof: ") + text);
                    }
                }
            }
            // (b) The full proof's verdict, exactly.
            for (const auto& text : verdict_differences(incremental, full)) problem(text);

            // How each proved.
            if (!full.proof || full.proof->kind != ProofKind::full) problem("the forced run was " + proof_text(full));
            check_chain_proof(incremental, appends_since, unreplayed, open_committed, problem);
            m_trace += " " + std::to_string(step) + category_name(category) + "=" +
                       (incremental.proof ? std::string(reconcile::to_string(incremental.proof->kind)) : "none");

            // Now and then a forced full proof on the incremental database too: it must agree,
            // and the next run extends the state it rebuilt.
            if (m_generator.chance(12)) {
                const RunReport forced = execute(m_chain, category, true, unblock, where + " (forced full proof)");
                if (!forced.proof || forced.proof->kind != ProofKind::full)
                    problem("the forced run was " + proof_text(forced));
                for (const auto& text : verdict_differences(incremental, forced)) problem("forced full proof: " + text);
                if (forced.proof && forced.proof->stored) {
                    m_state_run = forced.run_id;
                    m_unreplayed = false;
                }
                m_trace += " " + std::to_string(step) + category_name(category) + "=forced";
            }
        }
    }

    template <typename Problem>
    void check_chain_proof(const RunReport& run, bool appends_since, bool unreplayed, bool open_committed,
                           const Problem& problem)
    {
        if (!run.proof) {
            problem("no proof summary");
            return;
        }
        const auto& proof = *run.proof;
        const auto previous = m_state_run;
        if (proof.stored) m_state_run = run.run_id;
        // A full proof lays its spans around every snapshot of the moment.
        if (proof.stored && proof.kind == ProofKind::full) m_unreplayed = false;
        if (previous == 0) {
            if (proof.kind != ProofKind::full) problem("the first run, with no stored proof, was incremental");
            ++m_tally.reasons["(first run) " + shape_of(proof.reason)];
            return;
        }
        if (proof.kind == ProofKind::incremental) {
            ++m_tally.incremental;
            if (proof.transactions_touched > 0) ++m_tally.incremental_with_changes;
            if (open_committed) ++m_tally.incremental_after_open_writer;
            if (!proof.reason.empty()) problem("an incremental proof gives a reason: " + proof.reason);
            if (proof.since_run_id != previous) {
                problem("incremental since run " + (proof.since_run_id ? std::to_string(*proof.since_run_id) : "null") +
                        ", the stored proof is run " + std::to_string(previous) + "'s");
            }
            return;
        }
        ++m_tally.full_by_change;
        ++m_tally.reasons[shape_of(proof.reason)];
        if (proof.reason.empty()) problem("a full proof without a reason");
        const bool straddled = proof.reason.find("falls inside a span") != std::string::npos;
        if (appends_since && !(straddled && unreplayed)) {
            problem("only appends since the previous run, yet a full proof: " + proof.reason);
        }
    }

    Tally& m_tally;
    StepGenerator m_generator;
    BookDb m_chain;
    BookDb m_full;
    pqxx::connection* m_reader = nullptr;
    int m_cap = 0;
    int m_window_days = 0;
    bool m_changed = false;         ///< a change other than appends committed since the last incremental-side run
    bool m_open_committed = false;  ///< a concurrent writer committed rows since then
    bool m_unreplayed = false;      ///< a change other than appends committed since the last B run or full proof
    std::int64_t m_state_run = 0;   ///< the incremental database's run whose proof is stored
    std::vector<std::string> m_problems;
    std::string m_trace;  ///< each incremental-side run's proof kind, for a failure's message
};

}  // namespace

TEST_CASE("incremental A and B proofs equal the reference and the full proof over random change sequences")
{
    // Day arithmetic in the snapshot window is calendar days in the session's time zone.
    setenv("PGTZ", "UTC", 1);
    const auto cases = env_number("ORACLE_CASES", 25);
    const auto first_seed = env_number("ORACLE_SEED", 1);
    const auto steps = static_cast<int>(env_number("ORACLE_STEPS", 6));
    const bool one_seed = std::getenv("ORACLE_SEED") != nullptr && std::getenv("ORACLE_CASES") == nullptr;
    const std::uint64_t count = one_seed ? 1 : cases;
    const auto started = std::chrono::steady_clock::now();
    Tally tally;
    int failed = 0;
    for (std::uint64_t i = 0; i < count; ++i) {
        const std::uint64_t seed = first_seed + i;
        std::vector<std::string> problems;
        try {
            problems = Sequence(seed, tally).run(steps);
        } catch (const std::exception& error) {
            problems.push_back(error.what());
        }
        if (!problems.empty()) {
            ++failed;
            std::string message = "ORACLE_SEED=" + std::to_string(seed) + " disagrees:";
            // The first twenty problems, and the last line (the proofs so far) always.
            for (std::size_t p = 0; p < problems.size(); ++p) {
                if (p < 20 || p + 1 == problems.size()) message += "\n  " + problems[p];
            }
            FAIL_CHECK(message);
            if (failed >= 5) break;
        }
    }
    const auto seconds =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count() /
        1000.0;
    std::string reasons;
    for (const auto& [reason, times] : tally.reasons) reasons += "\n  " + reason + ": " + std::to_string(times);
    MESSAGE("incremental oracle: " << count << " seeds from seed " << first_seed << ", " << tally.steps << " steps ("
                                   << tally.concurrent_steps << " with a concurrent writer) in " << seconds
                                   << " s; incremental proofs: " << tally.incremental << " ("
                                   << tally.incremental_with_changes << " re-proving transactions, "
                                   << tally.incremental_after_open_writer
                                   << " after a concurrent writer committed), full proofs by change: "
                                   << tally.full_by_change << "; full proofs by reason:" << reasons);
    CHECK(failed == 0);
    if (count >= 5) {
        // Both kinds of proof were exercised: the test cannot pass by always proving in full.
        CHECK(tally.incremental_with_changes > 0);
        CHECK(tally.incremental_after_open_writer > 0);
        CHECK(tally.full_by_change > 0);
    }
}
