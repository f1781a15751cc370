-- Acknowledging breaks (issue 15): an append-only log of what people decided about a variance.
-- Every `reconcile variances ack|unack` and POST .../ack|unack appends one row; nothing is ever
-- updated or deleted (a trigger refuses it), so the log is the audit trail. The current state of
-- a break is its newest action (recon.variance_acknowledgements); an `ack` holds while its `until`
-- has not passed, the break is still in the open episode it was acknowledged in, and its amounts
-- are still those recorded here (a different difference is a new situation).

CREATE TABLE IF NOT EXISTS recon.variance_actions (
    action_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    book text NOT NULL,
    check_name text NOT NULL,
    fingerprint text NOT NULL,
    action text NOT NULL CHECK (action IN ('ack', 'unack')),
    -- data (fix the transaction or the ingest) | code (fix the rule) | timing (self-heals)
    class text CHECK (class IN ('data', 'code', 'timing')),
    note text,
    acted_by text NOT NULL,
    acted_at timestamptz NOT NULL DEFAULT now(),
    ack_until timestamptz,
    -- the break's amounts when it was acknowledged
    expected text,
    actual text,
    difference text,
    CONSTRAINT variance_actions_ack_has_class CHECK (
        (action = 'ack' AND class IS NOT NULL AND note IS NOT NULL)
        OR (action = 'unack' AND class IS NULL AND ack_until IS NULL))
);
CREATE INDEX IF NOT EXISTS variance_actions_break
    ON recon.variance_actions (book, check_name, fingerprint, action_id DESC);

CREATE OR REPLACE FUNCTION recon.variance_actions_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'recon.variance_actions is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
DROP TRIGGER IF EXISTS variance_actions_append_only ON recon.variance_actions;
CREATE TRIGGER variance_actions_append_only BEFORE UPDATE OR DELETE ON recon.variance_actions
    FOR EACH ROW EXECUTE FUNCTION recon.variance_actions_append_only();
DROP TRIGGER IF EXISTS variance_actions_no_truncate ON recon.variance_actions;
CREATE TRIGGER variance_actions_no_truncate BEFORE TRUNCATE ON recon.variance_actions
    FOR EACH STATEMENT EXECUTE FUNCTION recon.variance_actions_append_only();

-- The newest action of every break that has one.
CREATE OR REPLACE VIEW recon.variance_acknowledgements AS
SELECT DISTINCT ON (book, check_name, fingerprint) *
FROM recon.variance_actions
ORDER BY book, check_name, fingerprint, action_id DESC;
