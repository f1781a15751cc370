#pragma once

// The properties every broker-answer parser of lib/brokers/responses.hpp keeps, for the
// fuzz_broker_* targets: it never crashes; it fails only with a BrokerError about the account
// whose message is one line of valid UTF-8; what it accepts has no NUL in any text (PostgreSQL
// could not store it); and the page it read, written back in the broker's documented format,
// reads back to the same rows, amounts, as-of and paging (nothing is lost or rounded).

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz/fuzz_support.hpp"
#include "lib/brokers/responses.hpp"
#include "lib/timeutil.hpp"

namespace reconcile::fuzz {

inline std::string text_field(const std::string& text)
{
    require(text.find('\0') == std::string::npos && valid_utf8(text));
    return text + "|";
}

inline std::string time_field(const std::optional<Timestamp>& time)
{
    return time ? format_utc(*time) + "|" : std::string("-|");
}

inline std::string signature(const BrokerCash& cash)
{
    return text_field(cash.currency) + cash.amount.to_string();
}

inline std::string signature(const BrokerPosition& position)
{
    return text_field(position.symbol) + position.quantity.to_string();
}

inline std::string signature(const BrokerFunding& funding)
{
    return text_field(funding.funding_id) + funding.amount.to_string() + "|" + text_field(funding.currency) +
           text_field(funding.status) + time_field(funding.initiated_at) + time_field(funding.completed_at) +
           text_field(funding.reference);
}

template <typename T>
std::string signature(const BrokerPage<T>& page)
{
    std::string text = time_field(page.as_of);
    text += page.next_page ? std::to_string(*page.next_page) : "-";
    text += page.more ? "+" : ".";
    text += page.total_records ? "/" + std::to_string(*page.total_records) : "/-";
    for (const auto& item : page.items) text += "\n" + signature(item);
    return text;
}

/// A broker error must be about the account and fit one line.
inline void require_account_error(const BrokerError& e)
{
    require(e.scope() == BrokerFailure::account);
    require_one_line(e.what());
}

/// Runs one parser on `body` and checks the properties above; `document` writes a page back
/// in the broker's format.
template <typename T, typename Document>
void check_page(BrokerPage<T> (*parse)(std::string_view), std::string_view body, Document document)
{
    std::optional<BrokerPage<T>> page;
    try {
        page = parse(body);
    } catch (const BrokerError& e) {
        require_account_error(e);
        return;
    }
    const std::string first = signature(*page);
    const std::string written = document(*page).dump();
    require(signature(parse(written)) == first);
}

/// The fields ZAG and ViewTrade pages share.
template <typename T>
nlohmann::json contract_document(const BrokerPage<T>& page, const char* list_key, nlohmann::json rows)
{
    nlohmann::json document = {{list_key, std::move(rows)}};
    if (page.as_of) document["as_of"] = format_utc(*page.as_of);
    if (page.next_page) document["next_page"] = *page.next_page;
    return document;
}

inline nlohmann::json position_rows(const BrokerPage<BrokerPosition>& page)
{
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& p : page.items) rows.push_back({{"symbol", p.symbol}, {"quantity", p.quantity.to_string()}});
    return rows;
}

}  // namespace reconcile::fuzz
