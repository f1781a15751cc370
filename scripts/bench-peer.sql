-- The peer baseline of scripts/bench: the invariants of categories A and B written as plain SQL
-- over the ledger contract, the way a careful operator would check them with psql and nothing
-- else (no stored state: every run reads the whole journal). Each query returns its number of
-- violations; all of them run in one REPEATABLE READ READ ONLY snapshot, as a run does.
--   psql -X -v ON_ERROR_STOP=1 -v window_days=7 -v run_as_of=2026-12-02T00:00:00Z -f scripts/bench-peer.sql URL
-- Booked lines are those of transactions posted or reversed (docs/checks.md).
BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;

-- trial_balance_zero: every booked transaction balances per currency ...
SELECT 'unbalanced_txn' AS invariant, count(*) AS violations FROM (
    SELECT l.txn_id, l.currency
    FROM contract.journal_lines l JOIN contract.transactions t ON t.txn_id = l.txn_id
    WHERE t.status IN ('posted', 'reversed')
    GROUP BY l.txn_id, l.currency
    HAVING coalesce(sum(l.amount) FILTER (WHERE l.side = 'DR'), 0)
        <> coalesce(sum(l.amount) FILTER (WHERE l.side = 'CR'), 0)) x;
-- ... and so does every currency over all booked lines.
SELECT 'unbalanced_currency', count(*) FROM (
    SELECT l.currency
    FROM contract.journal_lines l JOIN contract.transactions t ON t.txn_id = l.txn_id
    WHERE t.status IN ('posted', 'reversed')
    GROUP BY l.currency
    HAVING coalesce(sum(l.amount) FILTER (WHERE l.side = 'DR'), 0)
        <> coalesce(sum(l.amount) FILTER (WHERE l.side = 'CR'), 0)) x;

-- journal_line_completeness: booked transactions with fewer than two lines or one side only ...
SELECT 'misshapen_txn', count(*) FROM (
    SELECT t.txn_id
    FROM contract.transactions t LEFT JOIN contract.journal_lines l ON l.txn_id = t.txn_id
    WHERE t.status IN ('posted', 'reversed')
    GROUP BY t.txn_id
    HAVING count(l.txn_id) < 2 OR count(*) FILTER (WHERE l.side = 'DR') = 0
        OR count(*) FILTER (WHERE l.side = 'CR') = 0) x;
-- ... lines without their transaction or account, lines lacking a field.
SELECT 'orphan_line', count(*) FROM contract.journal_lines l
WHERE NOT EXISTS (SELECT 1 FROM contract.transactions t WHERE t.txn_id = l.txn_id);
SELECT 'unknown_account', count(*) FROM contract.journal_lines l
WHERE l.account_code IS NOT NULL AND NOT EXISTS (SELECT 1 FROM contract.accounts a WHERE a.account_code = l.account_code);
SELECT 'incomplete_line', count(*) FROM contract.journal_lines l
WHERE l.amount IS NULL OR l.currency IS NULL OR l.account_code IS NULL;

-- source_txn_uniqueness
SELECT 'duplicate_source_txn', count(*) FROM (
    SELECT source, source_txn_id FROM contract.transactions
    GROUP BY source, source_txn_id HAVING count(*) > 1) x;

-- dr_cr_sign_convention: per line ...
SELECT 'invalid_side_or_amount', count(*) FROM contract.journal_lines
WHERE side IS NULL OR side NOT IN ('DR', 'CR') OR amount <= 0;
-- ... and no wrong-side balance where the chart forbids one.
SELECT 'wrong_side_balance', count(*) FROM (
    SELECT l.account_code, l.customer_id, l.currency
    FROM contract.journal_lines l
    JOIN contract.accounts a ON a.account_code = l.account_code
    JOIN contract.transactions t ON t.txn_id = l.txn_id
    WHERE NOT a.allow_wrong_side AND t.status IN ('posted', 'reversed') AND l.side IN ('DR', 'CR')
    GROUP BY l.account_code, a.normal_side, l.customer_id, l.currency
    HAVING sum(CASE WHEN l.side = a.normal_side THEN l.amount ELSE -l.amount END) < 0) x;

-- wallet_derivation: stored wallets against the booked lines of the wallet accounts.
SELECT 'wallet_break', count(*) FROM (
    SELECT l.customer_id, l.account_code, l.currency,
           sum(CASE WHEN l.side = a.normal_side THEN l.amount ELSE -l.amount END) AS balance
    FROM contract.journal_lines l
    JOIN contract.accounts a ON a.account_code = l.account_code
    JOIN contract.transactions t ON t.txn_id = l.txn_id
    WHERE a.is_customer_wallet AND t.status IN ('posted', 'reversed') AND l.side IN ('DR', 'CR')
    GROUP BY l.customer_id, l.account_code, l.currency) d
FULL JOIN contract.wallets w
  ON w.customer_id = d.customer_id AND w.account_code = d.account_code AND w.currency = d.currency
WHERE w.balance IS DISTINCT FROM d.balance AND NOT (d.balance IS NULL AND w.balance = 0);

-- account_totals: stored debit, credit and net totals against the booked lines.
SELECT 'account_totals_break', count(*) FROM (
    SELECT l.account_code, l.currency,
           coalesce(sum(l.amount) FILTER (WHERE l.side = 'DR'), 0) AS debit_total,
           coalesce(sum(l.amount) FILTER (WHERE l.side = 'CR'), 0) AS credit_total,
           sum(CASE WHEN l.side = a.normal_side THEN l.amount ELSE -l.amount END) AS net
    FROM contract.journal_lines l
    JOIN contract.accounts a ON a.account_code = l.account_code
    JOIN contract.transactions t ON t.txn_id = l.txn_id
    WHERE t.status IN ('posted', 'reversed') AND l.side IN ('DR', 'CR')
    GROUP BY l.account_code, l.currency) d
FULL JOIN contract.account_totals s ON s.account_code = d.account_code AND s.currency = d.currency
WHERE (s.debit_total, s.credit_total, s.net) IS DISTINCT FROM (d.debit_total, d.credit_total, d.net);

-- snapshot_reconcile: per (account, customer, currency) the latest snapshot up to the run's
-- as-of time and those within window_days before it, each against the booked lines of its key up
-- to its as_of, by effective_at. A snapshot without a customer covers the whole account; the two
-- kinds are joined apart so each is one hash join on equalities.
WITH booked AS NOT MATERIALIZED (
    SELECT l.account_code, l.customer_id, l.currency, t.effective_at,
           CASE WHEN l.side = a.normal_side THEN l.amount ELSE -l.amount END AS delta
    FROM contract.journal_lines l
    JOIN contract.accounts a ON a.account_code = l.account_code
    JOIN contract.transactions t ON t.txn_id = l.txn_id
    WHERE t.status IN ('posted', 'reversed') AND l.side IN ('DR', 'CR')
),
chosen AS (
    SELECT * FROM (
        SELECT snapshot_id, account_code, customer_id, currency, as_of, balance,
               max(as_of) FILTER (WHERE as_of <= :'run_as_of'::timestamptz)
                   OVER (PARTITION BY account_code, customer_id, currency) AS latest
        FROM contract.balance_snapshots) s
    WHERE as_of <= :'run_as_of'::timestamptz AND as_of >= latest - make_interval(days => :window_days)
),
replayed AS (
    SELECT s.snapshot_id, sum(b.delta) AS balance
    FROM chosen s JOIN booked b
      ON b.account_code = s.account_code AND b.customer_id = s.customer_id AND b.currency = s.currency
     AND b.effective_at <= s.as_of
    GROUP BY s.snapshot_id
    UNION ALL
    SELECT s.snapshot_id, sum(b.delta)
    FROM chosen s JOIN booked b
      ON b.account_code = s.account_code AND b.currency = s.currency AND b.effective_at <= s.as_of
    WHERE s.customer_id IS NULL
    GROUP BY s.snapshot_id
)
SELECT 'snapshot_break', count(*)
FROM chosen s LEFT JOIN replayed r ON r.snapshot_id = s.snapshot_id
WHERE s.balance <> coalesce(r.balance, 0);
SELECT 'future_snapshot', count(*) FROM contract.balance_snapshots WHERE as_of > :'run_as_of'::timestamptz;

COMMIT;
