#include "lib/books.hpp"

#include <array>

namespace reconcile {
namespace {

constexpr BookRules other_books{.book = "",
                                .schedule_switch = "RECON_SCHEDULE_ENABLED",
                                .schedule_enabled = &Settings::schedule_enabled,
                                .interval_setting = "RECON_INTERVAL_SECONDS",
                                .interval_seconds = &Settings::interval_seconds};

/// The books with rules of their own.
constexpr std::array listed_books{
    BookRules{.book = "india",
              .schedule_switch = "INDIA_RECON_ENABLED",
              .schedule_enabled = &Settings::india_enabled,
              .interval_setting = "INDIA_RECON_INTERVAL_SECONDS",
              .interval_seconds = &Settings::india_interval_seconds},
};

}  // namespace

const BookRules& book_rules(std::string_view book)
{
    for (const auto& rules : listed_books) {
        if (rules.book == book) return rules;
    }
    return other_books;
}

}  // namespace reconcile
