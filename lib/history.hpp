#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lib/config.hpp"
#include "lib/db.hpp"
#include "lib/lifecycle.hpp"
#include "lib/results.hpp"

namespace reconcile {

/// A run row's status as everything reads it (SQL over recon.runs): `abandoned` for a `running`
/// row whose lock no session holds (its process died or was stopped), so nothing reports a
/// run as running that cannot be (issue 14 item 9); the stored status otherwise.
extern const char* const live_run_status_sql;

/// Filters for listing runs.
struct RunFilter {
    std::optional<Category> category;
    std::optional<RunStatus> status;
    std::optional<Timestamp> since;
    std::optional<std::int64_t> before_run_id;  ///< cursor: only runs with a smaller id
    std::int64_t limit = 20;
};

/// The run rows of one book (recon.runs) on its primary. All writes of a run go through here.
class RunHistory {
public:
    explicit RunHistory(Session& session);

    /// Under the run's locks: marks abandoned the stale `running` rows that those locks prove
    /// dead (README "Beyond one machine"), inserts and commits our `running` row (sets
    /// report.run_id, records report.shard, scope and checks_requested). `lock_key` is the run's
    /// own key, `category_key` the category's (the same for an unsharded run). Returns how many
    /// rows were abandoned.
    std::int64_t begin_run(RunReport& report, std::int64_t lock_key, std::int64_t category_key, const std::string& host,
                           int pid);

    /// Writes the finished runs (status, timings, every check result) in one transaction,
    /// together with their persisted variances when persistence is enabled and the variance
    /// lifecycle (always); returns what each run changed in that lifecycle, for alerts, in the
    /// order of `reports`. Several reports are the categories of one snapshot
    /// (`run --category A,B`): their results land together or not at all. `write_first` runs
    /// first in the same transaction (the stored proof, which may update the reports).
    std::vector<RunChanges> finish_runs(const std::vector<RunReport*>& reports, const Settings& settings,
                                        const std::function<void(pqxx::transaction_base&)>& write_first = {});

    /// Best effort, never throws: ends a run that could not complete as `error` with a reason.
    /// Returns false when that failed (the database is gone: the row stays `running` and the
    /// next run abandons it).
    bool abort_run(std::int64_t run_id, const std::string& reason) noexcept;
    /// The same for a run stopped by a signal: its row ends `interrupted` with `reason`.
    bool interrupt_run(std::int64_t run_id, const std::string& reason) noexcept;

    /// Runs newest first, with their check results.
    std::vector<RunReport> list(const std::string& book, const RunFilter& filter);

    /// One run, or std::nullopt.
    std::optional<RunReport> find(std::int64_t run_id);

    /// The newest unsharded run of (book, category) that finished (not running/abandoned).
    std::optional<RunReport> last_completed(const std::string& book, Category category);

    /// Per category, the newest full (not --check narrowed) run that completed with results: what
    /// the scheduler measures its cadences from (lib/schedule.hpp), and whether it reached no
    /// broker (retried sooner). Unsharded runs only, or with `shard` the runs of exactly that
    /// shard (`run --if-due --shard K/N`).
    std::map<Category, RunReport> last_full_runs(const std::string& book,
                                                 const std::optional<Shard>& shard = std::nullopt);

    /// The newest `running` row of (book, category), that of `shard` first: the run that holds
    /// its lock, to name it when a second one is refused.
    std::optional<RunReport> running(const std::string& book, Category category,
                                     const std::optional<Shard>& shard = std::nullopt);

private:
    bool end_run(std::int64_t run_id, const std::string& reason, const char* status) noexcept;
    Session& m_session;
};

/// The broker health stored with a run (recon.broker_health; none for A/B/D runs), by broker.
std::vector<BrokerHealth> broker_health_of(pqxx::transaction_base& txn, std::int64_t run_id);

/// Every C run's broker health added up since the book's history began (recon.broker_counts,
/// kept by a trigger: pruning never lowers it), by broker; no latency.
std::vector<BrokerHealth> broker_totals(pqxx::transaction_base& txn);

}  // namespace reconcile
