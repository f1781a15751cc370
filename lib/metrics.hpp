#pragma once

// /metrics of `reconcile serve`: the run history of every book in Prometheus text format, read
// at scrape time (a few indexed queries per book), so any process's runs — cron, another serve,
// a person at a terminal — show up, and a restart loses nothing.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "lib/broker_health.hpp"
#include "lib/check_registry.hpp"
#include "lib/config.hpp"
#include "lib/db.hpp"
#include "lib/run_kinds.hpp"
#include "lib/timeutil.hpp"

namespace reconcile {

/// One (book, category): its status is the worst of each check's latest result; run_id,
/// started_at and duration_ms are its newest finished full (unsharded, every check) run's, when
/// it has one (`full_run`): a category run only in shards or with --check still has a status.
struct LastRunMetric {
    Category category = Category::A;
    std::int64_t run_id = 0;
    std::string status;
    Timestamp started_at{};
    std::int64_t duration_ms = 0;
    bool full_run = true;
};

/// The newest result of one check on one book: from the newest finished run that ran it; when
/// that run was one shard of N, from the newest run of each of the N shards since the check's
/// last unsharded run (worst status, summed variances, the slowest duration, the newest run).
struct LastCheckMetric {
    std::string check_name;
    Category category = Category::A;
    std::int64_t run_id = 0;
    std::string status;
    Timestamp ran_at{};
    std::int64_t duration_ms = 0;
    std::int64_t variances_total = 0;
};

/// Everything /metrics says about one book.
struct BookMetrics {
    std::string book;
    bool up = false;          ///< the history could be read
    std::string down_reason;  ///< why not, when !up
    bool schedule_enabled = false;
    std::vector<LastRunMetric> last_runs;
    std::vector<LastCheckMetric> last_checks;
    std::map<std::pair<Category, std::string>, std::int64_t>
        runs_by_status;                        ///< (category, status) -> finished runs ever
    std::map<Category, std::int64_t> running;  ///< category -> running rows
    std::vector<BrokerHealth> brokers;         ///< what the newest finished C run saw of each broker
    std::vector<BrokerHealth> broker_totals;   ///< every C run's broker counts added up (monotonic)
    std::set<Category> newest_partial;         ///< categories whose newest finished run was partial (--check)
};

/// Reads one book's figures from its run history on a session within `limits`; never throws
/// (up=false, logged, when the database cannot be read).
BookMetrics read_book_metrics(const Settings& settings, const CheckRegistry& registry, const std::string& book,
                              const SessionLimits& limits = {});

/// Whether one book's database answers: connects and reads recon.runs (up, or down with the
/// reason); never throws. `timeout` bounds the statement; the session ends a second after it
/// (limits_after_wait).
BookMetrics probe_book(const Settings& settings, const std::string& book, std::chrono::milliseconds timeout);

/// Calls a per-book function for several books at once, each on its own thread, and waits at
/// most a deadline for all of them: a request that reads every book (/metrics, /readyz) answers
/// in bounded time even when one book's database hangs. A call past the deadline is reported as
/// down and left to finish on its own; while it hangs, later calls of the same kind for that
/// book report down at once instead of starting another thread (lib/db.hpp's BoundedCalls).
class BoundedBookCalls {
public:
    explicit BoundedBookCalls(std::chrono::milliseconds timeout);

    /// fn(book) for every book, in the order given; a call that did not return in time (or whose
    /// earlier call still hangs) is BookMetrics{book, up=false, down_reason}. `kind` separates
    /// unrelated callers ("metrics", "ready").
    std::vector<BookMetrics> call(const std::string& kind, const std::vector<std::string>& books,
                                  const std::function<BookMetrics(const std::string&)>& fn);

private:
    std::chrono::milliseconds m_timeout;
    BoundedCalls m_calls;
};

/// The Prometheus text exposition (format 0.0.4) of every book, plus the HTTP server's count
/// of connections refused while at capacity and the build (`reconcile_build_info`).
std::string render_prometheus(const std::vector<BookMetrics>& books, std::uint64_t rejected_connections);

}  // namespace reconcile
