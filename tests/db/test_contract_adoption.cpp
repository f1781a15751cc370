// A team with its own, differently-shaped ledger adopts reconcile by defining the contract
// views only (`migrate --engine-only`); the checks then pass and fail on its data.
#include <doctest/doctest.h>

#include "checks/registry.hpp"
#include "lib/errors.hpp"
#include "lib/runner.hpp"
#include "tests/db/fixture.hpp"

using namespace reconcile;
using reconcile::test::BookDb;

namespace {

// "acme" keeps signed postings (positive = debit) keyed by text references, and single-letter
// states. Nothing in it is named like the bundled ledger.
const char* const acme_ledger_sql = R"sql(
CREATE SCHEMA acme;
CREATE TABLE acme.entity (code text, label text);
INSERT INTO acme.entity VALUES ('ACME-AE', 'uae');
CREATE TABLE acme.coa (acct text PRIMARY KEY, title text, kind text, credit_normal boolean, may_flip boolean);
CREATE TABLE acme.entries (ref text PRIMARY KEY, origin text, origin_ref text, cust text, state char(1),
                           booked timestamptz);
CREATE TABLE acme.postings (id serial PRIMARY KEY, entry_ref text, acct text, cust text,
                            signed_amount numeric(20, 4), ccy char(3));
CREATE TABLE acme.requests (id text, cust text, amt numeric, ccy text, state text, opened timestamptz);

CREATE SCHEMA contract;
CREATE VIEW contract.book_identity AS SELECT code AS entity_id, label AS book FROM acme.entity;
CREATE VIEW contract.accounts AS
    SELECT acct AS account_code, title AS name, kind AS account_type,
           CASE WHEN credit_normal THEN 'CR' ELSE 'DR' END AS normal_side,
           may_flip AS allow_wrong_side, acct LIKE 'WAL%' AS is_customer_wallet
    FROM acme.coa;
CREATE VIEW contract.transactions AS
    SELECT ref AS txn_id, origin AS source, origin_ref AS source_txn_id, cust AS customer_id,
           'entry'::text AS txn_type,
           CASE state WHEN 'B' THEN 'posted' WHEN 'R' THEN 'reversed' ELSE 'pending' END AS status,
           booked AS effective_at, booked AS posted_at, NULL::text AS symbol, NULL::numeric AS quantity,
           NULL::text AS reverses_txn_id
    FROM acme.entries;
CREATE VIEW contract.journal_lines AS
    SELECT id AS line_id, entry_ref AS txn_id, acct AS account_code, cust AS customer_id,
           CASE WHEN signed_amount >= 0 THEN 'DR' ELSE 'CR' END AS side,
           abs(signed_amount) AS amount, ccy::text AS currency
    FROM acme.postings;
CREATE VIEW contract.pending_flows AS
    SELECT id AS flow_id, 'request'::text AS flow_type, cust AS customer_id, amt AS amount, ccy AS currency,
           CASE state WHEN 'open' THEN 'pending' ELSE 'completed' END AS status, opened AS created_at,
           NULL::text AS reference
    FROM acme.requests;

INSERT INTO acme.coa VALUES ('BANK', 'Bank', 'asset', false, true), ('WAL', 'Wallets', 'liability', true, false);
INSERT INTO acme.entries VALUES ('E-1', 'wire', 'W-1', 'K1', 'B', now()), ('E-2', 'wire', 'W-2', 'K2', 'B', now());
INSERT INTO acme.postings (entry_ref, acct, cust, signed_amount, ccy)
VALUES ('E-1', 'BANK', 'K1', 120.5, 'AED'), ('E-1', 'WAL', 'K1', -120.5, 'AED'),
       ('E-2', 'BANK', 'K2', 80, 'AED'), ('E-2', 'WAL', 'K2', -80, 'AED');
INSERT INTO acme.requests VALUES ('RQ-1', 'K1', 5, 'AED', 'open', now() - interval '4 days');
)sql";

}  // namespace

TEST_CASE("checks run on a ledger that only defines the contract views")
{
    BookDb db("uae", /*engine_only=*/true);
    CHECK(db.query_value("SELECT to_regclass('ledger.transactions') IS NULL") == "t");
    db.exec(acme_ledger_sql);

    RunRequest request;
    request.book = "uae";
    request.category = Category::A;
    auto outcome = execute_run(db.settings(), default_registry(), request);
    CHECK(outcome.report.status == RunStatus::ok);
    for (const auto& check : outcome.report.checks) {
        CAPTURE(check.check_name);
        CHECK(check.status == CheckStatus::ok);
    }

    db.exec("UPDATE acme.postings SET signed_amount = -70 WHERE entry_ref = 'E-2' AND acct = 'WAL'");
    outcome = execute_run(db.settings(), default_registry(), request);
    CHECK(outcome.report.status == RunStatus::fail);
    const auto& balance = outcome.report.checks.front();
    REQUIRE(balance.check_name == "trial_balance_zero");
    CHECK(reconcile::test::variance_lines(balance) ==
          std::vector<std::string>{"unbalanced_currency currency=AED", "unbalanced_txn currency=AED txn_id=E-2"});
    CHECK(balance.variances.back().difference == "10.0000");

    request.category = Category::D;
    outcome = execute_run(db.settings(), default_registry(), request);
    CHECK(outcome.report.status == RunStatus::fail);
    CHECK(reconcile::test::variance_lines(outcome.report.checks.front()) ==
          std::vector<std::string>{"aged_pending currency=AED customer_id=K1 flow_id=RQ-1"});
}

namespace {

// "fx" is typed the way many ledgers are: enums for currency, direction and state, integer
// accounts and customers, bigint transaction ids, uuid source references, a `date` for
// snapshots and `timestamp without time zone` for times. The views rename but never cast, so
// the checks meet these types as they are.
const char* const typed_ledger_sql = R"sql(
CREATE SCHEMA fx;
CREATE TYPE fx.ccy AS ENUM ('AED', 'USD', 'INR');
CREATE TYPE fx.dir AS ENUM ('D', 'C');
CREATE TYPE fx.state AS ENUM ('draft', 'live', 'undone');
CREATE TABLE fx.coa (id int PRIMARY KEY, title text, credit_normal boolean, wallet boolean);
CREATE TABLE fx.txn (id bigint PRIMARY KEY, src text, src_id uuid, cust int, st fx.state, eff timestamp, posted date);
CREATE TABLE fx.line (id bigserial PRIMARY KEY, txn bigint, acct int, cust int, dir fx.dir, amt numeric, ccy fx.ccy);
CREATE TABLE fx.wallet (cust int, acct int, ccy fx.ccy, bal numeric(18, 2), at timestamp);
CREATE TABLE fx.totals (acct int, ccy fx.ccy, dr numeric, cr numeric, net numeric, at timestamp);
CREATE TABLE fx.snap (id int, acct int, cust int, ccy fx.ccy, at date, bal numeric);
CREATE TABLE fx.flow (id uuid, kind text, cust int, amt numeric, ccy fx.ccy, st text, created timestamp);

CREATE SCHEMA contract;
CREATE VIEW contract.book_identity AS SELECT 'FX-AE'::text AS entity_id, 'uae'::text AS book;
CREATE VIEW contract.accounts AS
    SELECT id AS account_code, title AS name, 'x'::text AS account_type,
           CASE WHEN credit_normal THEN 'CR' ELSE 'DR' END AS normal_side, NOT wallet AS allow_wrong_side,
           wallet AS is_customer_wallet
    FROM fx.coa;
CREATE VIEW contract.transactions AS
    SELECT id AS txn_id, src AS source, src_id AS source_txn_id, cust AS customer_id, 'x'::text AS txn_type,
           CASE st WHEN 'live' THEN 'posted' WHEN 'undone' THEN 'reversed' ELSE 'pending' END AS status,
           eff AS effective_at, posted AS posted_at, NULL::text AS symbol, NULL::numeric AS quantity,
           NULL::bigint AS reverses_txn_id
    FROM fx.txn;
CREATE VIEW contract.journal_lines AS
    SELECT id AS line_id, txn AS txn_id, acct AS account_code, cust AS customer_id,
           CASE dir WHEN 'D' THEN 'DR' ELSE 'CR' END AS side, amt AS amount, ccy AS currency
    FROM fx.line;
CREATE VIEW contract.wallets AS
    SELECT cust AS customer_id, acct AS account_code, ccy AS currency, bal AS balance, at AS updated_at FROM fx.wallet;
CREATE VIEW contract.account_totals AS
    SELECT acct AS account_code, ccy AS currency, dr AS debit_total, cr AS credit_total, net, at AS updated_at
    FROM fx.totals;
CREATE VIEW contract.balance_snapshots AS
    SELECT id AS snapshot_id, acct AS account_code, cust AS customer_id, ccy AS currency, at AS as_of, bal AS balance
    FROM fx.snap;
CREATE VIEW contract.pending_flows AS
    SELECT id AS flow_id, kind AS flow_type, cust AS customer_id, amt AS amount, ccy AS currency, st AS status,
           created AS created_at, NULL::text AS reference
    FROM fx.flow;

INSERT INTO fx.coa VALUES (1000, 'Bank', false, false), (2000, 'Wallets', true, true);
INSERT INTO fx.txn VALUES
    (1, 'wire', '6f1c2a52-0000-4000-8000-000000000001', 7, 'live', '2026-11-01 10:00', '2026-11-01'),
    (2, 'wire', '6f1c2a52-0000-4000-8000-000000000002', 8, 'live', '2026-11-02 10:00', '2026-11-02');
INSERT INTO fx.line (txn, acct, cust, dir, amt, ccy) VALUES
    (1, 1000, 7, 'D', 100.50, 'AED'), (1, 2000, 7, 'C', 100.50, 'AED'),
    (2, 1000, 8, 'D', 80, 'AED'), (2, 2000, 8, 'C', 80, 'AED');
INSERT INTO fx.wallet VALUES (7, 2000, 'AED', 100.50, '2026-11-02'), (8, 2000, 'AED', 80.00, '2026-11-02');
INSERT INTO fx.totals VALUES (1000, 'AED', 180.50, 0, 180.50, '2026-11-02'), (2000, 'AED', 0, 180.50, 180.50, '2026-11-02');
INSERT INTO fx.snap VALUES (1, 2000, 7, 'AED', '2026-11-01', 0), (2, 2000, 7, 'AED', '2026-11-02', 100.50);
INSERT INTO fx.flow VALUES ('6f1c2a52-0000-4000-8000-0000000000ff', 'withdrawal', 7, 5, 'AED', 'pending',
                            (now() AT TIME ZONE 'UTC') - interval '1 hour');
)sql";

// One break of each kind the A, B and D checks find, on the typed ledger. Transaction 4 mixes
// currencies and transaction 5 carries a negative amount and an unknown account, so the journal
// pass takes its detail path (split per currency) and the per-line detail runs.
const char* const typed_breaks_sql = R"sql(
INSERT INTO fx.txn VALUES
    (3, 'wire', '6f1c2a52-0000-4000-8000-000000000001', 9, 'live', '2026-11-03 10:00', '2026-11-03'),
    (4, 'fx', '6f1c2a52-0000-4000-8000-000000000004', 9, 'live', '2026-11-03 11:00', '2026-11-03'),
    (5, 'fee', '6f1c2a52-0000-4000-8000-000000000005', 9, 'undone', '2026-11-03 12:00', '2026-11-03'),
    (6, 'wire', '6f1c2a52-0000-4000-8000-000000000006', 10, 'live', '2026-11-03 13:00', '2026-11-03');
INSERT INTO fx.line (txn, acct, cust, dir, amt, ccy) VALUES
    (3, 1000, 9, 'D', 10, 'AED'), (3, 2000, 9, 'C', 9.99, 'AED'),
    (4, 1000, 9, 'D', 10, 'AED'), (4, 2000, 9, 'C', 10, 'USD'),
    (5, 1000, 9, 'D', -1, 'AED'), (5, 3000, 9, 'C', 1, 'INR'),
    (6, 2000, 10, 'D', 50, 'AED'), (6, 1000, 10, 'C', 50, 'AED'),
    (99, 2000, 9, 'C', 1, 'AED');
UPDATE fx.wallet SET bal = 81.00 WHERE cust = 8;
INSERT INTO fx.snap VALUES (3, 2000, 9, 'AED', '2099-01-01', 5), (4, 2000, 8, 'AED', '2026-11-03', 79);
UPDATE fx.flow SET created = created - interval '5 days';
)sql";

std::vector<std::string> variance_lines_of(const RunOutcome& outcome)
{
    std::vector<std::string> lines;
    for (const auto& check : outcome.report.checks) {
        for (auto& line : reconcile::test::variance_lines(check)) lines.push_back(check.check_name + ": " + line);
    }
    return lines;
}

}  // namespace

TEST_CASE("every A, B and D check runs on contract views typed with enums, integers, uuids and dates")
{
    BookDb db("uae", /*engine_only=*/true);
    db.exec(typed_ledger_sql);

    RunRequest request;
    request.book = "uae";
    for (const Category category : {Category::A, Category::B, Category::D}) {
        request.category = category;
        const auto outcome = execute_run(db.settings(), default_registry(), request);
        CAPTURE(std::string(to_string(category)));
        CHECK(outcome.report.status == RunStatus::ok);
        CHECK(variance_lines_of(outcome).empty());
    }

    db.exec(typed_breaks_sql);
    request.category = Category::A;
    auto outcome = execute_run(db.settings(), default_registry(), request);
    CHECK(outcome.report.status == RunStatus::fail);
    CHECK(variance_lines_of(outcome) ==
          std::vector<std::string>{"trial_balance_zero: unbalanced_currency currency=AED",
                                   "trial_balance_zero: unbalanced_currency currency=INR",
                                   "trial_balance_zero: unbalanced_currency currency=USD",
                                   "trial_balance_zero: unbalanced_txn currency=AED txn_id=3",
                                   "trial_balance_zero: unbalanced_txn currency=AED txn_id=4",
                                   "trial_balance_zero: unbalanced_txn currency=AED txn_id=5",
                                   "trial_balance_zero: unbalanced_txn currency=INR txn_id=5",
                                   "trial_balance_zero: unbalanced_txn currency=USD txn_id=4",
                                   "journal_line_completeness: orphan_line line_id=13 txn_id=99",
                                   "journal_line_completeness: unknown_account account=3000 line_id=10 txn_id=5",
                                   "source_txn_uniqueness: duplicate_source_txn source=wire "
                                   "source_txn_id=6f1c2a52-0000-4000-8000-000000000001",
                                   "dr_cr_sign_convention: non_positive_amount line_id=9 txn_id=5",
                                   "dr_cr_sign_convention: wrong_side_balance account=2000 currency=AED "
                                   "customer_id=10"});

    request.category = Category::B;
    outcome = execute_run(db.settings(), default_registry(), request);
    CHECK(outcome.report.status == RunStatus::fail);
    CHECK(variance_lines_of(outcome) ==
          std::vector<std::string>{
              "wallet_derivation: wallet_mismatch account=2000 currency=AED customer_id=8",
              "wallet_derivation: wallet_missing account=2000 currency=AED customer_id=10",
              "wallet_derivation: wallet_missing account=2000 currency=AED customer_id=9",
              "wallet_derivation: wallet_missing account=2000 currency=USD customer_id=9",
              "account_totals: account_totals_mismatch account=1000 column=credit_total currency=AED",
              "account_totals: account_totals_mismatch account=1000 column=debit_total currency=AED",
              "account_totals: account_totals_mismatch account=1000 column=net currency=AED",
              "account_totals: account_totals_mismatch account=2000 column=credit_total currency=AED",
              "account_totals: account_totals_mismatch account=2000 column=debit_total currency=AED",
              "account_totals: account_totals_mismatch account=2000 column=net currency=AED",
              "account_totals: account_totals_missing account=2000 currency=USD",
              "snapshot_reconcile: future_snapshot account=2000 currency=AED customer_id=9 snapshot_id=3",
              "snapshot_reconcile: snapshot_mismatch account=2000 currency=AED customer_id=8 snapshot_id=4"});

    request.category = Category::D;
    outcome = execute_run(db.settings(), default_registry(), request);
    CHECK(outcome.report.status == RunStatus::fail);
    CHECK(
        variance_lines_of(outcome) ==
        std::vector<std::string>{
            "pending_flow_age: aged_pending currency=AED customer_id=7 flow_id=6f1c2a52-0000-4000-8000-0000000000ff"});
}

TEST_CASE("a run refuses a contract that lacks a view or a column its checks read, naming them, writing nothing")
{
    BookDb db("uae", /*engine_only=*/true);
    db.exec(acme_ledger_sql);
    // The acme ledger defines what A and D read; B also reads wallets, totals and snapshots.
    RunRequest request;
    request.book = "uae";
    request.category = Category::B;
    const auto refusal = [&]() -> std::pair<int, std::string> {
        try {
            execute_run(db.settings(), default_registry(), request);
        } catch (const Error& error) {
            return {static_cast<int>(error.code()), error.what()};
        }
        return {0, "no refusal"};
    };
    CHECK(refusal() == std::pair<int, std::string>{78,
                                                   "the ledger contract of book 'uae' is incomplete: there is no view "
                                                   "contract.wallets; there is no view contract.account_totals; there "
                                                   "is no view contract.balance_snapshots (see "
                                                   "docs/ledger-contract.md); nothing written"});

    db.exec(
        "DROP VIEW contract.pending_flows;"
        "CREATE VIEW contract.pending_flows AS SELECT id AS flow_id, 'request'::text AS flow_type,"
        " cust AS customer_id, amt AS amount, ccy AS currency, state AS status FROM acme.requests");
    request.category = Category::D;
    CHECK(refusal() == std::pair<int, std::string>{78,
                                                   "the ledger contract of book 'uae' is incomplete: "
                                                   "contract.pending_flows has no columns created_at, reference (see "
                                                   "docs/ledger-contract.md); nothing written"});
    // Each run verifies only the views its own checks read: A reads none that acme lacks.
    request.category = Category::A;
    CHECK(execute_run(db.settings(), default_registry(), request).report.status == RunStatus::ok);
    CHECK(db.query_value("SELECT count(*) FROM recon.runs") == "1");
}

TEST_CASE("transaction ids of another type in journal_lines than in transactions are compared as text")
{
    BookDb db("uae");
    db.exec(test::clean_ledger_sql);
    // The lines keep their transaction reference as text, the transactions a bigint; line 11
    // names a transaction that does not exist.
    db.exec(
        "DROP VIEW contract.journal_lines; CREATE VIEW contract.journal_lines AS SELECT line_id, txn_id::text AS"
        " txn_id, account_code, customer_id, side, amount, currency, xmin AS row_xmin FROM ledger.journal_lines;"
        "INSERT INTO ledger.journal_lines VALUES (11, 9999, 'BROKER_CASH', 'C001', 'DR', 1, 'USD');"
        "UPDATE ledger.journal_lines SET amount = 90.00 WHERE line_id = 2");
    CHECK(test::variance_lines(db.run_check("trial_balance_zero")) ==
          std::vector<std::string>{"unbalanced_currency currency=USD", "unbalanced_txn currency=USD txn_id=1001"});
    CHECK(test::variance_lines(db.run_check("journal_line_completeness")) ==
          std::vector<std::string>{"orphan_line line_id=11 txn_id=9999"});
    CHECK(db.run_check("dr_cr_sign_convention").status == CheckStatus::ok);
    CHECK(db.run_check("source_txn_uniqueness").status == CheckStatus::ok);

    db.exec(std::string("UPDATE ledger.journal_lines SET amount = 100.00 WHERE line_id = 2;") +
            test::three_b_breaks_sql);
    CHECK(test::variance_lines(db.run_check("wallet_derivation")) ==
          std::vector<std::string>{"wallet_mismatch account=CUSTOMER_WALLET currency=USD customer_id=C001"});
    CHECK(test::variance_lines(db.run_check("account_totals")) ==
          std::vector<std::string>{"account_totals_mismatch account=FEE_INCOME column=net currency=USD"});
    CHECK(test::variance_lines(db.run_check("snapshot_reconcile")) ==
          std::vector<std::string>{
              "snapshot_mismatch account=CUSTOMER_WALLET currency=USD customer_id=C001 snapshot_id=1"});
}
