#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <pqxx/pqxx>

#include "lib/check.hpp"

namespace reconcile {

/// Statuses of transactions whose lines are booked (count toward balances). A reversed
/// transaction stays booked: its reversal is a separate posted transaction.
inline constexpr const char* booked_statuses_sql = "('posted', 'reversed')";

/// A nullable text column as an optional.
inline std::optional<std::string> optional_text(const pqxx::field& field)
{
    if (field.is_null()) return std::nullopt;
    return field.as<std::string>();
}

/// A nullable column as text, "" for null (for variance keys, which are always strings).
inline std::string text_or_empty(const pqxx::field& field)
{
    return field.is_null() ? std::string{} : field.as<std::string>();
}

/// How many rows a check's query may still list: the LIMIT parameter.
inline std::int64_t listing_limit(CheckContext& context)
{
    return static_cast<std::int64_t>(context.variances().remaining());
}

}  // namespace reconcile
