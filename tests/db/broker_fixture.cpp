#include "tests/db/broker_fixture.hpp"

#include "tests/support/fake_broker.hpp"

namespace reconcile::test {

const char* const uae_broker_accounts_sql = R"sql(
INSERT INTO ledger.broker_accounts (customer_id, broker, broker_account_ref)
VALUES ('C001', 'GTN', 'G-001'), ('C002', 'GTN', 'G-002'), ('C001', 'ZAG', 'Z-001'), ('C002', 'ZAG', 'Z-002');
)sql";

const char* const india_broker_accounts_sql = R"sql(
INSERT INTO ledger.broker_accounts (customer_id, broker, broker_account_ref)
VALUES ('C001', 'VIEWTRADE', 'V-001'), ('C002', 'VIEWTRADE', 'V-002');
INSERT INTO ledger.lrs_remittances (remittance_id, customer_id, pan, inr_amount, usd_amount, fx_rate, purpose_code,
                                    utr, status, initiated_at, settled_at, value_date)
VALUES ('R-1', 'C001', 'ABCDE1234F', 9602.50, 115.00, 83.50, 'S0001', 'UTR-1', 'settled',
        '2026-10-31T08:00Z', '2026-11-01T08:00Z', '2026-11-01'),
       ('R-2', 'C002', 'FGHIJ5678K', 10855.00, 130.00, 83.50, 'S0001', 'UTR-2', 'settled',
        '2026-11-02T08:00Z', '2026-11-03T08:00Z', '2026-11-03'),
       ('R-3', 'C002', 'FGHIJ5678K', 10437.50, 125.00, 83.50, 'S0001', 'UTR-3', 'settled',
        '2026-11-02T09:00Z', '2026-11-03T09:00Z', '2026-11-03');
)sql";

nlohmann::json clean_broker_fixture()
{
    using Json = nlohmann::json;
    const auto position = [](const char* symbol, const char* quantity) {
        return Json{{"symbol", symbol}, {"quantity", quantity}};
    };
    const auto deposit = [](const char* id, const char* amount, const char* when) {
        return Json{{"deposit_id", id},     {"amount", amount},     {"currency", "USD"}, {"status", "completed"},
                    {"initiated_at", when}, {"completed_at", when}, {"reference", id}};
    };
    return {
        {"gtn",
         {{"accounts",
           {{"G-001",
             {{"cash", {{{"currency", "USD"}, {"balance", "48.50"}}}}, {"securities", {position("AAPL", "0.5")}}}},
            {"G-002", {{"cash", {{{"currency", "USD"}, {"balance", "250.00"}}}}}}}}}},
        {"zag", {{"accounts", {{"Z-001", {{"holdings", {position("AAPL", "0.500000")}}}}, {"Z-002", Json::object()}}}}},
        {"viewtrade",
         {{"accounts",
           {{"V-001",
             {{"cash", {{{"currency", "USD"}, {"amount", "48.50"}}}},
              {"positions", {position("AAPL", "0.5")}},
              {"deposits", {deposit("W-1", "100.00", "2026-11-01T12:00:00Z")}}}},
            {"V-002",
             {{"cash", {{{"currency", "USD"}, {"amount", "250.00"}}}},
              {"deposits", {deposit("W-2", "250.00", "2026-11-04T12:00:00Z")}}}}}}}}};
}

EnvMap unreachable_brokers_env()
{
    EnvMap env = broker_credentials("http://127.0.0.1:1");
    env.insert({{"RECON_BROKER_CONNECT_TIMEOUT_MS", "1000"}, {"RECON_BROKER_RETRIES", "0"}});
    return env;
}

}  // namespace reconcile::test
