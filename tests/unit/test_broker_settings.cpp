// Broker settings: defaults, validation (exit 78 naming the setting), secrets from NAME_FILE.
#include <doctest/doctest.h>

#include <unistd.h>

#include <fstream>

#include "lib/config.hpp"
#include "lib/errors.hpp"
#include "tests/support/exit_code_of.hpp"

using namespace reconcile;
using reconcile::test::exit_code_of;

TEST_CASE("broker settings have sensible defaults and no broker is configured by default")
{
    const auto settings = load_settings({});
    const auto& b = settings.brokers;
    CHECK(b.concurrency == 8);
    CHECK(b.max_retries == 3);
    CHECK(b.max_failed_share.to_string() == "0.5");
    CHECK(b.lrs_fee_tolerance.to_string() == "30.00");
    CHECK_FALSE(b.gtn_base_url.has_value());
    CHECK_FALSE(b.viewtrade_api_key.has_value());
}

TEST_CASE("broker settings are validated at start-up; keys can come from files")
{
    for (const EnvMap& bad :
         std::vector<EnvMap>{{{"RECON_BROKER_CONCURRENCY", "0"}},
                             {{"RECON_BROKER_CONCURRENCY", "lots"}},
                             {{"RECON_BROKER_MAX_FAILED_SHARE", "1.5"}},
                             {{"RECON_BROKER_MAX_FAILED_SHARE", "-0.1"}},
                             {{"RECON_BROKER_BACKOFF_MS", "500"}, {"RECON_BROKER_BACKOFF_MAX_MS", "100"}},
                             {{"GTN_BASE_URL", "ftp://gtn.example"}},
                             {{"GTN_PRIVATE_KEY", "x"}, {"GTN_PRIVATE_KEY_FILE", "/tmp/x"}},
                             {{"GTN_PRIVATE_KEY_FILE", "/nonexistent/key.pem"}}}) {
        CAPTURE(bad.begin()->first);
        CHECK(exit_code_of([&] { load_settings(bad); }) == ExitCode::config);
    }
    const std::string path = "/tmp/reconcile-test-key-" + std::to_string(getpid());
    std::ofstream(path) << "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n";
    const auto settings = load_settings({{"GTN_PRIVATE_KEY_FILE", path}, {"ZAG_BASE_URL", "https://zag.example/api/"}});
    CHECK(settings.brokers.gtn_private_key == "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----");
    CHECK(settings.brokers.zag_base_url == "https://zag.example/api");
    CHECK(settings.brokers.zag_base_path == "/v1/accounts");  // the provisional contract's default
    CHECK(settings.brokers.viewtrade_base_path == "/v1/accounts");

    // The path below a provisional contract's base URL: trailing slashes dropped, a path only.
    CHECK(load_settings({{"ZAG_BASE_PATH", "/api/v2/accounts/"}}).brokers.zag_base_path == "/api/v2/accounts");
    CHECK(load_settings({{"VIEWTRADE_BASE_PATH", "/"}}).brokers.viewtrade_base_path == "");  // right at the root
    for (const char* bad : {"v1/accounts", "/v1/accounts?x=1", "https://elsewhere/v1"}) {
        CAPTURE(bad);
        CHECK(exit_code_of([&] { load_settings({{"ZAG_BASE_PATH", bad}}); }) == ExitCode::config);
    }
    std::remove(path.c_str());
}
