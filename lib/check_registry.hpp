#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lib/check.hpp"

namespace reconcile {

/// A set of checks in run order. The engine works on any registry; the product's own list is
/// checks/registry.cpp (default_registry()), so lib/ never names a check.
class CheckRegistry {
public:
    explicit CheckRegistry(std::vector<std::unique_ptr<Check>> checks);
    /// In registration order (which is also run order).
    const std::vector<std::unique_ptr<Check>>& all() const { return m_checks; }
    /// nullptr when no check has that name.
    const Check* find(std::string_view name) const;
    /// The checks of one run: all of `category`, or exactly `names` (which must exist and belong
    /// to `category`; otherwise Error(usage)).
    std::vector<const Check*> select(Category category, const std::vector<std::string>& names) const;

private:
    std::vector<std::unique_ptr<Check>> m_checks;
};

/// Parses "A".."D" (case-insensitive); Error(usage) otherwise.
Category parse_category(std::string_view text);

}  // namespace reconcile
