#pragma once

// /metrics of `reconcile serve`: the run history of every book in Prometheus text format, read
// at scrape time (a few indexed queries per book), so any process's runs — cron, another serve,
// a person at a terminal — show up, and a restart loses nothing.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lib/check_registry.hpp"
#include "lib/config.hpp"
#include "lib/run_kinds.hpp"
#include "lib/timeutil.hpp"

namespace reconcile {

/// The newest finished run of one (book, category).
struct LastRunMetric {
    Category category = Category::A;
    std::int64_t run_id = 0;
    std::string status;
    Timestamp started_at{};
    std::int64_t duration_ms = 0;
};

/// The newest result of one check on one book (from the newest finished run that ran it).
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
    bool up = false;  ///< the history could be read
    bool schedule_enabled = false;
    std::vector<LastRunMetric> last_runs;
    std::vector<LastCheckMetric> last_checks;
    std::map<std::pair<Category, std::string>, std::int64_t> runs_by_status;  ///< (category, status) -> rows
    std::map<Category, std::int64_t> running;                                 ///< category -> running rows
};

/// Reads one book's figures from its run history; never throws (up=false, logged, when the
/// database cannot be read).
BookMetrics read_book_metrics(const Settings& settings, const CheckRegistry& registry, const std::string& book);

/// The Prometheus text exposition (format 0.0.4) of every book, plus the HTTP server's count
/// of connections refused while overloaded.
std::string render_prometheus(const std::vector<BookMetrics>& books, std::uint64_t rejected_connections);

}  // namespace reconcile
