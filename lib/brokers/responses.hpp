#pragma once

// What the brokers answer, and how one answer is read: the data types of category C, the error
// every broker failure is, and pure functions that turn one response body into rows. No network
// here: the adapters (gtn.cpp, zag.cpp, viewtrade.cpp) fetch and call these; the unit tests and
// the fuzz targets (fuzz/fuzz_broker_*.cpp) call them on text directly. Any body that is not
// what the broker documents, however hostile, is a BrokerError about the account, never a crash.

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "lib/decimal.hpp"
#include "lib/timeutil.hpp"

namespace reconcile {

/// A cash balance the broker reports for one account.
struct BrokerCash {
    std::string currency;
    Decimal amount;
};

/// A position (share count) the broker reports for one account.
struct BrokerPosition {
    std::string symbol;
    Decimal quantity;
};

/// Money that arrived at the broker for one account (a wire or deposit).
struct BrokerFunding {
    std::string funding_id;
    Decimal amount;
    std::string currency;
    std::string status;  ///< pending | completed | returned | cancelled
    std::optional<Timestamp> initiated_at;
    std::optional<Timestamp> completed_at;  ///< when it was credited (value date)
    std::string reference;
};

/// What a broker said, and as of when (its own as-of when it sends one, else when we heard it).
template <typename T>
struct Stamped {
    std::vector<T> items;
    Timestamp as_of{};
};

/// What a broker failure is about.
enum class BrokerFailure {
    account,        ///< this account only (timeout, 5xx, malformed or oversized answer, FAILED envelope)
    broker,         ///< the broker as a whole (no connection, credentials refused)
    configuration,  ///< our settings for this broker are missing or unusable
};

/// A failure to get one account's data. Failures that are not about the account make the
/// broker unreachable as a whole when nothing else succeeded.
class BrokerError : public std::runtime_error {
public:
    BrokerError(BrokerFailure scope, const std::string& message) : std::runtime_error(message), m_scope(scope) {}
    BrokerFailure scope() const { return m_scope; }
    bool whole_broker() const { return m_scope != BrokerFailure::account; }

private:
    BrokerFailure m_scope;
};

/// GTN's 200+FAILED (or 4xx+FAILED) answer: its rejectCode and reason. What the adapter does
/// depends on the code (gtn_api::reject_*); as a plain BrokerError it is about the account.
class GtnRejected : public BrokerError {
public:
    GtnRejected(std::int64_t code, std::string reason, const std::string& message)
        : BrokerError(BrokerFailure::account, message), m_code(code), m_reason(std::move(reason))
    {
    }
    std::int64_t code() const { return m_code; }
    const std::string& reason() const { return m_reason; }

private:
    std::int64_t m_code;
    std::string m_reason;
};

/// Where one page says the paging goes next, and the broker's own as-of if it sent one.
struct PageInfo {
    std::optional<Timestamp> as_of;
    std::optional<std::int64_t> next_page;      ///< ZAG / ViewTrade: `next_page` (null: last page)
    bool more = false;                          ///< GTN: `isNextPageAvailable`
    std::optional<std::int64_t> total_records;  ///< GTN: `totalNoOfRecords`, over every page
};

/// One page of an answer: its rows and its paging.
template <typename T>
struct BrokerPage : PageInfo {
    std::vector<T> items;
};

/// GTN's answer to the token exchange and to a refresh.
struct GtnToken {
    std::string access_token;
    std::optional<std::string> refresh_token;
    std::optional<Timestamp> expires_at;          ///< accessTokenExpiresAt (epoch milliseconds, before 2262)
    std::optional<Timestamp> refresh_expires_at;  ///< refreshTokenExpiresAt
};

/// GTN POST /trade/auth/token and /trade/auth/token/refresh: {"status": "SUCCESS", "rejectCode": 0,
/// "accessToken", "refreshToken", "accessTokenExpiresAt": ms, "refreshTokenExpiresAt": ms, ..}.
/// Without an *ExpiresAt, its lifetime in seconds (`expiresIn`, `refreshTokenExpiresIn`) counts
/// from `received`; without either the token has no known expiry.
GtnToken parse_gtn_token_at(std::string_view body, Timestamp received);
/// parse_gtn_token_at(body, now).
GtnToken parse_gtn_token(std::string_view body);
/// GTN cash summary (Trade API 1.2.1, no `data` wrapper): {"status", "rejectCode",
/// "isNextPageAvailable", "pageNo", "pageWidth", "totalNoOfRecords", "list": [{"currency",
/// "balance", ..}]}. A FAILED answer throws GtnRejected.
BrokerPage<BrokerCash> parse_gtn_cash(std::string_view body);
/// GTN security summary: the same envelope; rows {"symbol", "quantity"} (provisional names).
BrokerPage<BrokerPosition> parse_gtn_securities(std::string_view body);
/// A GTN answer with any HTTP status: throws GtnRejected when it is a FAILED envelope with a
/// rejectCode, and returns normally otherwise (not JSON, or no FAILED status).
void throw_if_gtn_rejected(std::string_view body);
/// ZAG holdings: {"as_of", "holdings": [{"symbol", "quantity"}], "next_page"}.
BrokerPage<BrokerPosition> parse_zag_holdings(std::string_view body);
/// ViewTrade balances: {"as_of", "cash": [{"currency", "amount"}], "next_page"}.
BrokerPage<BrokerCash> parse_viewtrade_cash(std::string_view body);
/// ViewTrade positions: {"as_of", "positions": [{"symbol", "quantity"}], "next_page"}.
BrokerPage<BrokerPosition> parse_viewtrade_positions(std::string_view body);
/// ViewTrade deposits (the wires into the account): {"as_of", "deposits": [{"deposit_id",
/// "amount", "currency", "status", "initiated_at", "completed_at", "reference"}], "next_page"}.
BrokerPage<BrokerFunding> parse_viewtrade_deposits(std::string_view body);

}  // namespace reconcile
