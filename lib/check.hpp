#pragma once

#include <any>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "lib/config.hpp"
#include "lib/contract.hpp"
#include "lib/results.hpp"
#include "lib/shard.hpp"
#include "lib/timeutil.hpp"

namespace reconcile {

class BrokerHub;      // lib/brokers/broker.hpp
enum class BrokerId;  // lib/brokers/broker.hpp

/// What a run asks of the proof of categories A and B (docs/decisions/incremental-proof.md).
/// The default (what tests running checks directly get) proves in full and stores nothing.
struct ProofRequest {
    bool store = false;       ///< a real run: the proof may extend the stored one, and is stored
    bool force_full = false;  ///< `run --full`
    /// The version of the stored proof the primary holds, read under the run's lock: a snapshot
    /// that sees an older one (a lagging replica) proves in full.
    std::optional<std::int64_t> stored_version;
    std::int64_t full_interval_seconds = 86400;  ///< RECON_FULL_PROOF_INTERVAL_SECONDS
    /// A check of the run replays balance snapshots from the proof's spans (snapshot_reconcile):
    /// only then must no snapshot fall inside a stored span.
    bool replays_snapshots = false;
    /// The snapshot reads the database the proof is stored in (no separate read database), so
    /// it sees the stored proof as the results transaction does: the store writes only what
    /// changed (checks/proof.cpp, replace_rows).
    bool stored_in_snapshot = false;
};

/// Writes a proof into the run's results transaction; false when another run stored a newer
/// proof meanwhile (this one is then dropped, the results still written).
using ProofStore = std::function<bool(pqxx::transaction_base& results, std::int64_t run_id)>;

/// Which transaction ids a snapshot could not see, as 64-bit ids (xid8). pg_current_snapshot()
/// lists the transactions in progress but not their subtransactions, yet a row written under a
/// savepoint carries its subtransaction's id: `subtransactions` are the ids between xmin and xmax
/// found still in progress just after the snapshot was taken, so subtransactions of `running`.
/// When one of those ended before its subtransactions were asked about (or the ids were too
/// many to ask as the snapshot is taken), the ids not listed from `doubt_from` to xmax may be
/// either: the proof asks about them again, and looks for seen rows carrying those still in
/// doubt (checks/proof.cpp, watermark_of). doubt_from == xmax: no doubt.
struct SnapshotXids {
    std::int64_t xmin = 0;
    std::int64_t xmax = 0;
    std::vector<std::int64_t> running;
    std::vector<std::int64_t> subtransactions;
    std::int64_t doubt_from = 0;
};

/// Opens the ledger snapshot for a check on first use, so category C checks can fetch from
/// the brokers before any snapshot is held open.
class SnapshotTwin;

class SnapshotProvider {
public:
    virtual ~SnapshotProvider() = default;
    /// The transaction a check reads the ledger in (a per-check subtransaction of the run's
    /// REPEATABLE READ READ ONLY snapshot, with the check's statement timeout applied).
    virtual pqxx::transaction_base& ledger() = 0;
    /// Ends the snapshot ledger() opened; the next ledger() call opens a fresh one. Category C
    /// calls it before waiting on a broker, so no snapshot is held open across HTTP (A/B/D
    /// checks never call it: they share one snapshot).
    virtual void release() = 0;

    /// Makes what the current check wrote to the session's temporary tables survive a later
    /// failure of that check (a shared result outlives the check that computed it).
    virtual void checkpoint() {}

    /// A second session reading this snapshot, for a statement to run beside one of the
    /// snapshot's own; nullptr where there is none (see LedgerSnapshot::twin).
    virtual std::shared_ptr<SnapshotTwin> twin() { return nullptr; }

    /// A result computed once per snapshot and shared by every check that asks for `key`, so a
    /// grouping of the journal that several checks need is done once (see checks/journal_pass).
    /// `compute` runs on the first request; if it throws, nothing is kept and the next asks again.
    template <typename T, typename Compute>
    const T& shared(const std::string& key, Compute compute)
    {
        auto found = m_shared.find(key);
        if (found == m_shared.end()) found = m_shared.emplace(key, std::make_any<T>(compute())).first;
        return std::any_cast<const T&>(found->second);
    }

    /// The transaction ids of the snapshot, read as it was taken; absent until a snapshot that
    /// keeps temporary tables (an A or B run's) opened. The next incremental run's fence.
    const std::optional<SnapshotXids>& snapshot_xids() const { return m_snapshot_xids; }

    const ProofRequest& proof_request() const { return m_proof_request; }
    void set_proof_request(ProofRequest request) { m_proof_request = request; }
    /// The proof of this snapshot, once a check computed it, and how to store it.
    const std::optional<ProofSummary>& proof_summary() const { return m_proof_summary; }
    const ProofStore& proof_store() const { return m_proof_store; }
    void set_proof(ProofSummary summary, ProofStore store)
    {
        m_proof_summary = std::move(summary);
        m_proof_store = std::move(store);
    }

protected:
    /// Drops the shared results when the snapshot they were computed in ends.
    void forget_shared()
    {
        m_shared.clear();
        m_snapshot_xids.reset();
        m_proof_summary.reset();
        m_proof_store = nullptr;
    }

    void set_snapshot_xids(SnapshotXids xids) { m_snapshot_xids = std::move(xids); }

private:
    std::map<std::string, std::any> m_shared;
    std::optional<SnapshotXids> m_snapshot_xids;
    ProofRequest m_proof_request;
    std::optional<ProofSummary> m_proof_summary;
    ProofStore m_proof_store;
};

/// Everything one check sees during one run, and where it puts its findings.
class CheckContext {
public:
    CheckContext(const Settings& settings, std::string book, Timestamp as_of, SnapshotProvider& snapshot,
                 BrokerHub* brokers = nullptr, std::optional<Shard> shard = std::nullopt)
        : m_settings(settings),
          m_book(std::move(book)),
          m_as_of(as_of),
          m_snapshot(snapshot),
          m_brokers(brokers),
          m_shard(shard),
          m_variances(static_cast<std::size_t>(settings.variance_cap))
    {
    }

    const Settings& settings() const { return m_settings; }
    const std::string& book() const { return m_book; }
    /// The run's reference time; ages are measured against it, never against a wall clock
    /// read mid-check.
    Timestamp as_of() const { return m_as_of; }
    /// The run's shard (category C): only customers it contains are fetched and compared.
    const std::optional<Shard>& shard() const { return m_shard; }
    /// The ledger snapshot (read only); opened on first call.
    pqxx::transaction_base& ledger() { return m_snapshot.ledger(); }
    /// The snapshot itself, for code that reads, releases and re-opens it (category C).
    SnapshotProvider& snapshot() { return m_snapshot; }
    /// The run's broker access (category C runs only; throws std::logic_error otherwise).
    BrokerHub& brokers()
    {
        if (m_brokers == nullptr) throw std::logic_error("broker access is only available to category C checks");
        return *m_brokers;
    }
    /// A result shared with the run's other checks (SnapshotProvider::shared).
    template <typename T, typename Compute>
    const T& shared(const std::string& key, Compute compute)
    {
        return m_snapshot.shared<T>(key, std::move(compute));
    }
    /// Variances found so far (capped list, true total).
    VarianceCollector& variances() { return m_variances; }
    /// Metrics reported with the result; money as decimal strings.
    nlohmann::json& metrics() { return m_metrics; }
    /// Raises the check's status to at least `status`.
    void raise(CheckStatus status) { m_status = worst(m_status, status); }
    CheckStatus status() const { return m_status; }
    /// Category C: records how the brokers the check asked answered (CheckResult::broker_reach).
    void set_broker_reach(BrokerReach reach) { m_broker_reach = reach; }
    std::optional<BrokerReach> broker_reach() const { return m_broker_reach; }

private:
    const Settings& m_settings;
    std::string m_book;
    Timestamp m_as_of;
    SnapshotProvider& m_snapshot;
    BrokerHub* m_brokers;
    std::optional<Shard> m_shard;
    VarianceCollector m_variances;
    nlohmann::json m_metrics = nlohmann::json::object();
    CheckStatus m_status = CheckStatus::ok;
    std::optional<BrokerReach> m_broker_reach;
};

/// One reconciliation check. Stateless: all state lives in the CheckContext.
class Check {
public:
    virtual ~Check() = default;
    /// Stable snake_case name (used on the command line, in run rows and fingerprints).
    virtual std::string_view name() const = 0;
    virtual Category category() const = 0;
    /// One sentence: what the check proves.
    virtual std::string_view description() const = 0;
    /// The broker a category C check asks (its contract is public or provisional); none for A/B/D.
    virtual std::optional<BrokerId> broker() const { return std::nullopt; }
    /// The ledger contract views the check reads: a run verifies they exist with every
    /// documented column before it starts (lib/contract).
    virtual std::set<ContractView> reads() const = 0;
    /// SQL the ledger snapshot runs when it opens, before it turns read only (the temporary
    /// tables of the shared proof); empty for none. Skipped on a standby.
    virtual std::string_view snapshot_setup_sql() const { return {}; }
    /// Work done in the snapshot before any check runs and before it turns read only, where
    /// PostgreSQL plans statements that write temporary tables in parallel (the shared proof's
    /// groupings, CREATE TABLE AS). Failing is not the check's failure: its run meets it again.
    virtual void prepare_snapshot(CheckContext& /*context*/) const {}
    /// Proves what it proves, recording metrics, variances and status in the context.
    /// Throwing makes the check end `error`; the run goes on with the other checks.
    virtual void run(CheckContext& context) const = 0;
};

}  // namespace reconcile
