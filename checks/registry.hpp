#pragma once

#include "lib/check_registry.hpp"

namespace reconcile {

/// Every check of reconcile, in one explicit list (checks/registry.cpp). All checks are
/// registered on every book; a check with no data on a book returns ok.
const CheckRegistry& default_registry();

}  // namespace reconcile
