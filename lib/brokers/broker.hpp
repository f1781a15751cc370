#pragma once

// The broker side of category C: one interface every adapter implements (gtn.cpp, zag.cpp,
// viewtrade.cpp), and the BrokerHub that fans requests out over many customers with bounded
// concurrency, per-customer failure isolation and a per-run cache.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "lib/broker_health.hpp"
#include "lib/brokers/responses.hpp"
#include "lib/config.hpp"
#include "lib/decimal.hpp"
#include "lib/http_client.hpp"
#include "lib/timeutil.hpp"

namespace reconcile {

/// The brokers reconcile knows, named in contract.broker_accounts.broker as GTN, ZAG, VIEWTRADE.
enum class BrokerId { gtn, zag, viewtrade };

/// "GTN", "ZAG", "VIEWTRADE": the code in contract.broker_accounts and in metrics.
std::string_view broker_code(BrokerId broker);

/// One broker's API. Each call is about one account (the broker_account_ref of
/// contract.broker_accounts), walks every page, and throws BrokerError on any failure.
/// Thread-safe: the hub calls it from several threads at once.
class Broker {
public:
    virtual ~Broker() = default;
    virtual BrokerId id() const = 0;
    /// Cash balances per currency.
    virtual Stamped<BrokerCash> cash(const std::string& account_ref);
    /// Share counts per instrument.
    virtual Stamped<BrokerPosition> positions(const std::string& account_ref);
    /// Deposits and wires into the account.
    virtual Stamped<BrokerFunding> funding(const std::string& account_ref);
};

/// Whether the broker's contract is its published API (GTN) or provisional (ZAG, ViewTrade).
BrokerContract contract_of(BrokerId broker);

/// What an adapter talks through: the run's HTTP client and its broker's health record.
struct BrokerLink {
    HttpClient& http;
    BrokerHealthRecorder& health;
};

/// Adapter factories (one file each). They throw BrokerError(configuration) when the broker's
/// settings are missing, so a book that has no customers at a broker needs no settings for it.
std::unique_ptr<Broker> make_gtn_broker(const BrokerSettings& settings, BrokerLink link);
std::unique_ptr<Broker> make_zag_broker(const BrokerSettings& settings, BrokerLink link);
std::unique_ptr<Broker> make_viewtrade_broker(const BrokerSettings& settings, BrokerLink link);

/// A customer's account at a broker (a row of contract.broker_accounts).
struct BrokerAccount {
    std::string customer_id;
    std::string account_ref;
};

/// The kinds of data a check asks for.
enum class BrokerData { cash, positions, funding };

/// One account's answer: the data asked for, or why it could not be had.
struct AccountFetch {
    BrokerAccount account;
    std::optional<Stamped<BrokerCash>> cash;
    std::optional<Stamped<BrokerPosition>> positions;
    std::optional<Stamped<BrokerFunding>> funding;
    std::optional<std::string> error;                ///< set when any requested kind failed
    BrokerFailure failure = BrokerFailure::account;  ///< what the error is about
    /// The earliest as-of of what was fetched.
    std::optional<Timestamp> as_of() const;
};

/// A fan-out over accounts of one broker.
struct BrokerFetch {
    BrokerId broker = BrokerId::gtn;
    std::vector<AccountFetch> accounts;  ///< in the order asked
    std::size_t failed = 0;
    /// No account could be fetched, for a reason that is not about any account: the broker
    /// is unreachable (or, with `not_configured`, we have no settings to reach it).
    bool unreachable = false;
    bool not_configured = false;
    std::string unreachable_reason;
};

/// Broker access for one run (or one report): one HTTP client shared by the adapters, each
/// adapter created on first use, and a cache so checks that need the same account's data in
/// the same run (positions for two ViewTrade checks) ask the broker once.
class BrokerHub {
public:
    explicit BrokerHub(const BrokerSettings& settings);
    ~BrokerHub();
    BrokerHub(const BrokerHub&) = delete;
    BrokerHub& operator=(const BrokerHub&) = delete;

    /// Fetches `kinds` for every account with at most RECON_BROKER_CONCURRENCY calls in flight.
    /// One account's failure is recorded on it and never stops the others; once a failure that
    /// is not about the account happens before any account succeeded, the remaining accounts
    /// are not asked (the broker is unreachable as a whole).
    BrokerFetch fetch(BrokerId broker, const std::vector<BrokerAccount>& accounts,
                      const std::vector<BrokerData>& kinds);

    /// Names the fetches that follow in the terminal progress line (lib/progress.hpp), e.g. the
    /// check that asks: "gtn_ledger_recon: 1200/5000 customers". Empty: no progress line.
    void set_progress_label(std::string label) { m_progress_label = std::move(label); }

    /// The health of every broker asked so far (in BrokerId order): what the run stores.
    std::vector<BrokerHealth> health() const;

private:
    struct Cached;
    struct BrokerState;
    BrokerState& state(BrokerId broker);
    void fetch_one(BrokerState& state, AccountFetch& result, const std::vector<BrokerData>& kinds);

    const BrokerSettings& m_settings;
    HttpClient m_http;
    std::string m_progress_label;
    mutable std::mutex m_mutex;
    std::map<BrokerId, std::unique_ptr<BrokerState>> m_states;
};

// ---- support shared by the adapters -------------------------------------------------------

/// Sends a request, recording each attempt in the broker's health; transport failures become
/// BrokerError (whole broker for "no connection").
HttpResponse broker_send(BrokerLink link, HttpRequest request);

/// The body of a 200 answer; any other status is a BrokerError about the account naming it
/// (and an http_status error in the broker's health).
const std::string& broker_body(std::string_view broker, const HttpResponse& response, BrokerHealthRecorder& health);

/// Runs `parse` on an answer, counting a refusal as a parse error (or, for GTN's FAILED
/// answers, a reject_code error) in the broker's health.
template <typename Parse>
auto parse_recorded(BrokerHealthRecorder& health, Parse parse) -> decltype(parse())
{
    try {
        return parse();
    } catch (const GtnRejected&) {
        health.error(BrokerErrorKind::reject_code);
        throw;
    } catch (const BrokerError&) {
        health.error(BrokerErrorKind::parse);
        throw;
    }
}

/// The contract ZAG and ViewTrade share (contracts.hpp, docs/brokers.md):
/// GET {base_url}{base_path}/{account_ref}/{resource}?page=N (N from 1) with `X-Api-Key`,
/// answered {"as_of": ISO-8601, "<list>": [...], "next_page": N | null}. Hands every page's body
/// to `on_page` (which parses it, keeps its rows and returns its paging) and returns the first
/// page's as_of (or the time of the answer).
struct ContractEndpoint {
    std::string_view broker;
    std::string base_url;
    std::string base_path;
    std::string api_key;
    std::int64_t max_pages = 100;
};
Timestamp fetch_contract_pages(BrokerLink link, const ContractEndpoint& endpoint, const std::string& account_ref,
                               std::string_view resource,
                               const std::function<PageInfo(std::string_view body)>& on_page);

/// Base of the adapters that implement that contract (ZAG, ViewTrade): the base URL and path,
/// the key and the paging limit, checked once when the adapter is made.
class ContractBroker : public Broker {
protected:
    ContractBroker(std::string_view broker, BrokerLink link, const std::optional<std::string>& base_url,
                   std::string_view base_url_setting, std::string base_path, const std::optional<std::string>& api_key,
                   std::string_view api_key_setting, std::int64_t max_pages);
    /// Every row of `resource` for one account, each page read by `parse` (responses.hpp).
    template <typename T>
    Stamped<T> collect(const std::string& account_ref, std::string_view resource,
                       BrokerPage<T> (*parse)(std::string_view body))
    {
        Stamped<T> result;
        result.as_of = fetch_contract_pages(m_link, m_endpoint, account_ref, resource, [&](std::string_view body) {
            auto page = parse_recorded(m_link.health, [&] { return parse(body); });
            for (auto& item : page.items) result.items.push_back(std::move(item));
            return PageInfo(page);
        });
        return result;
    }

private:
    BrokerLink m_link;
    ContractEndpoint m_endpoint;
};

/// A required broker setting, or BrokerError(configuration) naming it.
std::string required_broker_setting(const std::optional<std::string>& value, std::string_view broker,
                                    std::string_view name);

}  // namespace reconcile
