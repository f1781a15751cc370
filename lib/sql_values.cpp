#include "lib/sql_values.hpp"

#include <tuple>

#include <pqxx/array>

namespace reconcile {

std::string text_array_literal(const std::vector<std::string>& items)
{
    std::string literal = "{";
    for (const auto& item : items) {
        if (literal.size() > 1) literal += ',';
        literal += '"';
        for (const char c : item) {
            if (c == '"' || c == '\\') literal += '\\';
            literal += c;
        }
        literal += '"';
    }
    return literal + "}";
}

std::vector<std::optional<std::string>> text_array_elements(const std::string& literal)
{
    // Byte-wise parsing is right for SQL_ASCII and for UTF-8 alike: every delimiter is ASCII and
    // no byte of a multi-byte UTF-8 sequence is.
    pqxx::array_parser parser(literal.c_str());
    std::vector<std::optional<std::string>> elements;
    for (auto [juncture, value] = parser.get_next(); juncture != pqxx::array_parser::done;
         std::tie(juncture, value) = parser.get_next()) {
        if (juncture == pqxx::array_parser::string_value) elements.emplace_back(std::move(value));
        if (juncture == pqxx::array_parser::null_value) elements.emplace_back(std::nullopt);
    }
    return elements;
}

}  // namespace reconcile
