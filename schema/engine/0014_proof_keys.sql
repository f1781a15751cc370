-- The stored proof keeps every (account, customer, currency) summed over its spans (issue 16):
-- what wallet_derivation and the wrong-side check read, one row per key, so a run re-sums only
-- the keys whose lines changed instead of grouping every span of every key. A proof stored
-- before this existed is dropped: the next run proves in full.

CREATE TABLE IF NOT EXISTS recon.proof_keys (
    account text, customer text, currency text,
    dr numeric NOT NULL, cr numeric NOT NULL,
    lines bigint NOT NULL,      -- lines with side DR or CR and an amount
    all_lines bigint NOT NULL   -- every line
);
-- One row per key, a null part being a value of its own (arrays compare nulls as equal): a run
-- finds and replaces a key's row by this index.
CREATE UNIQUE INDEX IF NOT EXISTS proof_keys_key ON recon.proof_keys ((ARRAY[account, customer, currency]));

DELETE FROM recon.proof_state;
