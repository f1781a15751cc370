-- Sharded category C runs (`reconcile run --category C --shard K/N`): the run row records its
-- shard, and each check keeps its state (last status, last delivered alert) per scope: '' for
-- the whole book (unsharded runs), 'shard-K-of-N' for one shard, so a shard's result never
-- overwrites the whole book's state or another shard's.

ALTER TABLE recon.runs ADD COLUMN IF NOT EXISTS shard_index integer;
ALTER TABLE recon.runs ADD COLUMN IF NOT EXISTS shard_count integer;
ALTER TABLE recon.runs DROP CONSTRAINT IF EXISTS runs_shard_valid;
ALTER TABLE recon.runs ADD CONSTRAINT runs_shard_valid CHECK (
    (shard_index IS NULL AND shard_count IS NULL)
    OR (shard_count BETWEEN 1 AND 1024 AND shard_index BETWEEN 1 AND shard_count));

ALTER TABLE recon.check_states ADD COLUMN IF NOT EXISTS scope text NOT NULL DEFAULT '';
ALTER TABLE recon.check_states DROP CONSTRAINT IF EXISTS check_states_pkey;
ALTER TABLE recon.check_states ADD PRIMARY KEY (book, check_name, scope);
