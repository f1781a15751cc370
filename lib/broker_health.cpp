#include "lib/broker_health.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace reconcile {

std::string_view to_string(BrokerContract contract)
{
    return contract == BrokerContract::public_api ? "public" : "provisional";
}

std::string_view to_string(BrokerErrorKind kind)
{
    switch (kind) {
        case BrokerErrorKind::timeout:
            return "timeout";
        case BrokerErrorKind::connection:
            return "connection";
        case BrokerErrorKind::http_status:
            return "http_status";
        case BrokerErrorKind::reject_code:
            return "reject_code";
        case BrokerErrorKind::parse:
            return "parse";
    }
    return "unknown";
}

void BrokerHealthRecorder::attempt(std::chrono::milliseconds latency)
{
    const std::lock_guard<std::mutex> guard(m_mutex);
    ++m_counts.requests;
    m_latencies_ms.push_back(latency.count());
}

void BrokerHealthRecorder::retry()
{
    const std::lock_guard<std::mutex> guard(m_mutex);
    ++m_counts.retries;
}

void BrokerHealthRecorder::error(BrokerErrorKind kind)
{
    const std::lock_guard<std::mutex> guard(m_mutex);
    ++m_counts.errors_of(kind);
}

void BrokerHealthRecorder::page()
{
    const std::lock_guard<std::mutex> guard(m_mutex);
    ++m_counts.pages;
}

BrokerHealth BrokerHealthRecorder::summary(std::string_view broker, BrokerContract contract) const
{
    const std::lock_guard<std::mutex> guard(m_mutex);
    BrokerHealth health = m_counts;
    health.broker = std::string(broker);
    health.contract = contract;
    health.latency_p50_ms = nearest_rank_percentile(m_latencies_ms, 50);
    health.latency_p95_ms = nearest_rank_percentile(m_latencies_ms, 95);
    health.latency_max_ms =
        m_latencies_ms.empty() ? 0 : *std::max_element(m_latencies_ms.begin(), m_latencies_ms.end());
    return health;
}

nlohmann::json broker_health_to_json(const std::vector<BrokerHealth>& brokers)
{
    nlohmann::json list = nlohmann::json::array();
    for (const auto& health : brokers) {
        nlohmann::json errors = nlohmann::json::object();
        for (const auto kind : broker_error_kinds) errors[std::string(to_string(kind))] = health.errors_of(kind);
        list.push_back(
            {{"broker", health.broker},
             {"contract", to_string(health.contract)},
             {"requests", health.requests},
             {"retries", health.retries},
             {"errors", std::move(errors)},
             {"pages", health.pages},
             {"latency_ms",
              {{"p50", health.latency_p50_ms}, {"p95", health.latency_p95_ms}, {"max", health.latency_max_ms}}}});
    }
    return list;
}

std::string render_broker_health(const std::vector<BrokerHealth>& brokers)
{
    if (brokers.empty()) return {};
    std::string text = "Brokers:\n";
    for (const auto& health : brokers) {
        std::string errors;
        for (const auto kind : broker_error_kinds) {
            errors += fmt::format("{}{} {}", errors.empty() ? "" : ", ", to_string(kind), health.errors_of(kind));
        }
        text += fmt::format(
            "  {:<10} {:<11}  requests {}, retries {}, pages {}; errors: {}; latency p50 {} ms, p95 {} ms, max {} ms\n",
            health.broker, to_string(health.contract), health.requests, health.retries, health.pages, errors,
            health.latency_p50_ms, health.latency_p95_ms, health.latency_max_ms);
    }
    return text;
}

std::int64_t nearest_rank_percentile(std::vector<std::int64_t> values, int percent)
{
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    // Nearest rank: the smallest value with at least `percent`% of the values at or below it.
    const std::size_t rank = (values.size() * static_cast<std::size_t>(percent) + 99) / 100;
    return values[std::max<std::size_t>(rank, 1) - 1];
}

}  // namespace reconcile
