-- Prints (psql -At) what GTN, ZAG and ViewTrade hold for the customers of one book, in the
-- fake broker's fixture format (tests/fake_broker/README.md), agreeing with the ledger exactly
-- as the category C checks read it: cash = the booked journal balance of the customer-wallet
-- accounts per currency, positions = Σ booked quantity per symbol, ViewTrade's deposits = the
-- booked deposits (their BROKER_CASH debits, dated by effective_at). The demo and
-- scripts/generate-ledger --broker-fixture use it; breaks are applied on top (broker-side ones
-- by editing the fixture, ledger-side ones by changing the ledger afterwards).
\set ON_ERROR_STOP on
WITH cash AS (
    SELECT l.customer_id, upper(l.currency) AS currency,
           sum(CASE WHEN l.side = a.normal_side THEN l.amount ELSE -l.amount END)::text AS amount
    FROM contract.journal_lines l
    JOIN contract.transactions t ON t.txn_id = l.txn_id
    JOIN contract.accounts a ON a.account_code = l.account_code
    WHERE a.is_customer_wallet AND t.status IN ('posted', 'reversed') AND l.customer_id IS NOT NULL
    GROUP BY l.customer_id, upper(l.currency)
),
cash_lists AS (
    SELECT customer_id,
           json_agg(json_build_object('currency', currency, 'balance', amount) ORDER BY currency) AS gtn,
           json_agg(json_build_object('currency', currency, 'amount', amount) ORDER BY currency) AS viewtrade
    FROM cash GROUP BY customer_id
),
position_lists AS (
    SELECT customer_id, json_agg(json_build_object('symbol', symbol, 'quantity', quantity) ORDER BY symbol) AS list
    FROM (SELECT customer_id, symbol, sum(quantity)::text AS quantity
          FROM contract.transactions
          WHERE symbol IS NOT NULL AND quantity IS NOT NULL AND status IN ('posted', 'reversed')
          GROUP BY customer_id, symbol) q
    GROUP BY customer_id
),
deposit_lists AS (
    SELECT t.customer_id,
           json_agg(json_build_object(
               'deposit_id', t.source_txn_id, 'amount', l.amount::text, 'currency', upper(l.currency),
               'status', 'completed',
               'initiated_at', to_char(t.effective_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
               'completed_at', to_char(t.effective_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
               'reference', t.source_txn_id) ORDER BY t.effective_at, t.txn_id) AS list
    FROM contract.transactions t
    JOIN contract.journal_lines l ON l.txn_id = t.txn_id AND l.account_code = 'BROKER_CASH' AND l.side = 'DR'
    WHERE t.txn_type = 'deposit' AND t.status IN ('posted', 'reversed')
    GROUP BY t.customer_id
),
accounts AS (
    SELECT b.broker, b.broker_account_ref AS ref,
           coalesce(c.gtn, '[]') AS gtn_cash, coalesce(c.viewtrade, '[]') AS viewtrade_cash,
           coalesce(p.list, '[]') AS positions, coalesce(d.list, '[]') AS deposits
    FROM contract.broker_accounts b
    LEFT JOIN cash_lists c ON c.customer_id = b.customer_id
    LEFT JOIN position_lists p ON p.customer_id = b.customer_id
    LEFT JOIN deposit_lists d ON d.customer_id = b.customer_id
)
SELECT json_build_object(
    'gtn', json_build_object('accounts', coalesce((
        SELECT json_object_agg(ref, json_build_object('cash', gtn_cash, 'securities', positions))
        FROM accounts WHERE upper(broker) = 'GTN'), '{}')),
    'zag', json_build_object('accounts', coalesce((
        SELECT json_object_agg(ref, json_build_object('holdings', positions))
        FROM accounts WHERE upper(broker) = 'ZAG'), '{}')),
    'viewtrade', json_build_object('accounts', coalesce((
        SELECT json_object_agg(ref, json_build_object('cash', viewtrade_cash, 'positions', positions,
                                                      'deposits', deposits))
        FROM accounts WHERE upper(broker) = 'VIEWTRADE'), '{}')));
