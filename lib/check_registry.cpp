#include "lib/check_registry.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "lib/errors.hpp"

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

std::vector<const Check*> CheckRegistry::select(char category, const std::vector<std::string>& names) const
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
            throw Error(ExitCode::usage, fmt::format("unknown check '{}' (see `reconcile checks`)", name));
        }
        if (check->category() != category) {
            throw Error(ExitCode::usage,
                        fmt::format("check '{}' is in category {}, not {}", name, check->category(), category));
        }
        if (std::find(selected.begin(), selected.end(), check) == selected.end()) selected.push_back(check);
    }
    return selected;
}

char parse_category(std::string_view text)
{
    if (text.size() == 1) {
        const char upper = static_cast<char>(std::toupper(static_cast<unsigned char>(text.front())));
        if (upper >= 'A' && upper <= 'D') return upper;
    }
    throw Error(ExitCode::usage, fmt::format("unknown category '{}': expected A, B, C or D", text));
}

}  // namespace reconcile
