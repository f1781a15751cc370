// ViewTrade (India: USD cash and US equities). ViewTrade publishes no API; this adapter
// implements the contract documented in the README ("Broker contract"), so the real endpoint
// shapes can be dropped in here later. Header X-Api-Key: {VIEWTRADE_API_KEY}.
//   GET /v1/accounts/{account}/balances?page=N  -> {"as_of", "cash": [{"currency", "amount"}], "next_page"}
//   GET /v1/accounts/{account}/positions?page=N -> {"as_of", "positions": [{"symbol", "quantity"}], "next_page"}
//   GET /v1/accounts/{account}/deposits?page=N  -> {"as_of", "deposits": [{"deposit_id", "amount", "currency",
//                                                   "status", "initiated_at", "completed_at", "reference"}], "next_page"}
#include "lib/brokers/broker.hpp"

namespace reconcile {
namespace {

constexpr std::string_view viewtrade = "VIEWTRADE";

class ViewTradeBroker : public Broker {
public:
    ViewTradeBroker(const BrokerSettings& settings, HttpClient& http)
        : m_http(http),
          m_base_url(required_broker_setting(settings.viewtrade_base_url, viewtrade, "VIEWTRADE_BASE_URL")),
          m_api_key(required_broker_setting(settings.viewtrade_api_key, viewtrade, "VIEWTRADE_API_KEY")),
          m_max_pages(settings.max_pages)
    {
    }

    BrokerId id() const override { return BrokerId::viewtrade; }

    Stamped<BrokerCash> cash(const std::string& account_ref) override
    {
        Stamped<BrokerCash> result;
        result.as_of = pages(account_ref, "balances", "cash", [&](const nlohmann::json& row) {
            result.items.push_back({json_text(row, "currency", viewtrade), json_decimal(row, "amount", viewtrade)});
        });
        return result;
    }

    Stamped<BrokerPosition> positions(const std::string& account_ref) override
    {
        Stamped<BrokerPosition> result;
        result.as_of = pages(account_ref, "positions", "positions", [&](const nlohmann::json& row) {
            result.items.push_back({json_text(row, "symbol", viewtrade), json_decimal(row, "quantity", viewtrade)});
        });
        return result;
    }

    Stamped<BrokerFunding> funding(const std::string& account_ref) override
    {
        Stamped<BrokerFunding> result;
        result.as_of = pages(account_ref, "deposits", "deposits", [&](const nlohmann::json& row) {
            BrokerFunding deposit;
            deposit.funding_id = json_text(row, "deposit_id", viewtrade);
            deposit.amount = json_decimal(row, "amount", viewtrade);
            deposit.currency = json_text(row, "currency", viewtrade);
            deposit.status = json_text(row, "status", viewtrade);
            deposit.initiated_at = json_time(row, "initiated_at", viewtrade);
            deposit.completed_at = json_time(row, "completed_at", viewtrade);
            if (row.contains("reference") && row["reference"].is_string()) {
                deposit.reference = row["reference"].get<std::string>();
            }
            result.items.push_back(std::move(deposit));
        });
        return result;
    }

private:
    Timestamp pages(const std::string& account_ref, std::string_view resource, std::string_view list_key,
                    const std::function<void(const nlohmann::json&)>& on_row)
    {
        return fetch_contract_pages(m_http, viewtrade, m_base_url, m_api_key, account_ref, resource, list_key,
                                    m_max_pages, on_row);
    }

    HttpClient& m_http;
    std::string m_base_url;
    std::string m_api_key;
    std::int64_t m_max_pages;
};

}  // namespace

std::unique_ptr<Broker> make_viewtrade_broker(const BrokerSettings& settings, HttpClient& http)
{
    return std::make_unique<ViewTradeBroker>(settings, http);
}

}  // namespace reconcile
