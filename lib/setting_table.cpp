// The setting table: one entry per setting (name, default, parser with range, doc, where it is
// stored). Settings and ServeConfig are filled from it, and setting_docs(), the man page,
// docs/settings.md and packaging/reconcile.env are generated from or checked against it.
//
// To add a setting: add its field to Settings (lib/config.hpp) and one entry here, in the group
// where the docs should list it. Nothing else: the docs test fails until docs/settings.md and
// packaging/reconcile.env (`reconcile help-env > packaging/reconcile.env`) show it.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <libpq-fe.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "lib/config.hpp"
#include "lib/errors.hpp"

namespace reconcile {
namespace {

using G = SettingGroup;

Error config_error(std::string message)
{
    return Error(ExitCode::config, std::move(message));
}

/// The field a path of member pointers leads to: field(s, &Settings::brokers, &BrokerSettings::x).
template <typename... Path>
auto& field(Settings& settings, Path... path)
{
    return (settings.*....*path);
}

/// A whole number within [min, max].
template <typename... Path>
SettingSpec whole(const char* name, const char* fallback, std::int64_t min, std::int64_t max, const char* doc, G group,
                  Path... path)
{
    return {name, fallback, doc, group, [=](Settings& s, const SettingInput& in) {
                field(s, path...) = parse_int_setting(in.name, in.value, min, max);
            }};
}

/// true/false (also 1/0, yes/no, on/off).
template <typename... Path>
SettingSpec boolean(const char* name, const char* fallback, const char* doc, G group, Path... path)
{
    return {name, fallback, doc, group,
            [=](Settings& s, const SettingInput& in) { field(s, path...) = parse_bool_setting(in.name, in.value); }};
}

/// An exact non-negative decimal, at most `max` ("" = no limit).
template <typename... Path>
SettingSpec decimal(const char* name, const char* fallback, const char* max, const char* doc, G group, Path... path)
{
    return {name, fallback, doc, group, [=](Settings& s, const SettingInput& in) {
                const auto parsed = Decimal::try_parse(in.value);
                if (!parsed || parsed->sign() < 0) {
                    throw config_error(fmt::format("{}: expected a non-negative decimal, got '{}'", in.name, in.value));
                }
                if (*max != '\0' && *parsed > Decimal::parse(max)) {
                    throw config_error(fmt::format("{}: expected at most {}, got '{}'", in.name, max, in.value));
                }
                field(s, path...) = *parsed;
            }};
}

/// Free text (a key, a token, an address).
template <typename... Path>
SettingSpec text(const char* name, const char* fallback, const char* doc, G group, Path... path)
{
    return {name, fallback, doc, group, [=](Settings& s, const SettingInput& in) { field(s, path...) = in.value; }};
}

/// One of serve's tokens: checked by every command, so a short one is found before serve starts.
template <typename... Path>
SettingSpec token(const char* name, const char* doc, G group, Path... path)
{
    return {name, "", doc, group, [=](Settings& s, const SettingInput& in) {
                if (in.value.size() < min_token_length) {
                    throw config_error(fmt::format("{} is shorter than {} characters", in.name, min_token_length));
                }
                field(s, path...) = in.value;
            }};
}

/// The address serve binds (is_bind_address), checked by every command like the rest.
template <typename... Path>
SettingSpec bind_address(const char* name, const char* fallback, const char* doc, G group, Path... path)
{
    return {name, fallback, doc, group, [=](Settings& s, const SettingInput& in) {
                if (!is_bind_address(in.value)) {
                    throw config_error(
                        fmt::format("{}: expected an IPv4 or IPv6 address or localhost, got '{}'", in.name, in.value));
                }
                field(s, path...) = in.value;
            }};
}

/// One of a fixed list of words.
template <typename... Path>
SettingSpec one_of(const char* name, const char* fallback, std::vector<std::string> words, const char* doc, G group,
                   Path... path)
{
    return {name, fallback, doc, group, [=](Settings& s, const SettingInput& in) {
                if (std::find(words.begin(), words.end(), in.value) == words.end()) {
                    throw config_error(
                        fmt::format("{}: expected {}, got '{}'", in.name, fmt::join(words, " or "), in.value));
                }
                field(s, path...) = in.value;
            }};
}

/// What an error may quote of a URL that can carry a secret (a webhook's token in its path, a
/// password in its user info): the text before the first '/', '?', '#' or '@'.
std::string url_head(std::string_view value)
{
    const auto cut = value.find_first_of("/?#@");
    return cut == std::string_view::npos ? std::string(value) : std::string(value.substr(0, cut)) + "...";
}

/// A connection string as an error may quote it: the password of a URL's user info, or of a
/// password=... pair, replaced by ***.
std::string without_password(std::string text)
{
    static const std::regex url_password(R"((://[^:/@\s"]*:)[^@\s"]*@)");
    static const std::regex pair_password(R"((password\s*=\s*)('[^']*'|[^\s"]+))");
    text = std::regex_replace(text, url_password, "$1***@");
    return std::regex_replace(text, pair_password, "$1***");
}

/// An http:// or https:// URL; `strip_slash` drops trailing slashes (an API root).
template <typename... Path>
SettingSpec http_url(const char* name, bool strip_slash, const char* doc, G group, Path... path)
{
    return {name, "", doc, group, [=](Settings& s, const SettingInput& in) {
                std::string value = in.value;
                if (value.rfind("http://", 0) != 0 && value.rfind("https://", 0) != 0) {
                    throw config_error(
                        fmt::format("{}: expected an http:// or https:// URL, got '{}'", in.name, url_head(value)));
                }
                while (strip_slash && !value.empty() && value.back() == '/') value.pop_back();
                field(s, path...) = value;
            }};
}

/// A path below a base URL: empty or /segment[/segment...], trailing slashes dropped, only
/// characters that need no escaping in a URL.
template <typename... Path>
SettingSpec url_path(const char* name, const char* fallback, const char* doc, G group, Path... path)
{
    return {name, fallback, doc, group, [=](Settings& s, const SettingInput& in) {
                std::string value = in.value;
                while (!value.empty() && value.back() == '/') value.pop_back();
                const bool plain = std::all_of(value.begin(), value.end(), [](unsigned char c) {
                    return std::isalnum(c) != 0 || c == '/' || c == '-' || c == '_' || c == '.' || c == '~';
                });
                if ((!value.empty() && value.front() != '/') || !plain) {
                    throw config_error(
                        fmt::format("{}: expected a path such as /v1/accounts, got '{}'", in.name, in.value));
                }
                field(s, path...) = value;
            }};
}

/// A connection value as an error may quote it: one line, control characters shown as '?'.
std::string printable(std::string_view value)
{
    std::string text(value);
    for (char& c : text) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    }
    return text;
}

/// Whether libpq 15 reads `value` as an int (its parse_int_param: strtol, blanks around, an
/// optional sign), here without the C locale's help.
bool libpq_int(std::string_view value, long long& number)
{
    const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; };
    while (!value.empty() && blank(value.front())) value.remove_prefix(1);
    while (!value.empty() && blank(value.back())) value.remove_suffix(1);
    const bool negative = !value.empty() && value.front() == '-';
    if (!value.empty() && (value.front() == '-' || value.front() == '+')) value.remove_prefix(1);
    if (value.empty()) return false;
    number = 0;
    for (const char c : value) {
        if (c < '0' || c > '9') return false;
        number = std::min(number * 10 + (c - '0'), std::numeric_limits<long long>::max() / 10);
    }
    if (negative) number = -number;
    return number >= std::numeric_limits<int>::min() && number <= std::numeric_limits<int>::max();
}

/// The elements of a comma-separated libpq list (host, hostaddr, port); "" is one empty element.
std::vector<std::string_view> comma_list(std::string_view value)
{
    std::vector<std::string_view> elements;
    for (;;) {
        const auto comma = value.find(',');
        elements.push_back(value.substr(0, comma));
        if (comma == std::string_view::npos) return elements;
        value.remove_prefix(comma + 1);
    }
}

/// The rank of an SSL protocol version as libpq 15 names it (any case); 0 when it is none.
int tls_rank(std::string_view version)
{
    static const std::array<std::string_view, 4> versions{"tlsv1", "tlsv1.1", "tlsv1.2", "tlsv1.3"};
    std::string lower(version);
    for (char& c : lower) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');  // ASCII, whatever the locale
    }
    const auto found = std::find(versions.begin(), versions.end(), lower);
    return found == versions.end() ? 0 : static_cast<int>(found - versions.begin()) + 1;
}

/// What libpq 15 would refuse in a parsed connection string before it contacts any server (a
/// value outside the documented ones, PostgreSQL docs 34.1.2), as "keyword 'value' ..."; nothing
/// when every value is one it takes. Values libpq 15 merely ignores (sslcompression, sslsni) are
/// held to their documented 0 or 1 as well: a typo there silently changes the connection.
std::optional<std::string> connection_value_problem(const PQconninfoOption* options)
{
    static const std::map<std::string_view, std::vector<std::string_view>> words{
        {"sslmode", {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}},
        {"gssencmode", {"disable", "prefer", "require"}},
        {"channel_binding", {"disable", "prefer", "require"}},
        {"target_session_attrs", {"any", "read-write", "read-only", "primary", "standby", "prefer-standby"}},
        {"sslcompression", {"0", "1"}},
        {"sslsni", {"0", "1"}},
    };
    static const std::set<std::string_view> integers{"connect_timeout",     "keepalives",       "keepalives_idle",
                                                     "keepalives_interval", "keepalives_count", "tcp_user_timeout"};
    std::map<std::string_view, std::string_view> given;
    for (const PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
        if (option->val != nullptr) given.emplace(option->keyword, option->val);
    }
    for (const auto& [keyword, value] : given) {
        const auto quoted = fmt::format("{} '{}'", keyword, printable(value));
        long long number = 0;
        if (const auto list = words.find(keyword); list != words.end()) {
            if (std::find(list->second.begin(), list->second.end(), value) == list->second.end()) {
                return fmt::format("{} is not one of {}", quoted, fmt::join(list->second, ", "));
            }
        } else if (integers.count(keyword) != 0 && !libpq_int(value, number)) {
            return fmt::format("{} is not a whole number", quoted);
        } else if (keyword == "port") {
            for (const auto element : comma_list(value)) {
                if (!element.empty() && (!libpq_int(element, number) || number < 1 || number > 65535)) {
                    return fmt::format("{} is not a port number from 1 to 65535", quoted);
                }
            }
        } else if ((keyword == "ssl_min_protocol_version" || keyword == "ssl_max_protocol_version") && !value.empty() &&
                   tls_rank(value) == 0) {
            return fmt::format("{} is not one of TLSv1, TLSv1.1, TLSv1.2, TLSv1.3", quoted);
        }
    }
    // libpq counts the hosts by hostaddr when given, else by host; ports are one for all or one each.
    const auto count_of = [&](std::string_view keyword) -> std::size_t {
        const auto found = given.find(keyword);
        return found == given.end() || found->second.empty() ? 0 : comma_list(found->second).size();
    };
    const std::size_t hosts = count_of("hostaddr") != 0 ? count_of("hostaddr") : count_of("host");
    if (count_of("host") != 0 && count_of("hostaddr") != 0 && count_of("host") != hosts) {
        return fmt::format("host '{}' names {} hosts for {} hostaddr values", printable(given.at("host")),
                           count_of("host"), hosts);
    }
    if (const std::size_t ports = count_of("port"); hosts != 0 && ports > 1 && ports != hosts) {
        return fmt::format("port '{}' lists {} ports for {} hosts", printable(given.at("port")), ports, hosts);
    }
    const auto min_version = given.count("ssl_min_protocol_version") != 0 ? given.at("ssl_min_protocol_version")
                                                                          : std::string_view("TLSv1.2");
    if (const auto max_version = given.find("ssl_max_protocol_version");
        max_version != given.end() && !max_version->second.empty() && !min_version.empty() &&
        tls_rank(max_version->second) < tls_rank(min_version)) {
        return fmt::format("ssl_max_protocol_version '{}' is below ssl_min_protocol_version '{}'",
                           printable(max_version->second), printable(min_version));
    }
    return std::nullopt;
}

/// A book's libpq connection string, checked now for syntax and for the values libpq refuses
/// before it contacts a server: a typo is a configuration error (78), not an unreachable
/// database (69) at the first connect.
SettingSpec database_url(const char* name, std::map<std::string, std::string> Settings::*urls, const char* doc)
{
    return {name, "", doc, G::books, [=](Settings& s, const SettingInput& in) {
                char* error = nullptr;
                std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> parsed(
                    PQconninfoParse(in.value.c_str(), &error), &PQconninfoFree);
                if (!parsed) {
                    std::string why = error != nullptr ? error : "out of memory";
                    PQfreemem(error);
                    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
                    throw config_error(fmt::format("{}: not a libpq connection URL or key=value string: {}", in.name,
                                                   without_password(why)));
                }
                if (const auto problem = connection_value_problem(parsed.get())) {
                    throw config_error(fmt::format("{}: {}", in.name, *problem));
                }
                (s.*urls)[in.book] = in.value;
            }};
}

/// RECON_BOOKS: comma-separated lower-case names, duplicates dropped.
SettingSpec book_list()
{
    return {"RECON_BOOKS", "uae,india", "the books this installation knows", G::books,
            [](Settings& s, const SettingInput& in) {
                s.books.clear();
                std::string_view rest = in.value;
                while (!rest.empty()) {
                    const auto comma = rest.find(',');
                    std::string book{rest.substr(0, comma)};
                    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
                    book.erase(0, book.find_first_not_of(" \t"));
                    book.erase(book.find_last_not_of(" \t") + 1);
                    if (book.empty()) continue;
                    const bool valid = std::all_of(book.begin(), book.end(), [](char c) {
                        return std::islower(static_cast<unsigned char>(c)) ||
                               std::isdigit(static_cast<unsigned char>(c)) || c == '_';
                    });
                    if (!valid) {
                        throw config_error(fmt::format(
                            "RECON_BOOKS: book names are lower-case letters, digits and _, got '{}'", book));
                    }
                    if (std::find(s.books.begin(), s.books.end(), book) == s.books.end()) s.books.push_back(book);
                }
                if (s.books.empty()) throw config_error("RECON_BOOKS is empty");
            }};
}

constexpr std::int64_t day = 86400;

}  // namespace

const std::vector<SettingSpec>& setting_table()
{
    using S = Settings;
    using B = BrokerSettings;
    using V = ServeConfig;
    // clang-format off
    static const std::vector<SettingSpec> table{
        // --- Books and databases (RECON_BOOKS first: the per-book settings follow its list)
        book_list(),
        database_url("RECON_DATABASE_URL_<BOOK>", &S::database_urls,
            "libpq URL or key=value string of the book's primary (lock, run rows)")
            .required()
            .shown_as("postgresql://reconcile@db-<book>.internal/ledger_<book>?sslmode=verify-full"),
        database_url("RECON_READ_DATABASE_URL_<BOOK>", &S::read_database_urls,
            "where the checks read the ledger (a replica)")
            .absent_means("the primary")
            .shown_as("postgresql://reconcile@db-<book>-replica.internal/ledger_<book>"),
        whole("RECON_READ_MAX_LAG_SECONDS", "", 0, 366 * day,
            "with a read replica: a standby further behind the primary than this makes the run exit 75, writing nothing",
            G::books, &S::read_max_lag_seconds),

        // --- Schedule
        boolean("RECON_SCHEDULE_ENABLED", "true", "master switch of scheduled runs (UAE and other books)",
            G::schedule, &S::schedule_enabled),
        whole("RECON_INTERVAL_SECONDS", "3600", 1, 366 * day, "A/B/D cadence", G::schedule, &S::interval_seconds),
        whole("RECON_EXTERNAL_INTERVAL_SECONDS", "86400", 1, 366 * day, "C cadence",
            G::schedule, &S::external_interval_seconds),
        whole("RECON_EXTERNAL_RETRY_SECONDS", "900", 1, 366 * day,
            "C retry after a run that reached no broker (exit 69)", G::schedule, &S::external_retry_seconds),
        whole("RECON_SCHEDULE_INITIAL_DELAY_SECONDS", "60", 0, 366 * day,
            "delay before `serve`'s first scheduled cycle", G::schedule, &S::initial_delay_seconds),
        boolean("INDIA_RECON_ENABLED", "false", "India's scheduled-run master switch", G::schedule, &S::india_enabled),
        whole("INDIA_RECON_INTERVAL_SECONDS", "3600", 1, 366 * day, "India A/B/D cadence",
            G::schedule, &S::india_interval_seconds),

        // --- Alerts and variance history
        http_url("ALERT_WEBHOOK_URL", false,
            "drift-alert POST target (`http://` or `https://`; never logged, it may carry a token)",
            G::alerts, &S::alert_webhook_url)
            .shown_as("https://alerts.internal/hooks/reconcile"),
        text("ALERT_WEBHOOK_SECRET", "", "HMAC-SHA256 key for alert signatures", G::alerts, &S::alert_webhook_secret)
            .as_secret("/etc/reconcile/secrets/alert-webhook-secret"),
        one_of("RECON_ALERT_MODE", "change", {"every", "change"},
            "`change`: alert when a check's situation changed; `every`: on every warn/fail run (see docs/alerts.md)",
            G::alerts, &S::alert_mode),
        whole("RECON_ALERT_TIMEOUT_MS", "3000", 100, 60000, "total deadline for all alerts of one run (100–60000)",
            G::alerts, &S::alert_timeout_ms),
        boolean("RECON_ALERT_PERSIST_ENABLED", "false",
            "write `recon.reconciliation_variances` rows (the listed variances of warn/fail checks)",
            G::alerts, &S::alert_persist_enabled),

        // --- Tolerances and limits
        whole("RECON_FULL_PROOF_INTERVAL_SECONDS", "86400", 0, 366 * 86400,
            "categories A and B prove the ledger in full at least this often; runs between extend the stored "
            "proof with what was committed since (0: every run is full)",
            G::tolerances, &S::full_proof_interval_seconds),
        whole("RECON_SNAPSHOT_WINDOW_DAYS", "7", 0, 36600,
            "snapshot_reconcile replays the latest snapshot per key and those this many days before it",
            G::tolerances, &S::snapshot_window_days),
        decimal("RECON_CASH_TOLERANCE", "0.01", "", "cash differences up to this match",
            G::tolerances, &S::cash_tolerance),
        decimal("RECON_QUANTITY_TOLERANCE", "0.000001", "", "quantity differences up to this match",
            G::tolerances, &S::quantity_match_tolerance),
        decimal("RECON_QUANTITY_DUST_TOLERANCE", "0.0001", "", "quantity differences up to this are dust (warn)",
            G::tolerances, &S::quantity_dust_tolerance),
        whole("RECON_PENDING_WARN_HOURS", "24", 0, 24 * 3660, "pending_flow_age warns past this age",
            G::tolerances, &S::pending_warn_hours),
        whole("RECON_PENDING_FAIL_HOURS", "72", 0, 24 * 3660, "pending_flow_age fails past this age",
            G::tolerances, &S::pending_fail_hours),
        whole("RECON_LRS_AGED_DAYS", "5", 0, 3660, "LRS money in transit longer than this is aged",
            G::tolerances, &S::lrs_aged_days),
        whole("RECON_VARIANCE_CAP", "200", 1, 100000,
            "variances listed per check per run (the true total is kept alongside)", G::tolerances, &S::variance_cap),
        whole("RECON_STATEMENT_TIMEOUT_MS", "300000", 1, 86400000,
            "per-check statement timeout; a check past it ends `error`", G::tolerances, &S::statement_timeout_ms),

        // --- Brokers
        whole("RECON_BROKER_CONCURRENCY", "8", 1, 256, "broker calls in flight at once (per run or report)",
            G::brokers, &S::brokers, &B::concurrency),
        whole("RECON_BROKER_CONNECT_TIMEOUT_MS", "5000", 1, 600000, "connect timeout of one attempt",
            G::brokers, &S::brokers, &B::connect_timeout_ms),
        whole("RECON_BROKER_TIMEOUT_MS", "30000", 1, 3600000, "total time of one attempt, connect to last byte",
            G::brokers, &S::brokers, &B::timeout_ms),
        whole("RECON_BROKER_RETRIES", "3", 0, 10,
            "retries after the first attempt on a connection failure, timeout, broken transfer, 408, 429 or 5xx",
            G::brokers, &S::brokers, &B::max_retries),
        whole("RECON_BROKER_BACKOFF_MS", "250", 0, 600000,
            "first backoff; doubles per retry, half of it random (jitter)", G::brokers, &S::brokers, &B::backoff_ms),
        whole("RECON_BROKER_BACKOFF_MAX_MS", "8000", 0, 600000, "cap of one backoff",
            G::brokers, &S::brokers, &B::backoff_max_ms),
        whole("RECON_BROKER_RETRY_AFTER_MAX_SECONDS", "60", 0, 3600,
            "a longer `Retry-After` is not waited for: the account is a `fetch_error`",
            G::brokers, &S::brokers, &B::retry_after_max_seconds),
        whole("RECON_BROKER_MAX_RESPONSE_BYTES", "16777216", 1024, std::int64_t{1} << 32,
            "an answer past this is cut off (not retried): a `fetch_error`",
            G::brokers, &S::brokers, &B::max_response_bytes),
        whole("RECON_BROKER_MAX_PAGES", "100", 1, 100000, "pages per account and kind of data; more is a `fetch_error`",
            G::brokers, &S::brokers, &B::max_pages),
        decimal("RECON_BROKER_MAX_FAILED_SHARE", "0.5", "1", "a C check whose failed customers exceed this share ends `error`",
            G::brokers, &S::brokers, &B::max_failed_share),
        decimal("RECON_LRS_FEE_TOLERANCE", "30.00", "",
            "USD a wire may arrive below the remittances it settles (bank fees)",
            G::brokers, &S::brokers, &B::lrs_fee_tolerance),
        whole("RECON_LRS_MATCH_WINDOW_DAYS", "7", 0, 366,
            "a wire matches a remittance when it arrived at most this many days after it (or up to a day before)",
            G::brokers, &S::brokers, &B::lrs_match_window_days),
        http_url("GTN_BASE_URL", true,
            "GTN API root, e.g. `https://api.example-gtn.com` (needed when a book has GTN customers)",
            G::brokers, &S::brokers, &B::gtn_base_url),
        text("GTN_APP_KEY", "", "the app key: issuer (`iss`) of the institution JWT",
            G::brokers, &S::brokers, &B::gtn_app_key),
        text("GTN_INSTITUTION_ID", "", "the institution code (`instCode` claim)",
            G::brokers, &S::brokers, &B::gtn_institution_id),
        text("GTN_USER_ID", "1234", "the server user id of the `userId` claim; GTN's SDK sends `1234` unless told",
            G::brokers, &S::brokers, &B::gtn_user_id),
        text("GTN_PRIVATE_KEY", "",
            "RSA private key signing the JWT: hex (base16) PKCS#8 DER as GTN hands it out, base64 DER, or PEM "
            "(use `GTN_PRIVATE_KEY_FILE`)",
            G::brokers, &S::brokers, &B::gtn_private_key)
            .as_secret("/etc/reconcile/gtn-private.key"),
        text("GTN_APP_SECRET", "", "the app secret: the token call carries `Authorization: Basic app_key:secret`",
            G::brokers, &S::brokers, &B::gtn_app_secret)
            .as_secret("/etc/reconcile/gtn-app-secret"),
        text("GTN_THROTTLE_KEY", "", "sent as `Throttle-Key` on every GTN call (unset: the app key)",
            G::brokers, &S::brokers, &B::gtn_throttle_key),
        http_url("ZAG_BASE_URL", true, "ZAG contract root (needed when a book has ZAG customers)",
            G::brokers, &S::brokers, &B::zag_base_url),
        url_path("ZAG_BASE_PATH", "/v1/accounts", "path below `ZAG_BASE_URL` of the (provisional) account resources",
            G::brokers, &S::brokers, &B::zag_base_path),
        text("ZAG_API_KEY", "", "ZAG key, sent as `X-Api-Key`", G::brokers, &S::brokers, &B::zag_api_key)
            .as_secret("/etc/reconcile/zag-api-key"),
        http_url("VIEWTRADE_BASE_URL", true, "ViewTrade contract root (needed when a book has ViewTrade customers)",
            G::brokers, &S::brokers, &B::viewtrade_base_url),
        url_path("VIEWTRADE_BASE_PATH", "/v1/accounts",
            "path below `VIEWTRADE_BASE_URL` of the (provisional) account resources",
            G::brokers, &S::brokers, &B::viewtrade_base_path),
        text("VIEWTRADE_API_KEY", "", "ViewTrade key, sent as `X-Api-Key`",
            G::brokers, &S::brokers, &B::viewtrade_api_key)
            .as_secret("/etc/reconcile/viewtrade-api-key"),

        // --- serve (lib/api's load_serve_settings adds --dev, --address, --port and requires the admin token)
        token("LEDGER_ADMIN_TOKEN",
            "`serve`: the token writes need (`X-Ledger-Admin-Token`); required, ≥ 16 characters",
            G::serve, &S::serve, &V::admin_token)
            .required().as_secret("/etc/reconcile/secrets/admin-token"),
        token("LEDGER_TOKEN",
            "`serve`: the read token (`X-Ledger-Token`), ≥ 16 characters; unset: reads need the admin token",
            G::serve, &S::serve, &V::read_token)
            .as_secret("/etc/reconcile/secrets/read-token"),
        bind_address("RECON_SERVE_ADDRESS", "127.0.0.1",
            "`serve`: address to bind, an IPv4 or IPv6 address or `localhost` (`--address` wins)",
            G::serve, &S::serve, &V::address),
        whole("RECON_SERVE_PORT", "8078", 0, 65535, "`serve`: port to bind, 0 for any free one (`--port` wins)",
            G::serve, &S::serve, &V::port),
        whole("RECON_SERVE_MAX_BODY_BYTES", "65536", 1, 16 * 1024 * 1024,
            "`serve`: largest request body, chunked bodies included (413 beyond)", G::serve, &S::serve, &V::max_body_bytes),
        whole("RECON_SERVE_READ_TIMEOUT_SECONDS", "10", 1, 3600,
            "`serve`: a whole request (line, headers, body) must arrive within this, counted from accept for the "
            "first one; else the connection is closed (408 when headers were read)",
            G::serve, &S::serve, &V::read_timeout_seconds),
        whole("RECON_SERVE_WRITE_TIMEOUT_SECONDS", "10", 1, 3600, "`serve`: each write of a response",
            G::serve, &S::serve, &V::write_timeout_seconds),
        whole("RECON_SERVE_KEEPALIVE_SECONDS", "5", 1, 3600,
            "`serve`: idle time allowed between two requests on a connection", G::serve, &S::serve, &V::keepalive_seconds),
        whole("RECON_SERVE_WORKERS", "8", 1, 256,
            "`serve`: requests handled at once (the worker pool; idle connections take none)",
            G::serve, &S::serve, &V::workers),
        whole("RECON_SERVE_QUEUE", "64", 0, 100000,
            "`serve`: requests waiting for a worker; beyond it, 503 with Retry-After", G::serve, &S::serve, &V::queue),
        whole("RECON_SERVE_MAX_CONNECTIONS", "512", 1, 100000,
            "`serve`: open connections; beyond it, 503 with Retry-After at once",
            G::serve, &S::serve, &V::max_connections),
        whole("RECON_SERVE_MAX_CONNECTIONS_PER_CLIENT", "64", 1, 100000,
            "`serve`: open connections from one client address; beyond it, 503 with Retry-After at once",
            G::serve, &S::serve, &V::max_connections_per_client),
        whole("RECON_SERVE_PROBE_TIMEOUT_SECONDS", "5", 1, 300,
            "`serve`: every request's database work ends within this (`/metrics` and `/readyz` included); a book "
            "whose database has not answered is down (503 naming it)",
            G::serve, &S::serve, &V::probe_timeout_seconds),
        whole("RECON_SERVE_RUN_WAIT_SECONDS", "30", 0, 3600,
            "`serve`: how long `POST /v1/reconciliation/run` waits for its runs before answering 202",
            G::serve, &S::serve, &V::run_wait_seconds),
    };
    // clang-format on
    return table;
}

bool SettingSpec::per_book() const
{
    return std::string_view(name).find("<BOOK>") != std::string_view::npos;
}

SettingSpec SettingSpec::required() const
{
    SettingSpec copy = *this;
    copy.absent = "—";
    return copy;
}

SettingSpec SettingSpec::absent_means(const char* words) const
{
    SettingSpec copy = *this;
    copy.absent = words;
    return copy;
}

SettingSpec SettingSpec::as_secret(const char* file) const
{
    SettingSpec copy = *this;
    copy.secret = true;
    copy.example = file;
    return copy;
}

SettingSpec SettingSpec::shown_as(const char* value) const
{
    SettingSpec copy = *this;
    copy.example = value;
    return copy;
}

}  // namespace reconcile
