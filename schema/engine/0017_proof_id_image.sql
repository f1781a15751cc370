-- Which image of the ids the stored proof's guard sums (recon.proof_state lines_hash and
-- transactions_hash) were made with: 1, integer ids summed as themselves (sums that changes to
-- ids could cancel); 2, every id as a 64-bit hash. A run that finds another image than its own
-- proves in full once, saying so, rather than compare sums of different images
-- (docs/decisions/incremental-proof.md).
ALTER TABLE recon.proof_state ADD COLUMN IF NOT EXISTS id_image integer NOT NULL DEFAULT 1;
