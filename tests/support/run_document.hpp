#pragma once

// Reading a run document (`reconcile run --output json`) in tests.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace reconcile::test {

/// The check named `name` in a run document (throws when it has none).
const nlohmann::json& check_named(const nlohmann::json& run, const std::string& name);

/// Whether run_variance_lines shows a variance's amounts.
enum class WithAmounts { no, yes };

/// A run's listed variances as "check: kind key=value ...", plus " expected=E actual=A
/// difference=D" (those it has) with WithAmounts::yes; sorted.
std::vector<std::string> run_variance_lines(const nlohmann::json& run, WithAmounts amounts = WithAmounts::no);

}  // namespace reconcile::test
