#pragma once

// What each broker's API looks like, in one place per broker: paths, query parameters, headers
// and field names. GTN's is its published Trade API 1.2.1 (public). ZAG and ViewTrade publish
// no API: theirs are contracts we wrote down (provisional), to be replaced by the real shapes
// here when the brokers hand them over. The adapters (gtn.cpp, zag.cpp, viewtrade.cpp) and the
// parsers (responses.cpp) read these names; docs/brokers.md describes them.

#include <cstdint>
#include <string_view>

#include "lib/broker_health.hpp"

namespace reconcile {

/// GTN Trade API 1.2.1 (GTN's developer documentation and its SDK GTN-Tech/python-sdk).
namespace gtn_api {
inline constexpr BrokerContract contract = BrokerContract::public_api;
inline constexpr std::string_view token_path = "/trade/auth/token";
inline constexpr std::string_view refresh_path = "/trade/auth/token/refresh";
inline constexpr std::string_view cash_path = "/trade/fo/v1.2.1/customer/account/cash/summary";
inline constexpr std::string_view security_path = "/trade/fo/v1.2.1/customer/account/security/summary";
// Query of the summaries: pages are numbered from 1.
inline constexpr std::string_view customer_param = "customerNumber";
inline constexpr std::string_view page_param = "pageNo";
inline constexpr std::string_view width_param = "pageWidth";
// The envelope of every answer (no `data` wrapper).
inline constexpr std::string_view status = "status";  // SUCCESS | FAILED
inline constexpr std::string_view reject_code = "rejectCode";
inline constexpr std::string_view reason = "reason";
inline constexpr std::string_view list = "list";
inline constexpr std::string_view next_page = "isNextPageAvailable";
inline constexpr std::string_view page_no = "pageNo";
inline constexpr std::string_view total_records = "totalNoOfRecords";
// Cash summary rows (published): the ledger's cash is compared with `balance` (docs/brokers.md).
inline constexpr std::string_view cash_currency = "currency";
inline constexpr std::string_view cash_balance = "balance";
// Security summary rows: GTN publishes no example row, so these names are PROVISIONAL.
inline constexpr std::string_view security_symbol = "symbol";
inline constexpr std::string_view security_quantity = "quantity";
// The token answer.
inline constexpr std::string_view access_token = "accessToken";
inline constexpr std::string_view refresh_token = "refreshToken";
inline constexpr std::string_view access_expires = "accessTokenExpiresAt";  // epoch ms (what GTN's SDK reads)
inline constexpr std::string_view refresh_expires = "refreshTokenExpiresAt";
// Lifetimes in seconds from the answer, named by GTN's docs: read when the *ExpiresAt is absent.
inline constexpr std::string_view access_expires_in = "expiresIn";
inline constexpr std::string_view refresh_expires_in = "refreshTokenExpiresIn";
// rejectCodes GTN documents (its error table).
inline constexpr int reject_missing_parameters = 1001;    // seen with HTTP 400
inline constexpr int reject_jwt_verification = 1002;      // error in verifying the JWT: configuration
inline constexpr int reject_keys_not_configured = 1003;   // public and private keys not configured: configuration
inline constexpr int reject_user_not_found = 1004;        // the assertion's userId: configuration
inline constexpr int reject_security_key_config = 1005;   // security keys not configured: configuration
inline constexpr int reject_invalid_server_token = 1006;  // refresh (or assert again) once, retry
inline constexpr int reject_token_expired = 1007;         // refresh (or assert again) once, retry
inline constexpr int reject_invalid_token = 1008;         // refresh (or assert again) once, retry
inline constexpr int reject_assertion_details = 1014;     // insufficient details in the assertion: configuration
inline constexpr int reject_invalid_institution = 1016;   // the assertion's instCode: configuration
inline constexpr int reject_server_busy = 1123;           // retry with backoff

/// GTN refused the access token (invalid server access token, expired, invalid; with HTTP 200
/// or 401): it is renewed once and the call asked again.
constexpr bool refuses_token(std::int64_t code)
{
    return code == reject_invalid_server_token || code == reject_token_expired || code == reject_invalid_token;
}

/// GTN refused what we assert (our JWT, keys, user, institution): our configuration, not GTN
/// being down, and not retried within the run.
constexpr bool refuses_our_configuration(std::int64_t code)
{
    return code == reject_jwt_verification || code == reject_keys_not_configured || code == reject_user_not_found ||
           code == reject_security_key_config || code == reject_assertion_details || code == reject_invalid_institution;
}
}  // namespace gtn_api

/// ZAG: no published API; PROVISIONAL contract.
///   GET {ZAG_BASE_URL}{ZAG_BASE_PATH}/{account}/holdings?page=N   X-Api-Key: {ZAG_API_KEY}
///   -> {"as_of": .., "holdings": [{"symbol": "AAPL", "quantity": "1.5"}], "next_page": N | null}
namespace zag_api {
inline constexpr BrokerContract contract = BrokerContract::provisional;
inline constexpr std::string_view holdings_resource = "holdings";
inline constexpr std::string_view holdings_list = "holdings";
inline constexpr std::string_view symbol = "symbol";
inline constexpr std::string_view quantity = "quantity";
}  // namespace zag_api

/// ViewTrade: no published API; PROVISIONAL contract.
///   GET {VIEWTRADE_BASE_URL}{VIEWTRADE_BASE_PATH}/{account}/{balances|positions|deposits}?page=N
///   X-Api-Key: {VIEWTRADE_API_KEY}
namespace viewtrade_api {
inline constexpr BrokerContract contract = BrokerContract::provisional;
inline constexpr std::string_view balances_resource = "balances";
inline constexpr std::string_view balances_list = "cash";
inline constexpr std::string_view currency = "currency";
inline constexpr std::string_view amount = "amount";
inline constexpr std::string_view positions_resource = "positions";
inline constexpr std::string_view positions_list = "positions";
inline constexpr std::string_view symbol = "symbol";
inline constexpr std::string_view quantity = "quantity";
inline constexpr std::string_view deposits_resource = "deposits";
inline constexpr std::string_view deposits_list = "deposits";
inline constexpr std::string_view deposit_id = "deposit_id";
inline constexpr std::string_view deposit_status = "status";
inline constexpr std::string_view initiated_at = "initiated_at";
inline constexpr std::string_view completed_at = "completed_at";
inline constexpr std::string_view reference = "reference";
}  // namespace viewtrade_api

/// The contract the ZAG and ViewTrade adapters share: key header, paging, as-of.
namespace shared_contract {
inline constexpr std::string_view api_key_header = "X-Api-Key";
inline constexpr std::string_view page_param = "page";
inline constexpr std::string_view as_of = "as_of";
inline constexpr std::string_view next_page = "next_page";
}  // namespace shared_contract

}  // namespace reconcile
