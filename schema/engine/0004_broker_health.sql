-- Broker health: per category C run and broker, what reconcile saw of the broker's API while it
-- fetched (requests, retries, errors by kind, latency, pages walked), and whether the broker's
-- contract is its published API ('public': GTN's Trade API 1.2.1) or one we wrote down because
-- it publishes none ('provisional': ZAG, ViewTrade). Written in the same transaction as the
-- run's results; `reconcile runs show` prints it and /metrics exposes the latest C run's rows.
-- Run ids are references to recon.runs without a foreign key, like the variance history.

CREATE TABLE IF NOT EXISTS recon.broker_health (
    run_id bigint NOT NULL,
    broker text NOT NULL,
    contract text NOT NULL CHECK (contract IN ('public', 'provisional')),
    requests bigint NOT NULL DEFAULT 0,
    retries bigint NOT NULL DEFAULT 0,
    errors_timeout bigint NOT NULL DEFAULT 0,
    errors_connection bigint NOT NULL DEFAULT 0,
    errors_http_status bigint NOT NULL DEFAULT 0,
    errors_reject_code bigint NOT NULL DEFAULT 0,
    errors_parse bigint NOT NULL DEFAULT 0,
    pages bigint NOT NULL DEFAULT 0,
    latency_p50_ms bigint NOT NULL DEFAULT 0,
    latency_p95_ms bigint NOT NULL DEFAULT 0,
    latency_max_ms bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, broker)
);
