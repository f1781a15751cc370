-- Deliberate breaks in the India demo book.
\set ON_ERROR_STOP on
BEGIN;
-- The same bank deposit ingested twice (the idempotency key repeats).
INSERT INTO ledger.transactions (txn_id, source, source_txn_id, customer_id, txn_type, status, effective_at, posted_at)
VALUES (900101, 'bank', 'DEP-IN-C004-2', 'IN-C004', 'deposit', 'posted', now() - interval '1 day', now() - interval '1 day');
INSERT INTO ledger.journal_lines (line_id, txn_id, account_code, customer_id, side, amount, currency)
VALUES (900101, 900101, 'BROKER_CASH', 'IN-C004', 'DR', 750.00, 'USD'),
       (900102, 900101, 'CUSTOMER_WALLET', 'IN-C004', 'CR', 750.00, 'USD');
-- A withdrawal that overdrew a wallet.
INSERT INTO ledger.transactions (txn_id, source, source_txn_id, customer_id, txn_type, status, effective_at, posted_at)
VALUES (900102, 'bank', 'WD-IN-C009-1', 'IN-C009', 'withdrawal', 'posted', now() - interval '3 hours', now() - interval '3 hours');
INSERT INTO ledger.journal_lines (line_id, txn_id, account_code, customer_id, side, amount, currency)
SELECT 900103, 900102, 'CUSTOMER_WALLET', 'IN-C009', 'DR', balance + 250.00, 'USD'
FROM ledger.wallets WHERE customer_id = 'IN-C009';
INSERT INTO ledger.journal_lines (line_id, txn_id, account_code, customer_id, side, amount, currency)
SELECT 900104, 900102, 'BROKER_CASH', 'IN-C009', 'CR', balance + 250.00, 'USD'
FROM ledger.wallets WHERE customer_id = 'IN-C009';
-- The writer applied both to the stored balances as usual: breaks for A, not for B.
\set txns 900101,900102
\ir apply-to-stored.sql
-- A dividend booked in the journal that the wallet writer never applied (account totals did).
INSERT INTO ledger.transactions (txn_id, source, source_txn_id, customer_id, txn_type, status, effective_at, posted_at)
VALUES (900103, 'viewtrade', 'DIV-IN-C021-LATE', 'IN-C021', 'dividend', 'posted', now() - interval '5 hours', now() - interval '5 hours');
INSERT INTO ledger.journal_lines (line_id, txn_id, account_code, customer_id, side, amount, currency)
VALUES (900105, 900103, 'BROKER_CASH', 'IN-C021', 'DR', 4.20, 'USD'),
       (900106, 900103, 'CUSTOMER_WALLET', 'IN-C021', 'CR', 4.20, 'USD');
UPDATE ledger.account_totals SET debit_total = debit_total + 4.20, net = net + 4.20
WHERE account_code = 'BROKER_CASH' AND currency = 'USD';
UPDATE ledger.account_totals SET credit_total = credit_total + 4.20, net = net + 4.20
WHERE account_code = 'CUSTOMER_WALLET' AND currency = 'USD';
-- A deposit in transit for 30 hours: a warning, not yet a failure.
INSERT INTO ledger.pending_flows (flow_id, flow_type, customer_id, amount, currency, status, created_at)
VALUES ('FLOW-IN-TRANSIT-1', 'deposit_in_transit', 'IN-C015', 1200.00, 'USD', 'in_transit', now() - interval '30 hours');
COMMIT;
