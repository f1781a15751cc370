// libFuzzer target: the env-file parser and the settings built from it (lib/config.cpp).
// Properties: never crashes, fails only with reconcile::Error; what parses re-parses to the same
// map once written back; accepted settings keep their documented invariants.
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <string>
#include <string_view>

#include "lib/config.hpp"
#include "lib/errors.hpp"

using namespace reconcile;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    EnvMap env;
    try {
        env = parse_env_file(text, "fuzz.env");
    } catch (const Error& e) {
        if (e.code() != ExitCode::config) std::abort();
        return 0;
    }

    // Round trip: every value without a line break survives being written back quoted.
    std::string written;
    bool representable = true;
    for (const auto& [key, value] : env) {
        if (value.find_first_of("\n\r") != std::string::npos) representable = false;
        written += key + "=\"" + value + "\"\n";
    }
    if (representable && parse_env_file(written, "round-trip") != env) std::abort();

    // Secrets by path would make the fuzzer read arbitrary files (or /dev/zero forever).
    for (auto it = env.begin(); it != env.end();) {
        it = it->first.size() >= 5 && it->first.compare(it->first.size() - 5, 5, "_FILE") == 0 ? env.erase(it)
                                                                                               : std::next(it);
    }
    try {
        const Settings settings = load_settings(env);
        if (settings.books.empty()) std::abort();
        if (settings.pending_fail_hours < settings.pending_warn_hours) std::abort();
        if (settings.quantity_dust_tolerance < settings.quantity_match_tolerance) std::abort();
        if (settings.variance_cap < 1 || settings.statement_timeout_ms < 1) std::abort();
        for (const auto& book : settings.books) settings.require_book(book);
    } catch (const Error& e) {
        if (e.code() != ExitCode::config) std::abort();
    }
    return 0;
}
