#pragma once

// The "summary row + capped break rows" result most checks read: one statement returns a
// summary row (row_kind 'summary') and at most N listed rows of some kind, each carrying window
// totals of every break, listed or not. CappedRows reads it by column name, supplies the cap
// (how many rows the check may still list) and counts what the cap left unlisted, so a check
// only says which columns make its metrics and its variances.

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <pqxx/pqxx>

#include "lib/check.hpp"

namespace reconcile {

/// One variance key taken from a column: `name` in the variance, `column` in the row. An
/// `omit_null` key is left out when its column is null (an account-level row has no customer);
/// any other null key is "" (variance keys are always strings).
struct KeyColumn {
    const char* name;
    const char* column;
    bool omit_null = false;
};

/// One row of a result, read by column name (a missing column throws, so a renamed column
/// fails loudly instead of shifting every read).
class NamedRow {
public:
    explicit NamedRow(pqxx::row row) : m_row(std::move(row)) {}

    bool is_null(const char* column) const { return m_row[column].is_null(); }
    /// A non-null text column.
    std::string text(const char* column) const { return m_row[column].as<std::string>(); }
    /// A nullable column as an optional.
    std::optional<std::string> optional_text(const char* column) const
    {
        const auto field = m_row[column];
        if (field.is_null()) return std::nullopt;
        return field.as<std::string>();
    }
    /// A nullable column as text, "" for null (variance keys are always strings).
    std::string text_or_empty(const char* column) const
    {
        const auto field = m_row[column];
        return field.is_null() ? std::string{} : field.as<std::string>();
    }
    /// A non-null whole number (a count; NUMERIC sums of counts too).
    std::int64_t number(const char* column) const { return m_row[column].as<std::int64_t>(); }
    bool flag(const char* column) const { return m_row[column].as<bool>(); }
    /// A variance's keys, in the order given (the order is part of the variance's fingerprint).
    std::vector<std::pair<std::string, std::string>> keys(std::initializer_list<KeyColumn> columns) const
    {
        std::vector<std::pair<std::string, std::string>> keys;
        for (const KeyColumn& key : columns) {
            if (key.omit_null && is_null(key.column)) continue;
            keys.emplace_back(key.name, text_or_empty(key.column));
        }
        return keys;
    }

private:
    pqxx::row m_row;
};

/// A summary row and capped listings, told apart by the `row_kind` column.
class CappedRows {
public:
    /// Runs `sql` with `params` followed by the listing's LIMIT: how many more variances the
    /// check may list (the cap minus what it listed already).
    template <typename... Params>
    static CappedRows listing(CheckContext& context, const std::string& sql, Params&&... params)
    {
        // At least one row even when the cap is full: a listed row's window totals are the only
        // count of the breaks (found by the oracle test, ORACLE_SEED=55); the collector lists
        // none past the cap and counts it.
        const auto limit = std::max<std::int64_t>(static_cast<std::int64_t>(context.variances().remaining()), 1);
        return CappedRows(context.ledger().exec_params(sql, std::forward<Params>(params)..., limit));
    }

    /// Runs `sql` with `params` followed by the whole cap (RECON_VARIANCE_CAP): for results
    /// computed once and shared by several checks, each of which lists from its own collector.
    template <typename... Params>
    static CappedRows shared_listing(CheckContext& context, const std::string& sql, Params&&... params)
    {
        const auto cap = static_cast<std::int64_t>(context.variances().cap());
        return CappedRows(context.ledger().exec_params(sql, std::forward<Params>(params)..., cap));
    }

    /// The first row of `kind`, std::nullopt when there is none.
    std::optional<NamedRow> first(std::string_view kind) const
    {
        for (const auto& row : m_result) {
            if (row["row_kind"].as<std::string>() == kind) return NamedRow(row);
        }
        return std::nullopt;
    }

    /// The one row of `kind` (the summary, which an aggregate always returns).
    NamedRow one(std::string_view kind = "summary") const
    {
        auto row = first(kind);
        if (!row) throw std::logic_error("the check's query returned no " + std::string(kind) + " row");
        return *row;
    }

    /// Calls `read(NamedRow)` for every row of `kind`, in the result's order.
    template <typename Read>
    void each(std::string_view kind, Read read) const
    {
        for (const auto& row : m_result) {
            if (row["row_kind"].as<std::string>() == kind) read(NamedRow(row));
        }
    }

    /// The true number of rows of `kind`: the sum of the window totals in `total_columns`, read
    /// from any listed row (every row carries the same totals); 0 when none was listed.
    std::int64_t total(std::string_view kind, std::initializer_list<const char*> total_columns) const
    {
        const auto row = first(kind);
        std::int64_t sum = 0;
        if (row) {
            for (const char* column : total_columns) sum += row->number(column);
        }
        return sum;
    }

    /// Adds one variance per row of `kind` (made by `make(NamedRow)`) to the check's
    /// collector, then counts as unlisted the breaks the cap kept out. Returns the true total.
    template <typename Make>
    std::int64_t list(CheckContext& context, std::string_view kind, std::initializer_list<const char*> total_columns,
                      Make make) const
    {
        std::int64_t listed = 0;
        each(kind, [&](const NamedRow& row) {
            context.variances().add(make(row));
            ++listed;
        });
        const std::int64_t all = total(kind, total_columns);
        context.variances().add_unlisted(all - listed);
        return all;
    }

private:
    explicit CappedRows(pqxx::result result) : m_result(std::move(result)) {}

    pqxx::result m_result;
};

}  // namespace reconcile
