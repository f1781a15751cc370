#pragma once

// Broker health: what one category C run saw of each broker it asked (requests, retries, errors
// by kind, latency, pages walked). Recorded by the adapters while they fetch, stored with the run
// (recon.broker_health), printed by `reconcile runs show` and exposed on /metrics.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace reconcile {

/// Whether a broker's API is one it publishes (GTN's Trade API 1.2.1) or a contract we wrote
/// down because it publishes none (ZAG, ViewTrade): the latter may not match the real thing.
enum class BrokerContract { public_api, provisional };

/// "public" | "provisional" (JSON, metrics, the database).
std::string_view to_string(BrokerContract contract);

/// Kinds of broker error, counted per attempt.
enum class BrokerErrorKind {
    timeout,      ///< no complete answer within the timeout
    connection,   ///< no connection, or it broke mid-answer
    http_status,  ///< an answer with a status other than 200
    reject_code,  ///< HTTP 200 with status FAILED and a rejectCode (GTN)
    parse,        ///< an answer that is not what the broker documents
};

/// "timeout", "connection", "http_status", "reject_code", "parse".
std::string_view to_string(BrokerErrorKind kind);
inline constexpr BrokerErrorKind broker_error_kinds[] = {BrokerErrorKind::timeout, BrokerErrorKind::connection,
                                                         BrokerErrorKind::http_status, BrokerErrorKind::reject_code,
                                                         BrokerErrorKind::parse};

/// One broker's health over one run.
struct BrokerHealth {
    std::string broker;  ///< GTN | ZAG | VIEWTRADE
    BrokerContract contract = BrokerContract::provisional;
    std::int64_t requests = 0;  ///< HTTP attempts sent, retries included
    std::int64_t retries = 0;   ///< attempts repeated (transport retries and the adapter's own)
    std::int64_t errors[std::size(broker_error_kinds)] = {};
    std::int64_t pages = 0;  ///< answer pages read
    std::int64_t latency_p50_ms = 0;
    std::int64_t latency_p95_ms = 0;
    std::int64_t latency_max_ms = 0;

    std::int64_t& errors_of(BrokerErrorKind kind) { return errors[static_cast<std::size_t>(kind)]; }
    std::int64_t errors_of(BrokerErrorKind kind) const { return errors[static_cast<std::size_t>(kind)]; }
};

/// Collects one broker's health while the adapters fetch from several threads.
class BrokerHealthRecorder {
public:
    void attempt(std::chrono::milliseconds latency);
    void retry();
    void error(BrokerErrorKind kind);
    void page();
    /// The figures so far; latency percentiles by nearest rank over every attempt.
    BrokerHealth summary(std::string_view broker, BrokerContract contract) const;

private:
    mutable std::mutex m_mutex;
    BrokerHealth m_counts;
    std::vector<std::int64_t> m_latencies_ms;
};

/// [{"broker", "contract", "requests", "retries", "errors": {"timeout", ..}, "pages",
///   "latency_ms": {"p50", "p95", "max"}}, ...] (`runs show --output json`).
nlohmann::json broker_health_to_json(const std::vector<BrokerHealth>& brokers);

/// "Brokers:" and one line per broker (`runs show`); empty when none was asked.
std::string render_broker_health(const std::vector<BrokerHealth>& brokers);

/// The nearest-rank percentile (`percent` in 1..100) of `values` (any order; 0 when empty).
std::int64_t nearest_rank_percentile(std::vector<std::int64_t> values, int percent);

}  // namespace reconcile
