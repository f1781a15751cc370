#include "tests/support/test_db.hpp"

#include "lib/http_client.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <mutex>
#include <pqxx/pqxx>
#include <set>
#include <stdexcept>
#include <utility>

namespace reconcile::test {
namespace {

constexpr std::size_t k_max_identifier = 63;  // NAMEDATALEN - 1

std::string env_or_empty(const char* name)
{
    const char* value = std::getenv(name);
    return value == nullptr ? std::string() : std::string(value);
}

/// Lower-case [a-z0-9_] only.
std::string safe_label(std::string_view label)
{
    std::string result;
    for (const char c : label) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte >= 'A' && byte <= 'Z') {
            result.push_back(static_cast<char>(byte - 'A' + 'a'));
        } else if ((byte >= 'a' && byte <= 'z') || (byte >= '0' && byte <= '9') || c == '_') {
            result.push_back(c);
        } else {
            result.push_back('_');
        }
    }
    return result.empty() ? std::string("db") : result;
}

/// Runs one statement that `make_sql` builds (it gets the connection, for quote_name) on the
/// cluster's maintenance database, with NOTICEs ("does not exist, skipping") silenced.
void admin_exec(const std::function<std::string(pqxx::connection&)>& make_sql)
{
    pqxx::connection admin(test_cluster_url("postgres"));
    pqxx::nontransaction txn(admin);
    txn.exec0("SET client_min_messages TO warning");
    txn.exec0(make_sql(admin));
}

std::string drop_sql(pqxx::connection& admin, const std::string& name)
{
    return "DROP DATABASE IF EXISTS " + admin.quote_name(name) + " WITH (FORCE)";
}

}  // namespace

std::string test_cluster_url(std::string_view dbname)
{
    const std::string host = env_or_empty("RECON_TEST_PGHOST");
    const std::string port = env_or_empty("RECON_TEST_PGPORT");
    std::string user = env_or_empty("RECON_TEST_PGUSER");
    if (host.empty() || port.empty()) {
        throw std::runtime_error(
            "RECON_TEST_PGHOST/RECON_TEST_PGPORT are not set: run the tests through scripts/test "
            "(it starts a throwaway PostgreSQL cluster), or source DIR/env of "
            "`scripts/pg-cluster start DIR`");
    }
    if (user.empty()) user = "postgres";
    const std::string host_part = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return "postgresql://" + url_encode(user) + "@" + host_part + ":" + port + "/" + url_encode(dbname);
}

namespace {

/// Names of the databases not yet dropped. Never destroyed: static destructors may still ask.
std::set<std::string>& live_databases()
{
    static auto* names = new std::set<std::string>;
    return *names;
}

std::mutex& live_databases_mutex()
{
    static auto* mutex = new std::mutex;
    return *mutex;
}

std::atomic<bool> tests_finished{false};

}  // namespace

void drop_all_test_databases() noexcept
{
    std::set<std::string> names;
    {
        const std::lock_guard lock(live_databases_mutex());
        names.swap(live_databases());
        tests_finished = true;
    }
    for (const auto& name : names) {
        try {
            admin_exec([&](pqxx::connection& admin) { return drop_sql(admin, name); });
        } catch (const std::exception& e) {
            std::fprintf(stderr, "warning: could not drop test database %s: %s\n", name.c_str(), e.what());
        }
    }
}

TestDatabase::TestDatabase(std::string_view label)
{
    static std::atomic<unsigned> counter{0};
    const std::string suffix = "_" + std::to_string(::getpid()) + "_" + std::to_string(counter.fetch_add(1));
    const std::string prefix = "recon_t_";
    std::string safe = safe_label(label);
    const std::size_t room = k_max_identifier - prefix.size() - suffix.size();
    if (safe.size() > room) safe.resize(room);
    m_name = prefix + safe + suffix;
    m_url = test_cluster_url(m_name);
    // A leftover from an earlier run whose pid we now reuse would make CREATE fail.
    admin_exec([&](pqxx::connection& admin) { return drop_sql(admin, m_name); });
    // template0: nothing anyone put in template1 leaks in, and no template1 session can block us.
    admin_exec([&](pqxx::connection& admin) {
        return "CREATE DATABASE " + admin.quote_name(m_name) + " TEMPLATE template0 ENCODING 'UTF8'";
    });
    const std::lock_guard lock(live_databases_mutex());
    live_databases().insert(m_name);
}

TestDatabase::~TestDatabase()
{
    drop();
}

TestDatabase::TestDatabase(TestDatabase&& other) noexcept
    : m_name(std::exchange(other.m_name, std::string())), m_url(std::exchange(other.m_url, std::string()))
{
}

TestDatabase& TestDatabase::operator=(TestDatabase&& other) noexcept
{
    if (this != &other) {
        drop();
        m_name = std::exchange(other.m_name, std::string());
        m_url = std::exchange(other.m_url, std::string());
    }
    return *this;
}

void TestDatabase::drop() noexcept
{
    if (m_name.empty()) return;
    {
        const std::lock_guard lock(live_databases_mutex());
        live_databases().erase(m_name);
        if (tests_finished) {  // dropped already by drop_all_test_databases()
            m_name.clear();
            m_url.clear();
            return;
        }
    }
    try {
        admin_exec([&](pqxx::connection& admin) { return drop_sql(admin, m_name); });
    } catch (const std::exception& e) {
        // The cluster is thrown away after the tests anyway; say so, do not fail the test.
        std::fprintf(stderr, "warning: could not drop test database %s: %s\n", m_name.c_str(), e.what());
    } catch (...) {
        std::fprintf(stderr, "warning: could not drop test database %s\n", m_name.c_str());
    }
    m_name.clear();
    m_url.clear();
}

void exec_sql(const std::string& url, const std::string& sql)
{
    pqxx::connection connection(url);
    pqxx::nontransaction txn(connection);
    txn.exec(sql);
    txn.commit();
}

}  // namespace reconcile::test
