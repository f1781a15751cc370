#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <doctest/doctest.h>

#include "checks/registry.hpp"
#include "lib/config.hpp"
#include "lib/results.hpp"
#include "tests/support/cli.hpp"
#include "tests/support/test_db.hpp"

namespace reconcile::test {

/// A migrated book database on the throwaway cluster, for one test binary.
class BookDb {
public:
    /// Creates and migrates a fresh database that books for `book`.
    explicit BookDb(std::string book, bool engine_only = false);

    const std::string& book() const { return m_book; }
    const std::string& url() const { return m_db.url(); }

    /// Runs fixture SQL (several statements allowed).
    void exec(const std::string& sql) const;
    /// Runs a SQL file through psql, as the scripts do (`variables` as "name=value", stopping at
    /// the first error, which fails the test); returns what it prints, unaligned and tuples only.
    std::string psql_file(const std::filesystem::path& file, const std::vector<std::string>& variables = {}) const;
    /// One value of a query, as text ("" for null).
    std::string query_value(const std::string& sql) const;
    /// Empties every ledger table (keeps the book identity) and the run history.
    void reset() const;
    /// Settings naming this database for this book, plus `extra` KEY=VALUE overrides.
    Settings settings(const EnvMap& extra = {}) const;
    /// Runs one check by name through the real runner path (snapshot, savepoint, timeout).
    CheckResult run_check(std::string_view check_name, const EnvMap& extra = {}) const;
    /// True once `seconds` have passed since the newest run of the book started: a cadence of
    /// that many seconds (measured from starts) has then passed for every category.
    bool interval_passed(int seconds) const;

private:
    std::string m_book;
    TestDatabase m_db;
};

/// Options for the real binary against a uae and an india book: RECON_BOOKS, both database
/// URLs, no config file and no webhook from the test's own environment, then `extra`.
ProcessOptions books_env(const BookDb& uae, const BookDb& india, const std::map<std::string, std::string>& extra = {});

/// A small ledger in which every check passes: two customers' deposits, a fee, a buy booked at
/// cost, matching stored wallets, account totals and snapshots, and one fresh pending flow.
extern const char* const clean_ledger_sql;

/// Three B breaks on top of clean_ledger_sql, one per B check: C001's stored wallet (40.00
/// instead of 48.50), FEE_INCOME's stored net total, and C001's balance snapshot.
extern const char* const three_b_breaks_sql;

/// The binary's one database for `book`, reset to clean_ledger_sql (created on first use).
BookDb& clean_book(const std::string& book);

/// The variances of a result as "kind key=value key=value" lines (keys sorted), for exact
/// assertions on which rows broke a check.
std::vector<std::string> variance_lines(const CheckResult& result);

}  // namespace reconcile::test

/// Lets doctest print variance lines when an assertion on them fails.
template <>
struct doctest::StringMaker<std::vector<std::string>> {
    static doctest::String convert(const std::vector<std::string>& lines)
    {
        std::string text = "{";
        for (const auto& line : lines) text += "\n  \"" + line + "\"";
        text += "}";
        return text.c_str();
    }
};
