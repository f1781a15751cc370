#include "tests/support/fake_broker.hpp"

#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <regex>
#include <stdexcept>

namespace reconcile::test {
namespace {

std::string pem_of(EVP_PKEY* key, bool private_key)
{
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
    const int ok = private_key ? PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)
                               : PEM_write_bio_PUBKEY(bio.get(), key);
    if (ok != 1) throw std::runtime_error("cannot write a PEM key");
    char* data = nullptr;
    const long length = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(length));
}

std::string write_file(const std::string& name, const std::string& content)
{
    const std::string path = "/tmp/reconcile-test-" + std::to_string(getpid()) + "-" + name;
    std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
    return path;
}

httplib::Client client_for(int port)
{
    httplib::Client client("127.0.0.1", port);
    client.set_connection_timeout(5);
    client.set_read_timeout(10);
    return client;
}

}  // namespace

std::string gtn_published(const std::string& name)
{
    const std::string path = std::string(RECON_SOURCE_DIR) + "/tests/fixtures/gtn/" + name;
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    return text;
}

nlohmann::json canned_gtn_answer(const std::string& account, const std::string& resource, const std::string& body,
                                 int count, int status)
{
    return {{"broker", "gtn"}, {"account", account}, {"resource", resource}, {"kind", "answer"},
            {"body", body},    {"count", count},     {"status", status}};
}

std::string fake_broker_binary()
{
    return FAKE_BROKER_PATH;
}

const TestKeys& test_keys()
{
    // The key files live as long as the test process and are removed when it ends.
    struct Owned {
        TestKeys keys;
        ~Owned()
        {
            std::remove(keys.private_path.c_str());
            std::remove(keys.public_path.c_str());
        }
    };
    static const Owned owned{[] {
        std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_RSA_gen(2048), &EVP_PKEY_free);
        if (!key) throw std::runtime_error("cannot generate an RSA key");
        TestKeys keys;
        keys.private_pem = pem_of(key.get(), true);
        keys.public_pem = pem_of(key.get(), false);
        keys.private_path = write_file("gtn-private.pem", keys.private_pem);
        keys.public_path = write_file("gtn-public.pem", keys.public_pem);
        return keys;
    }()};
    return owned.keys;
}

std::string unrelated_public_key()
{
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_RSA_gen(2048), &EVP_PKEY_free);
    if (!key) throw std::runtime_error("cannot generate an RSA key");
    return pem_of(key.get(), false);
}

nlohmann::json FakeBroker::complete(nlohmann::json fixture) const
{
    auto& gtn = fixture["gtn"];
    if (!gtn.is_object()) gtn = nlohmann::json::object();
    if (!gtn.contains("public_key") && !gtn.contains("public_key_file")) gtn["public_key"] = test_keys().public_pem;
    if (!gtn.contains("app_key")) gtn["app_key"] = "test-app";
    if (!gtn.contains("institution")) gtn["institution"] = "TESTINST";
    if (!gtn.contains("throttle_key")) gtn["throttle_key"] = "test-throttle";
    if (!gtn.contains("app_secret")) gtn["app_secret"] = "test-secret";
    if (!gtn.contains("user_id")) gtn["user_id"] = "test-server-user";
    for (const char* broker : {"zag", "viewtrade"}) {
        auto& section = fixture[broker];
        if (!section.is_object()) section = nlohmann::json::object();
        if (!section.contains("api_key")) section["api_key"] = std::string(broker) + "-test-key";
    }
    return fixture;
}

FakeBroker::FakeBroker(nlohmann::json fixture)
{
    static int counter = 0;
    m_fixture_path = write_file("fixture-" + std::to_string(++counter) + ".json", complete(std::move(fixture)).dump());
    m_process = std::make_unique<BackgroundProcess>(
        std::vector<std::string>{fake_broker_binary(), "--fixture", m_fixture_path, "--port", "0"});
    if (!m_process->wait_for_output("listening on", std::chrono::seconds(10))) {
        throw std::runtime_error("the fake broker did not start: " + m_process->err_so_far());
    }
    static const std::regex listening(R"(listening on (http://127\.0\.0\.1:([0-9]+)))");
    std::smatch match;
    const std::string out = m_process->out_so_far();
    if (!std::regex_search(out, match, listening)) throw std::runtime_error("no port from the fake broker: " + out);
    m_url = match[1];
    m_port = std::stoi(match[2]);
}

FakeBroker::~FakeBroker()
{
    m_process.reset();
    std::remove(m_fixture_path.c_str());
}

EnvMap broker_credentials(const std::string& url)
{
    return {{"GTN_BASE_URL", url},
            {"GTN_APP_KEY", "test-app"},
            {"GTN_INSTITUTION_ID", "TESTINST"},
            {"GTN_THROTTLE_KEY", "test-throttle"},
            {"GTN_APP_SECRET", "test-secret"},
            {"GTN_USER_ID", "test-server-user"},
            {"GTN_PRIVATE_KEY_FILE", test_keys().private_path},
            {"ZAG_BASE_URL", url + "/zag"},
            {"ZAG_API_KEY", "zag-test-key"},
            {"VIEWTRADE_BASE_URL", url + "/viewtrade"},
            {"VIEWTRADE_API_KEY", "viewtrade-test-key"}};
}

EnvMap FakeBroker::settings(const EnvMap& extra) const
{
    EnvMap env = broker_credentials(m_url);
    env.insert({{"RECON_BROKER_CONNECT_TIMEOUT_MS", "1000"},
                {"RECON_BROKER_TIMEOUT_MS", "2000"},
                {"RECON_BROKER_RETRIES", "1"},
                {"RECON_BROKER_BACKOFF_MS", "10"},
                {"RECON_BROKER_BACKOFF_MAX_MS", "50"},
                {"RECON_BROKER_RETRY_AFTER_MAX_SECONDS", "5"}});
    for (const auto& [key, value] : extra) env[key] = value;
    return env;
}

void FakeBroker::set_fixture(nlohmann::json fixture)
{
    auto client = client_for(m_port);
    const auto result = client.Put("/_fake/fixture", complete(std::move(fixture)).dump(), "application/json");
    if (!result || result->status != 200) throw std::runtime_error("the fake broker refused the fixture");
}

nlohmann::json FakeBroker::stats() const
{
    auto client = client_for(m_port);
    const auto result = client.Get("/_fake/stats");
    if (!result || result->status != 200) throw std::runtime_error("no stats from the fake broker");
    return nlohmann::json::parse(result->body);
}

void FakeBroker::revoke_gtn_tokens(bool refresh_tokens_too)
{
    auto client = client_for(m_port);
    const auto result =
        client.Post(refresh_tokens_too ? "/_fake/gtn/revoke?refresh=1" : "/_fake/gtn/revoke", "", "application/json");
    if (!result || result->status != 200) throw std::runtime_error("the fake broker did not revoke");
}

int FakeBroker::requests(const std::string& key) const
{
    const auto all = stats();
    const auto& requests = all.at("requests");
    return requests.contains(key) ? requests.at(key).get<int>() : 0;
}

}  // namespace reconcile::test
