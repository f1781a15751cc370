#pragma once

// Broker-side fixtures that agree with tests/db/fixture.hpp's clean ledger, for the category C
// tests: which customers have which broker accounts, their LRS remittances, and what the fake
// broker holds for them.

#include <nlohmann/json.hpp>

#include "lib/config.hpp"

namespace reconcile::test {

/// UAE: C001 and C002 at GTN (G-001, G-002) and ZAG (Z-001, Z-002).
extern const char* const uae_broker_accounts_sql;
/// India: C001 and C002 at ViewTrade (V-001, V-002) and their LRS remittances: C001's
/// 115.00 USD arrived as one 100.00 wire (a 15.00 fee); C002's 130.00 + 125.00
/// arrived as one 250.00 wire.
extern const char* const india_broker_accounts_sql;

/// What GTN, ZAG and ViewTrade hold when everything agrees with the clean ledger: C001 48.50
/// USD and 0.5 AAPL, C002 250.00 USD; the two wires above.
nlohmann::json clean_broker_fixture();

/// Every broker configured (GTN with the test key) but unreachable (a closed port on loopback),
/// asked once: a C run of a book with broker accounts reaches no broker and exits 69.
EnvMap unreachable_brokers_env();

}  // namespace reconcile::test
