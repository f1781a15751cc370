#pragma once

#include <optional>
#include <string>
#include <vector>

namespace reconcile {

/// A parameter that may be SQL NULL: libpqxx 6.4 sends a null pointer as NULL.
inline const char* nullable(const std::optional<std::string>& value)
{
    return value ? value->c_str() : nullptr;
}

/// A PostgreSQL array literal of text elements ({"a","b\"c"}), sent as a parameter ($1::text[]),
/// never spliced into SQL. Elements go through byte for byte: ledger text need not be UTF-8
/// (a SQL_ASCII database), which a JSON document of the same ids could not carry.
std::string text_array_literal(const std::vector<std::string>& items);

/// The elements of a one-dimensional PostgreSQL text array as the server prints it
/// (array_agg(...)::text), null elements as std::nullopt. Ledger text read this way keeps its
/// bytes, where json_agg's text would have to be valid UTF-8 to be parsed.
std::vector<std::optional<std::string>> text_array_elements(const std::string& literal);

}  // namespace reconcile
