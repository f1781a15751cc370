-- `reconcile trace` follows reversals in both directions: finding the reversals of a
-- transaction needs an index on reverses_txn_id (partial: most transactions reverse nothing).
CREATE INDEX IF NOT EXISTS transactions_reverses ON ledger.transactions (reverses_txn_id)
    WHERE reverses_txn_id IS NOT NULL;
