-- Variance lifecycle: each break (a fingerprint of one check on one book) keeps when it was
-- first seen, how long it has been open, how often it was reported, and when it resolved.
-- Maintained in the same transaction as the run's results, whatever
-- RECON_ALERT_PERSIST_ENABLED says (one row per distinct break, not per run).
-- Run ids are references to recon.runs without a foreign key, so pruning old runs keeps the
-- history of the breaks they saw.

CREATE TABLE IF NOT EXISTS recon.variance_fingerprints (
    book text NOT NULL,
    check_name text NOT NULL,
    fingerprint text NOT NULL,
    category text NOT NULL,
    kind text NOT NULL,
    keys jsonb NOT NULL,
    -- open | resolved
    status text NOT NULL CHECK (status IN ('open', 'resolved')),
    first_seen_run bigint NOT NULL,
    first_seen_at timestamptz NOT NULL,
    -- start of the current open episode (differs from first_seen after a reopen)
    open_since_run bigint NOT NULL,
    open_since_at timestamptz NOT NULL,
    last_seen_run bigint NOT NULL,
    last_seen_at timestamptz NOT NULL,
    -- runs that reported it, over every episode
    occurrences bigint NOT NULL,
    reopen_count integer NOT NULL DEFAULT 0,
    resolved_run bigint,
    resolved_at timestamptz,
    -- the check's status and the variance's values when last seen
    last_check_status text NOT NULL,
    expected text,
    actual text,
    difference text,
    detail jsonb,
    PRIMARY KEY (book, check_name, fingerprint)
);
CREATE INDEX IF NOT EXISTS variance_fingerprints_open
    ON recon.variance_fingerprints (book, check_name) WHERE status = 'open';
CREATE INDEX IF NOT EXISTS variance_fingerprints_recent
    ON recon.variance_fingerprints (book, last_seen_at DESC);

-- The last result of each check on each book, and the last alert delivered for it: alert mode
-- `change` compares a check's current alert (its dedup key) with the last one delivered, so an
-- alert that could not be delivered is tried again on the next run.
CREATE TABLE IF NOT EXISTS recon.check_states (
    book text NOT NULL,
    check_name text NOT NULL,
    last_run_id bigint NOT NULL,
    last_status text NOT NULL,
    last_ran_at timestamptz NOT NULL,
    alerted_run_id bigint,
    alerted_status text,
    alerted_dedup_key text,
    alerted_at timestamptz,
    PRIMARY KEY (book, check_name)
);
