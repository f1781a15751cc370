// ZAG (UAE: holdings). ZAG publishes no API: this adapter implements the PROVISIONAL contract
// written down in lib/brokers/contracts.hpp (zag_api) and docs/brokers.md, so the real shape
// can be dropped in there later. The path below the base URL is ZAG_BASE_PATH.
#include "lib/brokers/broker.hpp"
#include "lib/brokers/contracts.hpp"

namespace reconcile {
namespace {

class ZagBroker : public ContractBroker {
public:
    ZagBroker(const BrokerSettings& settings, BrokerLink link)
        : ContractBroker("ZAG", link, settings.zag_base_url, "ZAG_BASE_URL", settings.zag_base_path,
                         settings.zag_api_key, "ZAG_API_KEY", settings.max_pages)
    {
    }

    BrokerId id() const override { return BrokerId::zag; }

    Stamped<BrokerPosition> positions(const std::string& account_ref) override
    {
        return collect(account_ref, zag_api::holdings_resource, parse_zag_holdings);
    }
};

}  // namespace

std::unique_ptr<Broker> make_zag_broker(const BrokerSettings& settings, BrokerLink link)
{
    return std::make_unique<ZagBroker>(settings, link);
}

}  // namespace reconcile
