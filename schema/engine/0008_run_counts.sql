-- Monotonic run counters for /metrics (`reconcile_runs_total`): one row per (book, category,
-- status), incremented by a trigger whenever a run reaches a final status, so pruning old rows
-- of recon.runs never makes a Prometheus counter go down. Seeded from the history present now.

CREATE TABLE IF NOT EXISTS recon.run_counts (
    book text NOT NULL,
    category text NOT NULL,
    status text NOT NULL,
    runs bigint NOT NULL,
    PRIMARY KEY (book, category, status)
);

INSERT INTO recon.run_counts (book, category, status, runs)
SELECT book, category, status, count(*) FROM recon.runs WHERE status <> 'running'
GROUP BY book, category, status
ON CONFLICT (book, category, status) DO NOTHING;

CREATE OR REPLACE FUNCTION recon.count_finished_run() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO recon.run_counts (book, category, status, runs)
    VALUES (NEW.book, NEW.category, NEW.status, 1)
    ON CONFLICT (book, category, status) DO UPDATE SET runs = recon.run_counts.runs + 1;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS runs_count_finished_update ON recon.runs;
CREATE TRIGGER runs_count_finished_update AFTER UPDATE OF status ON recon.runs
    FOR EACH ROW WHEN (OLD.status = 'running' AND NEW.status <> 'running')
    EXECUTE FUNCTION recon.count_finished_run();

DROP TRIGGER IF EXISTS runs_count_finished_insert ON recon.runs;
CREATE TRIGGER runs_count_finished_insert AFTER INSERT ON recon.runs
    FOR EACH ROW WHEN (NEW.status <> 'running')
    EXECUTE FUNCTION recon.count_finished_run();
