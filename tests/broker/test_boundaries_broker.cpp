// RECON_BROKER_MAX_PAGES at exactly the pages an account needs, one fewer and one more, for
// GTN's isNextPageAvailable paging and the ZAG/ViewTrade next-page contract, against the fake broker.
#include <doctest/doctest.h>

#include <string>

#include "lib/brokers/broker.hpp"
#include "lib/config.hpp"
#include "tests/support/broker_answers.hpp"
#include "tests/support/fake_broker.hpp"

using namespace reconcile;
using namespace reconcile::test;
using Json = nlohmann::json;

namespace {

/// G-1 holds five securities, two a page: three pages.
Json gtn_fixture()
{
    return {{"gtn",
             {{"page_size", 2},
              {"accounts",
               {{"G-1",
                 {{"securities",
                   {{{"symbol", "AAPL"}, {"quantity", "1"}},
                    {{"symbol", "MSFT"}, {"quantity", "2"}},
                    {{"symbol", "NVDA"}, {"quantity", "3"}},
                    {{"symbol", "TSLA"}, {"quantity", "4"}},
                    {{"symbol", "AMZN"}, {"quantity", "5"}}}}}}}}}}};
}

/// Z-1 holds three positions, one a page: three pages.
Json zag_fixture()
{
    return {{"zag",
             {{"page_size", 1},
              {"accounts",
               {{"Z-1",
                 {{"holdings",
                   {{{"symbol", "AAPL"}, {"quantity", "1"}},
                    {{"symbol", "MSFT"}, {"quantity", "2"}},
                    {{"symbol", "NVDA"}, {"quantity", "3"}}}}}}}}}}};
}

/// The positions of one account fetched with RECON_BROKER_MAX_PAGES=`max_pages`: the symbols
/// as "AAPL=1,..." or the account's error.
std::string fetch_with(const FakeBroker& broker, BrokerId id, const std::string& account, int max_pages)
{
    const Settings settings = load_settings(broker.settings({{"RECON_BROKER_MAX_PAGES", std::to_string(max_pages)}}));
    BrokerHub hub(settings.brokers);
    const auto fetched = hub.fetch(id, {{"C1", account}}, {BrokerData::positions});
    const auto& result = fetched.accounts.at(0);
    if (result.error) return "error: " + *result.error;
    std::string joined;
    for (const auto& line : position_lines(result.positions->items)) joined += (joined.empty() ? "" : ",") + line;
    return joined;
}

}  // namespace

TEST_CASE("GTN paging: exactly RECON_BROKER_MAX_PAGES pages are walked; one more is an account failure")
{
    FakeBroker broker(gtn_fixture());
    CHECK(fetch_with(broker, BrokerId::gtn, "G-1", 4) == "AAPL=1,MSFT=2,NVDA=3,TSLA=4,AMZN=5");
    CHECK(fetch_with(broker, BrokerId::gtn, "G-1", 3) == "AAPL=1,MSFT=2,NVDA=3,TSLA=4,AMZN=5");
    CHECK(fetch_with(broker, BrokerId::gtn, "G-1", 2) == "error: positions: GTN paging did not end within 2 pages");
}

TEST_CASE("ZAG paging: exactly RECON_BROKER_MAX_PAGES pages are walked; one more is an account failure")
{
    FakeBroker broker(zag_fixture());
    CHECK(fetch_with(broker, BrokerId::zag, "Z-1", 4) == "AAPL=1,MSFT=2,NVDA=3");
    CHECK(fetch_with(broker, BrokerId::zag, "Z-1", 3) == "AAPL=1,MSFT=2,NVDA=3");
    CHECK(fetch_with(broker, BrokerId::zag, "Z-1", 2) == "error: positions: ZAG paging did not end within 2 pages");
}

TEST_CASE("GTN totalNoOfRecords: exactly the rows sent is read; one more or one fewer is an account failure")
{
    for (const int delta : {0, 1, -1}) {
        CAPTURE(delta);
        Json fixture = gtn_fixture();
        if (delta != 0) fixture["faults"] = {{{"broker", "gtn"}, {"kind", "records_lie"}, {"delta", delta}}};
        FakeBroker broker(fixture);
        const std::string fetched = fetch_with(broker, BrokerId::gtn, "G-1", 3);
        if (delta == 0) {
            CHECK(fetched == "AAPL=1,MSFT=2,NVDA=3,TSLA=4,AMZN=5");
        } else {
            CHECK(fetched == "error: positions: GTN said totalNoOfRecords " + std::to_string(5 + delta) +
                                 " but sent 5 rows over 3 page(s)");
        }
    }
}
