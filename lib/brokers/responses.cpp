#include "lib/brokers/responses.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include <nlohmann/json.hpp>

#include "lib/exact_json.hpp"

namespace reconcile {
namespace {

using Json = nlohmann::json;

constexpr std::string_view gtn = "GTN";
constexpr std::string_view zag = "ZAG";
constexpr std::string_view viewtrade = "VIEWTRADE";

[[noreturn]] void malformed(std::string_view broker, const std::string& what)
{
    throw BrokerError(BrokerFailure::account, fmt::format("{} sent a malformed answer: {}", broker, what));
}

/// The body as JSON with every number kept as its exact text (lib/exact_json.hpp).
Json parse_body(std::string_view broker, std::string_view body)
{
    try {
        return parse_json_exact(body);
    } catch (const JsonTextError& e) {
        throw BrokerError(BrokerFailure::account, fmt::format("{} sent {}", broker, e.what()));
    }
}

/// The value of `key` in an object; absent or null is malformed.
const Json& field(const Json& object, std::string_view key, std::string_view broker)
{
    if (!object.is_object()) malformed(broker, "expected an object");
    const auto found = object.find(std::string(key));
    if (found == object.end() || found->is_null()) malformed(broker, fmt::format("no '{}'", key));
    return *found;
}

/// The text of a string field that may be absent (nullopt); any other type is malformed. Text
/// with a NUL character is refused: PostgreSQL text and jsonb cannot hold one, so it would make
/// the whole results write fail instead of this one account.
std::optional<std::string> optional_text(const Json& object, std::string_view key, std::string_view broker)
{
    if (!object.is_object()) malformed(broker, "expected an object");
    const auto found = object.find(std::string(key));
    if (found == object.end() || found->is_null()) return std::nullopt;
    if (!found->is_string()) malformed(broker, fmt::format("'{}' is not text", key));
    const auto& text = found->get_ref<const std::string&>();
    if (text.find('\0') != std::string::npos) malformed(broker, fmt::format("'{}' contains a NUL character", key));
    return text;
}

/// A required text field (a JSON string, or a number's exact text).
std::string text(const Json& object, std::string_view key, std::string_view broker)
{
    field(object, key, broker);
    return *optional_text(object, key, broker);
}

/// A required exact decimal (a JSON number or a decimal string).
Decimal decimal(const Json& object, std::string_view key, std::string_view broker)
{
    const std::string value = text(object, key, broker);
    const auto parsed = Decimal::try_parse(value);
    if (!parsed) {
        malformed(broker, fmt::format("'{}' is not an exact decimal: '{}'", key, printable_snippet(value, 40)));
    }
    return *parsed;
}

/// An optional timestamp (ISO-8601); absent or null gives nullopt, unreadable is malformed.
std::optional<Timestamp> time(const Json& object, std::string_view key, std::string_view broker)
{
    if (!object.is_object()) return std::nullopt;
    const auto found = object.find(std::string(key));
    if (found == object.end() || found->is_null()) return std::nullopt;
    const auto parsed = found->is_string() ? parse_utc(found->get<std::string>()) : std::nullopt;
    if (!parsed) malformed(broker, fmt::format("'{}' is not a timestamp", key));
    return parsed;
}

/// An optional whole number (paging fields, epoch milliseconds) of at most 18 digits.
std::optional<std::int64_t> optional_int(const Json& object, std::string_view key, std::string_view broker)
{
    if (!object.is_object()) return std::nullopt;
    const auto found = object.find(std::string(key));
    if (found == object.end() || found->is_null()) return std::nullopt;
    const std::string value = found->is_string() ? found->get<std::string>() : std::string{};
    const std::size_t digits_from = !value.empty() && value[0] == '-' ? 1 : 0;
    const bool integral = value.size() > digits_from && value.size() - digits_from <= 18 &&
                          std::all_of(value.begin() + static_cast<std::ptrdiff_t>(digits_from), value.end(),
                                      [](unsigned char c) { return c >= '0' && c <= '9'; });
    if (!integral) malformed(broker, fmt::format("'{}' is not a whole number", key));
    return std::stoll(value);
}

/// The array at `key` (absent or null is an empty array).
const Json& array(const Json& object, std::string_view key, std::string_view broker)
{
    static const Json empty = Json::array();
    if (!object.is_object()) malformed(broker, "expected an object");
    const auto found = object.find(std::string(key));
    if (found == object.end() || found->is_null()) return empty;
    if (!found->is_array()) malformed(broker, fmt::format("'{}' is not a list", key));
    return *found;
}

BrokerCash cash_row(const Json& row, std::string_view broker, std::string_view amount_key)
{
    return {text(row, "currency", broker), decimal(row, amount_key, broker)};
}

BrokerPosition position_row(const Json& row, std::string_view broker)
{
    return {text(row, "symbol", broker), decimal(row, "quantity", broker)};
}

/// GTN's envelope: status SUCCESS, or FAILED (any other status) with a reason.
Json gtn_envelope(std::string_view body, std::string_view what)
{
    Json answer = parse_body(gtn, body);
    const std::string status = text(answer, "status", gtn);
    if (status != "SUCCESS") {
        const std::string reason = optional_text(answer, "reason", gtn).value_or("");
        throw BrokerError(BrokerFailure::account,
                          fmt::format("GTN {} {}: {}", what, printable_snippet(status, 40),
                                      printable_snippet(reason.empty() ? "no reason" : reason)));
    }
    return answer;
}

/// A GTN summary page: the rows of data.<list_key>, data.asOf and paging.totalPages.
template <typename T, typename Row>
BrokerPage<T> gtn_page(std::string_view body, std::string_view list_key, Row row)
{
    const Json answer = gtn_envelope(body, "answered");
    const Json& data = field(answer, "data", gtn);
    BrokerPage<T> page;
    page.as_of = time(data, "asOf", gtn);
    for (const auto& item : array(data, list_key, gtn)) page.items.push_back(row(item));
    if (answer.contains("paging")) page.total_pages = optional_int(answer["paging"], "totalPages", gtn);
    return page;
}

/// A page of the contract ZAG and ViewTrade share: the rows of <list_key>, as_of, next_page.
template <typename T, typename Row>
BrokerPage<T> contract_page(std::string_view broker, std::string_view body, std::string_view list_key, Row row)
{
    const Json answer = parse_body(broker, body);
    if (!answer.is_object()) malformed(broker, "expected an object");
    BrokerPage<T> page;
    page.as_of = time(answer, "as_of", broker);
    for (const auto& item : array(answer, list_key, broker)) page.items.push_back(row(item));
    page.next_page = optional_int(answer, "next_page", broker);
    return page;
}

}  // namespace

GtnToken parse_gtn_token(std::string_view body)
{
    const Json answer = gtn_envelope(body, "token exchange");
    GtnToken token{.access_token = text(answer, "accessToken", gtn)};
    if (const auto expires_ms = optional_int(answer, "accessTokenExpiresAt", gtn)) {
        // Past this (April 2262) a system_clock time_point (nanoseconds) would overflow.
        constexpr auto max_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(Timestamp::duration::max()).count();
        if (*expires_ms < 0 || *expires_ms > max_ms) malformed(gtn, "'accessTokenExpiresAt' is out of range");
        token.expires_at = Timestamp(std::chrono::milliseconds(*expires_ms));
    }
    return token;
}

BrokerPage<BrokerCash> parse_gtn_cash(std::string_view body)
{
    return gtn_page<BrokerCash>(body, "cashSummary", [](const Json& row) { return cash_row(row, gtn, "cashBalance"); });
}

BrokerPage<BrokerPosition> parse_gtn_securities(std::string_view body)
{
    return gtn_page<BrokerPosition>(body, "securities", [](const Json& row) { return position_row(row, gtn); });
}

BrokerPage<BrokerPosition> parse_zag_holdings(std::string_view body)
{
    return contract_page<BrokerPosition>(zag, body, "holdings", [](const Json& row) { return position_row(row, zag); });
}

BrokerPage<BrokerCash> parse_viewtrade_cash(std::string_view body)
{
    return contract_page<BrokerCash>(viewtrade, body, "cash",
                                     [](const Json& row) { return cash_row(row, viewtrade, "amount"); });
}

BrokerPage<BrokerPosition> parse_viewtrade_positions(std::string_view body)
{
    return contract_page<BrokerPosition>(viewtrade, body, "positions",
                                         [](const Json& row) { return position_row(row, viewtrade); });
}

BrokerPage<BrokerFunding> parse_viewtrade_deposits(std::string_view body)
{
    return contract_page<BrokerFunding>(viewtrade, body, "deposits", [](const Json& row) {
        BrokerFunding deposit;
        deposit.funding_id = text(row, "deposit_id", viewtrade);
        deposit.amount = decimal(row, "amount", viewtrade);
        deposit.currency = text(row, "currency", viewtrade);
        deposit.status = text(row, "status", viewtrade);
        deposit.initiated_at = time(row, "initiated_at", viewtrade);
        deposit.completed_at = time(row, "completed_at", viewtrade);
        // The reference is free text and optional: anything but text leaves it empty.
        if (row.contains("reference") && row["reference"].is_string()) {
            deposit.reference = optional_text(row, "reference", viewtrade).value_or("");
        }
        return deposit;
    });
}

}  // namespace reconcile
