// libFuzzer target: ViewTrade's pages (lib/brokers/responses.cpp): balances, positions and
// deposits (the wires into the account, with their times and references). Every input goes
// through each parser; the properties are in fuzz/broker_properties.hpp.
#include <cstdint>
#include <string_view>

#include "fuzz/broker_properties.hpp"

using namespace reconcile;
using namespace reconcile::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    check_page(parse_viewtrade_cash, body, [](const BrokerPage<BrokerCash>& page) {
        nlohmann::json rows = nlohmann::json::array();
        for (const auto& c : page.items) rows.push_back({{"currency", c.currency}, {"amount", c.amount.to_string()}});
        return contract_document(page, "cash", std::move(rows));
    });
    check_page(parse_viewtrade_positions, body, [](const BrokerPage<BrokerPosition>& page) {
        return contract_document(page, "positions", position_rows(page));
    });
    check_page(parse_viewtrade_deposits, body, [](const BrokerPage<BrokerFunding>& page) {
        nlohmann::json rows = nlohmann::json::array();
        for (const auto& d : page.items) {
            nlohmann::json row = {{"deposit_id", d.funding_id},
                                  {"amount", d.amount.to_string()},
                                  {"currency", d.currency},
                                  {"status", d.status},
                                  {"reference", d.reference}};
            if (d.initiated_at) row["initiated_at"] = format_utc(*d.initiated_at);
            if (d.completed_at) row["completed_at"] = format_utc(*d.completed_at);
            rows.push_back(std::move(row));
        }
        return contract_document(page, "deposits", std::move(rows));
    });
    return 0;
}
