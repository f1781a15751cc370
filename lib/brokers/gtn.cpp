// GTN (UAE: USD cash and US equities), following its public API shape:
//   POST /trade/auth/token                      {"assertion": <RS256 institution JWT>} -> access token
//   GET  /trade/fo/v1.2.1/customer/account/cash/summary?customerNumber=..&pageIndex=..&pageSize=..
//   GET  /trade/fo/v1.2.1/customer/account/security/summary?customerNumber=..&pageIndex=..&pageSize=..
// Every call carries `Throttle-Key`; data calls `Authorization: Bearer <access token>`. Answers
// are enveloped {"status": "SUCCESS"|"FAILED", "reason": .., "data": {..}, "paging": {..}} and
// amounts are JSON numbers, read exactly (never through a double).
#include <fmt/format.h>

#include <chrono>
#include <mutex>

#include "lib/brokers/broker.hpp"
#include "lib/errors.hpp"
#include "lib/hash.hpp"
#include "lib/jwt.hpp"

namespace reconcile {
namespace {

constexpr std::string_view gtn = "GTN";
constexpr const char* cash_path = "/trade/fo/v1.2.1/customer/account/cash/summary";
constexpr const char* security_path = "/trade/fo/v1.2.1/customer/account/security/summary";
constexpr int page_size = 100;
/// The institution assertion lives this long; the access token as long as GTN says.
constexpr std::int64_t assertion_lifetime_seconds = 300;
/// A token this close to its expiry is renewed before use.
constexpr std::chrono::seconds renew_margin{30};

class GtnBroker : public Broker {
public:
    GtnBroker(const BrokerSettings& settings, HttpClient& http)
        : m_http(http),
          m_base_url(required_broker_setting(settings.gtn_base_url, gtn, "GTN_BASE_URL")),
          m_app_key(required_broker_setting(settings.gtn_app_key, gtn, "GTN_APP_KEY")),
          m_institution(required_broker_setting(settings.gtn_institution_id, gtn, "GTN_INSTITUTION_ID")),
          m_throttle_key(settings.gtn_throttle_key.value_or(m_app_key)),
          m_max_pages(settings.max_pages)
    {
        if (settings.gtn_app_secret) {
            m_basic_auth = "Basic " + base64_encode(m_app_key + ":" + *settings.gtn_app_secret);
        }
        try {
            m_signer.emplace(required_broker_setting(settings.gtn_private_key, gtn, "GTN_PRIVATE_KEY"),
                             "GTN_PRIVATE_KEY");
        } catch (const Error& e) {
            throw BrokerError(BrokerFailure::configuration, e.what());
        }
    }

    BrokerId id() const override { return BrokerId::gtn; }

    Stamped<BrokerCash> cash(const std::string& account_ref) override
    {
        return collect(cash_path, account_ref, parse_gtn_cash);
    }

    Stamped<BrokerPosition> positions(const std::string& account_ref) override
    {
        return collect(security_path, account_ref, parse_gtn_securities);
    }

private:
    /// Standard base64 (with padding) for the Basic header.
    static std::string base64_encode(const std::string& text)
    {
        std::string encoded = base64url_encode(text);
        for (char& c : encoded) {
            if (c == '-') c = '+';
            if (c == '_') c = '/';
        }
        while (encoded.size() % 4 != 0) encoded.push_back('=');
        return encoded;
    }

    /// The current access token, exchanging a fresh institution JWT when there is none or it
    /// is about to expire. One exchange at a time; the other threads wait for its result.
    std::string access_token(const std::string& stale = {})
    {
        const std::lock_guard<std::mutex> guard(m_token_mutex);
        if (m_exchange_error) throw BrokerError(BrokerFailure::broker, *m_exchange_error);
        const auto now = std::chrono::system_clock::now();
        if (!m_token.empty() && m_token != stale && now + renew_margin < m_token_expires) return m_token;
        const auto epoch = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
        const nlohmann::json claims = {{"iss", m_app_key},
                                       {"instCode", m_institution},
                                       {"iat", epoch},
                                       {"exp", epoch + assertion_lifetime_seconds}};
        HttpRequest request{.method = "POST",
                            .url = m_base_url + "/trade/auth/token",
                            .headers = {{"Content-Type", "application/json"},
                                        {"Accept", "application/json"},
                                        {"Throttle-Key", m_throttle_key}},
                            .body = nlohmann::json{{"assertion", m_signer->sign(claims)}}.dump()};
        if (!m_basic_auth.empty()) request.headers.emplace_back("Authorization", m_basic_auth);
        GtnToken answer;
        try {
            answer = parse_gtn_token(broker_body(gtn, broker_send(m_http, request)));
        } catch (const BrokerError& e) {
            // Without a token no account can be asked: this is about the broker, not a customer,
            // and it is not asked again in this run.
            m_exchange_error = fmt::format("token exchange failed: {}", e.what());
            throw BrokerError(BrokerFailure::broker, *m_exchange_error);
        }
        m_token = answer.access_token;
        m_token_expires = answer.expires_at.value_or(now + std::chrono::seconds(assertion_lifetime_seconds));
        return m_token;
    }

    /// GET one page's body; a 401 (expired or revoked token) renews the token once and asks again.
    std::string get_page(const std::string& path, const std::string& account_ref, int page)
    {
        const std::string url = fmt::format("{}{}?customerNumber={}&pageIndex={}&pageSize={}", m_base_url, path,
                                            url_encode(account_ref), page, page_size);
        std::string token = access_token();
        for (int attempt = 0;; ++attempt) {
            HttpRequest request{.method = "GET",
                                .url = url,
                                .headers = {{"Accept", "application/json"},
                                            {"Authorization", "Bearer " + token},
                                            {"Throttle-Key", m_throttle_key}}};
            HttpResponse response = broker_send(m_http, request);
            if (response.status == 401 && attempt == 0) {
                token = access_token(token);
                continue;
            }
            broker_body(gtn, response);
            return std::move(response.body);
        }
    }

    /// Every row of one summary for one account, walking pages from 0 to paging.totalPages.
    template <typename T>
    Stamped<T> collect(const std::string& path, const std::string& account_ref,
                       BrokerPage<T> (*parse)(std::string_view body))
    {
        Stamped<T> result;
        std::optional<Timestamp> stamped;
        for (int page = 0;; ++page) {
            if (page >= m_max_pages) {
                throw BrokerError(BrokerFailure::account,
                                  fmt::format("GTN paging did not end within {} pages", m_max_pages));
            }
            auto answer = parse(get_page(path, account_ref, page));
            if (!stamped) stamped = answer.as_of;
            for (auto& item : answer.items) result.items.push_back(std::move(item));
            if (!answer.total_pages || page + 1 >= *answer.total_pages) break;
        }
        result.as_of = stamped.value_or(std::chrono::system_clock::now());
        return result;
    }

    HttpClient& m_http;
    std::string m_base_url;
    std::string m_app_key;
    std::string m_institution;
    std::string m_throttle_key;
    std::string m_basic_auth;
    std::int64_t m_max_pages;
    std::optional<Rs256Signer> m_signer;
    std::mutex m_token_mutex;
    std::string m_token;
    Timestamp m_token_expires{};
    std::optional<std::string> m_exchange_error;
};

}  // namespace

std::unique_ptr<Broker> make_gtn_broker(const BrokerSettings& settings, HttpClient& http)
{
    return std::make_unique<GtnBroker>(settings, http);
}

}  // namespace reconcile
