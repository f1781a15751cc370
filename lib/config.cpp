#include "lib/config.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <sstream>

#include "lib/errors.hpp"

extern char** environ;

namespace reconcile {
namespace {

std::string_view trim(std::string_view text)
{
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
        text.remove_prefix(1);
    }
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
        text.remove_suffix(1);
    }
    return text;
}

bool valid_key(std::string_view key)
{
    if (key.empty() || std::isdigit(static_cast<unsigned char>(key.front()))) return false;
    return std::all_of(key.begin(), key.end(),
                       [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

Error config_error(std::string message)
{
    return Error(ExitCode::config, std::move(message));
}

std::string upper(std::string text)
{
    for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return text;
}

Decimal parse_decimal_setting(const std::string& name, const std::string& value)
{
    const auto parsed = Decimal::try_parse(value);
    if (!parsed || parsed->sign() < 0) {
        throw config_error(fmt::format("{}: expected a non-negative decimal, got '{}'", name, value));
    }
    return *parsed;
}

/// Applies one optional setting through a parser, leaving the default when absent.
template <typename T, typename Parse>
void apply(const EnvMap& env, const std::string& name, T& target, Parse parse)
{
    if (auto value = lookup_setting(env, name)) target = parse(name, *value);
}

/// A broker base URL: http(s)://host[:port][/prefix], no trailing slash kept.
std::optional<std::string> base_url_setting(const EnvMap& env, const std::string& name)
{
    auto value = lookup_setting(env, name);
    if (!value) return std::nullopt;
    if (value->rfind("http://", 0) != 0 && value->rfind("https://", 0) != 0) {
        throw config_error(fmt::format("{}: expected an http:// or https:// URL, got '{}'", name, *value));
    }
    while (!value->empty() && value->back() == '/') value->pop_back();
    return value;
}

void load_broker_settings(const EnvMap& env, BrokerSettings& b)
{
    const auto ranged = [](std::int64_t min, std::int64_t max) {
        return [min, max](const std::string& n, const std::string& v) { return parse_int_setting(n, v, min, max); };
    };
    apply(env, "RECON_BROKER_CONCURRENCY", b.concurrency, ranged(1, 256));
    apply(env, "RECON_BROKER_CONNECT_TIMEOUT_MS", b.connect_timeout_ms, ranged(1, 600000));
    apply(env, "RECON_BROKER_TIMEOUT_MS", b.timeout_ms, ranged(1, 3600000));
    apply(env, "RECON_BROKER_RETRIES", b.max_retries, ranged(0, 10));
    apply(env, "RECON_BROKER_BACKOFF_MS", b.backoff_ms, ranged(0, 600000));
    apply(env, "RECON_BROKER_BACKOFF_MAX_MS", b.backoff_max_ms, ranged(0, 600000));
    apply(env, "RECON_BROKER_RETRY_AFTER_MAX_SECONDS", b.retry_after_max_seconds, ranged(0, 3600));
    apply(env, "RECON_BROKER_MAX_RESPONSE_BYTES", b.max_response_bytes, ranged(1024, std::int64_t{1} << 32));
    apply(env, "RECON_BROKER_MAX_PAGES", b.max_pages, ranged(1, 100000));
    apply(env, "RECON_BROKER_MAX_FAILED_SHARE", b.max_failed_share, [](const std::string& n, const std::string& v) {
        const Decimal share = parse_decimal_setting(n, v);
        if (share > Decimal::from_int(1))
            throw config_error(fmt::format("{}: expected a share in [0, 1], got '{}'", n, v));
        return share;
    });
    apply(env, "RECON_LRS_FEE_TOLERANCE", b.lrs_fee_tolerance, parse_decimal_setting);
    apply(env, "RECON_LRS_MATCH_WINDOW_DAYS", b.lrs_match_window_days, ranged(0, 366));
    if (b.backoff_max_ms < b.backoff_ms) {
        throw config_error("RECON_BROKER_BACKOFF_MAX_MS is below RECON_BROKER_BACKOFF_MS");
    }
    b.gtn_base_url = base_url_setting(env, "GTN_BASE_URL");
    b.gtn_app_key = lookup_setting(env, "GTN_APP_KEY");
    b.gtn_app_secret = lookup_setting(env, "GTN_APP_SECRET");
    b.gtn_institution_id = lookup_setting(env, "GTN_INSTITUTION_ID");
    b.gtn_private_key = lookup_setting(env, "GTN_PRIVATE_KEY");
    b.gtn_throttle_key = lookup_setting(env, "GTN_THROTTLE_KEY");
    b.zag_base_url = base_url_setting(env, "ZAG_BASE_URL");
    b.zag_api_key = lookup_setting(env, "ZAG_API_KEY");
    b.viewtrade_base_url = base_url_setting(env, "VIEWTRADE_BASE_URL");
    b.viewtrade_api_key = lookup_setting(env, "VIEWTRADE_API_KEY");
}

}  // namespace

const std::vector<SettingDoc>& setting_docs()
{
    static const std::vector<SettingDoc> docs{
        {"RECON_BOOKS", "uae,india", "the books this installation knows"},
        {"RECON_DATABASE_URL_<BOOK>", "—", "libpq URL or key=value string of the book's primary (lock, run rows)"},
        {"RECON_READ_DATABASE_URL_<BOOK>", "the primary", "where the checks read the ledger (a replica)"},
        {"RECON_SCHEDULE_ENABLED", "true", "master switch of scheduled runs (UAE and other books)"},
        {"RECON_INTERVAL_SECONDS", "3600", "A/B/D cadence"},
        {"RECON_EXTERNAL_INTERVAL_SECONDS", "86400", "C cadence"},
        {"RECON_SCHEDULE_INITIAL_DELAY_SECONDS", "60", "delay before `serve`'s first scheduled cycle"},
        {"INDIA_RECON_ENABLED", "false", "India's scheduled-run master switch"},
        {"INDIA_RECON_INTERVAL_SECONDS", "3600", "India A/B/D cadence"},
        {"ALERT_WEBHOOK_URL", "unset",
         "drift-alert POST target (`http://` or `https://`; never logged, it may carry a token)"},
        {"ALERT_WEBHOOK_SECRET", "unset", "HMAC-SHA256 key for alert signatures"},
        {"RECON_ALERT_MODE", "change",
         "`change`: alert when a check's situation changed; `every`: on every warn/fail run"},
        {"RECON_ALERT_TIMEOUT_MS", "3000", "total deadline for all alerts of one run (100–60000)"},
        {"RECON_ALERT_PERSIST_ENABLED", "false",
         "write `recon.reconciliation_variances` rows (the listed variances of warn/fail checks)"},
        {"RECON_SNAPSHOT_WINDOW_DAYS", "7",
         "snapshot_reconcile replays the latest snapshot per key and those this many days before it"},
        {"RECON_CASH_TOLERANCE", "0.01", "cash differences up to this match"},
        {"RECON_QUANTITY_TOLERANCE", "0.000001", "quantity differences up to this match"},
        {"RECON_QUANTITY_DUST_TOLERANCE", "0.0001", "quantity differences up to this are dust (warn)"},
        {"RECON_PENDING_WARN_HOURS", "24", "pending_flow_age warns past this age"},
        {"RECON_PENDING_FAIL_HOURS", "72", "pending_flow_age fails past this age"},
        {"RECON_LRS_AGED_DAYS", "5", "LRS money in transit longer than this is aged"},
        {"RECON_VARIANCE_CAP", "200", "variances listed per check per run (the true total is kept alongside)"},
        {"RECON_STATEMENT_TIMEOUT_MS", "300000", "per-check statement timeout; a check past it ends `error`"},
        {"RECON_BROKER_CONCURRENCY", "8", "broker calls in flight at once (per run or report)"},
        {"RECON_BROKER_CONNECT_TIMEOUT_MS", "5000", "connect timeout of one attempt"},
        {"RECON_BROKER_TIMEOUT_MS", "30000", "total time of one attempt, connect to last byte"},
        {"RECON_BROKER_RETRIES", "3",
         "retries after the first attempt on a connection failure, timeout, broken transfer, 429 or 5xx"},
        {"RECON_BROKER_BACKOFF_MS", "250", "first backoff; doubles per retry, half of it random (jitter)"},
        {"RECON_BROKER_BACKOFF_MAX_MS", "8000", "cap of one backoff"},
        {"RECON_BROKER_RETRY_AFTER_MAX_SECONDS", "60",
         "a longer `Retry-After` is not waited for: the account is a `fetch_error`"},
        {"RECON_BROKER_MAX_RESPONSE_BYTES", "16777216",
         "an answer past this is cut off (not retried): a `fetch_error`"},
        {"RECON_BROKER_MAX_PAGES", "100", "pages per account and kind of data; more is a `fetch_error`"},
        {"RECON_BROKER_MAX_FAILED_SHARE", "0.5", "a C check whose failed customers exceed this share ends `error`"},
        {"RECON_LRS_FEE_TOLERANCE", "30.00", "USD a wire may arrive below the remittances it settles (bank fees)"},
        {"RECON_LRS_MATCH_WINDOW_DAYS", "7",
         "a wire matches a remittance when it arrived at most this many days after it (or up to a day before)"},
        {"GTN_BASE_URL", "unset",
         "GTN API root, e.g. `https://api.example-gtn.com` (needed when a book has GTN customers)"},
        {"GTN_APP_KEY", "unset", "the app key: issuer (`iss`) of the institution JWT"},
        {"GTN_INSTITUTION_ID", "unset", "the institution code (`instCode` claim)"},
        {"GTN_PRIVATE_KEY", "unset", "PEM RSA private key signing the JWT (use `GTN_PRIVATE_KEY_FILE`)"},
        {"GTN_APP_SECRET", "unset", "when set, the token call also carries `Authorization: Basic app_key:secret`"},
        {"GTN_THROTTLE_KEY", "unset", "sent as `Throttle-Key` on every GTN call (unset: the app key)"},
        {"ZAG_BASE_URL", "unset", "ZAG contract root (needed when a book has ZAG customers)"},
        {"ZAG_API_KEY", "unset", "ZAG key, sent as `X-Api-Key`"},
        {"VIEWTRADE_BASE_URL", "unset", "ViewTrade contract root (needed when a book has ViewTrade customers)"},
        {"VIEWTRADE_API_KEY", "unset", "ViewTrade key, sent as `X-Api-Key`"},
        {"LEDGER_ADMIN_TOKEN", "—",
         "`serve`: the token writes need (`X-Ledger-Admin-Token`); required, ≥ 16 characters"},
        {"LEDGER_TOKEN", "unset", "`serve`: the read token (`X-Ledger-Token`); unset: reads need the admin token"},
        {"RECON_SERVE_ADDRESS", "127.0.0.1", "`serve`: address to bind (`--address` wins)"},
        {"RECON_SERVE_PORT", "8078", "`serve`: port to bind, 0 for any free one (`--port` wins)"},
        {"RECON_SERVE_MAX_BODY_BYTES", "65536", "`serve`: largest request body, chunked bodies included (413 beyond)"},
        {"RECON_SERVE_READ_TIMEOUT_SECONDS", "10",
         "`serve`: a whole request (line, headers, body) must arrive within this, counted from accept for the first "
         "one; else the connection is closed (408 when headers were read)"},
        {"RECON_SERVE_WRITE_TIMEOUT_SECONDS", "10", "`serve`: each write of a response"},
        {"RECON_SERVE_KEEPALIVE_SECONDS", "5", "`serve`: idle time allowed between two requests on a connection"},
        {"RECON_SERVE_WORKERS", "8", "`serve`: connections served at once (the worker pool)"},
        {"RECON_SERVE_QUEUE", "64", "`serve`: accepted connections waiting for a worker; beyond it, 503 at once"},
        {"RECON_SERVE_RUN_WAIT_SECONDS", "30",
         "`serve`: how long `POST /v1/reconciliation/run` waits for its runs before answering 202"},
        {"RECON_READ_MAX_LAG_SECONDS", "unset",
         "with a read replica: a standby further behind the primary than this makes the run exit 75, writing nothing"},
    };
    return docs;
}

EnvMap parse_env_file(std::string_view text, std::string_view origin)
{
    EnvMap result;
    std::size_t line_no = 0;
    while (!text.empty()) {
        const auto newline = text.find('\n');
        std::string_view line = text.substr(0, newline);
        text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
        ++line_no;
        line = trim(line);
        if (line.empty() || line.front() == '#' || line.front() == ';') continue;
        if (line.rfind("export ", 0) == 0) line = trim(line.substr(7));
        const auto eq = line.find('=');
        if (eq == std::string_view::npos) {
            throw config_error(fmt::format("{}:{}: expected KEY=VALUE", origin, line_no));
        }
        const std::string key{trim(line.substr(0, eq))};
        if (!valid_key(key)) {
            throw config_error(fmt::format("{}:{}: invalid setting name '{}'", origin, line_no, key));
        }
        std::string_view value = trim(line.substr(eq + 1));
        if (!value.empty() && (value.front() == '"' || value.front() == '\'')) {
            const char quote = value.front();
            if (value.size() < 2 || value.back() != quote) {
                throw config_error(fmt::format("{}:{}: unterminated quote in {}", origin, line_no, key));
            }
            value = value.substr(1, value.size() - 2);
        }
        result[key] = std::string(value);
    }
    return result;
}

EnvMap read_env_file(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) throw config_error(fmt::format("cannot read config file {}", path));
    std::ostringstream content;
    content << in.rdbuf();
    return parse_env_file(content.str(), path);
}

EnvMap process_environment()
{
    EnvMap result;
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
        const std::string_view item(*entry);
        const auto eq = item.find('=');
        if (eq == std::string_view::npos) continue;
        result.emplace(std::string(item.substr(0, eq)), std::string(item.substr(eq + 1)));
    }
    return result;
}

EnvMap merge_env(const EnvMap& file, const EnvMap& process)
{
    EnvMap merged = file;
    for (const auto& [key, value] : process) merged[key] = value;
    return merged;
}

std::optional<std::string> lookup_setting(const EnvMap& env, const std::string& name)
{
    const auto direct = env.find(name);
    const auto via_file = env.find(name + "_FILE");
    const bool has_direct = direct != env.end() && !direct->second.empty();
    const bool has_file = via_file != env.end() && !via_file->second.empty();
    if (has_direct && has_file) {
        throw config_error(fmt::format("both {0} and {0}_FILE are set; use one", name));
    }
    if (has_direct) return direct->second;
    if (!has_file) return std::nullopt;
    std::ifstream in(via_file->second, std::ios::binary);
    if (!in) throw config_error(fmt::format("{}_FILE: cannot read {}", name, via_file->second));
    std::ostringstream content;
    content << in.rdbuf();
    std::string value = content.str();
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
    if (value.empty()) throw config_error(fmt::format("{}_FILE: {} is empty", name, via_file->second));
    return value;
}

std::int64_t parse_int_setting(const std::string& name, const std::string& value, std::int64_t min, std::int64_t max)
{
    std::int64_t parsed = 0;
    const auto* end = value.data() + value.size();
    const auto [ptr, ec] = std::from_chars(value.data(), end, parsed);
    if (ec != std::errc{} || ptr != end || value.empty()) {
        throw config_error(fmt::format("{}: expected a whole number, got '{}'", name, value));
    }
    if (parsed < min || parsed > max) {
        throw config_error(fmt::format("{}: {} is out of range [{}, {}]", name, parsed, min, max));
    }
    return parsed;
}

bool parse_bool_setting(const std::string& name, const std::string& value)
{
    std::string lowered = value;
    for (char& c : lowered) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lowered == "true" || lowered == "1" || lowered == "yes" || lowered == "on") return true;
    if (lowered == "false" || lowered == "0" || lowered == "no" || lowered == "off") return false;
    throw config_error(fmt::format("{}: expected true or false, got '{}'", name, value));
}

const std::string& Settings::database_url(const std::string& book) const
{
    const auto found = database_urls.find(book);
    if (found == database_urls.end()) {
        throw config_error(
            fmt::format("no database configured for book '{}': set RECON_DATABASE_URL_{}", book, upper(book)));
    }
    return found->second;
}

const std::string& Settings::read_database_url(const std::string& book) const
{
    const auto found = read_database_urls.find(book);
    return found == read_database_urls.end() ? database_url(book) : found->second;
}

void Settings::require_book(const std::string& book) const
{
    if (std::find(books.begin(), books.end(), book) == books.end()) {
        throw Error(ExitCode::usage, fmt::format("unknown book '{}' (RECON_BOOKS is {})", book, fmt::join(books, ",")));
    }
}

Settings load_settings(const EnvMap& env)
{
    Settings s;
    s.raw = env;
    if (auto books = lookup_setting(env, "RECON_BOOKS")) {
        s.books.clear();
        std::string_view rest = *books;
        while (!rest.empty()) {
            const auto comma = rest.find(',');
            const std::string book{trim(rest.substr(0, comma))};
            rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
            if (book.empty()) continue;
            const bool valid = std::all_of(book.begin(), book.end(), [](char c) {
                return std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) ||
                       c == '_';
            });
            if (!valid) {
                throw config_error(
                    fmt::format("RECON_BOOKS: book names are lower-case letters, digits and _, got '{}'", book));
            }
            if (std::find(s.books.begin(), s.books.end(), book) == s.books.end()) s.books.push_back(book);
        }
        if (s.books.empty()) throw config_error("RECON_BOOKS is empty");
    }
    for (const auto& book : s.books) {
        if (auto url = lookup_setting(env, "RECON_DATABASE_URL_" + upper(book))) {
            s.database_urls[book] = *url;
        }
        if (auto url = lookup_setting(env, "RECON_READ_DATABASE_URL_" + upper(book))) {
            s.read_database_urls[book] = *url;
        }
    }

    const auto as_bool = [](const std::string& n, const std::string& v) { return parse_bool_setting(n, v); };
    const auto seconds = [](const std::string& n, const std::string& v) {
        return parse_int_setting(n, v, 0, 366LL * 86400);
    };
    const auto positive_seconds = [](const std::string& n, const std::string& v) {
        return parse_int_setting(n, v, 1, 366LL * 86400);
    };
    const auto hours = [](const std::string& n, const std::string& v) {
        return parse_int_setting(n, v, 0, 24LL * 3660);
    };
    const auto as_decimal = [](const std::string& n, const std::string& v) { return parse_decimal_setting(n, v); };
    apply(env, "RECON_SCHEDULE_ENABLED", s.schedule_enabled, as_bool);
    apply(env, "RECON_INTERVAL_SECONDS", s.interval_seconds, positive_seconds);
    apply(env, "RECON_EXTERNAL_INTERVAL_SECONDS", s.external_interval_seconds, positive_seconds);
    apply(env, "RECON_SCHEDULE_INITIAL_DELAY_SECONDS", s.initial_delay_seconds, seconds);
    apply(env, "INDIA_RECON_ENABLED", s.india_enabled, as_bool);
    apply(env, "INDIA_RECON_INTERVAL_SECONDS", s.india_interval_seconds, positive_seconds);
    s.alert_webhook_url = lookup_setting(env, "ALERT_WEBHOOK_URL");
    s.alert_webhook_secret = lookup_setting(env, "ALERT_WEBHOOK_SECRET");
    apply(env, "RECON_ALERT_PERSIST_ENABLED", s.alert_persist_enabled, as_bool);
    if (s.alert_webhook_url && s.alert_webhook_url->rfind("http://", 0) != 0 &&
        s.alert_webhook_url->rfind("https://", 0) != 0) {
        throw config_error("ALERT_WEBHOOK_URL: expected an http:// or https:// URL");
    }
    apply(env, "RECON_ALERT_TIMEOUT_MS", s.alert_timeout_ms,
          [](const std::string& n, const std::string& v) { return parse_int_setting(n, v, 100, 60000); });
    apply(env, "RECON_ALERT_MODE", s.alert_mode, [](const std::string& n, const std::string& v) {
        if (v != "every" && v != "change") {
            throw config_error(fmt::format("{}: expected every or change, got '{}'", n, v));
        }
        return v;
    });
    apply(env, "RECON_CASH_TOLERANCE", s.cash_tolerance, as_decimal);
    apply(env, "RECON_QUANTITY_TOLERANCE", s.quantity_match_tolerance, as_decimal);
    apply(env, "RECON_QUANTITY_DUST_TOLERANCE", s.quantity_dust_tolerance, as_decimal);
    apply(env, "RECON_PENDING_WARN_HOURS", s.pending_warn_hours, hours);
    apply(env, "RECON_PENDING_FAIL_HOURS", s.pending_fail_hours, hours);
    apply(env, "RECON_LRS_AGED_DAYS", s.lrs_aged_days,
          [](const std::string& n, const std::string& v) { return parse_int_setting(n, v, 0, 3660); });
    apply(env, "RECON_VARIANCE_CAP", s.variance_cap,
          [](const std::string& n, const std::string& v) { return parse_int_setting(n, v, 1, 100000); });
    apply(env, "RECON_STATEMENT_TIMEOUT_MS", s.statement_timeout_ms,
          [](const std::string& n, const std::string& v) { return parse_int_setting(n, v, 1, 86400000); });
    apply(env, "RECON_SNAPSHOT_WINDOW_DAYS", s.snapshot_window_days,
          [](const std::string& n, const std::string& v) { return parse_int_setting(n, v, 0, 36600); });
    apply(env, "RECON_READ_MAX_LAG_SECONDS", s.read_max_lag_seconds, seconds);

    load_broker_settings(env, s.brokers);

    if (s.pending_fail_hours < s.pending_warn_hours) {
        throw config_error(fmt::format("RECON_PENDING_FAIL_HOURS ({}) is below RECON_PENDING_WARN_HOURS ({})",
                                       s.pending_fail_hours, s.pending_warn_hours));
    }
    if (s.quantity_dust_tolerance < s.quantity_match_tolerance) {
        throw config_error("RECON_QUANTITY_DUST_TOLERANCE is below RECON_QUANTITY_TOLERANCE");
    }
    return s;
}

Settings load_settings_from(const std::optional<std::string>& config_path)
{
    const EnvMap file = config_path ? read_env_file(*config_path) : EnvMap{};
    return load_settings(merge_env(file, process_environment()));
}

}  // namespace reconcile
