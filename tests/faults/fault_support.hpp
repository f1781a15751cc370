#pragma once

// What every test of the fault suite shares: one uae book database, and the invariants every
// fault must leave: no `running` row without a live lock holder, no partial results, a free
// lock, and a next run that succeeds.

#include <chrono>
#include <map>
#include <string>

#include "lib/run_kinds.hpp"
#include "tests/support/process.hpp"

namespace reconcile::test {

/// One book database (on the suite's cluster, or on a private one) and how to reach it.
struct Target {
    std::string url;

    /// One value of a query, as text ("" for null).
    std::string value(const std::string& sql) const;
    /// Runs fixture SQL.
    void exec(const std::string& sql) const;
    /// The binary's environment for book uae on this database (alerts persisted, no webhook,
    /// no config file, no replica), plus `extra`.
    ProcessOptions env(std::map<std::string, std::string> extra = {}) const;
    /// True when nobody holds the run lock of uae/`category` (asked from a fresh session).
    bool lock_free(Category category = Category::A) const;
    /// `running` rows whose lock no live session holds (left by a dead process).
    int stale_running_rows() const;
    /// Results or variance rows of runs that did not finish (running, abandoned, aborted).
    int partial_results() const;
    /// Ends whatever the dead run's read session is still doing (a query never notices a dead
    /// client until it sends a row) and restores the journal view.
    void restore_view() const;
};

/// The invariants every fault must leave, checked right after it: the lock of uae/`category`
/// free, nothing partial, `expected_stale` rows a dead process left `running`; then the next
/// run of that category (with `env`, e.g. broker settings, on top of db.env()) succeeds (exit 0
/// or 1), marks those rows `abandoned`, and leaves everything clean.
void expect_recovered(const Target& db, int expected_stale, Category category = Category::A,
                      const std::map<std::string, std::string>& env = {});

/// The suite's uae book, reset to the clean ledger (created on first use).
Target& suite_book();

}  // namespace reconcile::test
