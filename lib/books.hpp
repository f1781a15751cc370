#pragma once

// What differs between books, as data: one row per book with its own rules, and the row every
// other book follows. Code asks book_rules(book) instead of comparing book names.

#include <cstdint>
#include <string_view>

#include "lib/config.hpp"

namespace reconcile {

/// The rules one book follows.
struct BookRules {
    std::string_view book;  ///< empty in the row every unlisted book follows
    /// The switch that turns scheduled runs (tick, serve, run --if-due) of the book on, and the
    /// cadence of its internal categories (A, B, D), by setting name and Settings field.
    std::string_view schedule_switch;
    bool Settings::*schedule_enabled;
    std::string_view interval_setting;
    std::int64_t Settings::*interval_seconds;
};

/// The rules of `book` (DESIGN §5): india has its own switch (off by default) and cadence;
/// every other book follows RECON_SCHEDULE_ENABLED and RECON_INTERVAL_SECONDS.
const BookRules& book_rules(std::string_view book);

}  // namespace reconcile
