-- What the stored proof's sums were read through, besides the rows themselves: a digest of the
-- definitions of the contract views the proof reads (a view redefined changes what its rows
-- mean without changing any row's xmin) and the session's time zone (in which a `timestamp` or
-- `date` of the contract is read). A run that finds either changed proves in full once, saying
-- which (docs/decisions/proof-reads-contract-definitions.md). NULL: stored before this column.
ALTER TABLE recon.proof_state ADD COLUMN IF NOT EXISTS contract_digest text;
ALTER TABLE recon.proof_state ADD COLUMN IF NOT EXISTS time_zone text;
