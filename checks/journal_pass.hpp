#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lib/check.hpp"

namespace reconcile {

/// The journal grouped once per transaction, in one statement, shared through the snapshot by
/// trial_balance_zero, journal_line_completeness and dr_cr_sign_convention: grouping millions
/// of lines by transaction costs Postgres several scans' worth, so it is done once per run.
/// Lists hold at most the variance cap each; the totals are exact.
struct JournalPass {
    /// Σ debits / credits over the booked lines of one currency ("" for lines without one).
    struct CurrencyTotal {
        std::string currency;
        std::string debits;
        std::string credits;
        std::string difference;
        std::int64_t lines = 0;
        std::int64_t groups = 0;  ///< (transaction, currency) groups
    };
    /// A booked transaction that does not balance in one currency.
    struct Unbalanced {
        std::string txn_id;
        std::string currency;
        std::string debits;
        std::string credits;
        std::string difference;
    };
    /// A booked transaction with fewer than two lines, or no debit, or no credit.
    struct Misshapen {
        std::string txn_id;
        std::int64_t lines = 0;
        std::int64_t debit_lines = 0;
        std::int64_t credit_lines = 0;
    };

    std::vector<CurrencyTotal> currencies;
    std::vector<Unbalanced> unbalanced;  ///< largest imbalance first
    std::int64_t unbalanced_total = 0;
    std::vector<Misshapen> misshapen;  ///< by txn_id
    std::int64_t misshapen_total = 0;
    std::int64_t booked_transactions = 0;
    std::int64_t lines = 0;          ///< every line of the journal
    std::int64_t suspect_lines = 0;  ///< orphaned or breaking a per-line rule: LineDefects has them
};

/// The grouping of the journal per transaction the journal pass lists from, as CTEs
/// (`per_txn_lines`, then `per_txn` with `booked`, `orphaned`, `split`, `lines`, `debit_lines`,
/// `credit_lines`, `currency`, `defective` and `signed`, its debits minus its credits), not
/// materialized: what the full proof (checks/proof.cpp) classifies. `line_columns` and
/// `txn_columns` add columns of the caller's (each starting with a comma) to `per_txn_lines` and
/// `per_txn`.
std::string per_transaction_signed_ctes(const std::string& line_columns, const std::string& txn_columns);

/// The run's journal pass (computed on first use, then shared).
const JournalPass& journal_pass(CheckContext& context);

/// Lines that break a per-line rule, read only when the journal pass counted suspect lines, so
/// a healthy journal is scanned once.
struct LineDefects {
    /// One line and every rule it breaks.
    struct Line {
        std::string line_id;
        std::optional<std::string> txn_id;
        std::optional<std::string> account;
        std::optional<std::string> side;
        std::optional<std::string> amount;
        bool orphan = false;           ///< no transaction (or no txn_id)
        bool unknown_account = false;  ///< account missing from the chart
        bool no_amount = false;
        bool no_currency = false;
        bool no_account = false;
        bool invalid_side = false;         ///< side neither DR nor CR
        bool non_positive_amount = false;  ///< amount <= 0
    };
    std::vector<Line> completeness;  ///< orphan / unknown account / incomplete lines, by line_id
    std::vector<Line> sign;          ///< invalid side / non-positive amount lines, by line_id
    std::int64_t orphans = 0;
    std::int64_t unknown_accounts = 0;
    std::int64_t incomplete = 0;
    std::int64_t invalid_sides = 0;
    std::int64_t non_positive_amounts = 0;
};

/// The run's line defects (empty without a query when the journal pass found no suspect line).
const LineDefects& line_defects(CheckContext& context);

}  // namespace reconcile
