-- The ledger contract: the only relations the checks read. A team with its own
-- ledger adopts `reconcile` by defining these views (same names and columns)
-- over its tables and running `reconcile migrate --engine-only`.
-- Column types are not fixed beyond: amounts and quantities numeric, times
-- timestamptz, ids anything with equality that casts to text.

CREATE SCHEMA IF NOT EXISTS contract;

CREATE OR REPLACE VIEW contract.book_identity AS
    SELECT entity_id, book FROM ledger.book_identity;

CREATE OR REPLACE VIEW contract.accounts AS
    SELECT account_code, name, account_type, normal_side, allow_wrong_side, is_customer_wallet
    FROM ledger.accounts;

CREATE OR REPLACE VIEW contract.transactions AS
    SELECT txn_id, source, source_txn_id, customer_id, txn_type, status,
           effective_at, posted_at, symbol, quantity, reverses_txn_id
    FROM ledger.transactions;

CREATE OR REPLACE VIEW contract.journal_lines AS
    SELECT line_id, txn_id, account_code, customer_id, side, amount, currency
    FROM ledger.journal_lines;

CREATE OR REPLACE VIEW contract.wallets AS
    SELECT customer_id, account_code, currency, balance, updated_at FROM ledger.wallets;

CREATE OR REPLACE VIEW contract.account_totals AS
    SELECT account_code, currency, debit_total, credit_total, net, updated_at
    FROM ledger.account_totals;

CREATE OR REPLACE VIEW contract.balance_snapshots AS
    SELECT snapshot_id, account_code, customer_id, currency, as_of, balance
    FROM ledger.balance_snapshots;

CREATE OR REPLACE VIEW contract.pending_flows AS
    SELECT flow_id, flow_type, customer_id, amount, currency, status, created_at, reference
    FROM ledger.pending_flows;

CREATE OR REPLACE VIEW contract.broker_accounts AS
    SELECT customer_id, broker, broker_account_ref
    FROM ledger.broker_accounts WHERE status = 'active';

CREATE OR REPLACE VIEW contract.lrs_remittances AS
    SELECT remittance_id, customer_id, pan, inr_amount, usd_amount, fx_rate, purpose_code,
           utr, status, initiated_at, settled_at, value_date
    FROM ledger.lrs_remittances;
