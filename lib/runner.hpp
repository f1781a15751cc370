#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "lib/check_registry.hpp"
#include "lib/config.hpp"
#include "lib/db.hpp"
#include "lib/errors.hpp"
#include "lib/interrupt.hpp"
#include "lib/lifecycle.hpp"
#include "lib/results.hpp"
#include "lib/snapshot.hpp"

namespace reconcile {

/// What to run: one category of one book, optionally narrowed to some checks.
struct RunRequest {
    std::string book;
    Category category = Category::A;
    std::vector<std::string> check_names;  ///< empty: every check of the category
    Trigger trigger = Trigger::manual;
    /// Category C only: fetch and compare only the customers of this shard (lib/shard.hpp),
    /// under the shard's own lock.
    std::optional<Shard> shard;
    /// Called once the `running` row is committed (serve answers 202 with this id).
    std::function<void(std::int64_t run_id)> on_started;
    /// SIGTERM/SIGINT handling (`reconcile run`): a signal ends the run `interrupted`, with no
    /// results, its lock released, throwing Error(130 or 143). Null: signals are not taken here.
    RunInterruption* interruption = nullptr;
    /// Bounds of the run's sessions (serve: a connect timeout, so a database that does not
    /// answer fails the run instead of holding its thread). Only that: checks have their own
    /// statement timeout (RECON_STATEMENT_TIMEOUT_MS), and a long run rides out a network blip.
    SessionLimits session_limits;
    /// Categories A and B: prove from scratch (`run --full`) instead of extending the stored
    /// proof (docs/decisions/incremental-proof.md).
    bool force_full_proof = false;
};

/// How a run ended: skipped because the lock was held (nothing written), or a report.
struct RunOutcome {
    bool lock_held = false;
    /// When lock_held: the `running` row of the run holding the lock, when it could be read.
    std::optional<RunReport> lock_holder;
    RunReport report;
    RunChanges changes;  ///< what the run changed in the variance lifecycle (lib/lifecycle.hpp)
};

/// One run end to end: connect, verify the book, take the advisory lock (or return
/// lock_held), mark dead `running` rows abandoned, commit our own `running` row, run the
/// checks, write every result (and the variance lifecycle) in one transaction, then send the
/// webhook alerts within their deadline (lib/alerts.hpp). Failures throw Error/pqxx exceptions; the
/// run row is then finished as `error` when the database still answers, else left `running`
/// for the next run to mark abandoned.
RunOutcome execute_run(const Settings& settings, const CheckRegistry& registry, const RunRequest& request);

/// The same for several categories of one book in one REPEATABLE READ snapshot (`run
/// --category A,B`; request.category is not read): each is a run of its own, with its lock
/// (skipped alone when held: lock_held in its outcome), its row, report and alerts, and their
/// results are written in one transaction. A and B share one proof (one guard and one
/// extension of the stored proof instead of two; docs/decisions/one-snapshot-runs.md). C runs
/// alone, and `--check` names the checks of one category: Error(usage) otherwise. Outcomes in
/// the order of `categories`.
std::vector<RunOutcome> execute_runs(const Settings& settings, const CheckRegistry& registry, const RunRequest& request,
                                     const std::vector<Category>& categories);

/// Refuses (Error(usage), one line) what execute_runs cannot run in one snapshot: no category,
/// one named twice, C with others, --check with several, a shard on any category but C.
void require_one_snapshot(const std::vector<Category>& categories, const RunRequest& request);

/// Runs checks against the ledger on `read`: A/B/D share one REPEATABLE READ READ ONLY
/// snapshot; C checks each open a short one after their broker fetches (only the customers of
/// `shard` when given). A check that throws ends `error` and the others still run; a lost
/// connection aborts the whole run. Once `interruption` has a signal no further check starts.
/// With `broker_health`, category C also says what it saw of each broker it asked.
std::vector<CheckResult> run_checks(const Settings& settings, const std::string& book, Category category,
                                    const std::vector<const Check*>& checks, Session& read, Timestamp as_of,
                                    const std::optional<Shard>& shard = std::nullopt,
                                    const RunInterruption* interruption = nullptr,
                                    std::vector<BrokerHealth>* broker_health = nullptr);

/// The same in a snapshot the caller owns (and closes): execute_run keeps it open until the
/// proof of categories A and B it holds is stored with the results.
std::vector<CheckResult> run_checks(const Settings& settings, const std::string& book, Category category,
                                    const std::vector<const Check*>& checks, LedgerSnapshot& snapshot, Timestamp as_of,
                                    const std::optional<Shard>& shard, const RunInterruption* interruption,
                                    std::vector<BrokerHealth>* broker_health);

/// The setup SQL of `checks` (Check::snapshot_setup_sql), each text once, in check order.
std::vector<std::string> snapshot_setup_of(const std::vector<const Check*>& checks);

/// Whether runs of `category` prove the ledger through the stored proof (A and B: `--full`, the
/// proof summary of their reports).
bool keeps_stored_proof(Category category);

/// Refuses (Error(usage), one line) a shard on any category but C: only broker fan-out is split.
void require_shardable(Category category, const std::optional<Shard>& shard);

/// Why a run was skipped for a held lock, naming the run that holds it when known:
/// "another run of uae/A holds the lock: run 41 (manual, started 2026-...Z); nothing written".
std::string lock_held_message(const RunOutcome& outcome, const std::string& label);

/// One line for stderr on how a finished run ended and why its exit code is not 0 ("2 check(s)
/// failed", "every broker it asked was unreachable"); --quiet never hides it.
std::string run_exit_reason(const RunReport& report, ExitCode code);

/// The process exit code of a finished run (README "Exit codes"): 1 on any fail, else 2 on any
/// error, except 69 when every broker the run asked was unreachable as a whole.
ExitCode exit_code_for(const RunReport& report, bool fail_on_warn);

}  // namespace reconcile
