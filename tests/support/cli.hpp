#pragma once

// Helpers shared by the tests that drive the real binary (e2e, faults): run it, make a run slow
// enough to act on mid-way, and poll for a condition without fixed sleeps.

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "tests/support/process.hpp"

namespace reconcile::test {

/// Runs the reconcile binary with `args` to completion.
ProcessResult reconcile_cli(std::vector<std::string> args, const ProcessOptions& options);

/// SQL replacing contract.journal_lines by a view that takes `seconds` to read: keeps a run busy
/// inside its checks while a test acts on it.
std::string slow_journal_view(int seconds);

/// SQL restoring the bundled contract.journal_lines view.
extern const char* const normal_journal_view;

/// SQL redefining `view` (whose definition, pg_get_viewdef, is `definition`) as its rows followed
/// by `rest` (a join or a WHERE on them, alias `s`); `"CREATE OR REPLACE VIEW " + view + " AS " +
/// definition` restores it.
std::string view_over(const std::string& view, const std::string& definition, const std::string& rest);

/// view_over where every read of the view first sleeps `seconds` (an SQL expression).
std::string slowed_view(const std::string& view, const std::string& definition, const std::string& seconds);

/// A sleep of `seconds` for the full proof's second session only, none elsewhere: it alone runs
/// with parallel workers off (checks/proof.cpp, WorkBeside). For slowed_view.
std::string in_twin_only(int seconds);

/// A WHERE for view_over that divides by zero in the full proof's second session only (the
/// divisor is not a constant, so the planner cannot fold it).
std::string failing_in_twin_only();

/// failing_in_twin_only, except where `condition` (an SQL expression) holds.
std::string failing_in_twin_unless(const std::string& condition);

/// Polls `condition` every 50 ms until it holds (true) or `timeout` passes (its last value).
bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

}  // namespace reconcile::test
