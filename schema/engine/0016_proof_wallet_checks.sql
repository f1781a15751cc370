-- wallet_derivation's verdicts kept with the stored proof (issue 16), so a B run compares only
-- the wallets whose rows or sums changed and carries the others:
--   proof_wallet_state   the run that compared and its snapshot (watermark: the fence of which
--                        wallet rows changed since), the wallet accounts then, of every wallet
--                        row then a count and the sum of a hash of its key, the keys with more
--                        than one row, and the comparison's totals
--   proof_wallet_dirty   the keys whose sums a run changed since, in runs that did not compare
--                        (an A run); a full proof without a comparison clears the state
--   proof_wallet_keys    per key (ARRAY[account, customer, currency]) that the comparison met:
--                        its wallet rows, its compared rows with a derived balance, their lines
--   proof_wallet_breaks  every break of the comparison, by key
-- Nothing stored means the next B run compares every wallet.

CREATE TABLE IF NOT EXISTS recon.proof_wallet_state (
    id integer PRIMARY KEY CHECK (id = 1),
    version bigint NOT NULL,        -- the run that compared
    watermark text NOT NULL,        -- pg_snapshot of its ledger snapshot
    accounts text NOT NULL,         -- the wallet accounts then, sorted, as text
    n bigint NOT NULL,              -- wallet rows then, and the sum of a hash of each row's key
    digest numeric NOT NULL,
    rechecked bigint NOT NULL,      -- keys it compared (every key met when it compared in full)
    duplicated bigint NOT NULL,     -- keys with more than one wallet row (then every key is compared)
    journal_wallets bigint NOT NULL, -- compared rows with a derived balance, and their lines
    lines_checked numeric NOT NULL
);

CREATE TABLE IF NOT EXISTS recon.proof_wallet_keys (
    key text[] NOT NULL,
    wallet_rows bigint NOT NULL,    -- wallet rows of the key
    derived_rows bigint NOT NULL,   -- compared rows with a derived balance (journal_wallets)
    lines numeric NOT NULL          -- their booked lines (lines_checked)
);
CREATE UNIQUE INDEX IF NOT EXISTS proof_wallet_keys_key ON recon.proof_wallet_keys (key);

CREATE TABLE IF NOT EXISTS recon.proof_wallet_breaks (
    key text[] NOT NULL,
    kind text NOT NULL, customer text, account text, currency text,
    derived numeric, stored numeric, lines bigint
);
CREATE INDEX IF NOT EXISTS proof_wallet_breaks_key ON recon.proof_wallet_breaks (key);

CREATE TABLE IF NOT EXISTS recon.proof_wallet_dirty (key text[] NOT NULL);
