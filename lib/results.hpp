#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "lib/broker_health.hpp"
#include "lib/run_kinds.hpp"
#include "lib/shard.hpp"
#include "lib/timeutil.hpp"

namespace reconcile {

/// A check's verdict, ordered by severity for "worst of" folding. A proven break (fail)
/// outranks a check that could not complete (error): see ARCHITECTURE.md "Exit codes".
enum class CheckStatus { ok, warn, error, fail };

/// "ok" / "warn" / "fail" / "error".
std::string_view to_string(CheckStatus status);
/// Inverse of to_string; std::nullopt for anything else.
std::optional<CheckStatus> parse_check_status(std::string_view text);
/// The more severe of two statuses.
CheckStatus worst(CheckStatus a, CheckStatus b);

/// An acknowledgement that holds for a variance (lib/acknowledgements.hpp): while it holds the
/// variance is still listed but raises no alert and does not count toward its check's status.
struct Acknowledgement {
    VarianceClass variance_class = VarianceClass::data;
    std::string note;
    std::string by;
    Timestamp at{};
    std::optional<Timestamp> until;
};

/// One specific row that broke a check. `keys` identify it (and feed the fingerprint);
/// `detail` carries everything else an operator may want (never part of the identity).
struct Variance {
    std::string kind;                                       ///< unbalanced_txn, aged_pending, ...
    std::vector<std::pair<std::string, std::string>> keys;  ///< txn_id, customer_id, currency, ...
    std::optional<std::string> expected;                    ///< exact decimal text when numeric
    std::optional<std::string> actual;
    std::optional<std::string> difference;
    nlohmann::json detail = nlohmann::json::object();
    std::string fingerprint;                         ///< filled by finalize_variances()
    std::optional<Acknowledgement> acknowledgement;  ///< filled by apply_acknowledgements()
};

/// Stable identity of a variance across runs: hex SHA-256 (first 128 bits) over the check,
/// the kind and the keys sorted by name. Independent of amounts, so a break that changes size
/// is still recognised as the same break.
std::string variance_fingerprint(std::string_view check_name, const Variance& variance);

/// Collects a check's variances keeping at most `cap` of them while counting every one.
class VarianceCollector {
public:
    explicit VarianceCollector(std::size_t cap) : m_cap(cap) {}
    /// Records one variance; it is listed while under the cap, counted always.
    void add(Variance variance);
    /// Counts variances that were found but not fetched (SQL returned the first N and a total).
    void add_unlisted(std::int64_t count) { m_total += count; }
    /// The capped list.
    const std::vector<Variance>& listed() const { return m_listed; }
    std::vector<Variance>& listed() { return m_listed; }
    /// How many variances exist in truth.
    std::int64_t total() const { return m_total; }
    /// The cap, for SQL LIMIT clauses.
    std::size_t cap() const { return m_cap; }
    /// How many more rows a query may still list (cap minus listed).
    std::size_t remaining() const { return m_listed.size() >= m_cap ? 0 : m_cap - m_listed.size(); }

private:
    std::size_t m_cap;
    std::vector<Variance> m_listed;
    std::int64_t m_total = 0;
};

/// What one check produced in one run.
struct CheckResult {
    std::string check_name;
    Category category = Category::A;
    CheckStatus status = CheckStatus::ok;
    /// Category C: how the brokers the check asked answered (decides exit 69); nullopt for
    /// checks that ask no broker.
    std::optional<BrokerReach> broker_reach;
    nlohmann::json metrics = nlohmann::json::object();
    Timestamp ran_at{};
    std::int64_t duration_ms = 0;
    std::vector<Variance> variances;   ///< capped list
    std::int64_t variances_total = 0;  ///< the true number
};

/// Fills fingerprints of a result's variances.
void finalize_variances(CheckResult& result);

/// One run of one (book, category): the JSON document `reconcile run --output json` prints.
/// How a category A or B run proved the ledger (issue 16; docs/decisions/incremental-proof.md).
struct ProofSummary {
    ProofKind kind = ProofKind::full;
    std::string reason;                        ///< why the proof was full; empty for an incremental one
    std::string watermark;                     ///< pg_snapshot of the run's ledger snapshot: the next run's fence
    std::optional<std::int64_t> since_run_id;  ///< incremental: the run whose proof it extended
    std::int64_t lines_read = 0;               ///< journal lines read line by line
    std::int64_t transactions_touched = 0;     ///< transactions re-proved (incremental)
    bool stored = false;                       ///< the state was written with the results
};

struct RunReport {
    std::int64_t run_id = 0;
    std::string book;
    Category category = Category::A;
    Trigger trigger = Trigger::manual;
    std::optional<Shard> shard;  ///< category C split across hosts: this run's customers only
    /// partial: only some of the category's checks ran (`--check`); their names, as asked, in
    /// checks_requested (empty for a full run).
    RunScope scope = RunScope::full;
    std::vector<std::string> checks_requested;
    RunStatus status = RunStatus::running;
    Timestamp started_at{};
    std::optional<Timestamp> finished_at;
    std::int64_t duration_ms = 0;
    std::vector<CheckResult> checks;
    std::optional<std::string> error;   ///< why a run ended without results (abandoned, ...)
    std::vector<BrokerHealth> brokers;  ///< category C: each broker asked (recon.broker_health)
    std::optional<ProofSummary> proof;  ///< categories A and B: how the ledger was proved
};

/// The worst status over all checks ("ok" for none).
CheckStatus overall_status(const std::vector<CheckResult>& checks);

/// The status a finished run records for its checks' worst status.
RunStatus run_status_of(CheckStatus worst_check);
/// Inverse of run_status_of: the worst check status of a finished run; std::nullopt for
/// running and abandoned.
std::optional<CheckStatus> check_status_of(RunStatus status);

}  // namespace reconcile
