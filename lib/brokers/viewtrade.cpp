// ViewTrade (India: USD cash and US equities). ViewTrade publishes no API; this adapter
// implements the contract documented in the README ("Brokers"), so the real endpoint shapes
// can be dropped in here later. Header X-Api-Key: {VIEWTRADE_API_KEY}.
//   GET /v1/accounts/{account}/balances?page=N  -> {"as_of", "cash": [{"currency", "amount"}], "next_page"}
//   GET /v1/accounts/{account}/positions?page=N -> {"as_of", "positions": [{"symbol", "quantity"}], "next_page"}
//   GET /v1/accounts/{account}/deposits?page=N  -> {"as_of", "deposits": [{"deposit_id", "amount", "currency",
//                                                   "status", "initiated_at", "completed_at", "reference"}],
//                                                   "next_page"}
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
        return collect(account_ref, "balances", parse_viewtrade_cash);
    }

    Stamped<BrokerPosition> positions(const std::string& account_ref) override
    {
        return collect(account_ref, "positions", parse_viewtrade_positions);
    }

    Stamped<BrokerFunding> funding(const std::string& account_ref) override
    {
        return collect(account_ref, "deposits", parse_viewtrade_deposits);
    }
};

}  // namespace

std::unique_ptr<Broker> make_viewtrade_broker(const BrokerSettings& settings, HttpClient& http)
{
    return std::make_unique<ViewTradeBroker>(settings, http);
}

}  // namespace reconcile
