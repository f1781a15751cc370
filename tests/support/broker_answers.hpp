#pragma once

// Small helpers for tests of what brokers answer (tests/unit, tests/broker): positions as text
// for exact comparisons, and the refusal a broker-answer parser gives.

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "lib/brokers/responses.hpp"

namespace reconcile::test {

/// "SYMBOL=quantity" for each position, in order (quantities as Decimal prints them).
inline std::vector<std::string> position_lines(const std::vector<BrokerPosition>& positions)
{
    std::vector<std::string> result;
    for (const auto& p : positions) result.push_back(p.symbol + "=" + p.quantity.to_string());
    return result;
}

/// The message of the BrokerError `parse` refuses `body` with (and that it is about the
/// account); fails the test when it accepts the body.
template <typename Parse>
std::string refusal_of(Parse parse, std::string_view body)
{
    try {
        parse(body);
    } catch (const BrokerError& e) {
        CHECK(e.scope() == BrokerFailure::account);
        return e.what();
    }
    FAIL("accepted: " << std::string(body));
    return {};
}

}  // namespace reconcile::test
