-- The incremental proof of categories A and B (docs/decisions/incremental-proof.md): what the
-- last run proved, so the next reads only what was committed since. One row of proof_state per
-- book database; the other tables are its parts, all rewritten by a full proof and added to by an
-- incremental run, in the results transaction of the run that proved them. Ids and codes are
-- stored as text (the contract's types are free).

CREATE TABLE IF NOT EXISTS recon.proof_state (
    id integer PRIMARY KEY CHECK (id = 1),
    version bigint NOT NULL,              -- the run that wrote this state
    watermark text NOT NULL,              -- pg_snapshot of that run's ledger snapshot
    full_run_id bigint NOT NULL,          -- the run of the last full proof
    full_proof_at timestamptz NOT NULL,
    tail_from timestamptz NOT NULL,       -- lines effective after it are kept per instant
    accounts_digest text NOT NULL,        -- the chart of accounts the state was proved against
    lines bigint NOT NULL,                -- journal lines, and the sum of their line_id hashes
    lines_hash numeric NOT NULL,
    transactions bigint NOT NULL,         -- transaction rows, and the sum of their txn_id hashes
    transactions_hash numeric NOT NULL,
    booked_transactions bigint NOT NULL,
    max_line_id text NOT NULL,            -- the highest ids seen, where ids have an order ('' if not):
    max_txn_id text NOT NULL,             -- newer rows are looked for above them first
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Booked lines summed per (account, customer, currency) and span of effective time (after, upto]:
-- a multiset (incremental runs add signed rows), so a key's figures are the sum of its rows.
CREATE TABLE IF NOT EXISTS recon.proof_groups (
    account text, customer text, currency text,
    after timestamptz, upto timestamptz,
    dr numeric NOT NULL, cr numeric NOT NULL,
    lines bigint NOT NULL,      -- lines with side DR or CR and an amount
    all_lines bigint NOT NULL   -- every line
);
CREATE INDEX IF NOT EXISTS proof_groups_key ON recon.proof_groups (account, currency, customer);

-- (transaction, currency) groups of booked lines per currency: a multiset like proof_groups.
CREATE TABLE IF NOT EXISTS recon.proof_currencies (currency text, txn_groups bigint NOT NULL);

-- Booked transactions that do not balance in a currency (kind 'unbalanced') or are misshapen.
CREATE TABLE IF NOT EXISTS recon.proof_breaks (
    txn_id text, kind text NOT NULL, currency text,
    debits numeric, credits numeric,
    lines bigint, debit_lines bigint, credit_lines bigint
);
CREATE INDEX IF NOT EXISTS proof_breaks_txn ON recon.proof_breaks (txn_id);

-- Lines that break a per-line rule, or whose transaction is missing.
CREATE TABLE IF NOT EXISTS recon.proof_defects (
    line_id text, txn_id text, account_code text, side text, amount text,
    orphan boolean NOT NULL, unknown_account boolean NOT NULL, no_amount boolean NOT NULL,
    no_currency boolean NOT NULL, no_account boolean NOT NULL, invalid_side boolean NOT NULL,
    non_positive_amount boolean NOT NULL
);
CREATE INDEX IF NOT EXISTS proof_defects_txn ON recon.proof_defects (txn_id);

-- Source keys held by more than one transaction.
CREATE TABLE IF NOT EXISTS recon.proof_duplicates (source text, source_txn_id text, n bigint NOT NULL);

-- Transactions not booked (status other than posted or reversed): their lines count once they are.
CREATE TABLE IF NOT EXISTS recon.proof_open (txn_id text, source text, source_txn_id text);
CREATE INDEX IF NOT EXISTS proof_open_txn ON recon.proof_open (txn_id);
