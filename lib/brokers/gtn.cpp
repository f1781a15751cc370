// GTN (UAE: USD cash and US equities), speaking GTN's published Trade API 1.2.1 (the names are in
// lib/brokers/contracts.hpp, the protocol in docs/brokers.md):
//   POST /trade/auth/token          Basic app_key:secret, Throttle-Key, {"assertion": RS256 JWT}
//   POST /trade/auth/token/refresh  Throttle-Key, {"refreshToken": ..}
//   GET  /trade/fo/v1.2.1/customer/account/{cash,security}/summary?customerNumber=..&pageNo=N&pageWidth=W
// Answers carry status/rejectCode/reason, the paging fields and `list` at the top level. Errors
// mostly come as HTTP 200 + FAILED: 1006/1007/1008 (token invalid or expired, with 200 or 401)
// renew the token once and ask again, 1123 (busy) is retried with backoff on every call (token and
// refresh too: send()), 1002-1005, 1014 and 1016 (what we assert: JWT, keys, user, institution)
// are our configuration, any other code is a fetch_error naming it.
// Amounts are JSON numbers, read exactly.
#include <fmt/format.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <random>
#include <thread>

#include "lib/brokers/broker.hpp"
#include "lib/brokers/contracts.hpp"
#include "lib/errors.hpp"
#include "lib/hash.hpp"
#include "lib/jwt.hpp"
#include "lib/log.hpp"

namespace reconcile {
namespace {

constexpr std::string_view gtn = "GTN";
constexpr int page_width = 100;
/// The institution assertion lives an hour, as GTN's SDK makes it.
constexpr std::int64_t assertion_lifetime_seconds = 3600;
/// An access token this close to its expiry is renewed before use, and a refresh token this
/// close to its own is not used (a new assertion instead): GTN's SDK renews with 100 s left and
/// gives up a refresh token with 50 s left.
constexpr std::chrono::seconds renew_margin{100};
constexpr std::chrono::seconds refresh_margin{50};

/// Standard base64 (with padding) for the Basic header.
std::string base64_encode(const std::string& text)
{
    std::string encoded = base64url_encode(text);
    for (char& c : encoded) {
        if (c == '-') c = '+';
        if (c == '_') c = '/';
    }
    while (encoded.size() % 4 != 0) encoded.push_back('=');
    return encoded;
}

class GtnBroker : public Broker {
public:
    GtnBroker(const BrokerSettings& settings, BrokerLink link)
        : m_link(link),
          m_base_url(required_broker_setting(settings.gtn_base_url, gtn, "GTN_BASE_URL")),
          m_app_key(required_broker_setting(settings.gtn_app_key, gtn, "GTN_APP_KEY")),
          m_basic_auth(
              "Basic " +
              base64_encode(m_app_key + ":" + required_broker_setting(settings.gtn_app_secret, gtn, "GTN_APP_SECRET"))),
          m_institution(required_broker_setting(settings.gtn_institution_id, gtn, "GTN_INSTITUTION_ID")),
          m_user_id(settings.gtn_user_id),
          m_throttle_key(settings.gtn_throttle_key.value_or(m_app_key)),
          m_max_pages(settings.max_pages),
          m_busy_retries(settings.max_retries),
          m_backoff_ms(settings.backoff_ms),
          m_backoff_max_ms(settings.backoff_max_ms)
    {
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
        return collect(gtn_api::cash_path, account_ref, parse_gtn_cash);
    }

    Stamped<BrokerPosition> positions(const std::string& account_ref) override
    {
        return collect(gtn_api::security_path, account_ref, parse_gtn_securities);
    }

private:
    /// GTN's answer to one call: the HTTP response, and GTN's FAILED envelope when it is one.
    struct Reply {
        HttpResponse response;
        std::optional<GtnRejected> rejected;
    };

    /// Sends one GTN call (any of them: token, refresh, cash, positions), built anew by `make`
    /// for each attempt. 1123 (server busy) is retried with backoff while RECON_BROKER_RETRIES
    /// lasts; any other FAILED answer, or 1123 past the budget (its message then says how many
    /// attempts), is returned for the caller to act on. Transport retries are the HTTP client's.
    Reply send(const std::function<HttpRequest()>& make)
    {
        std::int64_t busy = 0;
        for (;;) {
            Reply reply{.response = broker_send(m_link, make())};
            try {
                // A 200 SUCCESS page is read once, by the caller's parser; only a body that may be
                // FAILED (or a non-200 one) is read here for its rejectCode first.
                if (reply.response.status != 200 || reply.response.body.find("FAILED") != std::string::npos) {
                    throw_if_gtn_rejected(reply.response.body);
                }
                return reply;
            } catch (const GtnRejected& e) {
                m_link.health.error(BrokerErrorKind::reject_code);
                if (e.code() == gtn_api::reject_server_busy && busy < m_busy_retries) {
                    ++busy;
                    m_link.health.retry();
                    std::this_thread::sleep_for(
                        backoff_delay(static_cast<int>(busy), m_backoff_ms, m_backoff_max_ms, jitter(), std::nullopt));
                    continue;
                }
                const std::string tries = busy > 0 ? fmt::format(" (after {} attempts)", busy + 1) : "";
                reply.rejected.emplace(e.code(), e.reason(), e.what() + tries);
                return reply;
            }
        }
    }

    /// POST one token call and read its answer; a FAILED answer or any failure is a BrokerError.
    GtnToken token_call(std::string_view path, const nlohmann::json& payload, bool basic)
    {
        const Reply reply = send([&] {
            HttpRequest request{.method = "POST",
                                .url = m_base_url + std::string(path),
                                .headers = {{"Content-Type", "application/json"},
                                            {"Accept", "application/json"},
                                            {"Throttle-Key", m_throttle_key}},
                                .body = payload.dump()};
            if (basic) request.headers.emplace_back("Authorization", m_basic_auth);
            return request;
        });
        if (reply.rejected) throw *reply.rejected;
        const std::string& body = broker_body(gtn, reply.response, m_link.health);
        return parse_recorded(m_link.health, [&] { return parse_gtn_token(body); });
    }

    /// A fresh server token from a new assertion (claims as GTN's SDK makes them).
    GtnToken assert_again(Timestamp now)
    {
        const auto epoch = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
        const nlohmann::json claims = {{"iss", m_app_key},
                                       {"instCode", m_institution},
                                       {"userId", m_user_id},
                                       {"iat", epoch},
                                       {"exp", epoch + assertion_lifetime_seconds}};
        return token_call(gtn_api::token_path, {{"assertion", m_signer->sign(claims)}}, true);
    }

    /// The current access token. Renewed when there is none, it is about to expire, or it is
    /// `stale` (GTN refused it): by refresh while the refresh token lasts, else by a new
    /// assertion. One renewal at a time; the other threads wait for its result.
    std::string access_token(const std::string& stale = {})
    {
        const std::lock_guard<std::mutex> guard(m_token_mutex);
        if (m_exchange_error) throw BrokerError(m_exchange_scope, *m_exchange_error);
        const auto now = std::chrono::system_clock::now();
        const auto fresh = [&](const std::optional<Timestamp>& expires, std::chrono::seconds margin) {
            return !expires || now + margin < *expires;
        };
        if (!m_token.access_token.empty() && m_token.access_token != stale && fresh(m_token.expires_at, renew_margin)) {
            return m_token.access_token;
        }
        if (m_token.refresh_token && fresh(m_token.refresh_expires_at, refresh_margin)) {
            try {
                m_token = token_call(gtn_api::refresh_path, {{"refreshToken", *m_token.refresh_token}}, false);
                return m_token.access_token;
            } catch (const BrokerError& e) {
                log_line(LogLevel::debug, fmt::format("GTN token refresh refused, asserting again: {}", e.what()));
            }
        }
        try {
            m_token = assert_again(now);
        } catch (const GtnRejected& e) {
            // Without a token no account can be asked: this is about the broker (or, when GTN
            // refuses what we assert, our configuration), not a customer, and it is not asked
            // again in this run.
            m_exchange_scope =
                gtn_api::refuses_our_configuration(e.code()) ? BrokerFailure::configuration : BrokerFailure::broker;
            m_exchange_error = fmt::format("token exchange failed: {}", e.what());
            throw BrokerError(m_exchange_scope, *m_exchange_error);
        } catch (const BrokerError& e) {
            m_exchange_scope = BrokerFailure::broker;
            m_exchange_error = fmt::format("token exchange failed: {}", e.what());
            throw BrokerError(m_exchange_scope, *m_exchange_error);
        }
        return m_token.access_token;
    }

    /// GET one page's body. A refused token (401, or FAILED 1006, 1007 or 1008 with any HTTP
    /// status) is renewed once and the page asked again; 1123 (busy) is retried by send(); other
    /// rejectCodes end here.
    std::string get_page(std::string_view path, const std::string& account_ref, int page)
    {
        const std::string url =
            fmt::format("{}{}?{}={}&{}={}&{}={}", m_base_url, path, gtn_api::customer_param, url_encode(account_ref),
                        gtn_api::page_param, page, gtn_api::width_param, page_width);
        std::string token = access_token();
        bool renewed = false;
        for (;;) {
            Reply reply = send([&] {
                return HttpRequest{.method = "GET",
                                   .url = url,
                                   .headers = {{"Accept", "application/json"},
                                               {"Authorization", "Bearer " + token},
                                               {"Throttle-Key", m_throttle_key}}};
            });
            const bool refused = reply.rejected && gtn_api::refuses_token(reply.rejected->code());
            if ((reply.response.status == 401 || refused) && !renewed) {
                if (!reply.rejected) m_link.health.error(BrokerErrorKind::http_status);
                renewed = true;
                m_link.health.retry();
                token = access_token(token);
                continue;
            }
            if (reply.rejected) {
                const auto scope = gtn_api::refuses_our_configuration(reply.rejected->code())
                                       ? BrokerFailure::configuration
                                       : BrokerFailure::account;
                throw BrokerError(scope, reply.rejected->what());
            }
            broker_body(gtn, reply.response, m_link.health);
            return std::move(reply.response.body);
        }
    }

    static double jitter()
    {
        static thread_local std::mt19937_64 engine{std::random_device{}()};
        return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
    }

    /// Every row of one summary for one account: pages from 1 while `isNextPageAvailable`,
    /// then the rows seen must be `totalNoOfRecords` (a page is never silently dropped).
    template <typename T>
    Stamped<T> collect(std::string_view path, const std::string& account_ref,
                       BrokerPage<T> (*parse)(std::string_view body))
    {
        Stamped<T> result;
        result.as_of = std::chrono::system_clock::now();  // GTN's summaries carry no as-of
        std::optional<std::int64_t> total;
        int page = 1;
        for (;; ++page) {
            if (page > m_max_pages) {
                throw BrokerError(BrokerFailure::account,
                                  fmt::format("GTN paging did not end within {} pages", m_max_pages));
            }
            const std::string body = get_page(path, account_ref, page);
            auto answer = parse_recorded(m_link.health, [&] { return parse(body); });
            m_link.health.page();
            if (answer.total_records) {
                if (total && *total != *answer.total_records) {
                    m_link.health.error(BrokerErrorKind::parse);
                    throw BrokerError(BrokerFailure::account,
                                      fmt::format("GTN changed totalNoOfRecords from {} to {} on page {}", *total,
                                                  *answer.total_records, page));
                }
                total = answer.total_records;
            }
            for (auto& item : answer.items) result.items.push_back(std::move(item));
            if (!answer.more) break;
        }
        if (total && static_cast<std::size_t>(*total) != result.items.size()) {
            m_link.health.error(BrokerErrorKind::parse);
            throw BrokerError(BrokerFailure::account,
                              fmt::format("GTN said totalNoOfRecords {} but sent {} rows over {} page(s)", *total,
                                          result.items.size(), page));
        }
        return result;
    }

    BrokerLink m_link;
    std::string m_base_url;
    std::string m_app_key;
    std::string m_basic_auth;
    std::string m_institution;
    std::string m_user_id;
    std::string m_throttle_key;
    std::int64_t m_max_pages;
    std::int64_t m_busy_retries;
    std::int64_t m_backoff_ms;
    std::int64_t m_backoff_max_ms;
    std::optional<Rs256Signer> m_signer;
    std::mutex m_token_mutex;
    GtnToken m_token;
    std::optional<std::string> m_exchange_error;
    BrokerFailure m_exchange_scope = BrokerFailure::broker;
};

}  // namespace

std::unique_ptr<Broker> make_gtn_broker(const BrokerSettings& settings, BrokerLink link)
{
    return std::make_unique<GtnBroker>(settings, link);
}

}  // namespace reconcile
