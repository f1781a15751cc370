// libFuzzer target: ZAG's holdings pages (lib/brokers/responses.cpp): as_of, holdings with exact
// quantities, next_page. The properties are in fuzz/broker_properties.hpp.
#include <cstdint>
#include <string_view>

#include "fuzz/broker_properties.hpp"

using namespace reconcile;
using namespace reconcile::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    check_page(parse_zag_holdings, body, [](const BrokerPage<BrokerPosition>& page) {
        return contract_document(page, "holdings", position_rows(page));
    });
    return 0;
}
