#pragma once

#include <cstdint>
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

/// Reads and parses an env-file; an unreadable file is a configuration error.
EnvMap read_env_file(const std::string& path);

/// The process environment as a map (variables without '=' are skipped).
EnvMap process_environment();

/// Settings are looked up in the file first and then overridden by the process environment,
/// so a one-off `RECON_X=... reconcile ...` wins over the shared file.
EnvMap merge_env(const EnvMap& file, const EnvMap& process);

/// Looks a setting up as NAME or, for secrets, NAME_FILE=/path (trailing newline stripped).
/// Both set, or an unreadable file, is a configuration error; absence is std::nullopt.
std::optional<std::string> lookup_setting(const EnvMap& env, const std::string& name);

/// Broker access for category C and the India reports: limits of every call, tolerances of
/// the external checks, and each broker's endpoint and credentials (secrets via NAME_FILE).
struct BrokerSettings {
    std::int64_t concurrency = 8;                         ///< RECON_BROKER_CONCURRENCY: calls in flight
    std::int64_t connect_timeout_ms = 5000;               ///< RECON_BROKER_CONNECT_TIMEOUT_MS
    std::int64_t timeout_ms = 30000;                      ///< RECON_BROKER_TIMEOUT_MS: one attempt, end to end
    std::int64_t max_retries = 3;                         ///< RECON_BROKER_RETRIES
    std::int64_t backoff_ms = 250;                        ///< RECON_BROKER_BACKOFF_MS: first backoff
    std::int64_t backoff_max_ms = 8000;                   ///< RECON_BROKER_BACKOFF_MAX_MS
    std::int64_t retry_after_max_seconds = 60;            ///< RECON_BROKER_RETRY_AFTER_MAX_SECONDS
    std::int64_t max_response_bytes = 16 << 20;           ///< RECON_BROKER_MAX_RESPONSE_BYTES
    std::int64_t max_pages = 100;                         ///< RECON_BROKER_MAX_PAGES per account and kind
    Decimal max_failed_share = Decimal::parse("0.5");     ///< RECON_BROKER_MAX_FAILED_SHARE
    Decimal lrs_fee_tolerance = Decimal::parse("30.00");  ///< RECON_LRS_FEE_TOLERANCE (USD)
    std::int64_t lrs_match_window_days = 7;               ///< RECON_LRS_MATCH_WINDOW_DAYS

    std::optional<std::string> gtn_base_url;         ///< GTN_BASE_URL
    std::optional<std::string> gtn_app_key;          ///< GTN_APP_KEY: the JWT issuer
    std::optional<std::string> gtn_app_secret;       ///< GTN_APP_SECRET: Basic auth of the token call
    std::optional<std::string> gtn_institution_id;   ///< GTN_INSTITUTION_ID: the instCode claim
    std::optional<std::string> gtn_private_key;      ///< GTN_PRIVATE_KEY: PEM, signs the JWT
    std::optional<std::string> gtn_throttle_key;     ///< GTN_THROTTLE_KEY (default: the app key)
    std::optional<std::string> gtn_user_id;          ///< GTN_USER_ID: the userId claim (server user)
    std::optional<std::string> zag_base_url;         ///< ZAG_BASE_URL
    std::optional<std::string> zag_base_path;        ///< ZAG_BASE_PATH (default: /v1/accounts)
    std::optional<std::string> viewtrade_base_path;  ///< VIEWTRADE_BASE_PATH (default: /v1/accounts)
    std::optional<std::string> zag_api_key;          ///< ZAG_API_KEY
    std::optional<std::string> viewtrade_base_url;   ///< VIEWTRADE_BASE_URL
    std::optional<std::string> viewtrade_api_key;    ///< VIEWTRADE_API_KEY
};

/// Every setting of reconcile, validated once at start-up (bad values exit 78).
struct Settings {
    std::vector<std::string> books{"uae", "india"};
    std::map<std::string, std::string> database_urls;       ///< book -> libpq URL or key=value
    std::map<std::string, std::string> read_database_urls;  ///< book -> replica URL for checks

    bool schedule_enabled = true;
    std::int64_t interval_seconds = 3600;
    std::int64_t external_interval_seconds = 86400;
    std::int64_t initial_delay_seconds = 60;
    bool india_enabled = false;
    std::int64_t india_interval_seconds = 3600;

    std::optional<std::string> alert_webhook_url;
    std::optional<std::string> alert_webhook_secret;
    bool alert_persist_enabled = false;
    std::int64_t alert_timeout_ms = 3000;  ///< total deadline of all alerts of one run
    std::string alert_mode = "change";     ///< every | change (README "Alerts")

    Decimal cash_tolerance = Decimal::parse("0.01");
    Decimal quantity_match_tolerance = Decimal::parse("0.000001");
    Decimal quantity_dust_tolerance = Decimal::parse("0.0001");
    std::int64_t pending_warn_hours = 24;
    std::int64_t pending_fail_hours = 72;
    std::int64_t lrs_aged_days = 5;
    std::int64_t variance_cap = 200;
    std::int64_t statement_timeout_ms = 300000;
    std::int64_t snapshot_window_days = 7;  ///< snapshot_reconcile: latest snapshot + this many days
    /// With a read replica: refuse to run (75, nothing written) when it lags the primary by more.
    std::optional<std::int64_t> read_max_lag_seconds;

    BrokerSettings brokers;

    EnvMap raw;  ///< everything that was read, for later subsystems' own settings

    /// The primary URL of a book (lock, run rows); throws Error(config) when it is missing.
    const std::string& database_url(const std::string& book) const;
    /// Where the checks read the ledger: the replica when configured, else the primary.
    const std::string& read_database_url(const std::string& book) const;
    /// Throws Error(usage) unless the book is one of RECON_BOOKS.
    void require_book(const std::string& book) const;
};

/// Builds and validates Settings from raw values.
Settings load_settings(const EnvMap& env);

/// The process's settings: `config_path` (if any) overlaid by the environment.
Settings load_settings_from(const std::optional<std::string>& config_path);

/// One documented setting: the README's settings table, the man page's ENVIRONMENT section
/// and packaging/reconcile.env are all checked against this list.
struct SettingDoc {
    const char* name;           ///< e.g. "RECON_INTERVAL_SECONDS"; per-book ones end in _<BOOK>
    const char* default_value;  ///< as documented: "3600", "unset", "—"
    const char* effect;         ///< one sentence, Markdown backticks allowed
};

/// Every setting reconcile reads, in README order.
const std::vector<SettingDoc>& setting_docs();
/// Parses a whole-number setting value within [min, max]; throws Error(config) naming it.
std::int64_t parse_int_setting(const std::string& name, const std::string& value, std::int64_t min, std::int64_t max);

/// Parses a boolean setting value (true/false/1/0/yes/no/on/off); throws Error(config).
bool parse_bool_setting(const std::string& name, const std::string& value);

}  // namespace reconcile
