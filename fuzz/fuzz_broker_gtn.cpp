// libFuzzer target: GTN's answers (lib/brokers/responses.cpp): the token exchange, the cash and
// security summaries (Trade API 1.2.1: envelope without `data`, `list`, amounts as raw JSON
// numbers, isNextPageAvailable/totalNoOfRecords), the rejectCode of FAILED answers. Every input
// goes through each parser; the properties are in fuzz/broker_properties.hpp, plus: an accepted
// token has an access token and an expiry a time_point can hold.
#include <cstdint>
#include <string_view>

#include "fuzz/broker_properties.hpp"

using namespace reconcile;
using namespace reconcile::fuzz;

namespace {

template <typename T>
nlohmann::json gtn_document(const BrokerPage<T>& page, nlohmann::json rows)
{
    nlohmann::json document = {{"status", "SUCCESS"}, {"rejectCode", 0}, {"list", std::move(rows)}};
    document["isNextPageAvailable"] = page.more;
    if (page.total_records) document["totalNoOfRecords"] = *page.total_records;
    return document;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    try {
        const GtnToken token = parse_gtn_token(body);
        text_field(token.access_token);
        if (token.expires_at) time_field(token.expires_at);
    } catch (const BrokerError& e) {
        require_account_error(e);
    }
    try {
        throw_if_gtn_rejected(body);
    } catch (const BrokerError& e) {
        require_account_error(e);
    }
    check_page(parse_gtn_cash, body, [](const BrokerPage<BrokerCash>& page) {
        nlohmann::json rows = nlohmann::json::array();
        for (const auto& c : page.items) rows.push_back({{"currency", c.currency}, {"balance", c.amount.to_string()}});
        return gtn_document(page, std::move(rows));
    });
    check_page(parse_gtn_securities, body,
               [](const BrokerPage<BrokerPosition>& page) { return gtn_document(page, position_rows(page)); });
    return 0;
}
