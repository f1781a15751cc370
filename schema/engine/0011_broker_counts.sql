-- Monotonic broker counters for /metrics (`reconcile_broker_requests_total` and the other
-- `_total` series): one row per broker, added to by a trigger whenever a C run stores its broker
-- health, so a quiet run after a noisy one, or pruning old rows, never makes a Prometheus counter
-- go down. Seeded from the broker health present now. The contract is the newest run's.

CREATE TABLE IF NOT EXISTS recon.broker_counts (
    broker text PRIMARY KEY,
    contract text NOT NULL CHECK (contract IN ('public', 'provisional')),
    requests bigint NOT NULL DEFAULT 0,
    retries bigint NOT NULL DEFAULT 0,
    errors_timeout bigint NOT NULL DEFAULT 0,
    errors_connection bigint NOT NULL DEFAULT 0,
    errors_http_status bigint NOT NULL DEFAULT 0,
    errors_reject_code bigint NOT NULL DEFAULT 0,
    errors_parse bigint NOT NULL DEFAULT 0,
    pages bigint NOT NULL DEFAULT 0
);

INSERT INTO recon.broker_counts (broker, contract, requests, retries, errors_timeout, errors_connection,
                                 errors_http_status, errors_reject_code, errors_parse, pages)
SELECT broker, (array_agg(contract ORDER BY run_id DESC))[1], sum(requests), sum(retries), sum(errors_timeout),
       sum(errors_connection), sum(errors_http_status), sum(errors_reject_code), sum(errors_parse), sum(pages)
FROM recon.broker_health GROUP BY broker
ON CONFLICT (broker) DO NOTHING;

CREATE OR REPLACE FUNCTION recon.count_broker_health() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO recon.broker_counts AS c (broker, contract, requests, retries, errors_timeout, errors_connection,
                                          errors_http_status, errors_reject_code, errors_parse, pages)
    VALUES (NEW.broker, NEW.contract, NEW.requests, NEW.retries, NEW.errors_timeout, NEW.errors_connection,
            NEW.errors_http_status, NEW.errors_reject_code, NEW.errors_parse, NEW.pages)
    ON CONFLICT (broker) DO UPDATE SET
        contract = EXCLUDED.contract,
        requests = c.requests + EXCLUDED.requests,
        retries = c.retries + EXCLUDED.retries,
        errors_timeout = c.errors_timeout + EXCLUDED.errors_timeout,
        errors_connection = c.errors_connection + EXCLUDED.errors_connection,
        errors_http_status = c.errors_http_status + EXCLUDED.errors_http_status,
        errors_reject_code = c.errors_reject_code + EXCLUDED.errors_reject_code,
        errors_parse = c.errors_parse + EXCLUDED.errors_parse,
        pages = c.pages + EXCLUDED.pages;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS broker_health_count ON recon.broker_health;
CREATE TRIGGER broker_health_count AFTER INSERT ON recon.broker_health
    FOR EACH ROW EXECUTE FUNCTION recon.count_broker_health();
