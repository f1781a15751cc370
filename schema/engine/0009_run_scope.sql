-- How much of its category a run covered (issue 17): `full` when every check of the category
-- ran, `partial` when `--check` named only some. A partial run never stands in for the
-- category's status: that is each check's latest result (recon.check_states, /metrics).
-- Rows written before this migration are partial when they named checks (checks_requested).

ALTER TABLE recon.runs ADD COLUMN IF NOT EXISTS scope text NOT NULL DEFAULT 'full';
ALTER TABLE recon.runs DROP CONSTRAINT IF EXISTS runs_scope_valid;
ALTER TABLE recon.runs ADD CONSTRAINT runs_scope_valid CHECK (scope IN ('full', 'partial'));
UPDATE recon.runs SET scope = 'partial' WHERE cardinality(checks_requested) > 0 AND scope = 'full';
