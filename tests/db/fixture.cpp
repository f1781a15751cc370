#include "tests/db/fixture.hpp"

#include <algorithm>
#include <map>
#include <thread>

#include <fmt/format.h>
#include <pqxx/pqxx>

#include "checks/registry.hpp"
#include "lib/db.hpp"
#include "lib/migrate.hpp"
#include "lib/runner.hpp"
#include "lib/text.hpp"

namespace reconcile::test {

const char* const clean_ledger_sql = R"sql(
INSERT INTO ledger.accounts (account_code, name, account_type, normal_side, allow_wrong_side, is_customer_wallet)
VALUES ('BROKER_CASH', 'Cash held at brokers', 'asset', 'DR', true, false),
       ('CUSTOMER_WALLET', 'Customer cash wallets', 'liability', 'CR', false, true),
       ('CUSTOMER_SECURITIES', 'Customer securities at cost', 'asset', 'DR', false, false),
       ('SECURITIES_CUSTODY', 'Securities held for customers', 'liability', 'CR', true, false),
       ('FEE_INCOME', 'Fee income', 'income', 'CR', true, false);

INSERT INTO ledger.transactions (txn_id, source, source_txn_id, customer_id, txn_type, status,
                                 effective_at, posted_at, symbol, quantity)
VALUES (1001, 'bank', 'DEP-1', 'C001', 'deposit', 'posted', '2026-11-01T10:00Z', '2026-11-01T10:00Z', NULL, NULL),
       (1002, 'fees', 'FEE-1', 'C001', 'fee', 'posted', '2026-11-02T10:00Z', '2026-11-02T10:00Z', NULL, NULL),
       (1003, 'gtn', 'ORD-1', 'C001', 'buy', 'posted', '2026-11-03T10:00Z', '2026-11-03T10:00Z', 'AAPL', 0.5),
       (1004, 'bank', 'DEP-2', 'C002', 'deposit', 'posted', '2026-11-04T10:00Z', '2026-11-04T10:00Z', NULL, NULL),
       (1005, 'bank', 'DEP-3', 'C002', 'deposit', 'pending', '2026-11-27T10:00Z', NULL, NULL, NULL);

INSERT INTO ledger.journal_lines (line_id, txn_id, account_code, customer_id, side, amount, currency)
VALUES (1, 1001, 'BROKER_CASH', 'C001', 'DR', 100.00, 'USD'),
       (2, 1001, 'CUSTOMER_WALLET', 'C001', 'CR', 100.00, 'USD'),
       (3, 1002, 'CUSTOMER_WALLET', 'C001', 'DR', 1.50, 'USD'),
       (4, 1002, 'FEE_INCOME', NULL, 'CR', 1.50, 'USD'),
       (5, 1003, 'CUSTOMER_WALLET', 'C001', 'DR', 50.00, 'USD'),
       (6, 1003, 'BROKER_CASH', 'C001', 'CR', 50.00, 'USD'),
       (7, 1003, 'CUSTOMER_SECURITIES', 'C001', 'DR', 50.00, 'USD'),
       (8, 1003, 'SECURITIES_CUSTODY', 'C001', 'CR', 50.00, 'USD'),
       (9, 1004, 'BROKER_CASH', 'C002', 'DR', 250.00, 'USD'),
       (10, 1004, 'CUSTOMER_WALLET', 'C002', 'CR', 250.00, 'USD');

INSERT INTO ledger.wallets (customer_id, account_code, currency, balance)
VALUES ('C001', 'CUSTOMER_WALLET', 'USD', 48.50),
       ('C002', 'CUSTOMER_WALLET', 'USD', 250.00);

INSERT INTO ledger.account_totals (account_code, currency, debit_total, credit_total, net)
VALUES ('BROKER_CASH', 'USD', 350.00, 50.00, 300.00),
       ('CUSTOMER_WALLET', 'USD', 51.50, 350.00, 298.50),
       ('CUSTOMER_SECURITIES', 'USD', 50.00, 0, 50.00),
       ('SECURITIES_CUSTODY', 'USD', 0, 50.00, 50.00),
       ('FEE_INCOME', 'USD', 0, 1.50, 1.50);

INSERT INTO ledger.balance_snapshots (account_code, customer_id, currency, as_of, balance)
VALUES ('CUSTOMER_WALLET', 'C001', 'USD', '2026-11-02T12:00Z', 98.50),
       ('BROKER_CASH', NULL, 'USD', '2026-11-05T00:00Z', 300.00);

INSERT INTO ledger.pending_flows (flow_id, flow_type, customer_id, amount, currency, status, created_at)
VALUES ('F-1', 'deposit_in_transit', 'C002', 75.00, 'USD', 'in_transit', now() - interval '1 hour');
)sql";

BookDb::BookDb(std::string book, bool engine_only) : m_book(std::move(book)), m_db(m_book)
{
    Session session(m_db.url(), "control");
    apply_migrations(session, m_book, engine_only);
}

void BookDb::exec(const std::string& sql) const
{
    exec_sql(m_db.url(), sql);
}

std::string BookDb::psql_file(const std::filesystem::path& file, const std::vector<std::string>& variables) const
{
    std::vector<std::string> argv{"psql", "-q", "-X", "-At", url(), "-v", "ON_ERROR_STOP=1"};
    for (const auto& variable : variables) argv.insert(argv.end(), {"-v", variable});
    argv.insert(argv.end(), {"-f", file.string()});
    const auto result = run_process(argv, ProcessOptions{.env = {{"PGOPTIONS", "-c client_min_messages=warning"}}});
    REQUIRE_MESSAGE(result.exit_code == 0, file.string() << ": " << result.err);
    return result.out;
}

bool BookDb::interval_passed(int seconds) const
{
    return query_value(fmt::format("SELECT clock_timestamp() >= max(started_at) + interval '{} seconds'"
                                   " FROM recon.runs",
                                   seconds)) == "t";
}

std::string BookDb::query_value(const std::string& sql) const
{
    pqxx::connection connection(m_db.url());
    pqxx::nontransaction txn(connection);
    const auto row = txn.exec_params1(sql);
    return row[0].is_null() ? std::string{} : row[0].as<std::string>();
}

void BookDb::reset() const
{
    exec(
        "TRUNCATE ledger.accounts, ledger.transactions, ledger.journal_lines, ledger.wallets,"
        " ledger.account_totals, ledger.balance_snapshots, ledger.pending_flows, ledger.broker_accounts,"
        " ledger.lrs_remittances, recon.runs, recon.run_counts, recon.proof_state, recon.proof_groups,"
        " recon.proof_currencies, recon.proof_breaks, recon.proof_defects, recon.proof_duplicates, recon.proof_open"
        " CASCADE");
}

Settings BookDb::settings(const EnvMap& extra) const
{
    EnvMap env{{"RECON_BOOKS", m_book}};
    env["RECON_DATABASE_URL_" + upper(m_book)] = m_db.url();
    for (const auto& [name, value] : extra) env[name] = value;
    return load_settings(env);
}

CheckResult BookDb::run_check(std::string_view check_name, const EnvMap& extra) const
{
    const Settings config = settings(extra);
    const Check* check = default_registry().find(check_name);
    if (check == nullptr) throw std::invalid_argument("no such check");
    Session read(m_db.url(), "read");
    auto results = run_checks(config, m_book, check->category(), {check}, read, std::chrono::system_clock::now());
    return std::move(results.at(0));
}

const char* const three_b_breaks_sql =
    "UPDATE ledger.wallets SET balance = 40.00 WHERE customer_id = 'C001';"
    "UPDATE ledger.account_totals SET net = 1 WHERE account_code = 'FEE_INCOME';"
    "UPDATE ledger.balance_snapshots SET balance = 1 WHERE customer_id = 'C001'";

ProcessOptions books_env(const BookDb& uae, const BookDb& india, const std::map<std::string, std::string>& extra)
{
    ProcessOptions options;
    options.env = {
        {"RECON_BOOKS", "uae,india"}, {"RECON_DATABASE_URL_UAE", uae.url()}, {"RECON_DATABASE_URL_INDIA", india.url()}};
    options.unset_env = {"RECON_CONFIG", "ALERT_WEBHOOK_URL"};
    for (const auto& [key, value] : extra) options.env[key] = value;
    return options;
}

BookDb& clean_book(const std::string& book)
{
    static std::map<std::string, std::unique_ptr<BookDb>> books;
    auto& db = books[book];
    if (!db) db = std::make_unique<BookDb>(book);
    db->reset();
    db->exec(clean_ledger_sql);
    return *db;
}

std::vector<std::string> variance_lines(const CheckResult& result)
{
    std::vector<std::string> lines;
    for (const auto& variance : result.variances) {
        auto keys = variance.keys;
        std::sort(keys.begin(), keys.end());
        std::string line = variance.kind;
        for (const auto& [name, value] : keys) line += " " + name + "=" + value;
        lines.push_back(std::move(line));
    }
    std::sort(lines.begin(), lines.end());
    return lines;
}

}  // namespace reconcile::test
