-- The stored proof keeps what the checks read of every key, so an incremental run touches only
-- the keys that changed (issue 16):
--   proof_account_groups  the groups summed over customers, per (account, currency) and span: what
--                         account totals, the per-currency totals and whole-account snapshots
--                         read. A multiset like proof_groups, written with it.
--   proof_wrong_sides     every (account, customer, currency) whose balance is on the wrong side
--                         of an account that forbids it: re-proved only where lines changed.
--   proof_state           which snapshots decided the stored spans, when a run last made sure none
--                         to replay falls inside one: a later run whose snapshots are the same
--                         skips that search ('' and NULL: it must look).
-- A proof stored before these existed is dropped: the next run proves in full.

CREATE TABLE IF NOT EXISTS recon.proof_account_groups (
    account text, currency text,
    after timestamptz, upto timestamptz,
    dr numeric NOT NULL, cr numeric NOT NULL,
    lines bigint NOT NULL,
    all_lines bigint NOT NULL
);

CREATE TABLE IF NOT EXISTS recon.proof_wrong_sides (
    account text, customer text, currency text,
    balance numeric NOT NULL  -- in the direction of the account's normal side: below zero
);

ALTER TABLE recon.proof_state ADD COLUMN IF NOT EXISTS snapshots_digest text NOT NULL DEFAULT '';
ALTER TABLE recon.proof_state ADD COLUMN IF NOT EXISTS snapshots_as_of timestamptz;

DELETE FROM recon.proof_state;
