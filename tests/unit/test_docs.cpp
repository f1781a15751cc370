// The documentation agrees with the code: docs/settings.md's table and the README's exit-code
// table, the man page's sources (setting_docs, exit_code_docs), the defaults Settings really
// has, and the packaged example env-file (generated from the setting table).
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "checks/registry.hpp"
#include "lib/api.hpp"
#include "lib/config.hpp"
#include "lib/contract.hpp"
#include "lib/errors.hpp"

using namespace reconcile;

namespace {

std::string read_source(const std::string& relative)
{
    std::ifstream in(std::string(RECON_SOURCE_DIR) + "/" + relative, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "cannot read " << relative);
    std::ostringstream content;
    content << in.rdbuf();
    return content.str();
}

std::string trim(const std::string& text)
{
    const auto first = text.find_first_not_of(' ');
    if (first == std::string::npos) return {};
    return text.substr(first, text.find_last_not_of(' ') - first + 1);
}

/// The rows of the first Markdown table after `heading` in `file`, cells trimmed.
std::vector<std::vector<std::string>> markdown_table(const std::string& file, const std::string& heading)
{
    const std::string readme = read_source(file);
    const auto at = readme.find("\n" + heading + "\n");
    REQUIRE_MESSAGE(at != std::string::npos, file << " has no " << heading);
    std::istringstream in(readme.substr(at + heading.size() + 2));
    std::vector<std::vector<std::string>> rows;
    bool in_table = false;
    for (std::string line; std::getline(in, line);) {
        if (line.rfind("|", 0) != 0) {
            if (in_table) break;
            continue;
        }
        in_table = true;
        if (line.rfind("|---", 0) == 0) continue;
        std::vector<std::string> cells;
        std::istringstream cells_in(line.substr(1));
        for (std::string cell; std::getline(cells_in, cell, '|');) cells.push_back(trim(cell));
        rows.push_back(cells);
    }
    REQUIRE(rows.size() > 1);
    rows.erase(rows.begin());  // the header
    return rows;
}

std::vector<std::vector<std::string>> readme_table(const std::string& heading)
{
    return markdown_table("README.md", heading);
}

}  // namespace

TEST_CASE("docs/settings.md's table is setting_docs(), the list the man page prints")
{
    std::vector<std::vector<std::string>> documented;
    std::string expected;
    for (const auto& doc : setting_docs()) {
        documented.push_back({doc.name, doc.default_value, doc.effect});
        expected += fmt::format("| {} | {} | {} |\n", doc.name, doc.default_value, doc.effect);
    }
    CHECK_MESSAGE(markdown_table("docs/settings.md", "## The settings") == documented,
                  "docs/settings.md's table should read:\n"
                      << expected);
}

TEST_CASE("setting_docs() is the setting table: every entry once, defaults as the parser reads them")
{
    std::set<std::string> names;
    for (const auto& spec : setting_table()) {
        CAPTURE(spec.name);
        CHECK(names.insert(spec.name).second);
        CHECK(std::string(spec.doc).find('\n') == std::string::npos);
    }
    CHECK(names.size() == setting_docs().size());
    CHECK(setting_table().front().name == std::string("RECON_BOOKS"));  // per-book entries follow its list
}

TEST_CASE("docs/checks.md's check catalogue is the registry: every check, its category, and real settings")
{
    const auto rows = markdown_table("docs/checks.md", "## Check catalogue");
    std::vector<std::string> documented;
    std::set<std::string> known;
    for (const auto& doc : setting_docs()) known.insert(doc.name);
    for (const auto& row : rows) {
        REQUIRE(row.size() == 5);
        CAPTURE(row[0]);
        documented.push_back(row[0]);
        const Check* check = default_registry().find(row[0]);
        REQUIRE(check != nullptr);
        CHECK(row[1] == to_string(check->category()));
        // Every setting the row names (`RECON_...`; `GTN_*` stands for a broker's group) is a real one.
        const std::regex setting("`([A-Z][A-Z0-9_]*)`");
        for (std::sregex_iterator it(row[3].begin(), row[3].end(), setting), end; it != end; ++it) {
            const std::string name = (*it)[1];
            CAPTURE(name);
            CHECK(known.count(name) == 1);
        }
    }
    // The complete list is the registry itself (`reconcile checks`); the catalogue may lag a
    // new check but never names one that does not exist, nor reorders them.
    std::vector<std::string> registered;
    for (const auto& check : default_registry().all()) {
        if (std::find(documented.begin(), documented.end(), check->name()) != documented.end()) {
            registered.emplace_back(check->name());
        }
    }
    CHECK(documented == registered);
}

TEST_CASE("README's exit-code table is exit_code_docs(), the list the man page prints")
{
    std::vector<std::vector<std::string>> documented;
    for (const auto& doc : exit_code_docs()) documented.push_back({std::to_string(to_int(doc.code)), doc.meaning});
    CHECK(readme_table("## Exit codes") == documented);
}

TEST_CASE("documented defaults are the defaults Settings has")
{
    const Settings s = load_settings({});
    const ServeSettings serve = load_serve_settings(load_settings({{"LEDGER_ADMIN_TOKEN", "0123456789abcdef"}}), false,
                                                    std::nullopt, std::nullopt);
    const auto seconds = [](auto duration) {
        return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(duration).count());
    };
    const std::map<std::string, std::string> actual{
        {"LEDGER_ADMIN_TOKEN", "—"},  // required: serve refuses to start without it
        {"LEDGER_TOKEN", serve.tokens.read ? *serve.tokens.read : "unset"},
        {"RECON_SERVE_ADDRESS", serve.address},
        {"RECON_SERVE_PORT", std::to_string(serve.port)},
        {"RECON_SERVE_MAX_BODY_BYTES", std::to_string(serve.limits.max_body_bytes)},
        {"RECON_SERVE_READ_TIMEOUT_SECONDS", seconds(serve.limits.request_timeout)},
        {"RECON_SERVE_WRITE_TIMEOUT_SECONDS", seconds(serve.limits.write_timeout)},
        {"RECON_SERVE_KEEPALIVE_SECONDS", seconds(serve.limits.keep_alive_timeout)},
        {"RECON_SERVE_WORKERS", std::to_string(serve.limits.workers)},
        {"RECON_SERVE_QUEUE", std::to_string(serve.limits.max_queued)},
        {"RECON_SERVE_MAX_CONNECTIONS", std::to_string(serve.limits.max_connections)},
        {"RECON_SERVE_MAX_CONNECTIONS_PER_CLIENT", std::to_string(serve.limits.max_connections_per_client)},
        {"RECON_SERVE_PROBE_TIMEOUT_SECONDS", seconds(serve.probe_timeout)},
        {"RECON_SERVE_RUN_WAIT_SECONDS", seconds(serve.run_wait)},
        {"RECON_READ_MAX_LAG_SECONDS", s.read_max_lag_seconds ? std::to_string(*s.read_max_lag_seconds) : "unset"},
        {"RECON_BOOKS", s.books.size() == 2 ? s.books[0] + "," + s.books[1] : "?"},
        {"RECON_SCHEDULE_ENABLED", s.schedule_enabled ? "true" : "false"},
        {"RECON_INTERVAL_SECONDS", std::to_string(s.interval_seconds)},
        {"RECON_EXTERNAL_INTERVAL_SECONDS", std::to_string(s.external_interval_seconds)},
        {"RECON_SCHEDULE_INITIAL_DELAY_SECONDS", std::to_string(s.initial_delay_seconds)},
        {"INDIA_RECON_ENABLED", s.india_enabled ? "true" : "false"},
        {"INDIA_RECON_INTERVAL_SECONDS", std::to_string(s.india_interval_seconds)},
        {"ALERT_WEBHOOK_URL", s.alert_webhook_url ? *s.alert_webhook_url : "unset"},
        {"ALERT_WEBHOOK_SECRET", s.alert_webhook_secret ? *s.alert_webhook_secret : "unset"},
        {"RECON_ALERT_PERSIST_ENABLED", s.alert_persist_enabled ? "true" : "false"},
        {"RECON_ALERT_MODE", s.alert_mode},
        {"RECON_ALERT_TIMEOUT_MS", std::to_string(s.alert_timeout_ms)},
        {"RECON_SNAPSHOT_WINDOW_DAYS", std::to_string(s.snapshot_window_days)},
        {"RECON_CASH_TOLERANCE", s.cash_tolerance.to_string()},
        {"RECON_QUANTITY_TOLERANCE", s.quantity_match_tolerance.to_string()},
        {"RECON_QUANTITY_DUST_TOLERANCE", s.quantity_dust_tolerance.to_string()},
        {"RECON_PENDING_WARN_HOURS", std::to_string(s.pending_warn_hours)},
        {"RECON_PENDING_FAIL_HOURS", std::to_string(s.pending_fail_hours)},
        {"RECON_LRS_AGED_DAYS", std::to_string(s.lrs_aged_days)},
        {"RECON_VARIANCE_CAP", std::to_string(s.variance_cap)},
        {"RECON_STATEMENT_TIMEOUT_MS", std::to_string(s.statement_timeout_ms)},
        {"RECON_BROKER_CONCURRENCY", std::to_string(s.brokers.concurrency)},
        {"RECON_BROKER_CONNECT_TIMEOUT_MS", std::to_string(s.brokers.connect_timeout_ms)},
        {"RECON_BROKER_TIMEOUT_MS", std::to_string(s.brokers.timeout_ms)},
        {"RECON_BROKER_RETRIES", std::to_string(s.brokers.max_retries)},
        {"RECON_BROKER_BACKOFF_MS", std::to_string(s.brokers.backoff_ms)},
        {"RECON_BROKER_BACKOFF_MAX_MS", std::to_string(s.brokers.backoff_max_ms)},
        {"RECON_BROKER_RETRY_AFTER_MAX_SECONDS", std::to_string(s.brokers.retry_after_max_seconds)},
        {"RECON_BROKER_MAX_RESPONSE_BYTES", std::to_string(s.brokers.max_response_bytes)},
        {"RECON_BROKER_MAX_PAGES", std::to_string(s.brokers.max_pages)},
        {"RECON_BROKER_MAX_FAILED_SHARE", s.brokers.max_failed_share.to_string()},
        {"RECON_LRS_FEE_TOLERANCE", s.brokers.lrs_fee_tolerance.to_string()},
        {"RECON_LRS_MATCH_WINDOW_DAYS", std::to_string(s.brokers.lrs_match_window_days)},
        {"GTN_BASE_URL", s.brokers.gtn_base_url ? *s.brokers.gtn_base_url : "unset"},
        {"GTN_APP_KEY", s.brokers.gtn_app_key ? *s.brokers.gtn_app_key : "unset"},
        {"GTN_INSTITUTION_ID", s.brokers.gtn_institution_id ? *s.brokers.gtn_institution_id : "unset"},
        {"GTN_PRIVATE_KEY", s.brokers.gtn_private_key ? *s.brokers.gtn_private_key : "unset"},
        {"GTN_APP_SECRET", s.brokers.gtn_app_secret ? *s.brokers.gtn_app_secret : "unset"},
        {"GTN_THROTTLE_KEY", s.brokers.gtn_throttle_key ? *s.brokers.gtn_throttle_key : "unset"},
        {"GTN_USER_ID", s.brokers.gtn_user_id},
        {"ZAG_BASE_URL", s.brokers.zag_base_url ? *s.brokers.zag_base_url : "unset"},
        {"ZAG_BASE_PATH", s.brokers.zag_base_path},
        {"VIEWTRADE_BASE_PATH", s.brokers.viewtrade_base_path},
        {"ZAG_API_KEY", s.brokers.zag_api_key ? *s.brokers.zag_api_key : "unset"},
        {"VIEWTRADE_BASE_URL", s.brokers.viewtrade_base_url ? *s.brokers.viewtrade_base_url : "unset"},
        {"VIEWTRADE_API_KEY", s.brokers.viewtrade_api_key ? *s.brokers.viewtrade_api_key : "unset"},
    };
    // Written out by hand for the settings that existed when the table was introduced: the
    // table's defaults must still reach the same fields. A setting added later is covered by the
    // env-example test below (its documented default loads without error).
    std::size_t compared = 0;
    for (const auto& doc : setting_docs()) {
        if (std::string(doc.name).find("<BOOK>") != std::string::npos || actual.count(doc.name) == 0) continue;
        CAPTURE(doc.name);
        CHECK(actual.at(doc.name) == doc.default_value);
        ++compared;
    }
    CHECK(compared == actual.size());
}

TEST_CASE("packaging/reconcile.env lists every setting with its default, and only real settings")
{
    const std::string example = read_source("packaging/reconcile.env");
    CHECK_MESSAGE(example == env_example(),
                  "packaging/reconcile.env is generated from lib/setting_table.cpp: run "
                  "build/reconcile help-env > packaging/reconcile.env");
    // As shipped, everything is commented out: installing the package changes no behaviour.
    CHECK(parse_env_file(example, "packaging/reconcile.env").empty());

    std::map<std::string, std::string> commented;  // NAME -> value of its "#NAME=value" line
    const std::regex setting_line(R"(^#([A-Z][A-Z0-9_]*)=(.*)$)");
    std::istringstream in(example);
    for (std::string line; std::getline(in, line);) {
        std::smatch match;
        if (std::regex_match(line, match, setting_line)) commented[match[1]] = match[2];
    }
    std::set<std::string> documented;
    for (const auto& doc : setting_docs()) {
        const std::string name = doc.name;
        CAPTURE(name);
        documented.insert(name);
        if (name.find("<BOOK>") != std::string::npos) {
            CHECK(example.find(name) != std::string::npos);
            continue;
        }
        const bool plain = commented.count(name) == 1;
        CHECK((plain || commented.count(name + "_FILE") == 1));
        const std::string default_value = doc.default_value;
        if (plain && default_value != "unset") CHECK(commented.at(name) == default_value);
    }
    // Every line names a documented setting (per-book ones by their pattern, secrets as _FILE).
    const std::regex per_book("^(RECON_(READ_)?DATABASE_URL)_[A-Z0-9_]+?(_FILE)?$");
    for (const auto& [name, value] : commented) {
        CAPTURE(name);
        std::smatch match;
        std::string base = name;
        if (std::regex_match(name, match, per_book)) {
            base = match[1].str() + "_<BOOK>";
        } else if (base.size() > 5 && base.compare(base.size() - 5, 5, "_FILE") == 0) {
            base.resize(base.size() - 5);
        }
        CHECK(documented.count(base) == 1);
    }

    // Uncommented as written, the defaults load as the defaults.
    EnvMap defaults;
    for (const auto& [name, value] : commented) {
        if (name.find("DATABASE_URL") == std::string::npos && name.find("_FILE") == std::string::npos &&
            name.rfind("ALERT_WEBHOOK", 0) != 0) {
            defaults[name] = value;
        }
    }
    CHECK(defaults.size() >= 15);
    const Settings loaded = load_settings(defaults);
    const Settings fresh = load_settings({});
    CHECK(loaded.books == fresh.books);
    CHECK(loaded.variance_cap == fresh.variance_cap);
    CHECK(loaded.cash_tolerance == fresh.cash_tolerance);
    CHECK(loaded.statement_timeout_ms == fresh.statement_timeout_ms);
}

TEST_CASE("docs/ledger-contract.md's table is contract_views(), the contract a run verifies")
{
    const auto rows = markdown_table("docs/ledger-contract.md", "## Views and columns");
    std::vector<std::string> documented;
    for (const auto& row : rows) {
        REQUIRE(row.size() >= 2);
        // "normal_side (`DR`/`CR`)": the notes in parentheses are not part of the column name.
        const std::string columns = std::regex_replace(row[1], std::regex(R"( \([^)]*\))"), "");
        documented.push_back(row[0] + ": " + columns);
    }
    std::vector<std::string> verified;
    for (const auto& spec : contract_views()) {
        verified.push_back(fmt::format("contract.{}: {}", spec.name, fmt::join(spec.columns, ", ")));
    }
    CHECK(documented == verified);
}
