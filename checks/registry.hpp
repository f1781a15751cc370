#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "checks/check.hpp"

namespace reconcile {

/// Every check of reconcile, in one explicit list (checks/registry.cpp). All checks are
/// registered on every book; a check with no data on a book returns ok.
class CheckRegistry {
public:
    CheckRegistry();
    /// In registration order (which is also run order).
    const std::vector<std::unique_ptr<Check>>& all() const { return m_checks; }
    /// std::nullopt-like: nullptr when no check has that name.
    const Check* find(std::string_view name) const;
    /// The checks of one run: all of `category`, or exactly `names` (which must exist and belong
    /// to `category`; otherwise Error(usage)).
    std::vector<const Check*> select(char category, const std::vector<std::string>& names) const;

private:
    std::vector<std::unique_ptr<Check>> m_checks;
};

/// The process-wide registry.
const CheckRegistry& default_registry();

/// Parses "A".."D" (case-insensitive); Error(usage) otherwise.
char parse_category(std::string_view text);

}  // namespace reconcile
