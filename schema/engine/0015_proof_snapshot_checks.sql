-- snapshot_reconcile's verdict per snapshot key, kept with the stored proof (issue 16), so a B
-- run replays only the keys whose snapshots or sums changed and carries the others:
--   proof_snapshot_state   which run checked, at which as-of, with which window, and a digest
--                          of every snapshot row then (one row)
--   proof_snapshot_keys    per key (a 64-bit hash of (account, customer, currency); keys sharing
--                          one are checked together): a digest and count of its snapshot rows,
--                          how many were replayed and the latest of those
--   proof_snapshot_breaks  every replayed snapshot that did not match, by key
--   proof_dirty_keys       the keys whose sums a run changed since the last check, from which
--                          span on (an A run extends the proof without checking snapshots)
-- Nothing stored yet means the next B run checks every key.

CREATE TABLE IF NOT EXISTS recon.proof_snapshot_state (
    id integer PRIMARY KEY CHECK (id = 1),
    version bigint NOT NULL,        -- the run that checked
    as_of timestamptz NOT NULL,     -- its as-of: a snapshot dated after it may since have come due
    window_days integer NOT NULL,   -- RECON_SNAPSHOT_WINDOW_DAYS it chose snapshots with
    n bigint NOT NULL,              -- every snapshot row then, and the sum of a hash of each
    digest numeric NOT NULL
);

CREATE TABLE IF NOT EXISTS recon.proof_snapshot_keys (
    key_hash bigint NOT NULL,
    digest numeric NOT NULL,        -- the sum of a hash of each snapshot row of the key
    n bigint NOT NULL,              -- snapshot rows of the key
    checked bigint NOT NULL,        -- of them replayed (chosen)
    latest timestamptz              -- the latest as-of replayed
);
CREATE UNIQUE INDEX IF NOT EXISTS proof_snapshot_keys_key ON recon.proof_snapshot_keys (key_hash);

CREATE TABLE IF NOT EXISTS recon.proof_snapshot_breaks (
    key_hash bigint NOT NULL,
    snapshot_id text, account text, customer text, currency text,
    as_of timestamptz, replayed numeric, stored numeric
);
CREATE INDEX IF NOT EXISTS proof_snapshot_breaks_key ON recon.proof_snapshot_breaks (key_hash);

CREATE TABLE IF NOT EXISTS recon.proof_dirty_keys (
    version bigint NOT NULL,        -- the run whose proof changed the key's sums
    key text[] NOT NULL,            -- ARRAY[account, customer, currency] of recon.proof_keys
    upto timestamptz                -- the end of the earliest span it changed
);
