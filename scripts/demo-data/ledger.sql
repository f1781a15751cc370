-- A realistic demo book: 36 customers with six months of deposits, trades booked at cost,
-- monthly fees and dividends, and stored balances derived from the journal.
-- psql variables: prefix (AE or IN), broker (GTN or VIEWTRADE).
\set ON_ERROR_STOP on
BEGIN;
INSERT INTO ledger.accounts (account_code, name, account_type, normal_side, allow_wrong_side, is_customer_wallet)
VALUES ('BROKER_CASH', 'Cash held at brokers', 'asset', 'DR', true, false),
       ('CUSTOMER_WALLET', 'Customer cash wallets', 'liability', 'CR', false, true),
       ('CUSTOMER_SECURITIES', 'Customer securities at cost', 'asset', 'DR', false, false),
       ('SECURITIES_CUSTODY', 'Securities held for customers', 'liability', 'CR', true, false),
       ('FEE_INCOME', 'Platform fees', 'income', 'CR', true, false),
       ('DIVIDEND_CLEARING', 'Dividends received', 'liability', 'CR', true, false);

CREATE TEMP TABLE demo_customers AS
    SELECT c AS n, :'prefix' || '-C' || lpad(c::text, 3, '0') AS customer_id FROM generate_series(1, 36) c;

-- Deposits: one a month for six months.
INSERT INTO ledger.transactions (txn_id, source, source_txn_id, customer_id, txn_type, status, effective_at, posted_at)
SELECT 100000 + n * 100 + m, 'bank', 'DEP-' || customer_id || '-' || m, customer_id, 'deposit', 'posted',
       timestamptz '2026-05-03 09:00Z' + make_interval(months => m, hours => n),
       timestamptz '2026-05-03 09:00Z' + make_interval(months => m, hours => n)
FROM demo_customers, generate_series(0, 5) m;

-- Buys: three per customer, booked at cost.
INSERT INTO ledger.transactions (txn_id, source, source_txn_id, customer_id, txn_type, status, effective_at,
                                 posted_at, symbol, quantity)
SELECT 200000 + n * 100 + k, lower(:'broker'), 'ORD-' || customer_id || '-' || k, customer_id, 'buy', 'posted',
       timestamptz '2026-05-10 14:30Z' + make_interval(months => k * 2, hours => n),
       timestamptz '2026-05-10 14:30Z' + make_interval(months => k * 2, hours => n),
       (ARRAY['AAPL', 'MSFT', 'NVDA'])[k + 1], round(((n % 7) + 1) * 0.25 + k, 6)
FROM demo_customers, generate_series(0, 2) k;

-- Monthly platform fee.
INSERT INTO ledger.transactions (txn_id, source, source_txn_id, customer_id, txn_type, status, effective_at, posted_at)
SELECT 300000 + n * 100 + m, 'billing', 'FEE-' || customer_id || '-' || m, customer_id, 'fee', 'posted',
       timestamptz '2026-05-28 00:00Z' + make_interval(months => m), timestamptz '2026-05-28 00:00Z' + make_interval(months => m)
FROM demo_customers, generate_series(0, 5) m;

-- A quarterly dividend for every third customer.
INSERT INTO ledger.transactions (txn_id, source, source_txn_id, customer_id, txn_type, status, effective_at, posted_at)
SELECT 400000 + n, lower(:'broker'), 'DIV-' || customer_id, customer_id, 'dividend', 'posted',
       timestamptz '2026-08-15 12:00Z', timestamptz '2026-08-15 12:00Z'
FROM demo_customers WHERE n % 3 = 0;

CREATE TEMP TABLE demo_amounts AS
SELECT t.txn_id, t.customer_id, t.txn_type,
       CASE t.txn_type
           WHEN 'deposit' THEN round(500 + ((t.txn_id * 7919) % 4500) / 1.0, 2)
           WHEN 'buy' THEN round(t.quantity * (ARRAY[187.43, 402.10, 118.77])[array_position(ARRAY['AAPL', 'MSFT', 'NVDA'], t.symbol)], 2)
           WHEN 'fee' THEN 1.25
           WHEN 'dividend' THEN round(3 + (t.txn_id % 40) / 10.0, 2)
       END AS amount
FROM ledger.transactions t;

INSERT INTO ledger.journal_lines (line_id, txn_id, account_code, customer_id, side, amount, currency)
SELECT row_number() OVER (ORDER BY a.txn_id, l.ord), a.txn_id, l.account_code,
       CASE WHEN l.account_code IN ('FEE_INCOME') THEN NULL ELSE a.customer_id END, l.side, a.amount, 'USD'
FROM demo_amounts a
JOIN LATERAL (VALUES
    ('deposit', 1, 'BROKER_CASH', 'DR'), ('deposit', 2, 'CUSTOMER_WALLET', 'CR'),
    ('buy', 1, 'CUSTOMER_WALLET', 'DR'), ('buy', 2, 'BROKER_CASH', 'CR'),
    ('buy', 3, 'CUSTOMER_SECURITIES', 'DR'), ('buy', 4, 'SECURITIES_CUSTODY', 'CR'),
    ('fee', 1, 'CUSTOMER_WALLET', 'DR'), ('fee', 2, 'FEE_INCOME', 'CR'),
    ('dividend', 1, 'BROKER_CASH', 'DR'), ('dividend', 2, 'CUSTOMER_WALLET', 'CR')
) AS l(txn_type, ord, account_code, side) ON l.txn_type = a.txn_type;

-- Stored balances, derived from the journal so the B checks start clean.
INSERT INTO ledger.wallets (customer_id, account_code, currency, balance)
SELECT customer_id, account_code, currency, sum(CASE side WHEN 'CR' THEN amount ELSE -amount END)
FROM ledger.journal_lines WHERE account_code = 'CUSTOMER_WALLET'
GROUP BY customer_id, account_code, currency;

INSERT INTO ledger.account_totals (account_code, currency, debit_total, credit_total, net)
SELECT l.account_code, l.currency,
       coalesce(sum(l.amount) FILTER (WHERE l.side = 'DR'), 0),
       coalesce(sum(l.amount) FILTER (WHERE l.side = 'CR'), 0),
       sum(CASE WHEN l.side = a.normal_side THEN l.amount ELSE -l.amount END)
FROM ledger.journal_lines l JOIN ledger.accounts a USING (account_code)
GROUP BY l.account_code, l.currency;

INSERT INTO ledger.balance_snapshots (account_code, customer_id, currency, as_of, balance)
SELECT 'CUSTOMER_WALLET', l.customer_id, l.currency, timestamptz '2026-09-01 00:00Z',
       sum(CASE l.side WHEN 'CR' THEN l.amount ELSE -l.amount END)
FROM ledger.journal_lines l JOIN ledger.transactions t USING (txn_id)
WHERE l.account_code = 'CUSTOMER_WALLET' AND t.effective_at <= timestamptz '2026-09-01 00:00Z'
GROUP BY l.customer_id, l.currency;

-- Broker accounts and a few young flows waiting on the outside world.
INSERT INTO ledger.broker_accounts (customer_id, broker, broker_account_ref)
SELECT customer_id, :'broker', :'broker' || '-' || lpad((70000 + n)::text, 8, '0') FROM demo_customers;

INSERT INTO ledger.pending_flows (flow_id, flow_type, customer_id, amount, currency, status, created_at)
SELECT 'FLOW-' || customer_id, 'cash_request', customer_id, 100 + n, 'USD', 'pending', now() - make_interval(hours => n % 5)
FROM demo_customers WHERE n % 6 = 0;
COMMIT;
