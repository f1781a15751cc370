-- Incremental reconciliation (docs/decisions/incremental-proof.md) reads only the journal lines
-- and transactions committed since the previous run's snapshot. A view cannot pass on a row's
-- system column, so the contract names it: `row_xmin` is the xmin of the row that holds the line
-- or transaction. A view without it (an adopted ledger that has not added it) is always proved
-- in full.
CREATE OR REPLACE VIEW contract.transactions AS
    SELECT txn_id, source, source_txn_id, customer_id, txn_type, status,
           effective_at, posted_at, symbol, quantity, reverses_txn_id, xmin AS row_xmin
    FROM ledger.transactions;

CREATE OR REPLACE VIEW contract.journal_lines AS
    SELECT line_id, txn_id, account_code, customer_id, side, amount, currency, xmin AS row_xmin
    FROM ledger.journal_lines;
