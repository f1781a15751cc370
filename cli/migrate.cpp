#include <fmt/format.h>
#include <fmt/ranges.h>

#include <iostream>

#include "cli/commands.hpp"
#include "lib/config.hpp"
#include "lib/db.hpp"
#include "lib/migrate.hpp"

namespace reconcile {

CLI::App* setup_migrate(CLI::App& app, MigrateOptions& options)
{
    auto* command = app.add_subcommand("migrate", "Apply the schema (idempotent) to one or every book");
    command->add_option("-b,--book", options.books, "Book to migrate (repeatable; default: every book)");
    command->add_flag("--engine-only", options.engine_only,
                      "Only the engine's tables: the ledger contract views are your own");
    return command;
}

int migrate_command(const MigrateOptions& options, const GlobalOptions& global)
{
    const Settings settings = load_settings_from(global.config_path);
    const auto books = options.books.empty() ? settings.books : options.books;
    for (const auto& book : books) settings.require_book(book);
    const BookDatabases databases(settings);
    for (const auto& book : books) {
        // Unverified: migrating is what makes a database pass verify_book.
        const auto result = databases.with_session<MigrateResult>(
            book, [&](Session& session) { return apply_migrations(session, book, options.engine_only); },
            BookCheck::none);
        if (result.applied.empty()) {
            std::cout << fmt::format("book {}: schema up to date ({} migration(s) already applied)\n", book,
                                     result.already_applied);
        } else {
            std::cout << fmt::format("book {}: applied {}\n", book, fmt::join(result.applied, ", "));
        }
    }
    return 0;
}

}  // namespace reconcile
