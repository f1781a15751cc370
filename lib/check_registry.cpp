#include "lib/check_registry.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "lib/errors.hpp"
#include "lib/utf8.hpp"

namespace reconcile {

CheckRegistry::CheckRegistry(std::vector<std::unique_ptr<Check>> checks) : m_checks(std::move(checks))
{
}

const Check* CheckRegistry::find(std::string_view name) const
{
    for (const auto& check : m_checks) {
        if (check->name() == name) return check.get();
    }
    return nullptr;
}

std::vector<const Check*> CheckRegistry::select(Category category, const std::vector<std::string>& names) const
{
    std::vector<const Check*> selected;
    if (names.empty()) {
        for (const auto& check : m_checks) {
            if (check->category() == category) selected.push_back(check.get());
        }
        return selected;
    }
    for (const auto& name : names) {
        const Check* check = find(name);
        if (check == nullptr) {
            // Shown escaped: a NUL would cut the message short, an escape sequence reach a terminal.
            throw Error(ExitCode::usage,
                        fmt::format("unknown check '{}' (see `reconcile checks`)", escape_controls(name)));
        }
        if (check->category() != category) {
            throw Error(ExitCode::usage,
                        fmt::format("check '{}' is in category {}, not {}", name, check->category(), category));
        }
        if (std::find(selected.begin(), selected.end(), check) == selected.end()) selected.push_back(check);
    }
    return selected;
}

Category parse_category(std::string_view text)
{
    if (const auto category = parse_category_text(text)) return *category;
    throw Error(ExitCode::usage, fmt::format("unknown category '{}': expected A, B, C or D", text));
}

}  // namespace reconcile
