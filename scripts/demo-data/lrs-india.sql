-- India demo book: every deposit into ViewTrade was funded by an LRS remittance (INR converted
-- to USD by the payment partner, a 15.00 USD wire fee deducted on the way). Every fourth
-- customer's last deposit was funded by two remittances settled together as one wire. Plus:
--   IN-C030 remitted yesterday: the wire is still in transit (timing, not a break);
--   IN-C012 remitted nine days ago and ViewTrade never received the wire (a break).
\set ON_ERROR_STOP on
BEGIN;
CREATE TEMP TABLE demo_deposits AS
SELECT t.txn_id, t.customer_id, t.source_txn_id, t.effective_at, l.amount,
       row_number() OVER (PARTITION BY t.customer_id ORDER BY t.effective_at DESC) AS recency,
       substr(t.customer_id, 5)::int AS n
FROM ledger.transactions t
JOIN ledger.journal_lines l ON l.txn_id = t.txn_id AND l.account_code = 'BROKER_CASH'
WHERE t.txn_type = 'deposit' AND t.status = 'posted';

-- One remittance per deposit ...
INSERT INTO ledger.lrs_remittances (remittance_id, customer_id, pan, inr_amount, usd_amount, fx_rate, purpose_code,
                                    utr, status, initiated_at, settled_at, value_date)
SELECT 'LRS-' || source_txn_id, customer_id, 'PAN' || lpad(n::text, 5, '0') || 'X',
       round((amount + 15.00) * 83.25, 2), amount + 15.00, 83.25, 'S0001', 'UTR' || txn_id, 'settled',
       effective_at - interval '2 days', effective_at - interval '1 day', (effective_at - interval '1 day')::date
FROM demo_deposits WHERE NOT (n % 4 = 0 AND recency = 1);

-- ... except every fourth customer's last deposit: two remittances, one wire.
INSERT INTO ledger.lrs_remittances (remittance_id, customer_id, pan, inr_amount, usd_amount, fx_rate, purpose_code,
                                    utr, status, initiated_at, settled_at, value_date)
SELECT 'LRS-' || source_txn_id || '-' || part, customer_id, 'PAN' || lpad(n::text, 5, '0') || 'X',
       round(usd * 83.25, 2), usd, 83.25, 'S0001', 'UTR' || txn_id || part, 'settled',
       effective_at - interval '2 days', effective_at - interval '1 day' + make_interval(hours => part),
       (effective_at - interval '1 day')::date
FROM demo_deposits,
     LATERAL (VALUES (1, round(amount / 2, 2) + 10.00), (2, amount - round(amount / 2, 2) + 5.00)) AS parts(part, usd)
WHERE n % 4 = 0 AND recency = 1;

INSERT INTO ledger.lrs_remittances (remittance_id, customer_id, pan, inr_amount, usd_amount, fx_rate, purpose_code,
                                    utr, status, initiated_at, settled_at, value_date)
VALUES ('LRS-IN-C030-NEW', 'IN-C030', 'PAN00030X', 41625.00, 500.00, 83.25, 'S0001', 'UTR-IN-C030-NEW', 'settled',
        now() - interval '2 days', now() - interval '1 day', current_date - 1),
       ('LRS-IN-C012-LOST', 'IN-C012', 'PAN00012X', 62437.50, 750.00, 83.25, 'S0001', 'UTR-IN-C012-LOST', 'settled',
        now() - interval '10 days', now() - interval '9 days', current_date - 9);
COMMIT;
