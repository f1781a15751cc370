-- Deliberate breaks in the UAE demo book, one of each kind an operator meets.
\set ON_ERROR_STOP on
BEGIN;
-- A deposit whose wallet credit was mis-keyed: 1,000.00 debited, 100.00 credited.
INSERT INTO ledger.transactions (txn_id, source, source_txn_id, customer_id, txn_type, status, effective_at, posted_at)
VALUES (900001, 'bank', 'DEP-AE-C007-LATE', 'AE-C007', 'deposit', 'posted', now() - interval '2 days', now() - interval '2 days');
INSERT INTO ledger.journal_lines (line_id, txn_id, account_code, customer_id, side, amount, currency)
VALUES (900001, 900001, 'BROKER_CASH', 'AE-C007', 'DR', 1000.00, 'USD'),
       (900002, 900001, 'CUSTOMER_WALLET', 'AE-C007', 'CR', 100.00, 'USD');
-- The writer applied it to the stored balances as usual: a break for A, not for B.
\set txns 900001
\ir apply-to-stored.sql
-- A cash request stuck for four days.
INSERT INTO ledger.pending_flows (flow_id, flow_type, customer_id, amount, currency, status, created_at)
VALUES ('FLOW-AE-STUCK-1', 'cash_request', 'AE-C011', 2500.00, 'USD', 'pending', now() - interval '4 days');
COMMIT;
