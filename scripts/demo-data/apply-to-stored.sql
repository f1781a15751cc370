-- Applies the postings of the transactions in :txns (a comma-separated list of txn ids) to the
-- stored balances (wallets, account totals), as the ledger's own writer does for every posting.
-- Included by the breaks files with \ir after \set txns ...
UPDATE ledger.wallets w SET balance = w.balance + d.delta, updated_at = now()
FROM (SELECT l.customer_id, l.account_code, l.currency,
             sum(CASE WHEN l.side = a.normal_side THEN l.amount ELSE -l.amount END) AS delta
      FROM ledger.journal_lines l JOIN ledger.accounts a USING (account_code)
      WHERE a.is_customer_wallet AND l.txn_id IN (:txns)
      GROUP BY 1, 2, 3) d
WHERE w.customer_id = d.customer_id AND w.account_code = d.account_code AND w.currency = d.currency;

UPDATE ledger.account_totals t
SET debit_total = t.debit_total + d.debits, credit_total = t.credit_total + d.credits,
    net = t.net + d.delta, updated_at = now()
FROM (SELECT l.account_code, l.currency,
             coalesce(sum(l.amount) FILTER (WHERE l.side = 'DR'), 0) AS debits,
             coalesce(sum(l.amount) FILTER (WHERE l.side = 'CR'), 0) AS credits,
             sum(CASE WHEN l.side = a.normal_side THEN l.amount ELSE -l.amount END) AS delta
      FROM ledger.journal_lines l JOIN ledger.accounts a USING (account_code)
      WHERE l.txn_id IN (:txns)
      GROUP BY 1, 2) d
WHERE t.account_code = d.account_code AND t.currency = d.currency;
