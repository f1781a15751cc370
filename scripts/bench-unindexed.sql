-- A ledger shaped the way the team's own ledgers are not (stop 41): transactions keyed by uuid,
-- lines naming them as text, line ids that are uuids, no index on the source key; 300,000
-- transactions of three lines each (900,000 lines), one in 97 pending, wallets and totals that
-- agree with the lines, month-end snapshots of 2,000 wallet keys. Contract views only, with
-- row_xmin, so incremental runs apply. Into an empty database:
--   psql "$URL" -v ON_ERROR_STOP=1 -f scripts/bench-unindexed.sql
--   RECON_BOOKS=uae RECON_DATABASE_URL_UAE="$URL" reconcile migrate --engine-only
-- BENCHMARKS.md (stop 41) has the runs measured on it.
CREATE SCHEMA st;
CREATE TABLE st.coa (code text PRIMARY KEY, normal text, wallet boolean);
CREATE TABLE st.txn (id uuid PRIMARY KEY, src text, src_ref text, cust text, status text, eff timestamptz, posted timestamptz);
CREATE TABLE st.line (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), txn text, acct text, cust text, side text, amt numeric(20,4), ccy text);
CREATE INDEX ON st.line (txn);
CREATE TABLE st.wallet (cust text, acct text, ccy text, bal numeric, at timestamptz);
CREATE TABLE st.totals (acct text, ccy text, dr numeric, cr numeric, net numeric, at timestamptz);
CREATE TABLE st.snap (id text, acct text, cust text, ccy text, at timestamptz, bal numeric);
CREATE TABLE st.flow (id text, kind text, cust text, amt numeric, ccy text, st text, created timestamptz);
INSERT INTO st.coa VALUES ('1000-BANK','DR',false), ('2000-WALLET','CR',true), ('4000-FEES','CR',false);
-- 300k transactions: deposit (bank DR / wallet CR), some with a fee line split
INSERT INTO st.txn
SELECT gen_random_uuid(), 'core', 'ref-' || g, 'C' || (g % 20000), CASE WHEN g % 97 = 0 THEN 'pending' ELSE 'posted' END,
       timestamptz '2025-01-01' + (g * interval '200 seconds'), timestamptz '2025-01-01' + (g * interval '200 seconds')
FROM generate_series(1, 300000) g;
INSERT INTO st.line (txn, acct, cust, side, amt, ccy)
SELECT t.id::text, v.acct, t.cust, v.side, v.amt, CASE WHEN hashtext(t.cust) % 3 = 0 THEN 'USD' ELSE 'AED' END
FROM (SELECT *, row_number() OVER () AS n FROM st.txn) t
CROSS JOIN LATERAL (VALUES ('1000-BANK', 'DR', 100.0000 + (t.n % 1000)),
                           ('2000-WALLET', 'CR', 99.0000 + (t.n % 1000)),
                           ('4000-FEES', 'CR', 1.0000)) v(acct, side, amt);
INSERT INTO st.wallet SELECT l.cust, l.acct, l.ccy, sum(CASE l.side WHEN 'CR' THEN l.amt ELSE -l.amt END), now()
FROM st.line l JOIN st.txn t ON t.id::text = l.txn WHERE t.status = 'posted' AND l.acct = '2000-WALLET' GROUP BY 1, 2, 3;
INSERT INTO st.totals SELECT l.acct, l.ccy, sum(l.amt) FILTER (WHERE side = 'DR'), sum(l.amt) FILTER (WHERE side = 'CR'), 0, now()
FROM st.line l JOIN st.txn t ON t.id::text = l.txn WHERE t.status = 'posted' GROUP BY 1, 2;
UPDATE st.totals SET dr = coalesce(dr, 0), cr = coalesce(cr, 0);
UPDATE st.totals SET net = CASE WHEN acct = '1000-BANK' THEN dr - cr ELSE cr - dr END;
-- month-end snapshots for 2000 wallet keys
INSERT INTO st.snap
SELECT 's-' || k.cust || '-' || k.ccy || '-' || m::date, '2000-WALLET', k.cust, k.ccy, m,
       coalesce(sum(CASE l.side WHEN 'CR' THEN l.amt ELSE -l.amt END) FILTER (WHERE t.eff <= m), 0)
FROM (SELECT DISTINCT cust, ccy FROM st.wallet ORDER BY 1, 2 LIMIT 2000) k
CROSS JOIN generate_series(timestamptz '2025-02-01', timestamptz '2026-11-01', interval '1 month') m
LEFT JOIN st.line l ON l.acct = '2000-WALLET' AND l.cust = k.cust AND l.ccy = k.ccy
LEFT JOIN st.txn t ON t.id::text = l.txn AND t.status = 'posted'
GROUP BY k.cust, k.ccy, m;
CREATE SCHEMA contract;
CREATE VIEW contract.book_identity AS SELECT 'ST-AE'::text AS entity_id, 'uae'::text AS book;
CREATE VIEW contract.accounts AS SELECT code AS account_code, code AS name, 'x'::text AS account_type, normal AS normal_side,
    NOT wallet AS allow_wrong_side, wallet AS is_customer_wallet FROM st.coa;
CREATE VIEW contract.transactions AS SELECT id AS txn_id, src AS source, src_ref AS source_txn_id, cust AS customer_id,
    'x'::text AS txn_type, status, eff AS effective_at, posted AS posted_at, NULL::text AS symbol, NULL::numeric AS quantity,
    NULL::uuid AS reverses_txn_id, xmin AS row_xmin FROM st.txn;
CREATE VIEW contract.journal_lines AS SELECT id AS line_id, txn AS txn_id, acct AS account_code, cust AS customer_id,
    side, amt AS amount, ccy AS currency, xmin AS row_xmin FROM st.line;
CREATE VIEW contract.wallets AS SELECT cust AS customer_id, acct AS account_code, ccy AS currency, bal AS balance, at AS updated_at,
    xmin AS row_xmin FROM st.wallet;
CREATE VIEW contract.account_totals AS SELECT acct AS account_code, ccy AS currency, dr AS debit_total, cr AS credit_total, net,
    at AS updated_at FROM st.totals;
CREATE VIEW contract.balance_snapshots AS SELECT id AS snapshot_id, acct AS account_code, cust AS customer_id, ccy AS currency,
    at AS as_of, bal AS balance FROM st.snap;
CREATE VIEW contract.pending_flows AS SELECT id AS flow_id, kind AS flow_type, cust AS customer_id, amt AS amount, ccy AS currency,
    st AS status, created AS created_at, NULL::text AS reference FROM st.flow;
VACUUM ANALYZE;
