// ViewTrade (India: USD cash and US equities). ViewTrade publishes no API; this adapter
// implements the contract documented in the README ("Brokers"), so the real endpoint shapes
// can be dropped in here later. Header X-Api-Key: {VIEWTRADE_API_KEY}.
//   GET /v1/accounts/{account}/balances?page=N  -> {"as_of", "cash": [{"currency", "amount"}], "next_page"}
//   GET /v1/accounts/{account}/positions?page=N -> {"as_of", "positions": [{"symbol", "quantity"}], "next_page"}
//   GET /v1/accounts/{account}/deposits?page=N  -> {"as_of", "deposits": [{"deposit_id", "amount", "currency",
//                                                   "status", "initiated_at", "completed_at", "reference"}], "next_page"}
#include "lib/brokers/broker.hpp"

namespace reconcile {
namespace {

class ViewTradeBroker : public ContractBroker {
public:
    ViewTradeBroker(const BrokerSettings& settings, HttpClient& http)
        : ContractBroker("VIEWTRADE", http, settings.viewtrade_base_url, "VIEWTRADE_BASE_URL",
                         settings.viewtrade_api_key, "VIEWTRADE_API_KEY", settings.max_pages)
    {
    }

    BrokerId id() const override { return BrokerId::viewtrade; }

    Stamped<BrokerCash> cash(const std::string& account_ref) override
    {
        Stamped<BrokerCash> result;
        result.as_of = pages(account_ref, "balances", "cash", [&](const nlohmann::json& row) {
            result.items.push_back({json_text(row, "currency", m_broker), json_decimal(row, "amount", m_broker)});
        });
        return result;
    }

    Stamped<BrokerPosition> positions(const std::string& account_ref) override
    {
        Stamped<BrokerPosition> result;
        result.as_of = pages(account_ref, "positions", "positions", [&](const nlohmann::json& row) {
            result.items.push_back({json_text(row, "symbol", m_broker), json_decimal(row, "quantity", m_broker)});
        });
        return result;
    }

    Stamped<BrokerFunding> funding(const std::string& account_ref) override
    {
        Stamped<BrokerFunding> result;
        result.as_of = pages(account_ref, "deposits", "deposits", [&](const nlohmann::json& row) {
            BrokerFunding deposit;
            deposit.funding_id = json_text(row, "deposit_id", m_broker);
            deposit.amount = json_decimal(row, "amount", m_broker);
            deposit.currency = json_text(row, "currency", m_broker);
            deposit.status = json_text(row, "status", m_broker);
            deposit.initiated_at = json_time(row, "initiated_at", m_broker);
            deposit.completed_at = json_time(row, "completed_at", m_broker);
            if (row.contains("reference") && row["reference"].is_string()) {
                deposit.reference = row["reference"].get<std::string>();
            }
            result.items.push_back(std::move(deposit));
        });
        return result;
    }
};

}  // namespace

std::unique_ptr<Broker> make_viewtrade_broker(const BrokerSettings& settings, HttpClient& http)
{
    return std::make_unique<ViewTradeBroker>(settings, http);
}

}  // namespace reconcile
