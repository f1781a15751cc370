#include "lib/http_params.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>

namespace reconcile {

std::optional<std::string> single_param(const QueryParams& params, const std::string& name)
{
    const auto [first, last] = params.equal_range(name);
    if (first == last) return std::nullopt;
    if (std::next(first) != last) {
        throw HttpError(400, fmt::format("query parameter '{}' is given more than once", name));
    }
    return first->second;
}

void require_known_params(const QueryParams& params, std::set<std::string> known)
{
    for (const auto& [name, value] : params) {
        if (known.count(name) == 0) {
            throw HttpError(400, fmt::format("unknown query parameter '{}' (known: {})", name, fmt::join(known, ", ")));
        }
    }
}

std::string validated_book(const std::string& book, const Settings& settings)
{
    if (std::find(settings.books.begin(), settings.books.end(), book) == settings.books.end()) {
        throw HttpError(400,
                        fmt::format("unknown book '{}' (RECON_BOOKS is {})", book, fmt::join(settings.books, ",")));
    }
    return book;
}

std::int64_t parse_positive(const std::string& text, const std::string& what)
{
    std::int64_t value = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || ptr != text.data() + text.size() || text.empty() || value <= 0) {
        throw HttpError(400, fmt::format("{} must be a positive whole number, got '{}'", what, text));
    }
    return value;
}

}  // namespace reconcile
