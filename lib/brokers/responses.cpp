#include "lib/brokers/responses.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include <nlohmann/json.hpp>

#include "lib/brokers/contracts.hpp"
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

enum class Fraction { refused, dropped };

/// An optional whole number (paging fields, reject codes, epoch milliseconds) of at most 18
/// digits, written plainly or not ("3", 3.0, 1.5e3: a server's JSON encoder may write a whole
/// number as a float). With Fraction::dropped a fraction is cut off, as Python's int() does to
/// GTN's SDK's epoch milliseconds; otherwise it is malformed.
std::optional<std::int64_t> optional_int(const Json& object, std::string_view key, std::string_view broker,
                                         Fraction fraction = Fraction::refused)
{
    if (!object.is_object()) return std::nullopt;
    const auto found = object.find(std::string(key));
    if (found == object.end() || found->is_null()) return std::nullopt;
    const auto parsed = Decimal::try_parse(found->is_string() ? found->get<std::string>() : std::string{});
    const std::string plain = parsed ? parsed->to_string() : std::string{};
    const auto point = plain.find('.');
    const std::string whole = plain.substr(0, point);
    const bool has_fraction =
        point != std::string::npos && plain.find_first_not_of('0', point + 1) != std::string::npos;
    const std::size_t digits = whole.size() - (!whole.empty() && whole[0] == '-' ? 1 : 0);
    if (!parsed || digits == 0 || digits > 18 || (has_fraction && fraction == Fraction::refused)) {
        malformed(broker, fmt::format("'{}' is not a whole number", key));
    }
    return std::stoll(whole);
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

/// GTN's FAILED envelope as GtnRejected: the rejectCode (0 when absent) and the reason.
[[noreturn]] void gtn_rejected(const Json& answer, std::string_view what, const std::string& status)
{
    const std::int64_t code = optional_int(answer, gtn_api::reject_code, gtn).value_or(0);
    const std::string reason = optional_text(answer, gtn_api::reason, gtn).value_or("");
    throw GtnRejected(code, reason,
                      fmt::format("GTN {} {} (rejectCode {}): {}", what, printable_snippet(status, 40), code,
                                  printable_snippet(reason.empty() ? "no reason" : reason)));
}

/// GTN's envelope: status SUCCESS, or FAILED (any other status) with a rejectCode and reason.
/// An answer without a status (GTN's SDK looks for one only in the first token answer) is read
/// for what it must carry, whose absence is then the error.
Json gtn_envelope(std::string_view body, std::string_view what)
{
    Json answer = parse_body(gtn, body);
    if (!answer.is_object()) malformed(gtn, "expected an object");
    const auto status = optional_text(answer, gtn_api::status, gtn);
    if (status && *status != "SUCCESS") gtn_rejected(answer, what, *status);
    return answer;
}

/// A GTN summary page: the rows of `list` and the paging fields, straight in the envelope. A
/// SUCCESS page carries `list` unless it says `totalNoOfRecords` 0: rows elsewhere (the old
/// invented `data` wrapper, say) would otherwise read as an account that holds nothing.
template <typename T, typename Row>
BrokerPage<T> gtn_page(std::string_view body, Row row)
{
    const Json answer = gtn_envelope(body, "answered");
    BrokerPage<T> page;
    page.total_records = optional_int(answer, gtn_api::total_records, gtn);
    if (page.total_records && *page.total_records < 0) {
        malformed(gtn, fmt::format("'{}' is negative", gtn_api::total_records));
    }
    const auto list = answer.find(std::string(gtn_api::list));
    if ((list == answer.end() || list->is_null()) && page.total_records != 0) {
        malformed(gtn, fmt::format("no '{}'", gtn_api::list));
    }
    for (const auto& item : array(answer, gtn_api::list, gtn)) page.items.push_back(row(item));
    const auto found = answer.find(std::string(gtn_api::next_page));
    if (found != answer.end() && !found->is_null()) {
        if (!found->is_boolean()) malformed(gtn, fmt::format("'{}' is not true or false", gtn_api::next_page));
        page.more = found->get<bool>();
    }
    return page;
}

/// An optional epoch-milliseconds time (GTN's token expiries).
std::optional<Timestamp> epoch_ms(const Json& answer, std::string_view key)
{
    const auto ms = optional_int(answer, key, gtn, Fraction::dropped);
    if (!ms) return std::nullopt;
    // Past this (April 2262) a system_clock time_point (nanoseconds) would overflow.
    constexpr auto max_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Timestamp::duration::max()).count();
    if (*ms < 0 || *ms > max_ms) malformed(gtn, fmt::format("'{}' is out of range", key));
    return Timestamp(std::chrono::milliseconds(*ms));
}

/// An expiry `key_at` (epoch milliseconds) or, when that is absent, `received` plus `key_in`
/// seconds (the lifetime GTN's docs also name); neither gives nullopt (no known expiry).
std::optional<Timestamp> expiry(const Json& answer, std::string_view key_at, std::string_view key_in,
                                Timestamp received)
{
    if (auto at = epoch_ms(answer, key_at)) return at;
    const auto seconds = optional_int(answer, key_in, gtn, Fraction::dropped);
    if (!seconds) return std::nullopt;
    // A lifetime reaching past April 2262 would overflow the nanosecond time_point.
    const auto room = std::chrono::duration_cast<std::chrono::seconds>(Timestamp::max() - received).count();
    if (*seconds < 0 || *seconds > room) malformed(gtn, fmt::format("'{}' is out of range", key_in));
    return received + std::chrono::seconds(*seconds);
}

/// A page of the contract ZAG and ViewTrade share: the rows of <list_key>, as_of, next_page.
template <typename T, typename Row>
BrokerPage<T> contract_page(std::string_view broker, std::string_view body, std::string_view list_key, Row row)
{
    const Json answer = parse_body(broker, body);
    if (!answer.is_object()) malformed(broker, "expected an object");
    BrokerPage<T> page;
    page.as_of = time(answer, shared_contract::as_of, broker);
    for (const auto& item : array(answer, list_key, broker)) page.items.push_back(row(item));
    page.next_page = optional_int(answer, shared_contract::next_page, broker);
    return page;
}

}  // namespace

GtnToken parse_gtn_token_at(std::string_view body, Timestamp received)
{
    const Json answer = gtn_envelope(body, "token exchange");
    GtnToken token{.access_token = text(answer, gtn_api::access_token, gtn)};
    token.refresh_token = optional_text(answer, gtn_api::refresh_token, gtn);
    token.expires_at = expiry(answer, gtn_api::access_expires, gtn_api::access_expires_in, received);
    token.refresh_expires_at = expiry(answer, gtn_api::refresh_expires, gtn_api::refresh_expires_in, received);
    return token;
}

GtnToken parse_gtn_token(std::string_view body)
{
    return parse_gtn_token_at(body, std::chrono::system_clock::now());
}

BrokerPage<BrokerCash> parse_gtn_cash(std::string_view body)
{
    return gtn_page<BrokerCash>(body, [](const Json& row) {
        return BrokerCash{text(row, gtn_api::cash_currency, gtn), decimal(row, gtn_api::cash_balance, gtn)};
    });
}

BrokerPage<BrokerPosition> parse_gtn_securities(std::string_view body)
{
    return gtn_page<BrokerPosition>(body, [](const Json& row) {
        return BrokerPosition{text(row, gtn_api::security_symbol, gtn), decimal(row, gtn_api::security_quantity, gtn)};
    });
}

void throw_if_gtn_rejected(std::string_view body)
{
    Json answer;
    try {
        answer = parse_json_exact(body);
    } catch (const JsonTextError&) {
        return;
    }
    if (!answer.is_object() || !answer.contains(std::string(gtn_api::reject_code))) return;
    const auto status = optional_text(answer, gtn_api::status, gtn);
    if (status && *status != "SUCCESS") gtn_rejected(answer, "answered", *status);
}

BrokerPage<BrokerPosition> parse_zag_holdings(std::string_view body)
{
    return contract_page<BrokerPosition>(zag, body, zag_api::holdings_list, [](const Json& row) {
        return BrokerPosition{text(row, zag_api::symbol, zag), decimal(row, zag_api::quantity, zag)};
    });
}

BrokerPage<BrokerCash> parse_viewtrade_cash(std::string_view body)
{
    return contract_page<BrokerCash>(viewtrade, body, viewtrade_api::balances_list, [](const Json& row) {
        return BrokerCash{text(row, viewtrade_api::currency, viewtrade),
                          decimal(row, viewtrade_api::amount, viewtrade)};
    });
}

BrokerPage<BrokerPosition> parse_viewtrade_positions(std::string_view body)
{
    return contract_page<BrokerPosition>(viewtrade, body, viewtrade_api::positions_list, [](const Json& row) {
        return BrokerPosition{text(row, viewtrade_api::symbol, viewtrade),
                              decimal(row, viewtrade_api::quantity, viewtrade)};
    });
}

BrokerPage<BrokerFunding> parse_viewtrade_deposits(std::string_view body)
{
    namespace vt = viewtrade_api;
    return contract_page<BrokerFunding>(viewtrade, body, vt::deposits_list, [](const Json& row) {
        BrokerFunding deposit;
        deposit.funding_id = text(row, vt::deposit_id, viewtrade);
        deposit.amount = decimal(row, vt::amount, viewtrade);
        deposit.currency = text(row, vt::currency, viewtrade);
        deposit.status = text(row, vt::deposit_status, viewtrade);
        deposit.initiated_at = time(row, vt::initiated_at, viewtrade);
        deposit.completed_at = time(row, vt::completed_at, viewtrade);
        // The reference is free text and optional: anything but text leaves it empty.
        if (const auto found = row.find(std::string(vt::reference)); found != row.end() && found->is_string()) {
            deposit.reference = optional_text(row, vt::reference, viewtrade).value_or("");
        }
        return deposit;
    });
}

}  // namespace reconcile
