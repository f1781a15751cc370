-- The stored proof's groups summed over customers, per (account, currency) and span: what account
-- totals, the per-currency totals and whole-account snapshots read, so an incremental run adds a
-- few rows instead of re-summing every customer's (issue 16). A multiset like proof_groups, written
-- with it; a proof stored before this table existed gets its rows here.

CREATE TABLE IF NOT EXISTS recon.proof_account_groups (
    account text, currency text,
    after timestamptz, upto timestamptz,
    dr numeric NOT NULL, cr numeric NOT NULL,
    lines bigint NOT NULL,
    all_lines bigint NOT NULL
);

INSERT INTO recon.proof_account_groups (account, currency, after, upto, dr, cr, lines, all_lines)
SELECT account, currency, after, upto, sum(dr), sum(cr), sum(lines), sum(all_lines)
FROM recon.proof_groups
WHERE NOT EXISTS (SELECT 1 FROM recon.proof_account_groups)
GROUP BY account, currency, after, upto;

-- Which snapshots decided the stored spans, when a run last made sure none to replay falls inside
-- one: a later run whose snapshots are the same skips that search ('' and NULL: it must look).
ALTER TABLE recon.proof_state ADD COLUMN IF NOT EXISTS snapshots_digest text NOT NULL DEFAULT '';
ALTER TABLE recon.proof_state ADD COLUMN IF NOT EXISTS snapshots_as_of timestamptz;
