#include "lib/brokers/broker.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "lib/brokers/contracts.hpp"
#include "lib/exact_json.hpp"
#include "lib/progress.hpp"

namespace reconcile {
namespace {

std::string unsupported(BrokerId broker, std::string_view what)
{
    return fmt::format("{} does not provide {}", broker_code(broker), what);
}

HttpLimits limits_of(const BrokerSettings& settings)
{
    HttpLimits limits;
    limits.connect_timeout_ms = settings.connect_timeout_ms;
    limits.total_timeout_ms = settings.timeout_ms;
    limits.max_retries = settings.max_retries;
    limits.backoff_base_ms = settings.backoff_ms;
    limits.backoff_max_ms = settings.backoff_max_ms;
    limits.retry_after_max_seconds = settings.retry_after_max_seconds;
    limits.max_response_bytes = settings.max_response_bytes;
    return limits;
}

std::string_view kind_name(BrokerData kind)
{
    switch (kind) {
        case BrokerData::cash:
            return "cash";
        case BrokerData::positions:
            return "positions";
        case BrokerData::funding:
            return "funding";
    }
    return "data";
}

}  // namespace

std::string_view broker_code(BrokerId broker)
{
    switch (broker) {
        case BrokerId::gtn:
            return "GTN";
        case BrokerId::zag:
            return "ZAG";
        case BrokerId::viewtrade:
            return "VIEWTRADE";
    }
    return "UNKNOWN";
}

BrokerContract contract_of(BrokerId broker)
{
    switch (broker) {
        case BrokerId::gtn:
            return gtn_api::contract;
        case BrokerId::zag:
            return zag_api::contract;
        case BrokerId::viewtrade:
            return viewtrade_api::contract;
    }
    return BrokerContract::provisional;
}

Stamped<BrokerCash> Broker::cash(const std::string& /*account_ref*/)
{
    throw std::logic_error(unsupported(id(), "cash balances"));
}

Stamped<BrokerPosition> Broker::positions(const std::string& /*account_ref*/)
{
    throw std::logic_error(unsupported(id(), "positions"));
}

Stamped<BrokerFunding> Broker::funding(const std::string& /*account_ref*/)
{
    throw std::logic_error(unsupported(id(), "deposits"));
}

std::optional<Timestamp> AccountFetch::as_of() const
{
    std::optional<Timestamp> earliest;
    const auto consider = [&](const auto& stamped) {
        if (stamped && (!earliest || stamped->as_of < *earliest)) earliest = stamped->as_of;
    };
    consider(cash);
    consider(positions);
    consider(funding);
    return earliest;
}

/// One cached answer: the data of one kind for one account, or the failure.
struct BrokerHub::Cached {
    std::optional<Stamped<BrokerCash>> cash;
    std::optional<Stamped<BrokerPosition>> positions;
    std::optional<Stamped<BrokerFunding>> funding;
    std::optional<std::string> error;
    BrokerFailure failure = BrokerFailure::account;
};

/// Per broker: the adapter, the circuit state and the cache.
struct BrokerHub::BrokerState {
    BrokerId id = BrokerId::gtn;
    std::unique_ptr<Broker> adapter;
    BrokerHealthRecorder health;
    std::atomic<std::size_t> successes{0};
    std::mutex mutex;  // guards everything below
    bool tripped = false;
    BrokerFailure trip_failure = BrokerFailure::broker;
    std::string trip_reason;
    std::map<std::pair<BrokerData, std::string>, Cached> cache;
};

BrokerHub::BrokerHub(const BrokerSettings& settings) : m_settings(settings), m_http(limits_of(settings))
{
}

BrokerHub::~BrokerHub() = default;

BrokerHub::BrokerState& BrokerHub::state(BrokerId broker)
{
    const std::lock_guard<std::mutex> guard(m_mutex);
    auto& slot = m_states[broker];
    if (slot) return *slot;
    slot = std::make_unique<BrokerState>();
    slot->id = broker;
    try {
        switch (broker) {
            case BrokerId::gtn:
                slot->adapter = make_gtn_broker(m_settings, {m_http, slot->health});
                break;
            case BrokerId::zag:
                slot->adapter = make_zag_broker(m_settings, {m_http, slot->health});
                break;
            case BrokerId::viewtrade:
                slot->adapter = make_viewtrade_broker(m_settings, {m_http, slot->health});
                break;
        }
    } catch (const BrokerError& e) {
        slot->tripped = true;
        slot->trip_failure = e.scope();
        slot->trip_reason = e.what();
    }
    return *slot;
}

void BrokerHub::fetch_one(BrokerState& state, AccountFetch& result, const std::vector<BrokerData>& kinds)
{
    for (const BrokerData kind : kinds) {
        const auto key = std::make_pair(kind, result.account.account_ref);
        Cached answer;
        bool cached = false;
        {
            const std::lock_guard<std::mutex> guard(state.mutex);
            if (const auto found = state.cache.find(key); found != state.cache.end()) {
                answer = found->second;
                cached = true;
            } else if (state.tripped) {
                answer.error = fmt::format("not asked: {}", state.trip_reason);
                answer.failure = state.trip_failure;
                cached = true;  // not stored: the trip itself is remembered
            }
        }
        if (!cached) {
            try {
                switch (kind) {
                    case BrokerData::cash:
                        answer.cash = state.adapter->cash(result.account.account_ref);
                        break;
                    case BrokerData::positions:
                        answer.positions = state.adapter->positions(result.account.account_ref);
                        break;
                    case BrokerData::funding:
                        answer.funding = state.adapter->funding(result.account.account_ref);
                        break;
                }
                ++state.successes;
            } catch (const BrokerError& e) {
                answer.error = fmt::format("{}: {}", kind_name(kind), e.what());
                answer.failure = e.scope();
            } catch (const std::exception& e) {
                answer.error = fmt::format("{}: {}", kind_name(kind), e.what());
            }
            const std::lock_guard<std::mutex> guard(state.mutex);
            if (answer.error && answer.failure != BrokerFailure::account && state.successes.load() == 0 &&
                !state.tripped) {
                state.tripped = true;
                state.trip_failure = answer.failure;
                state.trip_reason = fmt::format("{} unreachable: {}", broker_code(state.id), *answer.error);
            }
            state.cache[key] = answer;
        }
        if (answer.cash) result.cash = std::move(answer.cash);
        if (answer.positions) result.positions = std::move(answer.positions);
        if (answer.funding) result.funding = std::move(answer.funding);
        if (answer.error) {
            result.error = std::move(answer.error);
            result.failure = answer.failure;
            return;
        }
    }
}

std::vector<BrokerHealth> BrokerHub::health() const
{
    const std::lock_guard<std::mutex> guard(m_mutex);
    std::vector<BrokerHealth> result;
    for (const auto& [id, state] : m_states) result.push_back(state->health.summary(broker_code(id), contract_of(id)));
    return result;
}

BrokerFetch BrokerHub::fetch(BrokerId broker, const std::vector<BrokerAccount>& accounts,
                             const std::vector<BrokerData>& kinds)
{
    BrokerFetch out;
    out.broker = broker;
    out.accounts.reserve(accounts.size());
    for (const auto& account : accounts) out.accounts.push_back(AccountFetch{.account = account});
    if (accounts.empty()) return out;
    BrokerState& broker_state = state(broker);
    std::optional<ProgressCounter> progress;
    if (!m_progress_label.empty()) progress.emplace(m_progress_label, out.accounts.size(), "customers");
    run_bounded(out.accounts.size(), static_cast<std::size_t>(m_settings.concurrency), [&](std::size_t i) {
        fetch_one(broker_state, out.accounts[i], kinds);
        if (progress) progress->advance();
    });
    if (progress) progress->finish();
    bool all_whole = true;
    for (const auto& account : out.accounts) {
        if (!account.error) {
            all_whole = false;
            continue;
        }
        ++out.failed;
        if (account.failure == BrokerFailure::account) all_whole = false;
    }
    if (out.failed == out.accounts.size() && all_whole) {
        const std::lock_guard<std::mutex> guard(broker_state.mutex);
        out.unreachable = true;
        out.not_configured = broker_state.trip_failure == BrokerFailure::configuration;
        out.unreachable_reason =
            broker_state.trip_reason.empty() ? *out.accounts.front().error : broker_state.trip_reason;
    }
    return out;
}

// ---- adapter support -----------------------------------------------------------------------

std::string required_broker_setting(const std::optional<std::string>& value, std::string_view broker,
                                    std::string_view name)
{
    if (!value) {
        throw BrokerError(BrokerFailure::configuration, fmt::format("{} is not configured: set {}", broker, name));
    }
    return *value;
}

Timestamp fetch_contract_pages(BrokerLink link, const ContractEndpoint& endpoint, const std::string& account_ref,
                               std::string_view resource, const std::function<PageInfo(std::string_view body)>& on_page)
{
    std::optional<Timestamp> as_of;
    std::int64_t page = 1;
    for (std::int64_t fetched = 0;; ++fetched) {
        if (fetched >= endpoint.max_pages) {
            throw BrokerError(BrokerFailure::account, fmt::format("{} paging did not end within {} pages",
                                                                  endpoint.broker, endpoint.max_pages));
        }
        const HttpResponse response = broker_send(
            link, HttpRequest{.method = "GET",
                              .url = fmt::format("{}{}/{}/{}?{}={}", endpoint.base_url, endpoint.base_path,
                                                 url_encode(account_ref), resource, shared_contract::page_param, page),
                              .headers = {{"Accept", "application/json"},
                                          {std::string(shared_contract::api_key_header), endpoint.api_key}}});
        const PageInfo info = on_page(broker_body(endpoint.broker, response, link.health));
        link.health.page();
        if (!as_of) as_of = info.as_of;
        if (!info.next_page) break;
        if (*info.next_page <= page) {
            throw BrokerError(BrokerFailure::account, fmt::format("{} paging went backwards (page {} after {})",
                                                                  endpoint.broker, *info.next_page, page));
        }
        page = *info.next_page;
    }
    return as_of.value_or(std::chrono::system_clock::now());
}

ContractBroker::ContractBroker(std::string_view broker, BrokerLink link, const std::optional<std::string>& base_url,
                               std::string_view base_url_setting, std::string base_path,
                               const std::optional<std::string>& api_key, std::string_view api_key_setting,
                               std::int64_t max_pages)
    : m_link(link),
      m_endpoint{.broker = broker,
                 .base_url = required_broker_setting(base_url, broker, base_url_setting),
                 .base_path = std::move(base_path),
                 .api_key = required_broker_setting(api_key, broker, api_key_setting),
                 .max_pages = max_pages}
{
}

HttpResponse broker_send(BrokerLink link, HttpRequest request)
{
    int attempts = 0;
    request.on_attempt = [&health = link.health, &attempts](const HttpAttempt& attempt) {
        health.attempt(attempt.elapsed);
        if (++attempts > 1) health.retry();
        if (!attempt.failure) return;
        switch (*attempt.failure) {
            case HttpFailure::timeout:
                health.error(BrokerErrorKind::timeout);
                break;
            case HttpFailure::unreachable:
            case HttpFailure::transport:
                health.error(BrokerErrorKind::connection);
                break;
            case HttpFailure::too_large:
                health.error(BrokerErrorKind::parse);
                break;
            case HttpFailure::http_status:
                health.error(BrokerErrorKind::http_status);
                break;
        }
    };
    try {
        return link.http.send(request);
    } catch (const HttpCallError& e) {
        throw BrokerError(e.kind() == HttpFailure::unreachable ? BrokerFailure::broker : BrokerFailure::account,
                          e.what());
    }
}

const std::string& broker_body(std::string_view broker, const HttpResponse& response, BrokerHealthRecorder& health)
{
    if (response.status != 200) {
        health.error(BrokerErrorKind::http_status);
        throw BrokerError(BrokerFailure::account, fmt::format("{} answered HTTP {}: {}", broker, response.status,
                                                              printable_snippet(response.body)));
    }
    return response.body;
}

}  // namespace reconcile
