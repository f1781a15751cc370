// A team with its own, differently-shaped ledger adopts reconcile by defining the contract
// views only (`migrate --engine-only`); the checks then pass and fail on its data.
#include <doctest/doctest.h>

#include "checks/registry.hpp"
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
