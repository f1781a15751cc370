#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "lib/db.hpp"
#include "lib/results.hpp"

namespace reconcile {

/// Where a listed variance stands in its history after this run.
struct FingerprintState {
    std::string state;  ///< new | reopened | persisting
    std::int64_t open_since_run = 0;
    Timestamp open_since_at{};
    std::int64_t occurrences = 1;  ///< runs that reported it, this one included
};

/// A break that a run no longer reported (kept short: alerts carry the first few).
struct ResolvedVariance {
    std::string fingerprint;
    std::string kind;
    nlohmann::json keys;
    std::int64_t open_since_run = 0;
    Timestamp open_since_at{};
    std::int64_t occurrences = 0;
};

/// What one run changed in one check's variance history, and the check's alert state before it.
struct CheckChanges {
    std::string check_name;
    std::optional<CheckStatus> previous_status;  ///< the check's status in its previous run
    std::int64_t new_count = 0;
    std::int64_t reopened_count = 0;
    std::int64_t persisting_count = 0;
    std::int64_t resolved_count = 0;
    /// The check listed fewer variances than it found (cap): its unlisted open breaks were
    /// neither seen nor resolved.
    bool resolution_skipped = false;
    std::map<std::string, FingerprintState> states;  ///< fingerprint -> state, listed variances
    std::vector<ResolvedVariance> resolved;          ///< the first resolved (at most a handful)
    std::optional<std::string> alerted_status;       ///< status of the last alert delivered
    std::optional<std::string> alerted_dedup_key;    ///< dedup key of the last alert delivered
};

/// Everything one run changed, per check of the run (in run order).
struct RunChanges {
    std::vector<CheckChanges> checks;
    /// The changes of one check; nullptr when it was not part of the run.
    const CheckChanges* find(const std::string& check_name) const;
};

/// The listed variances of a run's warn/fail checks (the ones that are persisted and tracked),
/// as JSON rows: the variance's fields plus check_name, category and check_status.
nlohmann::json tracked_variance_rows(const RunReport& report);

/// How many resolved variances a run reports per check (the count is always exact).
inline constexpr std::int64_t resolved_listing_limit = 10;

/// The scope of a run's check states (recon.check_states.scope): "" for an unsharded run (the
/// whole book), "shard-K-of-N" for a sharded one, so a shard never overwrites the book's state.
std::string check_state_scope(const RunReport& report);

/// Inside the run's results transaction: upserts every variance of the run's warn/fail checks
/// into recon.variance_fingerprints (occurrences + 1; a resolved one reopens), marks resolved
/// the open fingerprints of every check that completed (not `error`) and did not report them
/// (unless the check's list was capped; a sharded run only those naming a customer of its
/// shard), and records each check's last status in the run's scope. Independent of
/// RECON_ALERT_PERSIST_ENABLED.
RunChanges record_variance_lifecycle(pqxx::transaction_base& txn, const RunReport& report);

/// An alert that reached its webhook, remembered so `change` mode does not send it again.
struct DeliveredAlert {
    std::string check_name;
    std::string status;
    std::string dedup_key;
};

/// After delivery, in its own short transaction: records which alert each check last delivered
/// (in the run's check-state scope).
void record_delivered_alerts(Session& session, const std::string& book, std::int64_t run_id, const std::string& scope,
                             const std::vector<DeliveredAlert>& delivered);

/// Filters of `reconcile variances`.
struct VarianceHistoryFilter {
    std::optional<std::string> check_name;
    std::optional<std::string> status;            ///< open | resolved
    std::optional<bool> acknowledged;             ///< only breaks whose acknowledgement holds (true) or not
    std::optional<VarianceClass> variance_class;  ///< only breaks acknowledged as this class
    std::int64_t limit = 200;
    std::int64_t offset = 0;  ///< skip this many (pages of the API)
};

/// One break's history as `reconcile variances` shows it.
struct VarianceHistory {
    std::string book;
    std::string check_name;
    std::string category;
    std::string fingerprint;
    std::string kind;
    nlohmann::json keys;
    std::string status;  ///< open | resolved
    std::string state;   ///< new | reopened | persisting | resolved
    std::int64_t first_seen_run = 0;
    Timestamp first_seen_at{};
    std::int64_t open_since_run = 0;
    Timestamp open_since_at{};
    std::int64_t last_seen_run = 0;
    Timestamp last_seen_at{};
    std::int64_t occurrences = 0;
    std::int64_t reopen_count = 0;
    std::optional<std::int64_t> resolved_run;
    std::optional<Timestamp> resolved_at;
    std::string last_check_status;
    std::optional<std::string> expected;
    std::optional<std::string> actual;
    std::optional<std::string> difference;
    nlohmann::json detail;
    std::optional<Acknowledgement> acknowledgement;  ///< the acknowledgement that holds now, if any
};

/// The breaks of one book, open ones first (newest episode first), then resolved ones (most
/// recently resolved first), at most filter.limit rows.
std::vector<VarianceHistory> list_variance_history(Session& session, const std::string& book,
                                                   const VarianceHistoryFilter& filter);

/// A break's history as JSON (`reconcile variances --output json`).
nlohmann::json variance_history_to_json(const VarianceHistory& history);

/// "3d 4h", "2h 5m", "40s": a duration for people.
std::string render_age(std::chrono::seconds age);

/// Breaks' histories as a text table (`reconcile variances`): a header, one line per break,
/// long cells cut with an ellipsis; last_run is the resolving run of a resolved break, else the
/// run that last saw it; class is the acknowledgement's class, `-` when none holds.
std::string render_variance_history_table(const std::vector<VarianceHistory>& histories);

/// Open breaks as `reconcile variances --open` lists them: book, check, kind, keys, difference,
/// first seen, age since then (at `now`), occurrences, and the class, note and author of the
/// acknowledgement that holds (`-` when none).
std::string render_open_variances_table(const std::vector<VarianceHistory>& histories, Timestamp now);

}  // namespace reconcile
