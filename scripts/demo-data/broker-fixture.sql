-- Prints (psql -At) what GTN, ZAG and ViewTrade hold for a demo book, in the fake broker's
-- fixture format (tests/fake_broker/README.md): agreeing with the ledger as ledger.sql built
-- it, so run it before the deliberate breaks. Cash is the customer's wallet balance, positions
-- the booked share counts, ViewTrade's deposits the booked deposits (the wires).
\set ON_ERROR_STOP on
WITH cash AS (
    SELECT customer_id, currency, balance::text AS amount FROM ledger.wallets WHERE account_code = 'CUSTOMER_WALLET'
),
quantities AS (
    SELECT customer_id, symbol, sum(quantity)::text AS quantity
    FROM ledger.transactions
    WHERE symbol IS NOT NULL AND quantity IS NOT NULL AND status IN ('posted', 'reversed')
    GROUP BY customer_id, symbol
),
wires AS (
    SELECT t.customer_id, t.source_txn_id, l.amount::text AS amount,
           to_char(t.effective_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS completed_at
    FROM ledger.transactions t
    JOIN ledger.journal_lines l ON l.txn_id = t.txn_id AND l.account_code = 'BROKER_CASH'
    WHERE t.txn_type = 'deposit' AND t.status = 'posted'
),
gtn AS (
    SELECT b.broker_account_ref AS ref, json_build_object(
        'cash', (SELECT coalesce(json_agg(json_build_object('currency', c.currency, 'cashBalance', c.amount)), '[]')
                 FROM cash c WHERE c.customer_id = b.customer_id),
        'securities', (SELECT coalesce(json_agg(json_build_object('symbol', q.symbol, 'quantity', q.quantity)
                                                ORDER BY q.symbol), '[]')
                       FROM quantities q WHERE q.customer_id = b.customer_id)) AS data
    FROM ledger.broker_accounts b WHERE b.broker = 'GTN'
),
zag AS (
    SELECT b.broker_account_ref AS ref, json_build_object(
        'holdings', (SELECT coalesce(json_agg(json_build_object('symbol', q.symbol, 'quantity', q.quantity)
                                              ORDER BY q.symbol), '[]')
                     FROM quantities q WHERE q.customer_id = b.customer_id)) AS data
    FROM ledger.broker_accounts b WHERE b.broker = 'ZAG'
),
viewtrade AS (
    SELECT b.broker_account_ref AS ref, json_build_object(
        'cash', (SELECT coalesce(json_agg(json_build_object('currency', c.currency, 'amount', c.amount)), '[]')
                 FROM cash c WHERE c.customer_id = b.customer_id),
        'positions', (SELECT coalesce(json_agg(json_build_object('symbol', q.symbol, 'quantity', q.quantity)
                                               ORDER BY q.symbol), '[]')
                      FROM quantities q WHERE q.customer_id = b.customer_id),
        'deposits', (SELECT coalesce(json_agg(json_build_object(
                         'deposit_id', w.source_txn_id, 'amount', w.amount, 'currency', 'USD', 'status', 'completed',
                         'initiated_at', w.completed_at, 'completed_at', w.completed_at, 'reference', w.source_txn_id)
                         ORDER BY w.completed_at), '[]')
                     FROM wires w WHERE w.customer_id = b.customer_id)) AS data
    FROM ledger.broker_accounts b WHERE b.broker = 'VIEWTRADE'
)
SELECT json_build_object(
    'gtn', json_build_object('accounts', (SELECT coalesce(json_object_agg(ref, data), '{}') FROM gtn)),
    'zag', json_build_object('accounts', (SELECT coalesce(json_object_agg(ref, data), '{}') FROM zag)),
    'viewtrade', json_build_object('accounts', (SELECT coalesce(json_object_agg(ref, data), '{}') FROM viewtrade)));
