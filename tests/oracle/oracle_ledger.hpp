#pragma once

// The ledger model the oracle tests (label oracle) share: exact decimals as PostgreSQL's numeric
// computes them, a ledger as plain rows, a seeded generator of random ledgers and of the breaks
// the checks exist to catch, a reference written plainly (no SQL, no code of the checks) of what
// categories A, B and D must report, and the SQL that loads a ledger. test_oracle.cpp proves the
// checks against the reference one ledger at a time; test_incremental_oracle.cpp proves
// incremental runs over sequences of changes to one ledger.

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "lib/results.hpp"

namespace reconcile::oracle {

__extension__ typedef __int128 Int;  // exact up to 10^38: sums of 2,000 amounts of 10^26 units
template <typename T>
using Opt = std::optional<T>;

// ---------------------------------------------------------------------------------------------
// Exact decimals as PostgreSQL's numeric behaves for + and -: the result's scale is the larger
// of the operands' scales; the text has exactly `scale` digits after the point.

struct Num {
    Int units = 0;  // value * 10^scale
    int scale = 0;
};

Int pow10(int n);
Num rescale(Num a, int scale);
Num add(Num a, Num b);
Num neg(Num a);
Num sub(Num a, Num b);
int compare(Num a, Num b);
std::string text(Num a);

// ---------------------------------------------------------------------------------------------
// The ledger, as plain rows (std::nullopt is SQL NULL).

struct Account {
    std::string code;
    std::string normal_side;
    bool allow_wrong_side = true;
    bool is_wallet = false;
};

struct Txn {
    std::int64_t id = 0;
    std::string source;
    std::string source_txn_id;
    Opt<std::string> customer;
    std::string type;
    std::string status;
    std::int64_t effective_at = 0;  // Unix seconds
    Opt<std::int64_t> reverses;
};

struct Line {
    std::int64_t id = 0;
    Opt<std::int64_t> txn_id;
    Opt<std::string> account;
    Opt<std::string> customer;
    Opt<std::string> side;
    Opt<Num> amount;
    Opt<std::string> currency;
};

struct Wallet {
    std::string customer;
    std::string account;
    std::string currency;
    Num balance;
};

struct Total {
    std::string account;
    std::string currency;
    Num debit;
    Num credit;
    Num net;
};

struct Snapshot {
    std::int64_t id = 0;
    std::string account;
    Opt<std::string> customer;
    std::string currency;
    std::int64_t as_of = 0;
    Num balance;
};

struct Flow {
    std::string id;
    std::string type;
    Opt<std::string> customer;
    Num amount;
    std::string currency;
    std::string status;
    std::int64_t created_at = 0;
};

struct Ledger {
    std::vector<Account> accounts;
    std::vector<Txn> txns;
    std::vector<Line> lines;
    std::vector<Wallet> wallets;
    std::vector<Total> totals;
    std::vector<Snapshot> snapshots;
    std::vector<Flow> flows;
    // The run's settings.
    std::int64_t as_of = 0;
    int window_days = 7;
    int warn_hours = 24;
    int fail_hours = 72;
    int cap = 100000;
};

// ---------------------------------------------------------------------------------------------
// The generator.

constexpr std::int64_t day = 86400;
constexpr std::int64_t base_time = 1767225600;  // 2026-01-01T00:00:00Z

/// A journal's booked balance of one account (one customer's sub-ledger when `customer` is set)
/// in one currency as of `as_of`, written out by hand from the lines (not by the reference).
Num booked_balance(const Ledger& ledger, const std::string& account, const Opt<std::string>& customer,
                   const std::string& currency, std::int64_t as_of);

/// The stored wallets and account totals a journal implies, written out by hand likewise.
struct StoredBalances {
    std::map<std::tuple<std::string, std::string, std::string>, Num> wallets;  ///< customer, account, currency
    std::map<std::pair<std::string, std::string>, Total> totals;               ///< account, currency
};
StoredBalances stored_balances(const Ledger& ledger);

class Generator {
public:
    explicit Generator(std::uint64_t seed) : m_random(seed) {}

    /// A random ledger with random breaks and the run's settings.
    Ledger make();

protected:
    std::int64_t pick(std::int64_t low, std::int64_t high)
    {
        return std::uniform_int_distribution<std::int64_t>(low, high)(m_random);
    }
    bool chance(int percent) { return pick(1, 100) <= percent; }
    template <typename T>
    const T& one_of(const std::vector<T>& items)
    {
        return items.at(static_cast<std::size_t>(pick(0, static_cast<std::int64_t>(items.size()) - 1)));
    }

    // A positive amount: usually modest, sometimes up to 10^18, scale 0 to 8.
    Num amount();
    // The same value written with more zeros after the point (a stored copy need not match scale).
    Num padded(Num value) { return rescale(value, value.scale + static_cast<int>(pick(0, 2))); }
    std::string wallet_account() { return chance(70) ? "CUSTOMER_WALLET" : "WALLET_ÜBER_客户"; }
    std::size_t any_line(const Ledger& ledger)
    {
        return static_cast<std::size_t>(pick(0, static_cast<std::int64_t>(ledger.lines.size()) - 1));
    }
    std::size_t any_txn(const Ledger& ledger)
    {
        return static_cast<std::size_t>(pick(0, static_cast<std::int64_t>(ledger.txns.size()) - 1));
    }

    void make_chart(Ledger& ledger);
    Txn& add_txn(Ledger& ledger, const std::string& type, const Opt<std::string>& customer, const std::string& status,
                 std::int64_t at);
    void add_line(Ledger& ledger, std::int64_t txn_id, const std::string& account, const Opt<std::string>& customer,
                  const std::string& side, Num value, const std::string& currency);
    void make_journal(Ledger& ledger);
    /// One customer's deposit (sometimes reversed), fee or buy at `at`, within the balance booked
    /// so far by this generator, so the journal it makes is clean.
    void append_transaction(Ledger& ledger, std::int64_t at);
    void mutate_journal(Ledger& ledger, int count);
    void derive_stored(Ledger& ledger);
    void mutate_stored(Ledger& ledger, int count);
    void make_flows(Ledger& ledger);

    std::mt19937_64 m_random;
    std::vector<std::string> m_currencies;
    std::vector<std::string> m_customers;
    std::int64_t m_next_txn = 1;
    std::int64_t m_next_line = 1;
    std::int64_t m_next_snapshot = 1;
    // Booked wallet balances (customer, account, currency), so withdrawals and fees keep the
    // generated journal clean.
    std::map<std::tuple<std::string, std::string, std::string>, Num> m_balances;
};

// ---------------------------------------------------------------------------------------------
// The reference.

/// A variance as one comparable line: "check kind key=value ... expected=E actual=A difference=D"
/// (keys sorted by name, "null" for an absent figure).
std::string describe(const std::string& check, const std::string& kind,
                     std::vector<std::pair<std::string, std::string>> keys, const Opt<std::string>& expected,
                     const Opt<std::string>& actual, const Opt<std::string>& difference);
/// Booked: posted or reversed.
bool booked(const std::string& status);
std::string id_text(std::int64_t id);

/// What the checks must report for a ledger: each check's variances (sorted describe() lines;
/// a check without any is absent) and the statuses that are not simply "fail when any".
struct Verdict {
    std::map<std::string, std::vector<std::string>> variances;
    std::map<std::string, CheckStatus> statuses;
};
Verdict reference_verdict(const Ledger& ledger);

// ---------------------------------------------------------------------------------------------
// SQL literals of the model's values (test fixtures only), and a whole ledger as INSERTs.

std::string quoted(const std::string& value);
std::string quoted(const Opt<std::string>& value);
std::string number(const Num& value);
std::string number(const Opt<Num>& value);
std::string timestamp(std::int64_t seconds);

/// One row as SQL: its table, columns and values ("v1, v2, ..." in column order), and its primary
/// key's columns and values likewise.
struct RowSql {
    std::string table;
    std::string columns;
    std::string values;
    std::string key_columns;
    std::string key_values;
};
RowSql row_sql(const Account& row);
RowSql row_sql(const Txn& row);
RowSql row_sql(const Line& row);
RowSql row_sql(const Wallet& row);
RowSql row_sql(const Total& row);
RowSql row_sql(const Snapshot& row);
RowSql row_sql(const Flow& row);

/// The whole ledger as INSERT statements.
std::string ledger_sql(const Ledger& ledger);

// ---------------------------------------------------------------------------------------------
// Comparing a check's result with the reference.

/// A result's listed variances as sorted describe() lines.
std::vector<std::string> actual_lines(const CheckResult& result);
/// What is missing from and extra in `actual` (both sorted), ten of each at most, one per line.
std::string difference_of(const std::vector<std::string>& expected, const std::vector<std::string>& actual);
/// How a check's result departs from the verdict: its status, its total and its listed variances
/// (under a cap of `cap`, exactly `cap` of the expected ones); empty when they agree.
std::vector<std::string> disagreements(const CheckResult& result, const Verdict& verdict, int cap);

/// A numeric knob from the environment (ORACLE_SEED, ORACLE_CASES), else `fallback`.
std::uint64_t env_number(const char* name, std::uint64_t fallback);

}  // namespace reconcile::oracle
