-- wallet_derivation compares only the wallets changed since its last comparison when the
-- contract names each wallet row's xmin, as it does the journal's (0004). A view without it is
-- compared in full on every run.
CREATE OR REPLACE VIEW contract.wallets AS
    SELECT customer_id, account_code, currency, balance, updated_at, xmin AS row_xmin FROM ledger.wallets;
