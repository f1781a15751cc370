// The ledger model of the oracle tests: see oracle_ledger.hpp.
#include "tests/oracle/oracle_ledger.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <iterator>
#include <set>
#include <tuple>

namespace reconcile::oracle {

// ---------------------------------------------------------------------------------------------
// Exact decimals.

Int pow10(int n)
{
    Int value = 1;
    for (int i = 0; i < n; ++i) value *= 10;
    return value;
}

Num rescale(Num a, int scale)
{
    return {a.units * pow10(scale - a.scale), scale};
}

Num add(Num a, Num b)
{
    const int scale = std::max(a.scale, b.scale);
    return {rescale(a, scale).units + rescale(b, scale).units, scale};
}

Num neg(Num a)
{
    return {-a.units, a.scale};
}

Num sub(Num a, Num b)
{
    return add(a, neg(b));
}

int compare(Num a, Num b)
{
    const int scale = std::max(a.scale, b.scale);
    const Int x = rescale(a, scale).units;
    const Int y = rescale(b, scale).units;
    return x < y ? -1 : x > y ? 1 : 0;
}

std::string text(Num a)
{
    Int units = a.units < 0 ? -a.units : a.units;
    std::string digits;
    do {
        digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(units % 10)));
        units /= 10;
    } while (units > 0);
    while (static_cast<int>(digits.size()) <= a.scale) digits.insert(digits.begin(), '0');
    std::string result = a.units < 0 ? "-" : "";
    result += digits.substr(0, digits.size() - static_cast<std::size_t>(a.scale));
    if (a.scale > 0) result += "." + digits.substr(digits.size() - static_cast<std::size_t>(a.scale));
    return result;
}

// ---------------------------------------------------------------------------------------------
// The generator.

Ledger Generator::make()
{
    Ledger ledger;
    ledger.as_of = base_time + 60 * day + pick(0, 86399);
    ledger.window_days = static_cast<int>(pick(0, 3) == 0 ? pick(0, 2) : pick(3, 40));
    ledger.warn_hours = static_cast<int>(pick(1, 48));
    ledger.fail_hours = ledger.warn_hours + static_cast<int>(pick(0, 96));
    if (pick(0, 9) == 0) ledger.cap = static_cast<int>(pick(1, 12));
    make_chart(ledger);
    make_journal(ledger);
    const bool mutate_journal_first = chance(50);
    const int journal_mutations = chance(20) ? 0 : static_cast<int>(pick(1, 12));
    if (mutate_journal_first) mutate_journal(ledger, journal_mutations);
    derive_stored(ledger);
    if (!mutate_journal_first) mutate_journal(ledger, journal_mutations);
    mutate_stored(ledger, chance(25) ? 0 : static_cast<int>(pick(1, 10)));
    make_flows(ledger);
    // Mutations may add a second row under a primary key: the first one stays.
    std::set<std::tuple<std::string, std::string, std::string>> wallet_keys;
    std::erase_if(ledger.wallets, [&](const Wallet& w) {
        return !wallet_keys.insert({w.customer, w.account, w.currency}).second;
    });
    std::set<std::pair<std::string, std::string>> total_keys;
    std::erase_if(ledger.totals, [&](const Total& t) { return !total_keys.insert({t.account, t.currency}).second; });
    return ledger;
}

// A positive amount: usually modest, sometimes up to 10^18, scale 0 to 8.
Num Generator::amount()
{
    const int scale = static_cast<int>(pick(0, 8));
    Int whole = 0;
    const auto size = pick(0, 99);
    if (size < 70) {
        whole = pick(0, 5000);
    } else if (size < 95) {
        whole = pick(0, 100000000);
    } else {
        whole = static_cast<Int>(pick(1, 999999999)) * 1000000000 + pick(0, 999999999);
    }
    Int fraction = scale == 0 ? 0 : static_cast<Int>(pick(0, static_cast<std::int64_t>(pow10(scale)) - 1));
    Num result{whole * pow10(scale) + fraction, scale};
    if (result.units == 0) result.units = 1;
    return result;
}

void Generator::make_chart(Ledger& ledger)
{
    const std::vector<std::string> all_currencies{"USD", "AED", "INR", "€UR", "ДРМ", "BTC₿", "jpy"};
    const auto count = pick(1, 4);
    for (std::size_t i = 0; i < all_currencies.size() && m_currencies.size() < static_cast<std::size_t>(count); ++i) {
        if (chance(60) || all_currencies.size() - i <= static_cast<std::size_t>(count) - m_currencies.size()) {
            m_currencies.push_back(all_currencies[i]);
        }
    }
    ledger.accounts = {
        {"BROKER_CASH", "DR", true, false},           {"CUSTOMER_WALLET", "CR", false, true},
        {"WALLET_ÜBER_客户", "CR", chance(50), true}, {"FEE_INCOME", "CR", true, false},
        {"SECURITIES", "DR", false, false},           {"SUSPENSE", "DR", true, false},
    };
    const std::vector<std::string> names{"C001",    "C002", "Zoë-7", "客户-12", "🙂-3",    "Ωmega",
                                         "O'Brien", "c001", "C 001", "Δ-99",    "Jos\u00e9", "ID-\u202e"};
    const auto customers = pick(2, static_cast<std::int64_t>(names.size()));
    for (std::int64_t i = 0; i < customers; ++i) m_customers.push_back(names[static_cast<std::size_t>(i)]);
}

Txn& Generator::add_txn(Ledger& ledger, const std::string& type, const Opt<std::string>& customer,
                        const std::string& status, std::int64_t at)
{
    Txn txn;
    txn.id = m_next_txn++;
    txn.source = type == "deposit" ? "bank" : type == "fee" ? "fees" : "gtn";
    txn.source_txn_id = type + "-" + std::to_string(txn.id) + (chance(10) ? "-ü" : "");
    txn.customer = customer;
    txn.type = type;
    txn.status = status;
    txn.effective_at = at;
    ledger.txns.push_back(txn);
    return ledger.txns.back();
}

void Generator::add_line(Ledger& ledger, std::int64_t txn_id, const std::string& account,
                         const Opt<std::string>& customer, const std::string& side, Num value,
                         const std::string& currency)
{
    ledger.lines.push_back({m_next_line++, txn_id, account, customer, side, value, currency});
}

void Generator::make_journal(Ledger& ledger)
{
    const auto target_lines =
        100 + static_cast<std::int64_t>(std::pow(static_cast<double>(pick(0, 1000)) / 1000.0, 2) * 1900);
    std::int64_t at = base_time;
    while (static_cast<std::int64_t>(ledger.lines.size()) < target_lines) {
        at += pick(60, 3 * 3600);
        append_transaction(ledger, at);
    }
}

void Generator::append_transaction(Ledger& ledger, std::int64_t at)
{
    const auto& customer = one_of(m_customers);
    const auto& currency = one_of(m_currencies);
    const auto wallet = wallet_account();
    Num& balance = m_balances[{customer, wallet, currency}];
    const auto kind = pick(0, 9);
    const std::string status = chance(8) ? "pending" : "posted";
    if (kind < 4 || balance.units <= 0) {
        const Num value = amount();
        auto& txn = add_txn(ledger, "deposit", customer, status, at);
        const auto id = txn.id;
        add_line(ledger, id, "BROKER_CASH", customer, "DR", value, currency);
        add_line(ledger, id, wallet, customer, "CR", value, currency);
        if (status == "posted") balance = add(balance, value);
        if (status == "posted" && chance(10)) {
            // Reversed: stays booked, its reversal books the mirror image.
            ledger.txns.back().status = "reversed";
            auto& reversal = add_txn(ledger, "reversal", customer, "posted", at + pick(1, 7200));
            reversal.reverses = id;
            add_line(ledger, reversal.id, wallet, customer, "DR", value, currency);
            add_line(ledger, reversal.id, "BROKER_CASH", customer, "CR", value, currency);
            balance = sub(balance, value);
        }
    } else {
        // A fee or a buy of at most the balance: DR wallet, CR fee income (or cash and
        // securities for a buy, four lines).
        Num value = balance;
        if (chance(70)) {
            value = {balance.units / pick(1, 5), balance.scale};
            if (value.units == 0) value = balance;
        }
        const bool buy = chance(50);
        auto& txn = add_txn(ledger, buy ? "buy" : "fee", buy ? Opt<std::string>(customer) : std::nullopt, status, at);
        const auto id = txn.id;
        add_line(ledger, id, wallet, customer, "DR", value, currency);
        if (buy) {
            add_line(ledger, id, "BROKER_CASH", customer, "CR", value, currency);
            add_line(ledger, id, "SECURITIES", customer, "DR", value, currency);
            add_line(ledger, id, "SUSPENSE", chance(50) ? Opt<std::string>(customer) : std::nullopt, "CR", value,
                     currency);
        } else {
            add_line(ledger, id, "FEE_INCOME", std::nullopt, "CR", value, currency);
        }
        if (status == "posted") balance = sub(balance, value);
    }
}

void Generator::mutate_journal(Ledger& ledger, int count)
{
    for (int i = 0; i < count && !ledger.lines.empty(); ++i) {
        Line& line = ledger.lines[any_line(ledger)];
        switch (pick(0, 17)) {
            case 0:  // an amount changed: the transaction and its currency stop balancing
                line.amount = amount();
                break;
            case 1:  // a line lost: too few lines, one-sided, or unbalanced
                ledger.lines.erase(ledger.lines.begin() + static_cast<std::ptrdiff_t>(any_line(ledger)));
                break;
            case 2:  // the side flipped
                line.side = line.side == "DR" ? "CR" : "DR";
                break;
            case 3:  // an invalid side
                line.side = one_of(std::vector<Opt<std::string>>{std::nullopt, "dr", "XX", "D R", "贷"});
                break;
            case 4:  // zero or negative
                line.amount = chance(50) ? Num{0, static_cast<int>(pick(0, 4))} : neg(amount());
                break;
            case 5:
                line.amount = std::nullopt;
                break;
            case 6:
                line.currency = std::nullopt;
                break;
            case 7:
                line.account = std::nullopt;
                break;
            case 8:  // an account the chart does not have
                line.account = one_of(std::vector<std::string>{"NO_SUCH", "broker_cash", "BROKER_CASH "});
                break;
            case 9:  // orphaned: no transaction, or one that does not exist
                line.txn_id = chance(50) ? Opt<std::int64_t>() : Opt<std::int64_t>(900000 + pick(0, 5));
                break;
            case 10: {  // a second transaction under an existing ingest key
                const Txn& original = ledger.txns[any_txn(ledger)];
                Txn& copy = ledger.txns[any_txn(ledger)];
                copy.source = original.source;
                copy.source_txn_id = original.source_txn_id;
                break;
            }
            case 11: {  // a customer overdrawn on a wallet account
                const auto& customer = one_of(m_customers);
                auto& txn = add_txn(ledger, "fee", customer, "posted", base_time + pick(0, 70) * day);
                const auto id = txn.id;
                Num value = amount();
                value.units += pow10(value.scale) * 1000000000;
                const std::string currency = one_of(m_currencies);
                add_line(ledger, id, wallet_account(), customer, "DR", value, currency);
                add_line(ledger, id, "FEE_INCOME", std::nullopt, "CR", value, currency);
                break;
            }
            case 12:  // a transaction mixing currencies
                line.currency = one_of(std::vector<std::string>{"USD", "AED", "€UR", "XXX"});
                break;
            case 13:  // a booked transaction without lines
                add_txn(ledger, "fee", std::nullopt, chance(50) ? "posted" : "reversed", base_time + day);
                break;
            case 14: {  // booked or not, by status
                Txn& txn = ledger.txns[any_txn(ledger)];
                txn.status = one_of(std::vector<std::string>{"posted", "pending", "reversed", "POSTED", "void"});
                break;
            }
            case 15:  // a line without its customer (a wallet line no stored wallet can hold)
                line.customer = std::nullopt;
                break;
            case 16:  // a line moved to another customer
                line.customer = one_of(m_customers);
                break;
            default: {  // one single-line transaction
                auto& txn = add_txn(ledger, "fee", std::nullopt, "posted", base_time + pick(0, 70) * day);
                add_line(ledger, txn.id, "SUSPENSE", std::nullopt, chance(50) ? "DR" : "CR", amount(),
                         one_of(m_currencies));
                break;
            }
        }
    }
}

Num booked_balance(const Ledger& ledger, const std::string& account, const Opt<std::string>& customer,
                   const std::string& currency, std::int64_t as_of)
{
    std::map<std::int64_t, const Txn*> txns;
    for (const auto& txn : ledger.txns) txns[txn.id] = &txn;
    const auto chart = std::find_if(ledger.accounts.begin(), ledger.accounts.end(),
                                    [&](const Account& candidate) { return candidate.code == account; });
    Num balance;
    if (chart == ledger.accounts.end()) return balance;
    for (const auto& line : ledger.lines) {
        if (!line.txn_id || !txns.count(*line.txn_id) || line.account != account) continue;
        const Txn& txn = *txns[*line.txn_id];
        if (txn.status != "posted" && txn.status != "reversed") continue;
        if (txn.effective_at > as_of || !line.amount || line.currency != currency) continue;
        if (line.side != "DR" && line.side != "CR") continue;
        if (customer && line.customer != customer) continue;
        balance = add(balance, line.side == chart->normal_side ? *line.amount : neg(*line.amount));
    }
    return balance;
}

StoredBalances stored_balances(const Ledger& ledger)
{
    std::map<std::int64_t, const Txn*> txns;
    for (const auto& txn : ledger.txns) txns[txn.id] = &txn;
    std::map<std::string, const Account*> accounts;
    for (const auto& account : ledger.accounts) accounts[account.code] = &account;
    StoredBalances stored;
    for (const auto& line : ledger.lines) {
        if (!line.txn_id || !txns.count(*line.txn_id) || !line.account || !accounts.count(*line.account)) continue;
        const Txn& txn = *txns[*line.txn_id];
        if (txn.status != "posted" && txn.status != "reversed") continue;
        if (!line.amount || !line.currency || (line.side != "DR" && line.side != "CR")) continue;
        const Account& account = *accounts[*line.account];
        const Num signed_amount = line.side == account.normal_side ? *line.amount : neg(*line.amount);
        if (account.is_wallet && line.customer) {
            auto& balance = stored.wallets[{*line.customer, account.code, *line.currency}];
            balance = add(balance, signed_amount);
        }
        auto& total = stored.totals[{account.code, *line.currency}];
        total.account = account.code;
        total.currency = *line.currency;
        (line.side == "DR" ? total.debit : total.credit) =
            add(line.side == "DR" ? total.debit : total.credit, *line.amount);
        total.net = add(total.net, signed_amount);
    }
    return stored;
}

// Stored wallets, account totals and snapshots consistent with the journal as it is now.
void Generator::derive_stored(Ledger& ledger)
{
    const auto [wallets, totals] = stored_balances(ledger);
    for (const auto& [key, balance] : wallets) {
        if (chance(3)) continue;  // a wallet never stored
        ledger.wallets.push_back({std::get<0>(key), std::get<1>(key), std::get<2>(key), padded(balance)});
    }
    for (const auto& [key, total] : totals) {
        if (chance(3)) continue;
        ledger.totals.push_back(
            {total.account, total.currency, padded(total.debit), padded(total.credit), padded(total.net)});
    }
    // Snapshots: a few keys, several dates each (some at a posting's exact instant).
    const auto keys = pick(0, 12);
    for (std::int64_t k = 0; k < keys; ++k) {
        const std::string account = one_of(
            std::vector<std::string>{"BROKER_CASH", "CUSTOMER_WALLET", "FEE_INCOME", "WALLET_ÜBER_客户", "SECURITIES"});
        const Opt<std::string> customer = chance(50) ? Opt<std::string>(one_of(m_customers)) : std::nullopt;
        const std::string currency = one_of(m_currencies);
        const auto dates = pick(1, 4);
        for (std::int64_t d = 0; d < dates; ++d) {
            std::int64_t as_of = base_time + pick(0, 62 * day);
            if (chance(25) && !ledger.txns.empty()) as_of = ledger.txns[any_txn(ledger)].effective_at;
            ledger.snapshots.push_back({m_next_snapshot++, account, customer, currency, as_of,
                                        padded(booked_balance(ledger, account, customer, currency, as_of))});
        }
    }
}

void Generator::mutate_stored(Ledger& ledger, int count)
{
    for (int i = 0; i < count; ++i) {
        switch (pick(0, 11)) {
            case 0:
                if (!ledger.wallets.empty()) {
                    auto& wallet = ledger.wallets[static_cast<std::size_t>(
                        pick(0, static_cast<std::int64_t>(ledger.wallets.size()) - 1))];
                    wallet.balance = add(wallet.balance, chance(50) ? amount() : neg(amount()));
                }
                break;
            case 1:  // a stored wallet with no lines behind it (zero balances are not breaks)
                ledger.wallets.push_back({one_of(m_customers) + "-gone", wallet_account(), one_of(m_currencies),
                                          chance(50) ? Num{0, 2} : amount()});
                break;
            case 2:  // a wallet row on an account that is not a wallet account: it becomes one
                ledger.wallets.push_back({one_of(m_customers), "SUSPENSE", one_of(m_currencies), amount()});
                break;
            case 3:
            case 4:
                if (!ledger.totals.empty()) {
                    auto& total = ledger.totals[static_cast<std::size_t>(
                        pick(0, static_cast<std::int64_t>(ledger.totals.size()) - 1))];
                    Num& column = one_of(std::vector<int>{0, 1, 2}) == 0 ? total.debit
                                  : chance(50)                           ? total.credit
                                                                         : total.net;
                    column = add(column, amount());
                }
                break;
            case 5:
                if (!ledger.totals.empty()) {
                    ledger.totals.erase(ledger.totals.begin() +
                                        pick(0, static_cast<std::int64_t>(ledger.totals.size()) - 1));
                }
                break;
            case 6:  // totals without lines (all zero is not a break)
                ledger.totals.push_back({"GHOST_Ω", one_of(m_currencies), chance(50) ? Num{} : amount(), Num{0, 3},
                                         chance(50) ? Num{} : amount()});
                break;
            case 7:
            case 8:
                if (!ledger.snapshots.empty()) {
                    auto& snapshot = ledger.snapshots[static_cast<std::size_t>(
                        pick(0, static_cast<std::int64_t>(ledger.snapshots.size()) - 1))];
                    snapshot.balance = add(snapshot.balance, amount());
                }
                break;
            case 9:  // a snapshot dated after the run
                if (!ledger.snapshots.empty()) {
                    Snapshot copy = ledger.snapshots[static_cast<std::size_t>(
                        pick(0, static_cast<std::int64_t>(ledger.snapshots.size()) - 1))];
                    copy.id = m_next_snapshot++;
                    copy.as_of = ledger.as_of + pick(1, 40 * day);
                    ledger.snapshots.push_back(copy);
                }
                break;
            case 10:  // a snapshot exactly at the run's as-of time (not in the future)
                if (!ledger.snapshots.empty()) {
                    Snapshot copy = ledger.snapshots[static_cast<std::size_t>(
                        pick(0, static_cast<std::int64_t>(ledger.snapshots.size()) - 1))];
                    copy.id = m_next_snapshot++;
                    copy.as_of = ledger.as_of;
                    ledger.snapshots.push_back(copy);
                }
                break;
            default: {  // a posting back-dated into a snapshotted period
                const auto& customer = one_of(m_customers);
                const auto& currency = one_of(m_currencies);
                auto& txn = add_txn(ledger, "deposit", customer, "posted", base_time + pick(0, 20) * day);
                const auto id = txn.id;
                const Num value = amount();
                add_line(ledger, id, "BROKER_CASH", customer, "DR", value, currency);
                add_line(ledger, id, wallet_account(), customer, "CR", value, currency);
                break;
            }
        }
    }
}

void Generator::make_flows(Ledger& ledger)
{
    const auto count = pick(0, 25);
    for (std::int64_t i = 0; i < count; ++i) {
        Flow flow;
        flow.id = "F-" + std::to_string(i) + (chance(20) ? "-ß" : "");
        flow.type = one_of(std::vector<std::string>{"deposit_in_transit", "cash_request", "withdrawal"});
        flow.customer = chance(80) ? Opt<std::string>(one_of(m_customers)) : std::nullopt;
        flow.amount = amount();
        flow.currency = one_of(m_currencies);
        flow.status = one_of(std::vector<std::string>{"pending", "in_transit", "completed", "cancelled", "Pending"});
        // Ages around both thresholds, exactly on them at times, and some in the future.
        const auto kind = pick(0, 5);
        const std::int64_t hours = kind == 0 ? ledger.warn_hours : kind == 1 ? ledger.fail_hours : pick(-5, 200);
        flow.created_at = ledger.as_of - hours * 3600 - (kind <= 1 ? pick(-1, 1) : pick(0, 3599));
        ledger.flows.push_back(flow);
    }
}

// ---------------------------------------------------------------------------------------------
// The reference: what each check must report, from the rules in the checks' documentation
// (README "Checks", the comments of checks/*.cpp), computed row by row.

std::string describe(const std::string& check, const std::string& kind,
                     std::vector<std::pair<std::string, std::string>> keys, const Opt<std::string>& expected,
                     const Opt<std::string>& actual, const Opt<std::string>& difference)
{
    std::sort(keys.begin(), keys.end());
    std::string line = check + " " + kind;
    for (const auto& [name, value] : keys) line += " " + name + "=" + value;
    line += " expected=" + expected.value_or("null") + " actual=" + actual.value_or("null") +
            " difference=" + difference.value_or("null");
    return line;
}

bool booked(const std::string& status)
{
    return status == "posted" || status == "reversed";
}

std::string id_text(std::int64_t id)
{
    return std::to_string(id);
}

namespace {

class Reference {
public:
    explicit Reference(const Ledger& ledger) : m_ledger(ledger)
    {
        for (const auto& txn : ledger.txns) m_txns[txn.id] = &txn;
        for (const auto& account : ledger.accounts) m_accounts[account.code] = &account;
    }

    std::map<std::string, std::vector<std::string>> variances()
    {
        trial_balance_and_shapes();
        line_rules();
        source_keys();
        wrong_side_balances();
        wallets();
        account_totals();
        snapshots();
        pending_flows();
        for (auto& [check, lines] : m_out) std::sort(lines.begin(), lines.end());
        return m_out;
    }

    /// Each check's status, as the reference sees it.
    std::map<std::string, CheckStatus> statuses() const { return m_status; }

private:
    // docs/output-names.md, "Money and time": a variance's expected, actual and difference are
    // shown at one scale, the finest among those present ("0.00" beside "10.00", never "0").
    void report(const std::string& check, const std::string& kind,
                std::vector<std::pair<std::string, std::string>> keys, Opt<Num> expected = std::nullopt,
                Opt<Num> actual = std::nullopt, Opt<Num> difference = std::nullopt)
    {
        int finest = 0;
        for (const Opt<Num>* figure : {&expected, &actual, &difference}) {
            if (*figure) finest = std::max(finest, (*figure)->scale);
        }
        const auto shown = [&](const Opt<Num>& figure) -> Opt<std::string> {
            if (!figure) return std::nullopt;
            return text(rescale(*figure, finest));
        };
        m_out[check].push_back(
            describe(check, kind, std::move(keys), shown(expected), shown(actual), shown(difference)));
    }

    const Txn* txn_of(const Line& line) const
    {
        if (!line.txn_id) return nullptr;
        const auto found = m_txns.find(*line.txn_id);
        return found == m_txns.end() ? nullptr : found->second;
    }
    const Account* account_of(const Line& line) const
    {
        if (!line.account) return nullptr;
        const auto found = m_accounts.find(*line.account);
        return found == m_accounts.end() ? nullptr : found->second;
    }
    static bool sided(const Line& line) { return line.side == "DR" || line.side == "CR"; }

    // A line that breaks a per-line rule.
    bool defective(const Line& line) const
    {
        return !line.amount || line.amount->units <= 0 || !line.currency || !line.account || !sided(line) ||
               account_of(line) == nullptr;
    }

    // trial_balance_zero and the transaction shapes of journal_line_completeness.
    void trial_balance_and_shapes()
    {
        struct Sums {
            Num debits;
            Num credits;
            bool any = false;
        };
        std::map<std::int64_t, std::vector<const Line*>> by_txn;
        for (const auto& line : m_ledger.lines) {
            if (txn_of(line) != nullptr) by_txn[*line.txn_id].push_back(&line);
        }
        std::map<Opt<std::string>, Sums> currencies;
        for (const auto& txn : m_ledger.txns) {
            // A status outside the contract's set ("POSTED", "void") is not booked, and named.
            if (!booked(txn.status) && txn.status != "pending") {
                report("journal_line_completeness", "unknown_status", {{"txn_id", id_text(txn.id)}});
            }
            if (!booked(txn.status)) continue;
            const auto& lines = by_txn[txn.id];
            std::int64_t debit_lines = 0;
            std::int64_t credit_lines = 0;
            for (const Line* line : lines) {
                debit_lines += line->side == "DR";
                credit_lines += line->side == "CR";
            }
            if (lines.size() < 2 || debit_lines == 0 || credit_lines == 0) {
                report("journal_line_completeness", lines.size() < 2 ? "too_few_lines" : "one_sided_txn",
                       {{"txn_id", id_text(txn.id)}});
            }
            // Per currency (a null currency is a currency of its own here).
            std::map<Opt<std::string>, Sums> per_currency;
            for (const Line* line : lines) {
                Sums& sums = per_currency[line->currency];
                sums.any = true;
                if (line->amount && line->side == "DR") sums.debits = add(sums.debits, *line->amount);
                if (line->amount && line->side == "CR") sums.credits = add(sums.credits, *line->amount);
            }
            for (const auto& [currency, sums] : per_currency) {
                Sums& total = currencies[currency];
                total.any = true;
                total.debits = add(total.debits, sums.debits);
                total.credits = add(total.credits, sums.credits);
                if (compare(sums.debits, sums.credits) != 0) {
                    report("trial_balance_zero", "unbalanced_txn",
                           {{"txn_id", id_text(txn.id)}, {"currency", currency.value_or("")}}, sums.debits,
                           sums.credits, sub(sums.debits, sums.credits));
                }
            }
        }
        for (const auto& [currency, sums] : currencies) {
            if (compare(sums.debits, sums.credits) != 0) {
                report("trial_balance_zero", "unbalanced_currency", {{"currency", currency.value_or("")}}, sums.debits,
                       sums.credits, sub(sums.debits, sums.credits));
            }
        }
    }

    // journal_line_completeness's and dr_cr_sign_convention's per-line rules.
    void line_rules()
    {
        for (const auto& line : m_ledger.lines) {
            std::vector<std::pair<std::string, std::string>> keys{{"line_id", id_text(line.id)}};
            if (line.txn_id) keys.emplace_back("txn_id", id_text(*line.txn_id));
            if (txn_of(line) == nullptr) report("journal_line_completeness", "orphan_line", keys);
            if (line.account && account_of(line) == nullptr) {
                auto with_account = keys;
                with_account.emplace_back("account", *line.account);
                report("journal_line_completeness", "unknown_account", with_account);
            }
            if (!line.amount || !line.currency || !line.account)
                report("journal_line_completeness", "incomplete_line", keys);

            const std::vector<std::pair<std::string, std::string>> sign_keys{
                {"line_id", id_text(line.id)}, {"txn_id", line.txn_id ? id_text(*line.txn_id) : ""}};
            // The side is not a figure: it is in the variance's detail, which is not compared.
            if (!sided(line)) report("dr_cr_sign_convention", "invalid_side", sign_keys);
            if (line.amount && line.amount->units <= 0) {
                report("dr_cr_sign_convention", "non_positive_amount", sign_keys, std::nullopt, *line.amount);
            }
        }
    }

    void source_keys()
    {
        std::map<std::pair<std::string, std::string>, int> counts;
        for (const auto& txn : m_ledger.txns) ++counts[{txn.source, txn.source_txn_id}];
        for (const auto& [key, count] : counts) {
            if (count > 1) {
                report("source_txn_uniqueness", "duplicate_source_txn",
                       {{"source", key.first}, {"source_txn_id", key.second}});
            }
        }
    }

    // Booked, sided lines with an amount on a known account: the lines balances are made of.
    bool balance_line(const Line& line) const
    {
        const Txn* txn = txn_of(line);
        return txn != nullptr && booked(txn->status) && sided(line) && line.amount && account_of(line) != nullptr;
    }
    Num signed_amount(const Line& line) const
    {
        return line.side == account_of(line)->normal_side ? *line.amount : neg(*line.amount);
    }

    void wrong_side_balances()
    {
        std::map<std::tuple<std::string, Opt<std::string>, Opt<std::string>>, Num> balances;
        for (const auto& line : m_ledger.lines) {
            if (!balance_line(line) || account_of(line)->allow_wrong_side) continue;
            auto& balance = balances[{*line.account, line.customer, line.currency}];
            balance = add(balance, signed_amount(line));
        }
        for (const auto& [key, balance] : balances) {
            if (balance.units >= 0) continue;
            std::vector<std::pair<std::string, std::string>> keys{{"account", std::get<0>(key)}};
            if (std::get<1>(key)) keys.emplace_back("customer_id", *std::get<1>(key));
            keys.emplace_back("currency", std::get<2>(key).value_or(""));
            report("dr_cr_sign_convention", "wrong_side_balance", keys, Num{}, balance, balance);
        }
    }

    void wallets()
    {
        std::set<std::string> wallet_accounts;
        for (const auto& account : m_ledger.accounts) {
            if (account.is_wallet) wallet_accounts.insert(account.code);
        }
        for (const auto& wallet : m_ledger.wallets) {
            if (m_accounts.count(wallet.account)) wallet_accounts.insert(wallet.account);
        }
        std::map<std::tuple<Opt<std::string>, std::string, Opt<std::string>>, Num> derived;
        for (const auto& line : m_ledger.lines) {
            if (!balance_line(line) || !wallet_accounts.count(*line.account)) continue;
            auto& balance = derived[{line.customer, *line.account, line.currency}];
            balance = add(balance, signed_amount(line));
        }
        const auto keys_of = [](const Opt<std::string>& customer, const std::string& account,
                                const Opt<std::string>& currency) {
            std::vector<std::pair<std::string, std::string>> keys;
            if (customer) keys.emplace_back("customer_id", *customer);
            keys.emplace_back("account", account);
            keys.emplace_back("currency", currency.value_or(""));
            return keys;
        };
        std::set<std::tuple<Opt<std::string>, std::string, Opt<std::string>>> stored_keys;
        for (const auto& wallet : m_ledger.wallets) {
            const std::tuple<Opt<std::string>, std::string, Opt<std::string>> key{wallet.customer, wallet.account,
                                                                                  wallet.currency};
            stored_keys.insert(key);
            const auto found = derived.find(key);
            if (found == derived.end()) {
                if (wallet.balance.units != 0) {
                    report("wallet_derivation", "wallet_without_lines",
                           keys_of(wallet.customer, wallet.account, wallet.currency), Num{}, wallet.balance,
                           sub(wallet.balance, Num{}));
                }
            } else if (compare(found->second, wallet.balance) != 0) {
                report("wallet_derivation", "wallet_mismatch",
                       keys_of(wallet.customer, wallet.account, wallet.currency), found->second, wallet.balance,
                       sub(wallet.balance, found->second));
            }
        }
        for (const auto& [key, balance] : derived) {
            // A null customer or currency never equals a stored one.
            if (std::get<0>(key) && std::get<2>(key) && stored_keys.count(key)) continue;
            report("wallet_derivation", "wallet_missing", keys_of(std::get<0>(key), std::get<1>(key), std::get<2>(key)),
                   balance, std::nullopt, sub(Num{}, balance));
        }
    }

    void account_totals()
    {
        struct Sums {
            Num debit;
            Num credit;
            Num net;
        };
        std::map<std::pair<std::string, Opt<std::string>>, Sums> derived;
        for (const auto& line : m_ledger.lines) {
            if (!balance_line(line)) continue;
            Sums& sums = derived[{*line.account, line.currency}];
            (line.side == "DR" ? sums.debit : sums.credit) =
                add(line.side == "DR" ? sums.debit : sums.credit, *line.amount);
            sums.net = add(sums.net, signed_amount(line));
        }
        std::set<std::pair<std::string, Opt<std::string>>> stored_keys;
        for (const auto& total : m_ledger.totals) {
            const std::pair<std::string, Opt<std::string>> key{total.account, total.currency};
            stored_keys.insert(key);
            const auto found = derived.find(key);
            if (found == derived.end()) {
                if (total.debit.units != 0 || total.credit.units != 0 || total.net.units != 0) {
                    report("account_totals", "account_totals_without_lines",
                           {{"account", total.account}, {"currency", total.currency}}, Num{}, total.net,
                           sub(total.net, Num{}));
                }
                continue;
            }
            const Sums& sums = found->second;
            const std::vector<std::tuple<std::string, Num, Num>> columns{{"debit_total", sums.debit, total.debit},
                                                                         {"credit_total", sums.credit, total.credit},
                                                                         {"net", sums.net, total.net}};
            for (const auto& [column, expected, actual] : columns) {
                if (compare(expected, actual) == 0) continue;
                report("account_totals", "account_totals_mismatch",
                       {{"account", total.account}, {"currency", total.currency}, {"column", column}}, expected, actual,
                       sub(actual, expected));
            }
        }
        for (const auto& [key, sums] : derived) {
            if (key.second && stored_keys.count(key)) continue;
            report("account_totals", "account_totals_missing",
                   {{"account", key.first}, {"currency", key.second.value_or("")}}, sums.net, std::nullopt,
                   sub(Num{}, sums.net));
        }
    }

    void snapshots()
    {
        using Key = std::tuple<std::string, Opt<std::string>, std::string>;
        std::map<Key, std::int64_t> latest;  // per key, the newest snapshot not after the run
        for (const auto& snapshot : m_ledger.snapshots) {
            if (snapshot.as_of > m_ledger.as_of) continue;
            const Key key{snapshot.account, snapshot.customer, snapshot.currency};
            const auto found = latest.find(key);
            if (found == latest.end() || found->second < snapshot.as_of) latest[key] = snapshot.as_of;
        }
        for (const auto& snapshot : m_ledger.snapshots) {
            std::vector<std::pair<std::string, std::string>> keys{{"snapshot_id", id_text(snapshot.id)},
                                                                  {"account", snapshot.account}};
            if (snapshot.customer) keys.emplace_back("customer_id", *snapshot.customer);
            keys.emplace_back("currency", snapshot.currency);
            if (snapshot.as_of > m_ledger.as_of) {
                report("snapshot_reconcile", "future_snapshot", keys, std::nullopt, snapshot.balance);
                continue;
            }
            const auto newest = latest.at({snapshot.account, snapshot.customer, snapshot.currency});
            if (snapshot.as_of < newest - m_ledger.window_days * day) continue;  // outside the window
            Num replayed;
            for (const auto& line : m_ledger.lines) {
                if (!balance_line(line) || line.account != snapshot.account || line.currency != snapshot.currency)
                    continue;
                if (snapshot.customer && line.customer != snapshot.customer) continue;
                if (txn_of(line)->effective_at > snapshot.as_of) continue;
                replayed = add(replayed, signed_amount(line));
            }
            if (compare(replayed, snapshot.balance) != 0) {
                report("snapshot_reconcile", "snapshot_mismatch", keys, replayed, snapshot.balance,
                       sub(snapshot.balance, replayed));
            }
        }
    }

    void pending_flows()
    {
        bool failing = false;
        for (const auto& flow : m_ledger.flows) {
            if (flow.status != "pending" && flow.status != "in_transit") continue;
            const std::int64_t age_seconds = m_ledger.as_of - flow.created_at;
            if (age_seconds <= static_cast<std::int64_t>(m_ledger.warn_hours) * 3600) continue;
            failing = failing || age_seconds > static_cast<std::int64_t>(m_ledger.fail_hours) * 3600;
            std::vector<std::pair<std::string, std::string>> keys{{"flow_id", flow.id}};
            if (flow.customer) keys.emplace_back("customer_id", *flow.customer);
            keys.emplace_back("currency", flow.currency);
            report("pending_flow_age", "aged_pending", keys, std::nullopt, flow.amount);
        }
        m_status["pending_flow_age"] = failing                               ? CheckStatus::fail
                                       : m_out.count("pending_flow_age") > 0 ? CheckStatus::warn
                                                                             : CheckStatus::ok;
    }

    const Ledger& m_ledger;
    std::map<std::int64_t, const Txn*> m_txns;
    std::map<std::string, const Account*> m_accounts;
    std::map<std::string, std::vector<std::string>> m_out;
    std::map<std::string, CheckStatus> m_status;
};

}  // namespace

Verdict reference_verdict(const Ledger& ledger)
{
    Reference reference(ledger);
    Verdict verdict;
    verdict.variances = reference.variances();
    verdict.statuses = reference.statuses();
    return verdict;
}

// ---------------------------------------------------------------------------------------------
// Loading a ledger into the database.

std::string quoted(const std::string& value)
{
    std::string result = "'";
    for (const char c : value) {
        if (c == '\'') result += '\'';
        result += c;
    }
    return result + "'";
}
std::string quoted(const Opt<std::string>& value)
{
    return value ? quoted(*value) : "NULL";
}
std::string number(const Num& value)
{
    return "'" + text(value) + "'::numeric";
}
std::string number(const Opt<Num>& value)
{
    return value ? number(*value) : "NULL";
}
std::string timestamp(std::int64_t seconds)
{
    const std::time_t time = static_cast<std::time_t>(seconds);
    std::tm parts{};
    gmtime_r(&time, &parts);
    char buffer[64];
    std::strftime(buffer, sizeof buffer, "'%Y-%m-%dT%H:%M:%SZ'", &parts);
    return buffer;
}

RowSql row_sql(const Account& a)
{
    return {"ledger.accounts", "account_code, name, account_type, normal_side, allow_wrong_side, is_customer_wallet",
            quoted(a.code) + ", 'n', 't', " + quoted(a.normal_side) + ", " + (a.allow_wrong_side ? "true" : "false") +
                ", " + (a.is_wallet ? "true" : "false"),
            "account_code", quoted(a.code)};
}
RowSql row_sql(const Txn& t)
{
    return {"ledger.transactions",
            "txn_id, source, source_txn_id, customer_id, txn_type, status, effective_at, posted_at, reverses_txn_id",
            id_text(t.id) + ", " + quoted(t.source) + ", " + quoted(t.source_txn_id) + ", " + quoted(t.customer) +
                ", " + quoted(t.type) + ", " + quoted(t.status) + ", " + timestamp(t.effective_at) + ", " +
                timestamp(t.effective_at) + ", " + (t.reverses ? id_text(*t.reverses) : "NULL"),
            "txn_id", id_text(t.id)};
}
RowSql row_sql(const Line& l)
{
    return {"ledger.journal_lines", "line_id, txn_id, account_code, customer_id, side, amount, currency",
            id_text(l.id) + ", " + (l.txn_id ? id_text(*l.txn_id) : "NULL") + ", " + quoted(l.account) + ", " +
                quoted(l.customer) + ", " + quoted(l.side) + ", " + number(l.amount) + ", " + quoted(l.currency),
            "line_id", id_text(l.id)};
}
RowSql row_sql(const Wallet& w)
{
    return {"ledger.wallets", "customer_id, account_code, currency, balance",
            quoted(w.customer) + ", " + quoted(w.account) + ", " + quoted(w.currency) + ", " + number(w.balance),
            "customer_id, account_code, currency",
            quoted(w.customer) + ", " + quoted(w.account) + ", " + quoted(w.currency)};
}
RowSql row_sql(const Total& t)
{
    return {"ledger.account_totals", "account_code, currency, debit_total, credit_total, net",
            quoted(t.account) + ", " + quoted(t.currency) + ", " + number(t.debit) + ", " + number(t.credit) + ", " +
                number(t.net),
            "account_code, currency", quoted(t.account) + ", " + quoted(t.currency)};
}
RowSql row_sql(const Snapshot& s)
{
    return {"ledger.balance_snapshots", "snapshot_id, account_code, customer_id, currency, as_of, balance",
            id_text(s.id) + ", " + quoted(s.account) + ", " + quoted(s.customer) + ", " + quoted(s.currency) + ", " +
                timestamp(s.as_of) + ", " + number(s.balance),
            "snapshot_id", id_text(s.id)};
}
RowSql row_sql(const Flow& f)
{
    return {"ledger.pending_flows", "flow_id, flow_type, customer_id, amount, currency, status, created_at",
            quoted(f.id) + ", " + quoted(f.type) + ", " + quoted(f.customer) + ", " + number(f.amount) + ", " +
                quoted(f.currency) + ", " + quoted(f.status) + ", " + timestamp(f.created_at),
            "flow_id", quoted(f.id)};
}

namespace {

template <typename Rows>
void insert(std::string& sql, const Rows& rows)
{
    if (rows.empty()) return;
    const RowSql head = row_sql(rows.front());
    sql += "INSERT INTO " + head.table + " (" + head.columns + ") VALUES ";
    bool first = true;
    for (const auto& item : rows) {
        if (!first) sql += ",";
        first = false;
        sql += "(" + row_sql(item).values + ")";
    }
    sql += ";\n";
}

}  // namespace

std::string ledger_sql(const Ledger& ledger)
{
    std::string sql;
    insert(sql, ledger.accounts);
    insert(sql, ledger.txns);
    insert(sql, ledger.lines);
    insert(sql, ledger.wallets);
    insert(sql, ledger.totals);
    insert(sql, ledger.snapshots);
    insert(sql, ledger.flows);
    return sql;
}

// ---------------------------------------------------------------------------------------------
// Comparing a check's result with the reference.

std::vector<std::string> actual_lines(const CheckResult& result)
{
    std::vector<std::string> lines;
    for (const auto& variance : result.variances) {
        lines.push_back(describe(result.check_name, variance.kind, variance.keys, variance.expected, variance.actual,
                                 variance.difference));
    }
    std::sort(lines.begin(), lines.end());
    return lines;
}

std::string difference_of(const std::vector<std::string>& expected, const std::vector<std::string>& actual)
{
    std::vector<std::string> missing;
    std::vector<std::string> extra;
    std::set_difference(expected.begin(), expected.end(), actual.begin(), actual.end(), std::back_inserter(missing));
    std::set_difference(actual.begin(), actual.end(), expected.begin(), expected.end(), std::back_inserter(extra));
    std::string text;
    for (std::size_t i = 0; i < missing.size() && i < 10; ++i) text += "\n    expected, not reported: " + missing[i];
    for (std::size_t i = 0; i < extra.size() && i < 10; ++i) text += "\n    reported, not expected: " + extra[i];
    return text;
}

std::vector<std::string> disagreements(const CheckResult& result, const Verdict& verdict, int cap)
{
    std::vector<std::string> problems;
    const auto found_lines = verdict.variances.find(result.check_name);
    const std::vector<std::string> want =
        found_lines == verdict.variances.end() ? std::vector<std::string>{} : found_lines->second;
    const auto got = actual_lines(result);
    const auto total = static_cast<std::int64_t>(want.size());
    CheckStatus want_status = total > 0 ? CheckStatus::fail : CheckStatus::ok;
    if (const auto found = verdict.statuses.find(result.check_name); found != verdict.statuses.end())
        want_status = found->second;
    if (result.status != want_status) {
        problems.push_back(result.check_name + ": status " + std::string(to_string(result.status)) + ", expected " +
                           std::string(to_string(want_status)) +
                           (result.metrics.contains("error") ? " (" + result.metrics["error"].dump() + ")" : ""));
    }
    if (result.variances_total != total) {
        problems.push_back(result.check_name + ": " + std::to_string(result.variances_total) +
                           " variances in total, expected " + std::to_string(total));
    }
    if (cap >= total) {
        if (got != want) problems.push_back(result.check_name + ": variances differ" + difference_of(want, got));
    } else {
        // Capped: exactly `cap` listed, each one of the expected.
        std::vector<std::string> unexpected;
        std::multiset<std::string> pool(want.begin(), want.end());
        for (const auto& line : got) {
            const auto found = pool.find(line);
            if (found == pool.end()) {
                unexpected.push_back(line);
            } else {
                pool.erase(found);
            }
        }
        if (static_cast<int>(got.size()) != cap || !unexpected.empty()) {
            problems.push_back(result.check_name + ": " + std::to_string(got.size()) + " listed under a cap of " +
                               std::to_string(cap) + difference_of({}, unexpected));
        }
    }
    return problems;
}

std::uint64_t env_number(const char* name, std::uint64_t fallback)
{
    const char* value = std::getenv(name);
    return value != nullptr && *value != '\0' ? std::stoull(value) : fallback;
}

}  // namespace reconcile::oracle
