#pragma once

// The fake broker (tests/fake_broker) as a child process of a test: started on a free port
// from a fixture, controlled over real HTTP, killed when the object goes.

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "lib/config.hpp"
#include "tests/support/process.hpp"

namespace reconcile::test {

/// An RSA key pair for the GTN institution JWT, generated once per test process and written
/// to files (the private key for GTN_PRIVATE_KEY_FILE, the public one for the fake broker).
struct TestKeys {
    std::string private_pem;
    std::string public_pem;
    std::string private_path;
    std::string public_path;
};
const TestKeys& test_keys();
/// The public half of a fresh, unrelated RSA key (to make a signature check fail).
std::string unrelated_public_key();

/// The test credentials of every adapter (GTN with the test key), each pointed under `url`;
/// no timeout or retry settings.
EnvMap broker_credentials(const std::string& url);

/// A running fake broker. The fixture's "gtn" section gets the test public key and the
/// credentials settings() names unless it sets its own.
class FakeBroker {
public:
    explicit FakeBroker(nlohmann::json fixture);
    ~FakeBroker();
    FakeBroker(const FakeBroker&) = delete;
    FakeBroker& operator=(const FakeBroker&) = delete;

    /// http://127.0.0.1:PORT
    const std::string& url() const { return m_url; }
    /// Broker settings pointing every adapter here, with short timeouts and few retries so
    /// fault tests stay fast; `extra` overrides.
    EnvMap settings(const EnvMap& extra = {}) const;
    /// Replaces the fixture (and resets counters) without a restart.
    void set_fixture(nlohmann::json fixture);
    /// Request counts: {"requests": {"GET viewtrade cash VT-1": 2, ...}, "token_exchanges": N, ...}.
    nlohmann::json stats() const;
    /// Invalidates every GTN access token (the next data call gets 401 + FAILED 1008), and with
    /// `refresh_tokens_too` every refresh token (renewing then needs a new assertion).
    void revoke_gtn_tokens(bool refresh_tokens_too = false);
    /// How many requests matched "METHOD broker kind account" (0 when none).
    int requests(const std::string& key) const;

private:
    nlohmann::json complete(nlohmann::json fixture) const;

    std::string m_fixture_path;
    std::unique_ptr<BackgroundProcess> m_process;
    std::string m_url;
    int m_port = 0;
};

/// One of GTN's published example answers kept in tests/fixtures/gtn (e.g. "cash_summary.json"),
/// as its exact text.
std::string gtn_published(const std::string& name);

/// A fault that makes the fake broker answer `body` verbatim (status 200 unless given) to the
/// first `count` GTN requests for `resource` of `account`.
nlohmann::json canned_gtn_answer(const std::string& account, const std::string& resource, const std::string& body,
                                 int count = 1, int status = 200);

/// Path of the fake_broker binary (compile definition FAKE_BROKER_PATH).
std::string fake_broker_binary();

}  // namespace reconcile::test
