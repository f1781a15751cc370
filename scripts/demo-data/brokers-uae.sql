-- UAE demo book: every customer also has a ZAG account (ZAG keeps their holdings record),
-- beside the GTN account ledger.sql created.
\set ON_ERROR_STOP on
INSERT INTO ledger.broker_accounts (customer_id, broker, broker_account_ref)
SELECT customer_id, 'ZAG', 'ZAG-' || substr(customer_id, 5)
FROM ledger.broker_accounts WHERE broker = 'GTN';
