// ViewTrade (India: USD cash and US equities). ViewTrade publishes no API: this adapter
// implements the PROVISIONAL contract written down in lib/brokers/contracts.hpp (viewtrade_api)
// and docs/brokers.md, so the real shapes can be dropped in there later. The path below the
// base URL is VIEWTRADE_BASE_PATH.
#include "lib/brokers/broker.hpp"
#include "lib/brokers/contracts.hpp"

namespace reconcile {
namespace {

class ViewTradeBroker : public ContractBroker {
public:
    ViewTradeBroker(const BrokerSettings& settings, BrokerLink link)
        : ContractBroker("VIEWTRADE", link, settings.viewtrade_base_url, "VIEWTRADE_BASE_URL",
                         settings.viewtrade_base_path, settings.viewtrade_api_key, "VIEWTRADE_API_KEY",
                         settings.max_pages)
    {
    }

    BrokerId id() const override { return BrokerId::viewtrade; }

    Stamped<BrokerCash> cash(const std::string& account_ref) override
    {
        return collect(account_ref, viewtrade_api::balances_resource, parse_viewtrade_cash);
    }

    Stamped<BrokerPosition> positions(const std::string& account_ref) override
    {
        return collect(account_ref, viewtrade_api::positions_resource, parse_viewtrade_positions);
    }

    Stamped<BrokerFunding> funding(const std::string& account_ref) override
    {
        return collect(account_ref, viewtrade_api::deposits_resource, parse_viewtrade_deposits);
    }
};

}  // namespace

std::unique_ptr<Broker> make_viewtrade_broker(const BrokerSettings& settings, BrokerLink link)
{
    return std::make_unique<ViewTradeBroker>(settings, link);
}

}  // namespace reconcile
