#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/decimal.hpp"

namespace reconcile {

/// Raw KEY=VALUE settings: the env-file overlaid by the process environment.
using EnvMap = std::map<std::string, std::string>;

/// Parses the env-file format systemd's EnvironmentFile= reads: KEY=VALUE lines, `#` comments,
/// blank lines, optional `export `, single or double quotes around the value.
/// Throws Error(config) naming the file and line on anything else.
EnvMap parse_env_file(std::string_view text, std::string_view origin);

/// Reads and parses an env-file; anything but a readable regular file of at most 1 MiB is a
/// configuration error. A leading UTF-8 byte-order mark is skipped (docs/decisions/env-file-strictness.md).
EnvMap read_env_file(const std::string& path);

/// The process environment as a map (variables without '=' are skipped).
EnvMap process_environment();

/// Settings are looked up in the file first and then overridden by the process environment,
/// so a one-off `RECON_X=... reconcile ...` wins over the shared file.
EnvMap merge_env(const EnvMap& file, const EnvMap& process);

/// Looks a setting up as NAME or, for secrets, NAME_FILE=/path (trailing newline stripped).
/// Both set, or a file that is not a readable regular file of at most 64 KiB, is a
/// configuration error; absence is std::nullopt.
std::optional<std::string> lookup_setting(const EnvMap& env, const std::string& name);

/// Broker access for category C and the India reports: limits of every call, tolerances of
/// the external checks, and each broker's endpoint and credentials (secrets via NAME_FILE).
/// Names and defaults: lib/setting_table.cpp.
struct BrokerSettings {
    std::int64_t concurrency = 0;         ///< calls in flight
    std::int64_t connect_timeout_ms = 0;  ///< connect timeout of one attempt
    std::int64_t timeout_ms = 0;          ///< one attempt, end to end
    std::int64_t max_retries = 0;         ///< retries after the first attempt
    std::int64_t backoff_ms = 0;          ///< first backoff
    std::int64_t backoff_max_ms = 0;      ///< cap of one backoff
    std::int64_t retry_after_max_seconds = 0;
    std::int64_t max_response_bytes = 0;
    std::int64_t max_pages = 0;  ///< per account and kind
    Decimal max_failed_share;
    Decimal lrs_fee_tolerance;  ///< USD
    std::int64_t lrs_match_window_days = 0;

    std::optional<std::string> gtn_base_url;
    std::optional<std::string> gtn_app_key;         ///< the JWT issuer
    std::optional<std::string> gtn_app_secret;      ///< Basic auth of the token call
    std::optional<std::string> gtn_institution_id;  ///< the instCode claim
    std::optional<std::string> gtn_private_key;     ///< hex or base64 PKCS#8 DER, or PEM; signs the JWT
    std::optional<std::string> gtn_throttle_key;    ///< unset: the app key
    std::string gtn_user_id;                        ///< the userId claim (default "1234", as GTN's SDK)
    std::optional<std::string> zag_base_url;
    std::string zag_base_path;  ///< below zag_base_url: the provisional contract's account resources
    std::optional<std::string> zag_api_key;
    std::optional<std::string> viewtrade_base_url;
    std::string viewtrade_base_path;  ///< below viewtrade_base_url, as zag_base_path
    std::optional<std::string> viewtrade_api_key;
};

/// `serve`'s settings as read (RECON_SERVE_* and the tokens); lib/api's load_serve_settings
/// applies --dev, --address, --port and the token rules on top.
struct ServeConfig {
    std::string address;
    std::int64_t port = 0;
    std::int64_t max_body_bytes = 0;
    std::int64_t read_timeout_seconds = 0;
    std::int64_t write_timeout_seconds = 0;
    std::int64_t keepalive_seconds = 0;
    std::int64_t workers = 0;
    std::int64_t queue = 0;
    std::int64_t max_connections = 0;
    std::int64_t max_connections_per_client = 0;
    std::int64_t probe_timeout_seconds = 0;
    std::int64_t run_wait_seconds = 0;
    std::optional<std::string> admin_token;  ///< LEDGER_ADMIN_TOKEN
    std::optional<std::string> read_token;   ///< LEDGER_TOKEN
};

/// Every setting of reconcile, validated once at start-up (bad values exit 78). Built only by
/// load_settings: names, defaults and ranges are in the setting table (lib/setting_table.cpp).
struct Settings {
    std::vector<std::string> books;
    std::map<std::string, std::string> database_urls;       ///< book -> libpq URL or key=value
    std::map<std::string, std::string> read_database_urls;  ///< book -> replica URL for checks

    bool schedule_enabled = false;
    std::int64_t interval_seconds = 0;
    std::int64_t external_interval_seconds = 0;
    std::int64_t external_retry_seconds = 0;  ///< a C run that reached no broker is retried after this
    std::int64_t initial_delay_seconds = 0;
    bool india_enabled = false;
    std::int64_t india_interval_seconds = 0;

    std::optional<std::string> alert_webhook_url;
    std::optional<std::string> alert_webhook_secret;
    bool alert_persist_enabled = false;
    std::int64_t alert_timeout_ms = 0;  ///< total deadline of all alerts of one run
    std::string alert_mode;             ///< every | change (docs/alerts.md)

    Decimal cash_tolerance;
    Decimal quantity_match_tolerance;
    Decimal quantity_dust_tolerance;
    std::int64_t pending_warn_hours = 0;
    std::int64_t pending_fail_hours = 0;
    std::int64_t lrs_aged_days = 0;
    std::int64_t variance_cap = 0;
    std::int64_t statement_timeout_ms = 0;
    std::int64_t full_proof_interval_seconds = 0;  ///< A/B: the longest run of incremental proofs
    std::int64_t snapshot_window_days = 0;         ///< snapshot_reconcile: latest snapshot + this many days
    /// With a read replica: refuse to run (75, nothing written) when it lags the primary by more.
    std::optional<std::int64_t> read_max_lag_seconds;

    BrokerSettings brokers;
    ServeConfig serve;

    EnvMap raw;  ///< everything that was read

    /// The primary URL of a book (lock, run rows); throws Error(config) when it is missing.
    const std::string& database_url(const std::string& book) const;
    /// Where the checks read the ledger: the replica when configured, else the primary.
    const std::string& read_database_url(const std::string& book) const;
    /// Throws Error(usage) unless the book is one of RECON_BOOKS.
    void require_book(const std::string& book) const;
};

/// Where a setting is listed in packaging/reconcile.env and docs/settings.md.
enum class SettingGroup { books, schedule, alerts, tolerances, brokers, serve };

/// A value being stored: the setting's full name (a per-book one with the book's suffix), its
/// text, and for per-book settings the book.
struct SettingInput {
    const std::string& name;
    const std::string& value;
    const std::string& book;
};

/// One setting: its name, default, parser (with its range), doc and destination, in one entry of
/// setting_table(). Settings, ServeConfig, setting_docs(), the man page, docs/settings.md and
/// packaging/reconcile.env all come from that table.
struct SettingSpec {
    const char* name;           ///< e.g. "RECON_INTERVAL_SECONDS"; per-book ones end in _<BOOK>
    const char* default_value;  ///< parsed like a set value when the setting is absent; "" = none
    const char* doc;            ///< one sentence, Markdown backticks allowed
    SettingGroup group;
    std::function<void(Settings&, const SettingInput&)> store;  ///< parses (Error(config)) and stores
    const char* absent = "unset";                               ///< the docs' word for no default ("—": required)
    bool secret = false;                                        ///< the env example shows NAME_FILE=<example>
    const char* example = "";                                   ///< the env example's value when it is not the default

    bool per_book() const;
    SettingSpec required() const;  ///< documented default "—"
    SettingSpec absent_means(const char* words) const;
    SettingSpec as_secret(const char* file) const;  ///< example NAME_FILE=file
    SettingSpec shown_as(const char* value) const;  ///< example value
};

/// Every setting reconcile reads, in documentation order (lib/setting_table.cpp).
const std::vector<SettingSpec>& setting_table();

/// The text of packaging/reconcile.env: every setting with its doc and default, commented out.
std::string env_example();

/// serve's tokens are at least this long (LEDGER_ADMIN_TOKEN, LEDGER_TOKEN).
constexpr std::size_t min_token_length = 16;

/// Whether serve can bind `address`: an IPv4 or IPv6 address, or `localhost` (no other name is
/// resolved). Checked where the address is given: RECON_SERVE_ADDRESS (78), --address (64).
bool is_bind_address(std::string_view address);

/// The closest of `candidates` to `word` (edit distance at most max(2, |word|/3)), if any.
std::optional<std::string> closest_match(std::string_view word, const std::vector<std::string>& candidates);

/// Builds and validates Settings from raw values.
Settings load_settings(const EnvMap& env);

/// The process's settings: `config_path` (if any) overlaid by the environment. A key in the
/// file that is no setting is Error(config) naming the closest one; an unknown RECON_* variable
/// in the environment is a warning.
Settings load_settings_from(const std::optional<std::string>& config_path);

/// One documented setting (from setting_table()): docs/settings.md's table, the man page's
/// ENVIRONMENT section and packaging/reconcile.env are all checked against this list.
struct SettingDoc {
    const char* name;           ///< e.g. "RECON_INTERVAL_SECONDS"; per-book ones end in _<BOOK>
    const char* default_value;  ///< as documented: "3600", "unset", "—"
    const char* effect;         ///< one sentence, Markdown backticks allowed
};

/// Every setting reconcile reads, in setting_table() order.
const std::vector<SettingDoc>& setting_docs();
/// Parses a whole-number setting value within [min, max]; throws Error(config) naming it.
std::int64_t parse_int_setting(const std::string& name, const std::string& value, std::int64_t min, std::int64_t max);

/// Parses a boolean setting value (true/false/1/0/yes/no/on/off); throws Error(config).
bool parse_bool_setting(const std::string& name, const std::string& value);

}  // namespace reconcile
