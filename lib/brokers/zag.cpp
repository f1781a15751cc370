// ZAG (UAE: holdings). ZAG publishes no API; this adapter implements the contract documented in
// the README ("Broker contract"), so the real endpoint shape can be dropped in here later:
//   GET {ZAG_BASE_URL}/v1/accounts/{account}/holdings?page=N   X-Api-Key: {ZAG_API_KEY}
//   -> {"account_id": .., "as_of": .., "holdings": [{"symbol": "AAPL", "quantity": "1.5"}], "next_page": null}
#include "lib/brokers/broker.hpp"

namespace reconcile {
namespace {

constexpr std::string_view zag = "ZAG";

class ZagBroker : public Broker {
public:
    ZagBroker(const BrokerSettings& settings, HttpClient& http)
        : m_http(http),
          m_base_url(required_broker_setting(settings.zag_base_url, zag, "ZAG_BASE_URL")),
          m_api_key(required_broker_setting(settings.zag_api_key, zag, "ZAG_API_KEY")),
          m_max_pages(settings.max_pages)
    {
    }

    BrokerId id() const override { return BrokerId::zag; }

    Stamped<BrokerPosition> positions(const std::string& account_ref) override
    {
        Stamped<BrokerPosition> result;
        result.as_of = fetch_contract_pages(m_http, zag, m_base_url, m_api_key, account_ref, "holdings", "holdings",
                                            m_max_pages, [&](const nlohmann::json& row) {
                                                result.items.push_back({json_text(row, "symbol", zag),
                                                                        json_decimal(row, "quantity", zag)});
                                            });
        return result;
    }

private:
    HttpClient& m_http;
    std::string m_base_url;
    std::string m_api_key;
    std::int64_t m_max_pages;
};

}  // namespace

std::unique_ptr<Broker> make_zag_broker(const BrokerSettings& settings, HttpClient& http)
{
    return std::make_unique<ZagBroker>(settings, http);
}

}  // namespace reconcile
