// ZAG (UAE: holdings). ZAG publishes no API; this adapter implements the contract documented in
// the README ("Brokers"), so the real endpoint shape can be dropped in here later:
//   GET {ZAG_BASE_URL}/v1/accounts/{account}/holdings?page=N   X-Api-Key: {ZAG_API_KEY}
//   -> {"account_id": .., "as_of": .., "holdings": [{"symbol": "AAPL", "quantity": "1.5"}], "next_page": null}
#include "lib/brokers/broker.hpp"

namespace reconcile {
namespace {

class ZagBroker : public ContractBroker {
public:
    ZagBroker(const BrokerSettings& settings, HttpClient& http)
        : ContractBroker("ZAG", http, settings.zag_base_url, "ZAG_BASE_URL", settings.zag_api_key, "ZAG_API_KEY",
                         settings.max_pages)
    {
    }

    BrokerId id() const override { return BrokerId::zag; }

    Stamped<BrokerPosition> positions(const std::string& account_ref) override
    {
        return collect(account_ref, "holdings", parse_zag_holdings);
    }
};

}  // namespace

std::unique_ptr<Broker> make_zag_broker(const BrokerSettings& settings, HttpClient& http)
{
    return std::make_unique<ZagBroker>(settings, http);
}

}  // namespace reconcile
