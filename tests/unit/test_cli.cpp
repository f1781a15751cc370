// Exit-code mapping: every failure class lands on the documented code.
#include <doctest/doctest.h>

#include <set>

#include <pqxx/pqxx>

#include "checks/registry.hpp"
#include "lib/errors.hpp"

using namespace reconcile;

namespace {

template <typename Exception>
std::pair<ExitCode, std::string> classify(const Exception& exception, bool connected = true)
{
    try {
        throw exception;
    } catch (...) {
        return classify_current_exception(connected);
    }
}

}  // namespace

TEST_CASE("the exit-code table")
{
    CHECK(to_int(ExitCode::ok) == 0);
    CHECK(to_int(ExitCode::check_failed) == 1);
    CHECK(to_int(ExitCode::check_error) == 2);
    CHECK(to_int(ExitCode::lock_held) == 11);
    CHECK(to_int(ExitCode::usage) == 64);
    CHECK(to_int(ExitCode::unavailable) == 69);
    CHECK(to_int(ExitCode::internal) == 70);
    CHECK(to_int(ExitCode::io_error) == 74);
    CHECK(to_int(ExitCode::transient) == 75);
    CHECK(to_int(ExitCode::config) == 78);
}

TEST_CASE("exceptions map onto exit codes with one-line messages")
{
    CHECK(classify(Error(ExitCode::config, "bad")).first == ExitCode::config);
    CHECK(classify(pqxx::broken_connection("gone\nsecond line"), true) ==
          std::pair{ExitCode::transient, std::string("database connection lost: gone second line")});
    CHECK(classify(pqxx::broken_connection("refused"), false).first == ExitCode::unavailable);
    CHECK(classify(pqxx::sql_error("canceling statement", "SELECT 1", "57014")).first == ExitCode::transient);
    CHECK(classify(pqxx::sql_error("terminating connection", "", "57P01")).first == ExitCode::transient);
    CHECK(classify(pqxx::sql_error("syntax", "SELEC", "42601")).first == ExitCode::internal);
    CHECK(classify(std::runtime_error("boom")).first == ExitCode::internal);
    // A NUL that came with a request or an argument is shown, not an end to the message.
    CHECK(classify(Error(ExitCode::usage, std::string("no transaction with txn_id '") + '\0' + "x' in book uae")) ==
          std::pair{ExitCode::usage, std::string("no transaction with txn_id '\\x00x' in book uae")});
}

TEST_CASE("a missing privilege (SQLSTATE 42501) is a configuration error naming it, not an internal one")
{
    CHECK(classify(pqxx::insufficient_privilege("ERROR:  permission denied for table runs\n", "INSERT", "42501")) ==
          std::pair{ExitCode::config,
                    std::string("the database role lacks a privilege (SQLSTATE 42501): permission denied for table "
                                "runs; grant it (docs/deployment.md) and run again")});
    CHECK(classify(pqxx::sql_error("ERROR:  permission denied for schema recon", "", "42501")).first ==
          ExitCode::config);
}

TEST_CASE("categories parse case-insensitively; anything else is a usage error")
{
    CHECK(parse_category("c") == Category::C);
    CHECK(parse_category("A") == Category::A);
    for (const char* bad : {"E", "", "AB", "1"}) {
        try {
            parse_category(bad);
            FAIL("expected a usage error");
        } catch (const Error& e) {
            CHECK(e.code() == ExitCode::usage);
        }
    }
}

TEST_CASE("the registry lists each check once, and the categories split it without overlap")
{
    const auto& registry = default_registry();
    REQUIRE_FALSE(registry.all().empty());
    std::set<std::string_view> names;
    for (const auto& check : registry.all()) names.insert(check->name());
    CHECK(names.size() == registry.all().size());
    std::size_t selected = 0;
    for (const Category category : all_categories) {
        for (const Check* check : registry.select(category, {})) {
            CHECK(check->category() == category);
            ++selected;
        }
    }
    CHECK(selected == registry.all().size());
}
