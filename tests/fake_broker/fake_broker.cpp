// fake_broker: a test tool (built by CMake, never installed) that serves GTN, ZAG and ViewTrade
// over real HTTP from a JSON fixture. GTN is served in the shapes of its published Trade API
// 1.2.1 (token, refresh, cash and security summaries; 200+FAILED with rejectCodes), verifying
// the RS256 assertion and the Basic credentials; ZAG and ViewTrade in their provisional
// contracts. It misbehaves on request: latency, 5xx, 429 with Retry-After, malformed JSON, a
// body that is not UTF-8, a truncated body, an oversized body, a hang, a GTN rejectCode, every
// GTN token expiring or revoked (refused as GTN's error table says, or as the fixture tells), a
// totalNoOfRecords that lies, a canned answer; per account or globally.
// The fixture format is in tests/fake_broker/README.md.
//
//   fake_broker --fixture FILE [--host 127.0.0.1] [--port 0] [--threads 64]
//
// Prints "fake_broker listening on http://HOST:PORT" on stdout once it accepts connections.
// Control endpoints for tests: PUT /_fake/fixture (replace the fixture, reset counters),
// GET /_fake/stats (request counts, the last verified assertion's claims), POST /_fake/gtn/revoke (invalidate every
// access token; ?refresh=1 every refresh token too).
#include <httplib.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "lib/hash.hpp"
#include "lib/jwt.hpp"
#include "lib/timeutil.hpp"

namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;

std::atomic<bool> g_stopping{false};

long long epoch_seconds()
{
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string read_file(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::ostringstream content;
    content << in.rdbuf();
    return content.str();
}

/// Numbers GTN sends raw: fixture amounts are strings, emitted as JSON numbers verbatim.
const std::regex json_number(R"(-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?)");
const std::string raw_marker = "@@raw-number@@";

Json raw_number(const Json& value)
{
    const std::string text = value.is_string() ? value.get<std::string>() : value.dump();
    if (!std::regex_match(text, json_number)) throw std::runtime_error("fixture amount is not a JSON number: " + text);
    return raw_marker + text + raw_marker;
}

/// Dumps `json`, turning every raw-number marker string into the bare number.
std::string dump_with_raw_numbers(const Json& json)
{
    std::string text = json.dump();
    const std::string open = "\"" + raw_marker;
    const std::string close = raw_marker + "\"";
    for (auto start = text.find(open); start != std::string::npos; start = text.find(open, start)) {
        const auto end = text.find(close, start + open.size());
        if (end == std::string::npos) break;
        text = text.substr(0, start) + text.substr(start + open.size(), end - start - open.size()) +
               text.substr(end + close.size());
    }
    return text;
}

std::string base64(const std::string& text)
{
    std::string encoded = reconcile::base64url_encode(text);
    for (char& c : encoded) {
        if (c == '-') c = '+';
        if (c == '_') c = '/';
    }
    while (encoded.size() % 4 != 0) encoded.push_back('=');
    return encoded;
}

struct Fault {
    Json spec;
    std::int64_t remaining = -1;  // -1: always
};

class FakeBroker {
public:
    void load(const Json& fixture)
    {
        const std::lock_guard<std::mutex> guard(m_mutex);
        m_fixture = std::make_shared<const Json>(fixture);
        m_faults.clear();
        for (const auto& spec : fixture.value("faults", Json::array())) {
            m_faults.push_back({spec, spec.value("count", std::int64_t{-1})});
        }
        m_public_key.clear();
        const Json gtn = fixture.value("gtn", Json::object());
        if (gtn.contains("public_key")) m_public_key = gtn["public_key"].get<std::string>();
        if (gtn.contains("public_key_file")) m_public_key = read_file(gtn["public_key_file"].get<std::string>());
        m_tokens.clear();
        m_refresh_tokens.clear();
        m_stats = {{"requests", Json::object()}, {"token_exchanges", 0}, {"token_refreshes", 0},
                   {"token_rejections", 0},      {"unauthorised", 0},    {"faults", Json::object()},
                   {"max_in_flight", 0}};
    }

    void install(httplib::Server& server)
    {
        server.Put("/_fake/fixture", [this](const httplib::Request& req, httplib::Response& res) {
            load(Json::parse(req.body));
            res.set_content(R"({"ok":true})", "application/json");
        });
        server.Get("/_fake/stats", [this](const httplib::Request&, httplib::Response& res) {
            const std::lock_guard<std::mutex> guard(m_mutex);
            res.set_content(m_stats.dump(), "application/json");
        });
        server.Post("/_fake/gtn/revoke", [this](const httplib::Request& req, httplib::Response& res) {
            const std::lock_guard<std::mutex> guard(m_mutex);
            m_tokens.clear();  // unknown from now on: refused as invalid (1008)
            if (req.has_param("refresh")) m_refresh_tokens.clear();
            res.set_content(R"({"ok":true})", "application/json");
        });
        server.Post("/trade/auth/token", [this](const httplib::Request& req, httplib::Response& res) {
            serve(req, res, "gtn", "", "token", [&] { gtn_token(req, res); });
        });
        server.Post("/trade/auth/token/refresh", [this](const httplib::Request& req, httplib::Response& res) {
            serve(req, res, "gtn", "", "refresh", [&] { gtn_refresh(req, res); });
        });
        server.Get("/trade/fo/v1.2.1/customer/account/cash/summary",
                   [this](const httplib::Request& req, httplib::Response& res) {
                       const auto account = req.get_param_value("customerNumber");
                       serve(req, res, "gtn", account, "cash", [&] { gtn_list(req, res, account, "cash"); });
                   });
        server.Get("/trade/fo/v1.2.1/customer/account/security/summary",
                   [this](const httplib::Request& req, httplib::Response& res) {
                       const auto account = req.get_param_value("customerNumber");
                       serve(req, res, "gtn", account, "positions", [&] { gtn_list(req, res, account, "securities"); });
                   });
        server.Get(R"(/zag/v1/accounts/(.+)/holdings)", [this](const httplib::Request& req, httplib::Response& res) {
            const std::string account = req.matches[1];
            serve(req, res, "zag", account, "positions", [&] { contract_list(req, res, "zag", account, "holdings"); });
        });
        for (const auto& [resource, list] : {std::pair<std::string, std::string>{"balances", "cash"},
                                             {"positions", "positions"},
                                             {"deposits", "deposits"}}) {
            const std::string kind = resource == "balances" ? "cash" : resource;
            server.Get("/viewtrade/v1/accounts/(.+)/" + resource,
                       [this, kind, list](const httplib::Request& req, httplib::Response& res) {
                           const std::string account = req.matches[1];
                           serve(req, res, "viewtrade", account, kind,
                                 [&] { contract_list(req, res, "viewtrade", account, list); });
                       });
        }
    }

private:
    static void json_answer(httplib::Response& res, int status, const std::string& body)
    {
        res.status = status;
        res.set_content(body, "application/json");
    }

    void count(const std::string& key, const std::string& name)
    {
        auto& slot = m_stats[key][name];
        slot = slot.is_number() ? slot.get<std::int64_t>() + 1 : 1;
    }

    /// The first fault that applies to this request (consuming one of its `count`), if any.
    std::optional<Json> fault_for(const std::string& broker, const std::string& account, const std::string& kind)
    {
        const std::lock_guard<std::mutex> guard(m_mutex);
        for (auto& fault : m_faults) {
            const Json& spec = fault.spec;
            if (spec.contains("broker") && spec["broker"] != broker) continue;
            if (spec.contains("account") && spec["account"] != account) continue;
            if (spec.contains("resource") && spec["resource"] != kind) continue;
            if (fault.remaining == 0) continue;
            if (fault.remaining > 0) --fault.remaining;
            count("faults", spec.value("kind", "?"));
            return spec;
        }
        return std::nullopt;
    }

    /// Applies the fault for this request, or serves it normally.
    template <typename Normal>
    void serve(const httplib::Request& req, httplib::Response& res, const std::string& broker,
               const std::string& account, const std::string& kind, Normal normal)
    {
        {
            const std::lock_guard<std::mutex> guard(m_mutex);
            count("requests", req.method + " " + broker + " " + kind + (account.empty() ? "" : " " + account));
            ++m_in_flight;
            if (m_in_flight > m_stats.value("max_in_flight", 0)) m_stats["max_in_flight"] = m_in_flight;
        }
        struct Leave {
            FakeBroker& self;
            ~Leave()
            {
                const std::lock_guard<std::mutex> guard(self.m_mutex);
                --self.m_in_flight;
            }
        } leave{*this};
        const auto fault = fault_for(broker, account, kind);
        if (!fault) return normal();
        const std::string type = fault->value("kind", "");
        if (type == "reject") {
            // GTN's FAILED envelope, as HTTP 200 unless told (1001 comes with 400).
            return json_answer(res, fault->value("status", 200),
                               gtn_failed(fault->value("code", 1123), fault->value("reason", "injected")));
        }
        if (type == "expire_tokens" || type == "revoke_tokens") {
            // Every access token expires (1007) or is revoked (unknown: 1008) now: this request
            // and the next ones with such a token meet the refusal.
            {
                const std::lock_guard<std::mutex> guard(m_mutex);
                if (type == "revoke_tokens") m_tokens.clear();
                const auto now = epoch_seconds();
                for (auto& [token, expires] : m_tokens) expires = std::min(expires, now);
            }
            return normal();
        }
        if (type == "records_lie") {
            m_records_lie = fault->value("delta", 1);
            normal();
            m_records_lie = 0;
            return;
        }
        if (type == "answer") {
            // A canned answer (e.g. one of GTN's published examples), verbatim.
            return json_answer(res, fault->value("status", 200), fault->value("body", ""));
        }
        if (type == "latency") {
            std::this_thread::sleep_for(std::chrono::milliseconds(fault->value("ms", 1000)));
            return normal();
        }
        if (type == "status") {
            if (fault->contains("retry_after"))
                res.set_header("Retry-After", std::to_string(fault->value("retry_after", 1)));
            return json_answer(res, fault->value("status", 503), R"({"status":"FAILED","reason":"injected fault"})");
        }
        if (type == "rate_limit") {
            res.set_header("Retry-After", std::to_string(fault->value("retry_after", 1)));
            return json_answer(res, 429, R"({"status":"FAILED","reason":"throttled"})");
        }
        if (type == "malformed") {
            return json_answer(res, 200, R"({"status": "SUCCESS", "rejectCode": 0, "list": [{"currency": "USD", )");
        }
        if (type == "not_utf8") {
            // Latin-1 where UTF-8 belongs, then bytes no encoding allows.
            return json_answer(res, 200, "{\"status\": \"SUCCESS\", \"reason\": \"r\xe9sum\xe9\" \x80\xfe\xff}");
        }
        if (type == "truncated") {
            const std::string body =
                R"({"status":"SUCCESS","rejectCode":0,"padding":")" + std::string(4096, 'x') + "\"}";
            res.set_content_provider(body.size(), "application/json",
                                     [body](std::size_t offset, std::size_t, httplib::DataSink& sink) {
                                         if (offset == 0) sink.write(body.data(), body.size() / 2);
                                         return false;  // abort: the connection closes mid-body
                                     });
            return;
        }
        if (type == "oversized") {
            const std::size_t bytes = fault->value("bytes", std::size_t{32} << 20);
            return json_answer(res, 200, R"({"status":"SUCCESS","padding":")" + std::string(bytes, 'x') + "\"}");
        }
        if (type == "hang") {
            const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(fault->value("ms", 600000));
            while (!g_stopping && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(20ms);
            return json_answer(res, 504, R"({"status":"FAILED","reason":"hung"})");
        }
        return json_answer(res, 500, R"({"detail":"unknown fault kind"})");
    }

    /// The fixture as it is now: shared, never copied per request (fixtures can hold tens of
    /// thousands of accounts); a PUT replaces the pointer, requests in flight keep theirs.
    std::shared_ptr<const Json> fixture()
    {
        const std::lock_guard<std::mutex> guard(m_mutex);
        return m_fixture;
    }

    /// `key` of an object, or an empty object.
    static const Json& member(const Json& object, const std::string& key)
    {
        static const Json empty = Json::object();
        if (!object.is_object()) return empty;
        const auto found = object.find(key);
        return found == object.end() ? empty : *found;
    }

    /// The array at `key` of an object, or an empty array.
    static const Json& list_of(const Json& object, const std::string& key)
    {
        static const Json empty = Json::array();
        const Json& value = member(object, key);
        return value.is_array() ? value : empty;
    }

    std::string as_of(const Json& config) const
    {
        return config.value("as_of", reconcile::format_utc(std::chrono::system_clock::now()));
    }

    /// GTN's FAILED envelope with a rejectCode.
    static std::string gtn_failed(std::int64_t code, const std::string& reason)
    {
        return Json{{"status", "FAILED"}, {"reason", reason}, {"rejectCode", code}}.dump();
    }

    /// A new access and refresh token pair, answered as GTN does.
    void gtn_issue_tokens(httplib::Response& res, const Json& config)
    {
        static thread_local std::mt19937_64 engine{std::random_device{}()};
        const std::string token = fmt::format("{:016x}{:016x}", engine(), engine());
        const std::string refresh = fmt::format("{:016x}{:016x}", engine(), engine());
        const auto ttl = config.value("token_ttl_seconds", 3600);
        const auto refresh_ttl = config.value("refresh_ttl_seconds", 2 * ttl);
        const auto now = epoch_seconds();
        {
            const std::lock_guard<std::mutex> guard(m_mutex);
            m_tokens[token] = now + ttl;
            m_refresh_tokens[refresh] = now + refresh_ttl;
        }
        json_answer(res, 200,
                    Json{{"status", "SUCCESS"},
                         {"reason", ""},
                         {"rejectCode", 0},
                         {"accessToken", token},
                         {"refreshToken", refresh},
                         {"accessTokenExpiresAt", (now + ttl) * 1000},
                         {"refreshTokenExpiresAt", (now + refresh_ttl) * 1000},
                         {"tokenType", "bearer"}}
                        .dump());
    }

    void count_stat(const char* name)
    {
        const std::lock_guard<std::mutex> guard(m_mutex);
        m_stats[name] = m_stats[name].get<int>() + 1;
    }

    void gtn_token(const httplib::Request& req, httplib::Response& res)
    {
        const auto held = fixture();
        const Json& config = member(*held, "gtn");
        const auto reject = [&](int status, const std::string& reason, std::optional<int> code = std::nullopt) {
            count_stat("token_rejections");
            Json body{{"status", "FAILED"}, {"reason", reason}};
            if (code) body["rejectCode"] = *code;
            json_answer(res, status, body.dump());
        };
        if (config.contains("throttle_key") && req.get_header_value("Throttle-Key") != config["throttle_key"]) {
            return reject(403, "missing or wrong Throttle-Key");
        }
        if (config.contains("app_secret")) {
            const std::string expected =
                "Basic " + base64(config.value("app_key", "") + ":" + config["app_secret"].get<std::string>());
            if (req.get_header_value("Authorization") != expected) return reject(401, "bad app credentials");
        }
        Json body;
        try {
            body = Json::parse(req.body);
        } catch (const std::exception&) {
            return reject(400, "missing parameters", 1001);
        }
        if (!body.is_object() || !body.contains("assertion")) return reject(400, "missing parameters", 1001);
        std::string reason;
        std::string public_key;
        {
            const std::lock_guard<std::mutex> guard(m_mutex);
            public_key = m_public_key;
        }
        const auto claims =
            reconcile::verify_rs256_jwt(body.value("assertion", ""), public_key, epoch_seconds(), reason);
        if (!claims) return reject(401, "invalid assertion: " + reason);
        {
            // The claims as received, for tests of what reconcile asserts (GET /_fake/stats).
            const std::lock_guard<std::mutex> guard(m_mutex);
            m_stats["last_assertion"] = *claims;
        }
        if (config.contains("app_key") && claims->value("iss", "") != config["app_key"]) {
            return reject(401, "assertion issuer is not the app key");
        }
        // GTN answers 200 + FAILED 1014 when the assertion lacks the institution or the user.
        for (const char* claim : {"instCode", "userId", "iat"}) {
            if (!claims->contains(claim)) return reject(200, "insufficient details in assertion", 1014);
        }
        if (config.contains("institution") && claims->value("instCode", "") != config["institution"]) {
            return reject(200, "insufficient details in assertion", 1014);
        }
        if (config.contains("user_id") && claims->value("userId", "") != config["user_id"]) {
            return reject(200, "insufficient details in assertion", 1014);
        }
        count_stat("token_exchanges");
        gtn_issue_tokens(res, config);
    }

    void gtn_refresh(const httplib::Request& req, httplib::Response& res)
    {
        const auto held = fixture();
        const Json& config = member(*held, "gtn");
        if (config.contains("throttle_key") && req.get_header_value("Throttle-Key") != config["throttle_key"]) {
            return json_answer(res, 403, R"({"status":"FAILED","reason":"missing or wrong Throttle-Key"})");
        }
        std::string refresh;
        try {
            refresh = Json::parse(req.body).value("refreshToken", "");
        } catch (const std::exception&) {
        }
        if (refresh.empty()) return json_answer(res, 400, gtn_failed(1001, "missing parameters"));
        {
            const std::lock_guard<std::mutex> guard(m_mutex);
            const auto found = m_refresh_tokens.find(refresh);
            if (found == m_refresh_tokens.end() || found->second <= epoch_seconds()) {
                m_stats["token_rejections"] = m_stats["token_rejections"].get<int>() + 1;
                return json_answer(res, 200, gtn_failed(1007, "refresh token expired"));
            }
            m_refresh_tokens.erase(found);  // each refresh token is good once
            m_stats["token_refreshes"] = m_stats["token_refreshes"].get<int>() + 1;
        }
        gtn_issue_tokens(res, config);
    }

    /// The bearer token is known and unexpired. Else it is refused as GTN's error table says
    /// (UNAUTHORIZED_ACCESS): HTTP 401 with rejectCode 1007 when it expired, 1008 when it is
    /// unknown (never issued, or revoked); a fixture's `refused_token_answer` {status, code}
    /// answers otherwise (a GTN that sends 200 + FAILED 1006 or 1008, say).
    bool gtn_authorised(const httplib::Request& req, httplib::Response& res, const Json& config)
    {
        const std::string header = req.get_header_value("Authorization");
        const std::string token = header.rfind("Bearer ", 0) == 0 ? header.substr(7) : "";
        const std::lock_guard<std::mutex> guard(m_mutex);
        const auto found = m_tokens.find(token);
        if (found == m_tokens.end() || found->second <= epoch_seconds()) {
            m_stats["unauthorised"] = m_stats["unauthorised"].get<int>() + 1;
            const bool expired = found != m_tokens.end();
            const Json& answer = member(config, "refused_token_answer");
            json_answer(
                res, answer.value("status", 401),
                gtn_failed(answer.value("code", expired ? 1007 : 1008), expired ? "Expired Token" : "Invalid Token"));
            return false;
        }
        if (config.contains("throttle_key") && req.get_header_value("Throttle-Key") != config["throttle_key"]) {
            json_answer(res, 403, R"({"status":"FAILED","reason":"missing or wrong Throttle-Key"})");
            return false;
        }
        return true;
    }

    /// A cash summary row in GTN's published shape: the fixture gives `currency` and `balance`
    /// (and may give any other field); the rest are filled as for an account with no holds.
    static Json gtn_cash_row(const Json& given, const std::string& customer, std::size_t index)
    {
        Json row = given;
        const Json balance = row.value("balance", Json("0"));
        const auto fill = [&](const char* key, const Json& value) {
            if (!row.contains(key)) row[key] = value;
        };
        fill("cashAccountNumber", fmt::format("{}-C{}", customer, index + 1));
        fill("accountNumber", fmt::format("{}-A1", customer));
        fill("currency", "USD");
        fill("balance", balance);
        fill("blockedAmount", "0");
        fill("odLimit", "0");
        fill("buyingPower", balance);
        fill("cashForWithdrawal", balance);
        fill("unsettledSales", "0");
        fill("unrealizedGains", "0");
        fill("customerNumber", customer);
        for (const char* amount : {"balance", "blockedAmount", "odLimit", "buyingPower", "cashForWithdrawal",
                                   "unsettledSales", "unrealizedGains"}) {
            row[amount] = raw_number(row[amount]);
        }
        return row;
    }

    /// GTN's paged summaries (Trade API 1.2.1): no `data` wrapper; pageNo from 1.
    void gtn_list(const httplib::Request& req, httplib::Response& res, const std::string& account,
                  const std::string& fixture_key)
    {
        const auto held = fixture();
        const Json& config = member(*held, "gtn");
        if (!gtn_authorised(req, res, config)) return;
        if (account.empty()) return json_answer(res, 400, gtn_failed(1001, "missing parameters"));
        const Json& accounts = member(config, "accounts");
        if (!accounts.contains(account)) {
            return json_answer(res, 200, gtn_failed(config.value("unknown_customer_code", 1001), "customer not found"));
        }
        const Json& data = accounts.at(account);
        if (data.contains("failed_reason")) {
            return json_answer(
                res, 200, gtn_failed(data.value("failed_code", 1001), data.at("failed_reason").get<std::string>()));
        }
        const Json& items = list_of(data, fixture_key);
        std::size_t width = 25;
        std::size_t page = 1;
        try {
            if (req.has_param("pageWidth")) width = std::stoul(req.get_param_value("pageWidth"));
            if (req.has_param("pageNo")) page = std::stoul(req.get_param_value("pageNo"));
        } catch (const std::exception&) {
            return json_answer(res, 400, gtn_failed(1001, "missing parameters"));
        }
        if (page < 1 || width < 1) return json_answer(res, 400, gtn_failed(1001, "missing parameters"));
        width = std::max<std::size_t>(1, config.value("page_size", width));
        Json rows = Json::array();
        for (std::size_t i = (page - 1) * width; i < items.size() && i < page * width; ++i) {
            if (fixture_key == "cash") {
                rows.push_back(gtn_cash_row(items[i], account, i));
            } else {
                Json row = items[i];
                if (row.contains("quantity")) row["quantity"] = raw_number(row["quantity"]);
                rows.push_back(std::move(row));
            }
        }
        const std::int64_t lie = m_records_lie;
        const Json body = {{"status", "SUCCESS"},
                           {"reason", ""},
                           {"rejectCode", 0},
                           {"isNextPageAvailable", page * width < items.size()},
                           {"pageNo", page},
                           {"pageWidth", width},
                           {"totalNoOfRecords", static_cast<std::int64_t>(items.size()) + lie},
                           {"list", rows}};
        json_answer(res, 200, dump_with_raw_numbers(body));
    }

    /// The ZAG / ViewTrade contract: X-Api-Key, pages from 1, next_page.
    void contract_list(const httplib::Request& req, httplib::Response& res, const std::string& broker,
                       const std::string& account, const std::string& list_key)
    {
        const auto held = fixture();
        const Json& config = member(*held, broker);
        if (config.contains("api_key") && req.get_header_value("X-Api-Key") != config.at("api_key")) {
            return json_answer(res, 401, R"({"detail":"missing or wrong X-Api-Key"})");
        }
        const Json& accounts = member(config, "accounts");
        if (!accounts.contains(account)) return json_answer(res, 404, R"({"detail":"account not found"})");
        const Json& data = accounts.at(account);
        const Json& items = list_of(data, list_key);
        const std::size_t page_size = std::max<std::size_t>(1, config.value("page_size", std::size_t{100}));
        const std::size_t page =
            req.has_param("page") ? std::max<std::size_t>(1, std::stoul(req.get_param_value("page"))) : 1;
        Json rows = Json::array();
        for (std::size_t i = (page - 1) * page_size; i < items.size() && i < page * page_size; ++i)
            rows.push_back(items[i]);
        const bool more = page * page_size < items.size();
        json_answer(res, 200,
                    Json{{"account_id", account},
                         {"as_of", as_of(config)},
                         {list_key, rows},
                         {"next_page", more ? Json(page + 1) : Json(nullptr)}}
                        .dump());
    }

    std::mutex m_mutex;
    std::shared_ptr<const Json> m_fixture = std::make_shared<const Json>(Json::object());
    std::vector<Fault> m_faults;
    std::string m_public_key;
    std::map<std::string, long long> m_tokens;
    std::map<std::string, long long> m_refresh_tokens;
    Json m_stats;
    /// Added to totalNoOfRecords while a records_lie fault is being served (one thread at a
    /// time in the tests that use it).
    static inline thread_local std::int64_t m_records_lie = 0;
    int m_in_flight = 0;
};

}  // namespace

int main(int argc, char** argv)
{
    std::string fixture_path;
    std::string host = "127.0.0.1";
    int port = 0;
    std::size_t threads = 64;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        const auto next = [&]() -> std::string {
            if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
            return argv[++i];
        };
        try {
            if (arg == "--fixture")
                fixture_path = next();
            else if (arg == "--host")
                host = next();
            else if (arg == "--port")
                port = std::stoi(next());
            else if (arg == "--threads")
                threads = std::stoul(next());
            else
                throw std::invalid_argument("unknown option " + arg);
        } catch (const std::exception& e) {
            std::cerr << "fake_broker: " << e.what()
                      << "\nusage: fake_broker --fixture FILE [--host H] [--port N] [--threads N]\n";
            return 64;
        }
    }
    FakeBroker broker;
    try {
        broker.load(fixture_path.empty() ? Json::object() : Json::parse(read_file(fixture_path)));
    } catch (const std::exception& e) {
        std::cerr << "fake_broker: bad fixture: " << e.what() << "\n";
        return 78;
    }
    httplib::Server server;
    server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    server.set_keep_alive_max_count(100000);
    server.set_tcp_nodelay(true);  // no Nagle + delayed-ACK stall between headers and body
    server.set_payload_max_length(64 << 20);
    broker.install(server);
    // Both brokers of the contract share one listener: ZAG under /zag, ViewTrade under /viewtrade.
    const int bound = port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
    if (bound < 0) {
        std::cerr << "fake_broker: cannot listen on " << host << ":" << port << "\n";
        return 69;
    }
    std::signal(SIGTERM, [](int) { g_stopping = true; });
    std::signal(SIGINT, [](int) { g_stopping = true; });
    std::thread watcher([&server] {
        while (!g_stopping) std::this_thread::sleep_for(50ms);
        server.stop();
    });
    std::cout << "fake_broker listening on http://" << host << ":" << bound << std::endl;
    server.listen_after_bind();
    g_stopping = true;
    watcher.join();
    return 0;
}
