// The proof of categories A and B, full or incremental (docs/decisions/incremental-proof.md).
//
// A full proof groups the whole journal once into the temporary tables of checks/proof.hpp. An
// incremental one starts from the stored proof (recon.proof_*) of the previous run and reads
// only the rows committed since that run's snapshot: a row is new when its xmin was not visible
// to that snapshot (the fence is the stored pg_snapshot, never "the highest id seen", so a line
// with a lower id committing later is still found). Every transaction such a row touches is
// re-proved from all its lines; what it contributed before (its lines visible then, if it was
// booked then) is taken out of the sums and what it contributes now is put in, as signed rows.
// What an incremental run cannot know (an old row updated or deleted, a changed chart of
// accounts, a snapshot inside a compacted span) makes it prove in full instead, and says why.
#include "checks/proof.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pipeline>
#include <pqxx/stream_from>
#include <pqxx/tablewriter>

#include "checks/journal_pass.hpp"
#include "checks/sql_support.hpp"
#include "lib/log.hpp"
#include "lib/snapshot.hpp"
#include "lib/sql_values.hpp"

namespace reconcile {
namespace {

/// More touched transactions than this and the run proves in full (a bulk load, a migration).
constexpr std::int64_t max_touched_transactions = 100000;
/// A previous snapshot older than this many transaction ids is too far for 32-bit xmin
/// comparisons to be safe: prove in full (PostgreSQL freezes well before 2^31).
constexpr std::int64_t max_watermark_age = 1000000000;
/// Lines effective within this long before the run stay apart per instant, so a snapshot
/// taken later at any time in that span can still be replayed from the stored proof.
constexpr const char* tail_interval = "48 hours";
/// The image of the ids this build's guard sums are made of (IdImages; recon.proof_state.id_image).
constexpr std::int64_t current_id_image = 2;
/// How the reason of a full proof run on its cadence begins.
constexpr const char* scheduled_reason = "scheduled: ";

/// The contract views the stored proof's rows are read through.
constexpr std::array<const char*, 6> contract_views_read = {"accounts",       "transactions", "journal_lines",
                                                            "account_totals", "wallets",      "balance_snapshots"};

/// A digest of what those views are: each one's kind, columns with their types, and its query as
/// the server stored it (the rule's parse tree, which names tables by oid, so neither the session's
/// search_path nor a table recreated under the same name leaves it alike).
const std::string contract_digest_sql = fmt::format(R"sql((
    SELECT md5(coalesce(string_agg(concat_ws(E'\t', c.relname, c.relkind,
               (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
                FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
               (SELECT r.ev_action::text FROM pg_rewrite r WHERE r.ev_class = c.oid AND r.rulename = '_RETURN')),
               E'\n' ORDER BY c.relname), ''))
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'contract' AND c.relname IN ('{}'))
)sql",
                                                    fmt::join(contract_views_read, "', '"));

/// A key of the proof as one value, `ARRAY[account, customer, currency]` of relation `alias`:
/// arrays compare null parts as equal, so one hashable, indexable equality (recon.proof_keys_key)
/// matches keys with null parts, where IS NOT DISTINCT FROM cannot be hashed and three separate
/// equalities would make the planner guess one row.
std::string key_sql(const char* alias)
{
    return fmt::format("ARRAY[{0}.account, {0}.customer, {0}.currency]", alias);
}

/// The end of a stored span of relation `alias`. A full proof stores the spans that end at its
/// tail with no end (NULL, where a span of lines with no effective time has no start either):
/// the tail moves with every run's as-of, and stored as such it would make every key's last span
/// differ from one full proof to the next, so that the store rewrote them all (replace_rows).
/// recon.proof_state holds the tail of the stored proof.
std::string stored_upto_sql(const char* alias)
{
    return fmt::format(
        "CASE WHEN {0}.upto IS NULL AND {0}.after IS NOT NULL THEN (SELECT tail_from FROM recon.proof_state) "
        "ELSE {0}.upto END",
        alias);
}

/// The rows of a full proof's groups table as stored: the spans that end at its tail
/// (pg_temp.proof_mode) with no end (stored_upto_sql).
std::string groups_to_store_sql(const char* columns_before, const char* table)
{
    return fmt::format(
        "SELECT {}, after, CASE WHEN upto = (SELECT tail FROM pg_temp.proof_mode) THEN NULL ELSE upto END AS upto, "
        "dr, cr, lines, all_lines FROM {}",
        columns_before, table);
}

/// The instant just before `instant` (an SQL timestamptz): a microsecond earlier, or -infinity
/// within a second of PostgreSQL's earliest instant, where a microsecond less is out of range and
/// ended the run (docs/decisions/extreme-effective-times.md). ±infinity stays itself.
std::string instant_before(const std::string& instant)
{
    return fmt::format(
        "(CASE WHEN {0} < '4714-11-24 00:00:01+00 BC'::timestamptz THEN '-infinity'::timestamptz "
        "ELSE {0} - interval '1 microsecond' END)",
        instant);
}

}  // namespace

std::string proof_keys_sql(const std::string& accounts)
{
    const auto only = [&](const char* alias) {
        return accounts.empty() ? std::string() : fmt::format(" AND {}.account = ANY ({})", alias, accounts);
    };
    return fmt::format(R"sql(
    SELECT s.account, s.customer, s.currency, s.dr, s.cr, s.lines, s.all_lines FROM recon.proof_keys s
    WHERE (SELECT bool_or(incremental) FROM pg_temp.proof_mode){0}
      AND NOT EXISTS (SELECT 1 FROM pg_temp.proof_keys_new k WHERE {2} = {3})
    UNION ALL
    SELECT k.account, k.customer, k.currency, k.dr, k.cr, k.lines, k.all_lines FROM pg_temp.proof_keys_new k
    WHERE true{1})sql",
                       only("s"), only("k"), key_sql("k"), key_sql("s"));
}

namespace {

// The proof's groups as the checks read them: the stored ones an incremental run extends, and this
// snapshot's (made again with pg_temp.proof_groups_new by a full proof: make_proof_groups).
const std::string proof_groups_view_sql = fmt::format(R"sql(CREATE OR REPLACE TEMP VIEW proof_groups AS
    SELECT account, customer, currency, after, {0} AS upto, dr, cr, lines, all_lines FROM recon.proof_groups g
    WHERE (SELECT bool_or(incremental) FROM pg_temp.proof_mode)
    UNION ALL
    SELECT account, customer, currency, after, upto, dr, cr, lines, all_lines FROM pg_temp.proof_groups_new)sql",
                                                      stored_upto_sql("g"));

const std::string setup_sql =
    fmt::format(R"sql(
CREATE TEMP TABLE IF NOT EXISTS proof_mode (incremental boolean NOT NULL, tail timestamptz) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS proof_groups_new (LIKE recon.proof_groups) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS proof_cutoffs (account_code text, customer_id text, currency text, as_of timestamptz)
    ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS proof_currencies_new (LIKE recon.proof_currencies) ON COMMIT DELETE ROWS;
{3};
CREATE TEMP TABLE IF NOT EXISTS proof_account_groups_new (LIKE recon.proof_account_groups) ON COMMIT DELETE ROWS;
CREATE OR REPLACE TEMP VIEW proof_account_groups AS
    SELECT account, currency, after, {2} AS upto, dr, cr, lines, all_lines FROM recon.proof_account_groups g
    WHERE (SELECT bool_or(incremental) FROM pg_temp.proof_mode)
    UNION ALL
    SELECT account, currency, after, upto, dr, cr, lines, all_lines FROM pg_temp.proof_account_groups_new;
CREATE OR REPLACE TEMP VIEW proof_currencies AS
    SELECT currency, txn_groups FROM recon.proof_currencies WHERE (SELECT bool_or(incremental) FROM pg_temp.proof_mode)
    UNION ALL
    SELECT currency, txn_groups FROM pg_temp.proof_currencies_new;
CREATE TEMP TABLE IF NOT EXISTS proof_touched ON COMMIT DELETE ROWS AS
    SELECT txn_id FROM contract.journal_lines WITH NO DATA;
CREATE TEMP TABLE IF NOT EXISTS proof_changed ON COMMIT DELETE ROWS AS
    SELECT txn_id, source, source_txn_id FROM contract.transactions WITH NO DATA;
CREATE TEMP TABLE IF NOT EXISTS proof_txns ON COMMIT DELETE ROWS AS
    SELECT txn_id, true AS booked_now, true AS booked_then, effective_at, true AS unknown_status, 0::bigint AS row_no
    FROM contract.transactions WITH NO DATA;
CREATE TEMP TABLE IF NOT EXISTS proof_open_new (txn_id text, source text, source_txn_id text) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS proof_breaks ON COMMIT DELETE ROWS AS
    SELECT txn_id, ''::text AS kind, ''::text AS currency, 0::numeric AS debits, 0::numeric AS credits,
           0::bigint AS lines, 0::bigint AS debit_lines, 0::bigint AS credit_lines, true AS fresh
    FROM contract.transactions WITH NO DATA;
CREATE TEMP TABLE IF NOT EXISTS proof_classes ON COMMIT DELETE ROWS AS
    SELECT true AS listed, txn_id, ''::text AS currency, true AS split, 0::bigint AS members, 0::bigint AS counted,
           0::bigint AS booked_transactions, 0::bigint AS lines, 0::bigint AS debit_lines, 0::bigint AS credit_lines,
           0::numeric AS lines_hash, 0::bigint AS transactions, 0::numeric AS transactions_hash,
           0::bigint AS suspect_lines
    FROM contract.transactions WITH NO DATA;
CREATE TEMP TABLE IF NOT EXISTS proof_listed_currencies ON COMMIT DELETE ROWS AS
    SELECT txn_id, 0::bigint AS members, true AS split, ''::text AS currency, 0::numeric AS debits,
           0::numeric AS credits
    FROM contract.transactions WITH NO DATA;
CREATE TEMP TABLE IF NOT EXISTS proof_defects ON COMMIT DELETE ROWS AS
    SELECT line_id, ''::text AS txn_id, ''::text AS account_code, ''::text AS side, ''::text AS amount,
           true AS orphan, true AS unknown_account, true AS no_amount, true AS no_currency, true AS no_account,
           true AS invalid_side, true AS non_positive_amount, true AS fresh
    FROM contract.journal_lines WITH NO DATA;
CREATE TEMP TABLE IF NOT EXISTS proof_source_keys ON COMMIT DELETE ROWS AS
    SELECT source, source_txn_id FROM contract.transactions WITH NO DATA;
CREATE TEMP TABLE IF NOT EXISTS proof_drift (side text, part text, key text, value text) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS proof_keys_new (LIKE recon.proof_keys) ON COMMIT DELETE ROWS;
CREATE OR REPLACE TEMP VIEW proof_keys AS {0};
CREATE TEMP TABLE IF NOT EXISTS proof_wrong_sides (LIKE recon.proof_wrong_sides) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS proof_duplicates ON COMMIT DELETE ROWS AS
    SELECT source, source_txn_id, 0::bigint AS n, true AS fresh FROM contract.transactions WITH NO DATA;
CREATE TEMP TABLE IF NOT EXISTS snapshot_checked (everything boolean, as_of timestamptz, window_days integer,
                                                  n bigint, digest numeric) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS snapshot_keys_new (LIKE recon.proof_snapshot_keys) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS snapshot_breaks_new (LIKE recon.proof_snapshot_breaks) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS wallet_rows (key text[], key_hash bigint, fresh boolean, customer_id text,
                                             account_code text, currency text, balance numeric) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS wallet_rechecked (key text[]) ON COMMIT DELETE ROWS;
-- Transaction ids of two types (uuid transactions, text lines) are compared as text: the tables
-- that hold either view's ids hold them as text (cast_txn_ids, lib/contract.hpp).
DO $do$
BEGIN
    IF {1} THEN
        ALTER TABLE pg_temp.proof_touched ALTER COLUMN txn_id TYPE text;
        ALTER TABLE pg_temp.proof_changed ALTER COLUMN txn_id TYPE text;
        ALTER TABLE pg_temp.proof_txns ALTER COLUMN txn_id TYPE text;
        ALTER TABLE pg_temp.proof_breaks ALTER COLUMN txn_id TYPE text;
        ALTER TABLE pg_temp.proof_classes ALTER COLUMN txn_id TYPE text;
        ALTER TABLE pg_temp.proof_listed_currencies ALTER COLUMN txn_id TYPE text;
    END IF;
END
$do$;
CREATE TEMP TABLE IF NOT EXISTS wallet_checked (everything boolean, accounts text, n bigint, digest numeric,
                                                rechecked bigint, duplicated bigint, journal_wallets bigint,
                                                lines_checked numeric)
    ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS wallet_keys_new (LIKE recon.proof_wallet_keys) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS wallet_breaks_new (LIKE recon.proof_wallet_breaks) ON COMMIT DELETE ROWS;
)sql",
                proof_keys_sql(), txn_ids_differ_sql, stored_upto_sql("g"), proof_groups_view_sql);

/// At most this many transaction ids that may have committed since the stored proof and a row's
/// newness is one hashed lookup of its xmin in their list (PostgreSQL 14 and later hash a
/// constant list); more, and each row's xmin is turned into a number and placed against the
/// fence, which costs about twice the scan itself (issue 16 measured both at 10M lines).
constexpr std::int64_t max_listed_xids = 100000;

}  // namespace

/// How a statement tells a row committed after the stored proof's snapshot (the fence) from one
/// that snapshot saw, by the row's xmin. The fence is the statement's parameter $1, either
/// (`listed`) every transaction id that may have committed since: the fence's in-progress ids
/// and those from its xmax to this snapshot's; or as numbers {fence xmin, fence xmax, this
/// snapshot's xmax, the ids 0, 1 and 2, the fence's in-progress ids}, each but the first an
/// offset from the fence's xmin modulo 2^32. A row is new when its offset lies between the
/// fence and now: a frozen row keeps its 32-bit xmin, and one more than 2^31 ids old must not
/// look new. Both are constants of the plan; parallel safe, unlike age().
std::string Fence::test(const std::string& xmin) const
{
    if (listed) return fmt::format("({} = ANY ($1::xid[]))", xmin);
    const std::string offset = fmt::format("(({}::text::bigint - ($1::bigint[])[1] + 4294967296) % 4294967296)", xmin);
    return fmt::format(
        "({0} < ($1::bigint[])[3] AND NOT {0} = ANY (($1::bigint[])[4:6]) AND ({0} >= ($1::bigint[])[2] OR {0} "
        "= ANY (($1::bigint[])[7:])))",
        offset);
}

namespace {

/// Server settings by name, each with its value.
using Settings = std::vector<std::pair<std::string, std::string>>;

Settings operator+(Settings first, const Settings& second)
{
    first.insert(first.end(), second.begin(), second.end());
    return first;
}

/// Runs `statements` with planner settings changed for them alone, in this transaction: each is
/// set locally and put back as it was after (a failure aborts the transaction, which drops them).
template <class Statements>
void with_local_settings(pqxx::transaction_base& txn, const Settings& settings, Statements&& statements)
{
    Settings before;
    for (const auto& [name, value] : settings) {
        before.emplace_back(name,
                            NamedRow(txn.exec_params1("SELECT current_setting($1) AS value", name)).text("value"));
        txn.exec_params1("SELECT set_config($1, $2, true)", name, value);
    }
    statements();
    for (const auto& [name, value] : before) txn.exec_params1("SELECT set_config($1, $2, true)", name, value);
}

// --- The full proof ---------------------------------------------------------------------------

/// The two passes over a large journal (the grouping by key and span, the per-transaction pass)
/// compile their expressions: compiling costs about 0.2 s and saves 0.12-0.16 s per million
/// lines (at 10M lines the grouping 11.4 s to 10.2 s, the pass 12.1 s to 10.5 s; at 1M the
/// grouping loses 0.17 s; stop 40). Optimised, not inlined: inlining compiled for 0.3 s more
/// and won nothing back. Every other statement keeps JIT off (proof_settings_sql): on the
/// snapshots' replay it cost a second.
const Settings compiled = {
    {"jit", "on"}, {"jit_above_cost", "0"}, {"jit_optimize_above_cost", "0"}, {"jit_inline_above_cost", "-1"}};

/// From this many journal lines, by the planner's estimate, the passes over it are `compiled`.
constexpr double compiled_from_lines = 2'000'000;

/// The plan of `sql` (EXPLAIN, FORMAT JSON: nothing is read) as text. It is searched for its keys,
/// never parsed: a plan quotes the contract views' expressions, whose text need not be UTF-8, and
/// a key's quotes are never escaped where a string's always are.
std::string plan_of(pqxx::transaction_base& txn, const std::string& sql)
{
    return NamedRow(txn.exec_params1("EXPLAIN (FORMAT JSON) " + sql)).text("\"QUERY PLAN\"");
}

/// The settings of the passes over the journal: `compiled` where the journal is large.
Settings journal_pass_settings(pqxx::transaction_base& txn)
{
    // The planner's estimate, from the statistics; the top node's rows come first.
    const std::string plan = plan_of(txn, "SELECT * FROM contract.journal_lines");
    const std::string key = "\"Plan Rows\": ";
    const auto at = plan.find(key);
    if (at != std::string::npos && std::stod(plan.substr(at + key.size())) >= compiled_from_lines) return compiled;
    return {};
}

/// Whether the snapshot is still writable: the proof is built before the checks run (lib/runner.cpp).
bool snapshot_writable(pqxx::transaction_base& txn)
{
    return NamedRow(txn.exec_params1("SELECT current_setting('transaction_read_only') = 'off' AS writable"))
        .flag("writable");
}

/// A grouping of the whole journal planned in parallel (insert_grouped).
const Settings parallel_grouping = {{"enable_sort", "off"}, {"parallel_setup_cost", "0"}, {"parallel_tuple_cost", "0"}};

/// Inserts the rows of `select`, a grouping of the whole journal, into `table`, hashed: the
/// planner guesses a group per line or per transaction and would sort them all (20 s at 10M
/// lines) where hashing holds the far fewer groups there are. While the snapshot is writable
/// (the proof built before the checks run, lib/runner.cpp) the rows are made by CREATE TABLE AS,
/// the only statement that writes whose query PostgreSQL plans in parallel (an INSERT ... SELECT
/// never is): two workers share the scans and the join below the grouping (about 21 s to 12 s at
/// 10M lines, issue 16). A parallel plan's start-up and rows are priced at nothing, or the
/// planner, expecting a group per line, would never pay for its Gather.
template <class... Params>
void insert_grouped(pqxx::transaction_base& txn, const char* table, const Settings& settings, const std::string& select,
                    Params&&... params)
{
    if (!snapshot_writable(txn)) {
        with_local_settings(txn, Settings{{"enable_sort", "off"}} + settings, [&] {
            txn.exec_params0(fmt::format("INSERT INTO {} {}", table, select), std::forward<Params>(params)...);
        });
        return;
    }
    with_local_settings(txn, parallel_grouping + settings, [&] {
        txn.exec_params0("CREATE TEMP TABLE proof_parallel ON COMMIT DROP AS " + select,
                         std::forward<Params>(params)...);
    });
    txn.exec0(
        fmt::format("INSERT INTO {} SELECT * FROM pg_temp.proof_parallel; DROP TABLE pg_temp.proof_parallel", table));
}

/// pg_temp.proof_groups_new with its columns, as an INSERT names it.
constexpr const char* groups_table =
    "pg_temp.proof_groups_new (account, customer, currency, after, upto, dr, cr, lines, all_lines)";

/// Makes pg_temp.proof_groups_new hold the rows of `select`, as insert_grouped does, but while the
/// snapshot is writable by CREATE TABLE AS under that very name, with the view over it made again:
/// copying its 510,000 groups from another table cost 0.3 s on one core at 10M lines (stop 43).
template <class... Params>
void make_proof_groups(pqxx::transaction_base& txn, const Settings& settings, const std::string& select,
                       Params&&... params)
{
    if (!snapshot_writable(txn)) return insert_grouped(txn, groups_table, settings, select, params...);
    txn.exec0("DROP VIEW pg_temp.proof_groups; DROP TABLE pg_temp.proof_groups_new");
    with_local_settings(txn, parallel_grouping + settings, [&] {
        txn.exec_params0(
            "CREATE TEMP TABLE proof_groups_new ON COMMIT DELETE ROWS AS SELECT account, customer, "
            "currency, after, upto, dr, cr, lines::bigint AS lines, all_lines::bigint AS all_lines FROM (" +
                select + ") g",
            std::forward<Params>(params)...);
    });
    // Its sums and counts are never NULL, as recon.proof_groups declares.
    txn.exec0(
        "ALTER TABLE pg_temp.proof_groups_new ALTER dr SET NOT NULL, ALTER cr SET NOT NULL, ALTER lines SET NOT "
        "NULL, ALTER all_lines SET NOT NULL; " +
        proof_groups_view_sql);
}

// The cut-offs of a full proof: each (account, customer, currency) and as-of of a snapshot
// snapshot_reconcile replays (its own and its account's, within the window), before the tail,
// into pg_temp.proof_cutoffs. $1 window days, $2 run as-of, $3 tail.
std::string full_cutoffs_sql(bool has_snapshots)
{
    // A book whose contract has no snapshots (category A alone needs none) has no cut-offs.
    const char* snapshots = has_snapshots ? "contract.balance_snapshots"
                                          : "(SELECT NULL::text AS snapshot_id, NULL::text AS account_code, "
                                            "NULL::text AS customer_id, NULL::text AS currency, "
                                            "NULL::timestamptz AS as_of, NULL::numeric AS balance LIMIT 0) s";
    return fmt::format(R"sql(
INSERT INTO pg_temp.proof_cutoffs (account_code, customer_id, currency, as_of)
WITH {}
SELECT DISTINCT account_code, customer_id, currency, as_of FROM chosen WHERE as_of < $3::timestamptz
)sql",
                       chosen_snapshots_ctes(snapshots));
}

// Every distinct cut-off instant, and the tail after them: how many, and as an array.
const std::string shared_bounds_sql = R"sql(
SELECT count(DISTINCT as_of) AS n,
       (coalesce(array_agg(DISTINCT as_of ORDER BY as_of), '{}') || $1::timestamptz)::text AS bounds
FROM pg_temp.proof_cutoffs
)sql";

/// Up to this many distinct cut-off instants (snapshots taken at shared times: period ends),
/// a full proof first sums the lines per key between consecutive instants of all keys, then
/// places those sums in their keys' own spans; past it, each line is placed directly.
constexpr std::int64_t max_shared_bounds = 100;

// Booked lines grouped by (account, customer, currency) and span of effective time, the rows of
// pg_temp.proof_groups_new. A key's spans end at its cut-offs (its own and its account's,
// pg_temp.proof_cutoffs) and at the tail (the run's as-of minus tail_interval); lines effective
// after the tail get a span of one instant. A snapshot is then replayed by summing the spans
// that end at or before its as-of. $1 tail; with `shared_bounds`, $2 the shared_bounds_sql
// array: every key's cut-offs are among its instants, so the lines are first summed per
// instant span (an array search per line instead of a join per line with its key's cut-offs
// and an aggregate keyed by them: about 25 s instead of 35 s at 10M lines, issue 16), and each such
// sum falls inside exactly one span of its key, found by its end.
std::string full_groups_sql(bool shared_bounds)
{
    const std::string booked = fmt::format(R"sql(
    FROM contract.journal_lines l
    JOIN contract.transactions t ON t.txn_id::txnid = l.txn_id::txnid
    WHERE t.status IN {})sql",
                                           booked_statuses_sql);
    const std::string lines = shared_bounds ? R"sql(
lines AS (
    SELECT l.account_code::text AS account, l.customer_id::text AS customer, l.currency::text AS currency,
           CASE WHEN t.effective_at > $1::timestamptz THEN t.effective_at
                ELSE ($2::timestamptz[])[width_bucket()sql" +
                                                  instant_before("t.effective_at") +
                                                  R"sql(, $2::timestamptz[]) + 1]
           END AS e,
           coalesce(sum(l.amount) FILTER (WHERE l.side = 'DR'), 0) AS dr,
           coalesce(sum(l.amount) FILTER (WHERE l.side = 'CR'), 0) AS cr,
           count(*) FILTER (WHERE l.side IN ('DR', 'CR') AND l.amount IS NOT NULL) AS lines, count(*) AS all_lines)sql" +
                                                  booked + R"sql(
    GROUP BY 1, 2, 3, 4
))sql"
                                            : R"sql(
lines AS (
    SELECT l.account_code::text AS account, l.customer_id::text AS customer, l.currency::text AS currency,
           t.effective_at AS e, CASE WHEN l.side = 'DR' THEN l.amount ELSE 0 END AS dr,
           CASE WHEN l.side = 'CR' THEN l.amount ELSE 0 END AS cr,
           (l.side IN ('DR', 'CR') AND l.amount IS NOT NULL)::int AS lines, 1 AS all_lines)sql" +
                                                  booked + R"sql(
    OFFSET 0
))sql";
    return R"sql(
WITH account_bounds AS MATERIALIZED (
    SELECT account_code, currency, array_agg(DISTINCT as_of ORDER BY as_of) || $1::timestamptz AS bounds
    FROM pg_temp.proof_cutoffs WHERE customer_id IS NULL GROUP BY 1, 2
),
customer_bounds AS MATERIALIZED (
    SELECT k.account_code, k.customer_id, k.currency,
           ARRAY(SELECT DISTINCT b FROM unnest(k.own || coalesce(a.bounds, ARRAY[$1::timestamptz])) b ORDER BY b)
               AS bounds
    FROM (SELECT account_code, customer_id, currency, array_agg(as_of) AS own
          FROM pg_temp.proof_cutoffs WHERE customer_id IS NOT NULL GROUP BY 1, 2, 3) k
    LEFT JOIN account_bounds a ON a.account_code = k.account_code AND a.currency = k.currency
),)sql" + lines +
           R"sql(,
placed AS (
    SELECT b.*, coalesce(cb.bounds, ab.bounds, ARRAY[$1::timestamptz]) AS bounds,
           width_bucket()sql" +
           instant_before("b.e") +
           R"sql(, coalesce(cb.bounds, ab.bounds, ARRAY[$1::timestamptz])) AS i
    FROM lines b
    LEFT JOIN customer_bounds cb ON cb.account_code = b.account AND cb.customer_id = b.customer AND cb.currency = b.currency
    LEFT JOIN account_bounds ab ON ab.account_code = b.account AND ab.currency = b.currency
)
SELECT account, customer, currency,
       CASE WHEN e IS NULL THEN NULL WHEN e > $1::timestamptz THEN e - interval '1 microsecond'
            ELSE coalesce(bounds[i], '-infinity') END AS after,
       CASE WHEN e IS NULL THEN NULL WHEN e > $1::timestamptz THEN e ELSE bounds[i + 1] END AS upto,
       coalesce(sum(dr), 0) AS dr, coalesce(sum(cr), 0) AS cr, sum(lines) AS lines, sum(all_lines) AS all_lines
FROM placed
GROUP BY 1, 2, 3, 4, 5
)sql";
}

// Every transaction once: its lines grouped by txn_id and full-joined with the transactions
// (orphaned lines and line-less transactions fall out of the join), summed by one hashed
// aggregate into the rows of pg_temp.proof_classes: a row per transaction to list (booked, and
// unbalanced, misshapen, or split because its lines mix currencies or break a per-line rule;
// its own group, with how many transaction rows share its id), a row per currency for the other
// booked transactions with lines, a row for the rest. Nothing is materialized per transaction:
// at 10M lines the pass that materialized every transaction and sorted them took 18 s, this one
// about 14 s (issue 16). The constant `xid` key changes no group; an xid can be hashed but not
// sorted, so this last grouping stays hashed where the pass runs with hashing off
// (sorted_by_transaction): sorting its 3.6M rows spilled 340 MB and took 1.3 s of the pass's
// 8.1 s at 10M lines (stop 45).
std::string full_classes_sql(const std::string& line_image, const std::string& txn_image)
{
    return per_transaction_signed_ctes(
               fmt::format(", sum({}) AS line_hash", line_image),
               fmt::format(", g.line_hash, CASE WHEN t.txn_id IS NOT NULL THEN {} END AS txn_hash", txn_image)) +
           R"sql(,
classified AS (
    SELECT *, booked AND NOT split AND lines > 0 AS counted,
           booked AND (split OR signed <> 0 OR lines < 2 OR debit_lines = 0 OR credit_lines = 0) AS listed
    FROM per_txn
)
SELECT listed, CASE WHEN listed THEN txn_id END AS txn_id, CASE WHEN counted THEN currency END AS currency,
       bool_or(split) AS split, count(*) AS members, count(*) FILTER (WHERE counted) AS counted,
       count(*) FILTER (WHERE booked) AS booked_transactions, coalesce(sum(lines), 0) AS lines,
       coalesce(sum(debit_lines), 0) AS debit_lines, coalesce(sum(credit_lines), 0) AS credit_lines,
       coalesce(sum(line_hash), 0) AS lines_hash, count(*) FILTER (WHERE NOT orphaned) AS transactions,
       coalesce(sum(txn_hash), 0) AS transactions_hash,
       coalesce(sum(CASE WHEN orphaned THEN lines ELSE defective END), 0) AS suspect_lines
FROM classified
GROUP BY 1, 2, 3, xid '0'
)sql";
}

// What the listed transactions of pg_temp.proof_classes break, from their own lines (an index
// search each), once per transaction row with their id: every misshapen transaction and every
// unbalanced (transaction, currency). Then the (transaction, currency) groups per currency: the
// counted transactions' and, for each split one, one per currency of its lines.
const std::string listed_breaks_sql = R"sql(
INSERT INTO pg_temp.proof_breaks (txn_id, kind, lines, debit_lines, credit_lines, fresh)
SELECT x.txn_id, 'misshapen', x.lines / x.members, x.debit_lines / x.members, x.credit_lines / x.members, true
FROM pg_temp.proof_classes x CROSS JOIN generate_series(1, x.members)
WHERE x.listed AND (x.lines < 2 * x.members OR x.debit_lines = 0 OR x.credit_lines = 0);
INSERT INTO pg_temp.proof_listed_currencies (txn_id, members, split, currency, debits, credits)
SELECT x.txn_id, x.members, x.split, l.currency::text, coalesce(sum(l.amount) FILTER (WHERE l.side = 'DR'), 0),
       coalesce(sum(l.amount) FILTER (WHERE l.side = 'CR'), 0)
FROM pg_temp.proof_classes x JOIN contract.journal_lines l ON l.txn_id::txnid = x.txn_id::txnid
WHERE x.listed
GROUP BY x.txn_id, x.members, x.split, l.currency;
INSERT INTO pg_temp.proof_breaks (txn_id, kind, currency, debits, credits, fresh)
SELECT s.txn_id, 'unbalanced', s.currency, s.debits, s.credits, true
FROM pg_temp.proof_listed_currencies s CROSS JOIN generate_series(1, s.members)
WHERE s.debits <> s.credits;
INSERT INTO pg_temp.proof_currencies_new (currency, txn_groups)
SELECT currency, sum(n) FROM (
    SELECT currency, counted AS n FROM pg_temp.proof_classes WHERE counted > 0
    UNION ALL
    SELECT currency, members FROM pg_temp.proof_listed_currencies WHERE split
) c
GROUP BY currency;
)sql";

// What the per-transaction pass counted more than once: the lines of a transaction id the contract
// lists k times were counted with each of its rows. The true count and hash are the pass's less
// these, (k - 1) times each such id's own (an index search each), so the next incremental run's
// guards, which count each line once, agree with them (issue: a duplicated id made every later
// run prove in full). One grouping of the transactions by id, in a full proof only.
std::string repeated_ids_sql(const std::string& line_image)
{
    return fmt::format(R"sql(
SELECT coalesce(sum((d.k - 1) * c.lines), 0)::bigint AS lines, coalesce(sum((d.k - 1) * c.hash), 0)::text AS hash
FROM (SELECT t.txn_id, count(*) AS k FROM contract.transactions t
      WHERE t.txn_id IS NOT NULL GROUP BY t.txn_id HAVING count(*) > 1) d
CROSS JOIN LATERAL (SELECT count(*) AS lines, coalesce(sum({}), 0) AS hash FROM contract.journal_lines l
                    WHERE l.txn_id::txnid = d.txn_id::txnid) c
)sql",
                       line_image);
}

/// Whether PostgreSQL proves that no transaction id is listed twice, asked of the planner (nothing
/// is read): it drops a left join of the transactions with themselves by id only where at most
/// one row can match, by a unique index on the id (or a view's own grouping by it). Then
/// repeated_ids_sql has nothing to find (its grouping of every transaction, 0.7 s at 3.6M).
bool transaction_ids_unique(pqxx::transaction_base& txn)
{
    // Every join node names its join type; a plan without one read the transactions once.
    return plan_of(txn,
                   "SELECT 1 FROM contract.transactions a LEFT JOIN contract.transactions b ON b.txn_id = a.txn_id")
               .find("\"Join Type\":") == std::string::npos;
}

// The totals and the hashes the next incremental run's guards compare.
const std::string classes_totals_sql = R"sql(
SELECT coalesce(sum(booked_transactions), 0)::bigint AS booked_transactions, coalesce(sum(lines), 0)::bigint AS lines,
       coalesce(sum(lines_hash), 0)::text AS lines_hash, coalesce(sum(transactions), 0)::bigint AS transactions,
       coalesce(sum(transactions_hash), 0)::text AS transactions_hash,
       coalesce(sum(suspect_lines), 0)::bigint AS suspect_lines
FROM pg_temp.proof_classes
)sql";

/// Every line of `from_where` that breaks a per-line rule or whose transaction is missing,
/// with each rule it breaks, into proof_defects.
std::string defects_sql(const std::string& from_where)
{
    return fmt::format(R"sql(
INSERT INTO pg_temp.proof_defects (line_id, txn_id, account_code, side, amount, orphan, unknown_account, no_amount,
                                   no_currency, no_account, invalid_side, non_positive_amount, fresh)
SELECT l.line_id, l.txn_id::text, l.account_code::text, l.side::text, l.amount::text,
       (l.txn_id IS NULL OR t.txn_id IS NULL), (l.account_code IS NOT NULL AND a.account_code IS NULL),
       l.amount IS NULL, l.currency IS NULL, l.account_code IS NULL, (l.side IS NULL OR l.side NOT IN ('DR', 'CR')),
       coalesce(l.amount <= 0, false), true
FROM contract.journal_lines l
LEFT JOIN contract.transactions t ON t.txn_id::txnid = l.txn_id::txnid
LEFT JOIN {1} a ON a.account_code = l.account_code::text
WHERE ({0})
  AND (t.txn_id IS NULL OR a.account_code IS NULL OR l.amount IS NULL OR l.amount <= 0 OR l.currency IS NULL
       OR l.side IS NULL OR l.side NOT IN ('DR', 'CR'))
)sql",
                       from_where, chart_sql);
}

// The transactions by source key: the keys held more than once and the ids whose status is outside
// the contract's set, the rows duplicates_of and unknown_statuses_of read. The keys held more than
// once are counted apart, from the key columns alone (read from an index on them where the ledger
// has one, without its rows: 0.9 s against 3.1 s for 3.6M transactions, stop 43), and the few rows
// of an unknown status are added to them: a key that is not held more than once has one row.
const std::string source_keys_grouping_sql = fmt::format(R"sql(
SELECT source, source_txn_id, max(n) AS n, array_agg(txn_id) FILTER (WHERE txn_id IS NOT NULL) AS unknown
FROM (SELECT t.source, t.source_txn_id, 1 AS n, t.txn_id FROM contract.transactions t
      WHERE {0} AND t.txn_id IS NOT NULL
      UNION ALL
      SELECT t.source, t.source_txn_id, count(*), NULL FROM contract.transactions t
      GROUP BY t.source, t.source_txn_id HAVING count(*) > 1) k
GROUP BY source, source_txn_id
)sql",
                                                         unknown_status_sql);

/// The rows of pg_temp.proof_duplicates from `keys`, the rows of source_keys_grouping_sql.
std::string duplicates_of(const char* keys)
{
    return fmt::format("SELECT source, source_txn_id, n, true AS fresh FROM {} WHERE n > 1", keys);
}

/// The rows of pg_temp.proof_breaks from `keys`: each transaction of an unknown status, with how
/// many lines it has (their lines grouped: an index search each where the journal has an index,
/// one scan where it has none).
std::string unknown_statuses_of(const char* keys)
{
    return fmt::format(R"sql(
SELECT u.txn_id, 'unknown_status' AS kind, coalesce(c.lines, 0) AS lines, true AS fresh
FROM {0} k CROSS JOIN LATERAL unnest(k.unknown) AS u(txn_id)
LEFT JOIN ({1}) c ON c.txn_id = u.txn_id::txnid
)sql",
                       keys,
                       lines_per_transaction_sql(fmt::format(
                           "SELECT u.txn_id FROM {} k CROSS JOIN LATERAL unnest(k.unknown) AS u(txn_id)", keys)));
}

// The duplicated source keys and the unknown statuses, in the snapshot.
const std::string full_duplicates_sql = fmt::format(
    "WITH keys AS MATERIALIZED ({}),\nduplicates AS (\nINSERT INTO pg_temp.proof_duplicates "
    "(source, source_txn_id, n, fresh) {})\nINSERT INTO pg_temp.proof_breaks (txn_id, kind, lines, fresh) {}",
    source_keys_grouping_sql, duplicates_of("keys"), unknown_statuses_of("keys"));

// --- The incremental proof --------------------------------------------------------------------

// The guard of a table: its rows with their id sum, how many of them are newer than the fence
// (a row's newness is computed once), how many of those have no transaction id, and how many
// rows name their xmin (a row whose newness cannot be told fails the guard).
std::string guard_sql(const Fence& fence, const std::string& table, const std::string& alias,
                      const std::string& id_image)
{
    return fmt::format(R"sql(
SELECT count(*) AS n, count({1}.row_xmin) AS known, coalesce(sum({2}), 0)::text AS hash,
       count(*) FILTER (WHERE {3}) AS fresh, count(*) FILTER (WHERE {4} AND {3}) AS fresh_orphans
FROM {0} {1}
)sql",
                       table, alias, id_image, fence.test(alias + ".row_xmin"),
                       table == "contract.journal_lines" ? alias + ".txn_id IS NULL" : std::string("false"));
}

// The newer journal lines with an id above $2 (all of them with $3), per transaction, with how
// many were found and the sum of their id images.
std::string fresh_lines_sql(const Fence& fence, const std::string& line_image)
{
    return fmt::format(R"sql(
SELECT l.txn_id::text AS txn_id, count(*) AS lines, (sum(count(*)) OVER ())::bigint AS found,
       (sum(sum({1})) OVER ())::text AS hash
FROM contract.journal_lines l
WHERE ($3::boolean OR l.line_id > $2) AND {0}
GROUP BY l.txn_id
)sql",
                       fence.test("l.row_xmin"), line_image);
}

// The newer transaction rows among those with an id above $2 and, with $4, those held open by
// the stored proof (one or two index searches; all of them with $3), with how many were found and
// the sum of their id images: only open transactions may change in place without a full proof.
std::string fresh_transactions_sql(const Fence& fence, const std::string& txn_image)
{
    return fmt::format(R"sql(
SELECT txn_id, count(*) OVER () AS found, (sum(h) OVER ())::text AS hash FROM (
    SELECT t.txn_id::text AS txn_id, {1} AS h FROM contract.transactions t WHERE ($3::boolean OR t.txn_id > $2) AND {0}
    UNION ALL
    SELECT t.txn_id::text, {1} FROM contract.transactions t
    WHERE NOT $3::boolean AND $4::boolean AND NOT t.txn_id > $2
      AND t.txn_id::txnid = ANY (ARRAY(SELECT (json_populate_record(NULL::pg_temp.proof_changed,
                                                             json_build_object('txn_id', o.txn_id))).txn_id
                                FROM recon.proof_open o))
      AND {0}
) s
)sql",
                       fence.test("t.row_xmin"), txn_image);
}

// The ids of text array parameter $N as the txn_id column of pg_temp.`table` (of the ledger's id
// type): the text goes to the server byte for byte, which a JSON document could not carry when
// ids are not UTF-8, and the server converts it.
std::string ids_in_sql(std::string_view table, int parameter)
{
    return fmt::format(
        "SELECT (json_populate_record(NULL::pg_temp.{}, json_build_object('txn_id', i))).txn_id "
        "FROM unnest(${}::text[]) i",
        table, parameter);
}

// The newer row versions of the transactions named in $2 (a text array).
std::string changed_transactions_sql(const Fence& fence)
{
    return fmt::format(R"sql(
INSERT INTO pg_temp.proof_changed (txn_id, source, source_txn_id)
SELECT t.txn_id, t.source, t.source_txn_id
FROM contract.transactions t
WHERE t.txn_id::txnid IN (SELECT txn_id::txnid FROM ({1}) ids)
  AND {0}
)sql",
                       fence.test("t.row_xmin"), ids_in_sql("proof_changed", 2));
}

// Every row of every touched transaction with its booked status now and when the stored proof
// was made, numbered: a transaction id the contract lists k times is proved once per row, at that
// row's own effective time, as the full proof proves it. A row newer than the fence was open or
// not there then (the guard made sure), one that is not has the status it had. Per row, not per
// id: an old booked row beside a newer one of its id still counted then.
std::string touched_transactions_sql(const Fence& fence)
{
    return fmt::format(R"sql(
INSERT INTO pg_temp.proof_txns (txn_id, booked_now, booked_then, effective_at, unknown_status, row_no)
SELECT x.txn_id, coalesce(t.status IN {0}, false), coalesce(t.status IN {0} AND NOT {2}, false),
       t.effective_at, t.txn_id IS NOT NULL AND {1}, row_number() OVER ()
FROM (SELECT txn_id::txnid AS txn_id FROM pg_temp.proof_touched UNION SELECT txn_id::txnid FROM pg_temp.proof_changed) x
LEFT JOIN contract.transactions t ON t.txn_id::txnid = x.txn_id
)sql",
                       booked_statuses_sql, unknown_status_sql, fence.test("t.row_xmin"));
}

// Every open row now of the ids with a newer row: what recon.proof_open holds of those ids next.
const std::string open_rows_sql = fmt::format(R"sql(
INSERT INTO pg_temp.proof_open_new (txn_id, source, source_txn_id)
SELECT t.txn_id::text, t.source::text, t.source_txn_id::text FROM contract.transactions t
WHERE t.txn_id::txnid IN (SELECT txn_id::txnid FROM pg_temp.proof_changed) AND NOT coalesce(t.status IN {}, false)
)sql",
                                              booked_statuses_sql);

// Per id with a newer row, how many of its open rows the stored proof saw are gone (recon.proof_open
// holds a row per open transaction row): those it held, less its old rows that are open now. Only
// open rows may vanish, so a guard that counts these per id knows which of an id's rows changed,
// where one flag per id let an old booked row be replaced beside an open one of its id. Both
// counts are groupings of the ids' rows, joined: a search per id where an index finds them, one
// scan of the transactions where none does (a count per id was a scan per id: 46 s for 1,000 new
// uuid-keyed transactions among 300,000, stop 41). $1 the fence.
std::string vanished_open_sql(const Fence& fence, const std::string& image)
{
    return fmt::format(R"sql(
SELECT coalesce(sum(n), 0)::bigint AS n, coalesce(sum(n * h), 0)::text AS hash FROM (
    SELECT coalesce(o.n, 0) - coalesce(c.n, 0) AS n, {2} AS h
    FROM (SELECT DISTINCT txn_id FROM pg_temp.proof_changed) t
    LEFT JOIN (SELECT o.txn_id, count(*) AS n FROM recon.proof_open o
               WHERE o.txn_id IN (SELECT txn_id::text FROM pg_temp.proof_changed) GROUP BY o.txn_id) o
        ON o.txn_id = t.txn_id::text
    LEFT JOIN (SELECT c.txn_id::txnid AS txn_id, count(*) AS n FROM contract.transactions c
               WHERE c.txn_id::txnid IN (SELECT txn_id::txnid FROM pg_temp.proof_changed)
                 AND NOT coalesce(c.status IN {1}, false) AND NOT {0}
               GROUP BY 1) c
        ON c.txn_id = t.txn_id::txnid
) s
)sql",
                       fence.test("c.row_xmin"), booked_statuses_sql, image);
}

/// `WITH touched_lines AS (...)`: every line of a touched transaction, with its transaction's
/// statuses and whether the line is newer than the fence; `sign` is what the line adds to the
/// sums now against before.
std::string touched_lines_cte(const Fence& fence)
{
    return fmt::format(R"sql(
WITH touched_lines AS (
    SELECT l.txn_id, x.row_no, l.account_code, l.customer_id, l.currency, l.side, l.amount, x.booked_now,
           x.booked_then, x.effective_at, {0} AS fresh,
           x.booked_now::int - (x.booked_then AND NOT {0})::int AS sign
    FROM pg_temp.proof_txns x
    JOIN contract.journal_lines l ON l.txn_id::txnid = x.txn_id::txnid
)
)sql",
                       fence.test("l.row_xmin"));
}

const std::string delta_groups_sql = R"sql(
INSERT INTO pg_temp.proof_groups_new (account, customer, currency, after, upto, dr, cr, lines, all_lines)
SELECT account_code::text, customer_id::text, currency::text, )sql" +
                                     instant_before("effective_at") +
                                     R"sql(, effective_at,
       coalesce(sum(sign * amount) FILTER (WHERE side = 'DR'), 0), coalesce(sum(sign * amount) FILTER (WHERE side = 'CR'), 0),
       coalesce(sum(sign) FILTER (WHERE side IN ('DR', 'CR') AND amount IS NOT NULL), 0), sum(sign)
FROM touched_lines WHERE sign <> 0
GROUP BY 1, 2, 3, 4, 5
)sql";

// The rows of a groups table summed over customers, per account, currency and span.
std::string account_sums_sql(const char* groups)
{
    return fmt::format(R"sql(
SELECT account, currency, after, upto, sum(dr) AS dr, sum(cr) AS cr, sum(lines) AS lines, sum(all_lines) AS all_lines
FROM {} GROUP BY 1, 2, 3, 4)sql",
                       groups);
}

// The rows of a groups table summed over spans, per key.
std::string key_sums_sql(const char* groups)
{
    return fmt::format(R"sql(
SELECT account, customer, currency, sum(dr) AS dr, sum(cr) AS cr, sum(lines) AS lines, sum(all_lines) AS all_lines
FROM {} GROUP BY 1, 2, 3)sql",
                       groups);
}

// The new groups summed over customers (all of them in a full proof, the signed rows of an
// incremental one).
const std::string account_groups_sql =
    "INSERT INTO pg_temp.proof_account_groups_new (account, currency, after, upto, dr, cr, lines, all_lines)" +
    account_sums_sql("pg_temp.proof_groups_new");

// The figures of every key the new groups of an incremental run touch: what the stored proof
// holds of it (one index search per key, recon.proof_keys_key) plus what the new groups add.
const std::string keys_sql = fmt::format(R"sql(
INSERT INTO pg_temp.proof_keys_new (account, customer, currency, dr, cr, lines, all_lines)
SELECT d.account, d.customer, d.currency, coalesce(s.dr, 0) + d.dr, coalesce(s.cr, 0) + d.cr,
       coalesce(s.lines, 0) + d.lines, coalesce(s.all_lines, 0) + d.all_lines
FROM ({}) d
LEFT JOIN LATERAL (
    SELECT s.dr, s.cr, s.lines, s.all_lines FROM recon.proof_keys s
    WHERE {} = {}
) s ON true
)sql",
                                         key_sums_sql("pg_temp.proof_groups_new"), key_sql("s"), key_sql("d"));

// Every key's figures in a full proof: the new groups summed over spans (keys_sql's search of
// the stored proof, skipped for each key in a full proof, still cost 0.33 s at 10M lines).
const std::string full_keys_sql =
    "INSERT INTO pg_temp.proof_keys_new (account, customer, currency, dr, cr, lines, all_lines)" +
    key_sums_sql("pg_temp.proof_groups_new");

// Every key on the wrong side of an account that forbids it, of the keys just summed; an
// incremental run carries the stored verdicts of the keys it did not touch.
const std::string wrong_sides_sql = fmt::format(R"sql(
INSERT INTO pg_temp.proof_wrong_sides (account, customer, currency, balance)
SELECT g.account, g.customer, g.currency, {0}
FROM pg_temp.proof_keys_new g
JOIN {1} a ON a.account_code = g.account
WHERE NOT a.allow_wrong_side AND g.lines > 0 AND {0} < 0
)sql",
                                                proof_signed_sql, chart_sql);

const std::string carried_wrong_sides_sql = R"sql(
INSERT INTO pg_temp.proof_wrong_sides (account, customer, currency, balance)
SELECT s.account, s.customer, s.currency, s.balance
FROM recon.proof_wrong_sides s
WHERE NOT EXISTS (SELECT 1 FROM pg_temp.proof_keys_new k
                  WHERE k.account IS NOT DISTINCT FROM s.account AND k.customer IS NOT DISTINCT FROM s.customer
                    AND k.currency IS NOT DISTINCT FROM s.currency)
)sql";

const std::string delta_currencies_sql = R"sql(
INSERT INTO pg_temp.proof_currencies_new (currency, txn_groups)
SELECT currency, sum(d) FROM (
    SELECT currency::text AS currency, bool_or(booked_now)::int - bool_or(booked_then AND NOT fresh)::int AS d
    FROM touched_lines GROUP BY currency::text, row_no) g
GROUP BY currency HAVING sum(d) <> 0
)sql";

const std::string touched_breaks_sql = R"sql(
INSERT INTO pg_temp.proof_breaks (txn_id, kind, currency, debits, credits, fresh)
SELECT l.txn_id, 'unbalanced', l.currency::text, coalesce(sum(l.amount) FILTER (WHERE l.side = 'DR'), 0),
       coalesce(sum(l.amount) FILTER (WHERE l.side = 'CR'), 0), true
FROM pg_temp.proof_txns x JOIN contract.journal_lines l ON l.txn_id::txnid = x.txn_id::txnid
WHERE x.booked_now
GROUP BY x.row_no, l.txn_id, l.currency::text
HAVING coalesce(sum(l.amount) FILTER (WHERE l.side = 'DR'), 0) <> coalesce(sum(l.amount) FILTER (WHERE l.side = 'CR'), 0);
INSERT INTO pg_temp.proof_breaks (txn_id, kind, lines, debit_lines, credit_lines, fresh)
SELECT x.txn_id, 'misshapen', count(l.txn_id), count(*) FILTER (WHERE l.side = 'DR'),
       count(*) FILTER (WHERE l.side = 'CR'), true
FROM pg_temp.proof_txns x LEFT JOIN contract.journal_lines l ON l.txn_id::txnid = x.txn_id::txnid
WHERE x.booked_now
GROUP BY x.row_no, x.txn_id
HAVING count(l.txn_id) < 2 OR count(*) FILTER (WHERE l.side = 'DR') = 0 OR count(*) FILTER (WHERE l.side = 'CR') = 0;
INSERT INTO pg_temp.proof_breaks (txn_id, kind, lines, fresh)
SELECT x.txn_id, 'unknown_status', coalesce(c.lines, 0), true
FROM pg_temp.proof_txns x
LEFT JOIN ()sql" + lines_per_transaction_sql("SELECT txn_id FROM pg_temp.proof_txns WHERE unknown_status") +
                                       R"sql() c
    ON c.txn_id = x.txn_id::txnid
WHERE x.unknown_status;
INSERT INTO pg_temp.proof_breaks
SELECT (jsonb_populate_record(NULL::pg_temp.proof_breaks, to_jsonb(s) || '{"fresh": false}')).*
FROM recon.proof_breaks s
WHERE NOT EXISTS (SELECT 1 FROM pg_temp.proof_txns x WHERE x.txn_id::text = s.txn_id);
)sql";

const std::string carried_defects_sql = R"sql(
INSERT INTO pg_temp.proof_defects
SELECT (jsonb_populate_record(NULL::pg_temp.proof_defects, to_jsonb(s) || '{"fresh": false}')).*
FROM recon.proof_defects s
WHERE s.txn_id IS NULL OR NOT EXISTS (SELECT 1 FROM pg_temp.proof_txns x WHERE x.txn_id::text = s.txn_id)
)sql";

// The source keys of changed transactions, now and (for the open ones) as stored, recounted
// over every transaction (an index search per key where the ledger has one, else one scan); the
// other stored duplicates are carried.
const std::string touched_duplicates_sql = R"sql(
INSERT INTO pg_temp.proof_source_keys (source, source_txn_id)
SELECT source, source_txn_id FROM pg_temp.proof_changed
UNION
SELECT k.source, k.source_txn_id
FROM recon.proof_open o
JOIN pg_temp.proof_changed c ON o.txn_id = c.txn_id::text
CROSS JOIN LATERAL jsonb_populate_record(NULL::pg_temp.proof_source_keys,
                                         jsonb_build_object('source', o.source, 'source_txn_id', o.source_txn_id)) k;
INSERT INTO pg_temp.proof_duplicates (source, source_txn_id, n, fresh)
SELECT t.source, t.source_txn_id, count(*), true
FROM contract.transactions t
WHERE (t.source, t.source_txn_id) IN (SELECT source, source_txn_id FROM pg_temp.proof_source_keys)
GROUP BY 1, 2 HAVING count(*) > 1;
INSERT INTO pg_temp.proof_duplicates (source, source_txn_id, n, fresh)
SELECT t.source, t.source_txn_id, count(*), true
FROM contract.transactions t
WHERE (t.source IS NULL OR t.source_txn_id IS NULL)
  AND EXISTS (SELECT 1 FROM pg_temp.proof_source_keys WHERE source IS NULL OR source_txn_id IS NULL)
GROUP BY 1, 2 HAVING count(*) > 1;
INSERT INTO pg_temp.proof_duplicates
SELECT (jsonb_populate_record(NULL::pg_temp.proof_duplicates, to_jsonb(s) || '{"fresh": false}')).*
FROM recon.proof_duplicates s
WHERE NOT EXISTS (SELECT 1 FROM pg_temp.proof_source_keys k
                  WHERE k.source::text IS NOT DISTINCT FROM s.source
                    AND k.source_txn_id::text IS NOT DISTINCT FROM s.source_txn_id)
  AND NOT ((s.source IS NULL OR s.source_txn_id IS NULL)
           AND EXISTS (SELECT 1 FROM pg_temp.proof_source_keys WHERE source IS NULL OR source_txn_id IS NULL));
)sql";

// What decides which snapshots are replayed, as one text: the window ($1 days) and every
// snapshot's key and as-of (a count and a sum of hashes). While it stays the same, and runs move
// forward in time, no snapshot can come to fall inside a stored span: spans are compacted only
// before the tail, and a later run chooses only snapshots at least as recent (issue 16).
const std::string snapshots_digest_sql = R"sql(
SELECT concat_ws(':', $1::int, count(*),
                 coalesce(sum(hashtextextended(concat_ws('|', account_code, coalesce('c' || customer_id::text, 'a'),
                                                         currency, extract(epoch FROM as_of)), 0)), 0)) AS digest
FROM contract.balance_snapshots
)sql";

// A snapshot to replay whose as-of falls strictly inside a stored span of its key cannot be
// replayed from sums (the span's lines straddle it): the first one, if any.
const std::string straddled_snapshot_sql = "WITH " + chosen_snapshots_ctes("contract.balance_snapshots") + R"sql(
SELECT c.snapshot_id, to_char(c.as_of AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS as_of
FROM chosen c
JOIN recon.proof_groups g ON g.account = c.account_code AND g.customer = c.customer_id AND g.currency = c.currency
WHERE g.after < c.as_of AND c.as_of < )sql" +
                                           stored_upto_sql("g") + R"sql(
UNION ALL
SELECT c.snapshot_id, to_char(c.as_of AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
FROM chosen c
JOIN (SELECT DISTINCT account, currency, after, upto
      FROM (SELECT account, currency, after, )sql" +
                                           stored_upto_sql("a") + R"sql( AS upto FROM recon.proof_account_groups a) a
      WHERE after <> )sql" + instant_before("upto") +
                                           R"sql() g ON g.account = c.account_code AND g.currency = c.currency
WHERE c.customer_id IS NULL AND g.after < c.as_of AND c.as_of < g.upto
LIMIT 1
)sql";

// --- Drift ---------------------------------------------------------------------------------------

// What a proof holds, as (part, key, value) texts: the sums per key, the groups per currency and
// every listed verdict. A scheduled full proof records it for the incremental answer and for
// its own; any difference is an `incremental_drift` variance.
const std::string drift_record_sql = R"sql(
INSERT INTO pg_temp.proof_drift (side, part, key, value)
SELECT $1, 'groups', concat_ws('|', account, customer, currency),
       concat_ws('|', sum(dr), sum(cr), sum(lines), sum(all_lines))
FROM pg_temp.proof_groups GROUP BY account, customer, currency
HAVING sum(all_lines) <> 0 OR sum(dr) <> 0 OR sum(cr) <> 0
UNION ALL
SELECT $1, 'account groups', concat_ws('|', account, currency),
       concat_ws('|', sum(dr), sum(cr), sum(lines), sum(all_lines))
FROM pg_temp.proof_account_groups GROUP BY account, currency
HAVING sum(all_lines) <> 0 OR sum(dr) <> 0 OR sum(cr) <> 0
UNION ALL
SELECT $1, 'keys', concat_ws('|', account, customer, currency), concat_ws('|', dr, cr, lines, all_lines)
FROM pg_temp.proof_keys WHERE all_lines <> 0 OR dr <> 0 OR cr <> 0
UNION ALL
SELECT $1, 'wrong sides', concat_ws('|', account, customer, currency), balance::text FROM pg_temp.proof_wrong_sides
UNION ALL
SELECT $1, 'currencies', coalesce(currency, ''), sum(txn_groups)::text
FROM pg_temp.proof_currencies GROUP BY currency HAVING sum(txn_groups) <> 0
UNION ALL
SELECT $1, 'breaks', concat_ws('|', txn_id, kind, currency), concat_ws('|', debits, credits, lines, debit_lines, credit_lines)
FROM pg_temp.proof_breaks
UNION ALL
SELECT $1, 'defects', line_id::text, concat_ws('|', txn_id, account_code, side, amount, orphan, unknown_account, no_amount,
                                              no_currency, no_account, invalid_side, non_positive_amount)
FROM pg_temp.proof_defects
UNION ALL
SELECT $1, 'duplicates', concat_ws('|', source, source_txn_id), n::text FROM pg_temp.proof_duplicates
)sql";

const std::string drift_sql = R"sql(
SELECT coalesce(i.part, f.part) AS part, coalesce(i.key, f.key) AS key, i.value AS incremental, f.value AS full
FROM (SELECT * FROM pg_temp.proof_drift WHERE side = 'incremental') i
FULL JOIN (SELECT * FROM pg_temp.proof_drift WHERE side = 'full') f ON f.part = i.part AND f.key = i.key
WHERE i.value IS DISTINCT FROM f.value
ORDER BY 1, 2
)sql";

// --- Storing the proof --------------------------------------------------------------------------

/// Moves the rows of `select_sql` (read in the snapshot) into the same-named columns of `table`
/// in the results transaction, as one COPY out of the one and into the other: lines pass through
/// unparsed, in the servers' own text form (ids keep their text, numbers their scale). JSON
/// batches cost 8.6 s for the 585,000 groups of a 10M-line proof (stop 34).
void copy_rows(pqxx::transaction_base& snapshot, const std::string& select_sql, pqxx::transaction_base& results,
               const std::string& table)
{
    const auto shape = snapshot.exec_params("SELECT * FROM (" + select_sql + ") r LIMIT 0");
    std::vector<std::string> columns;
    for (pqxx::row::size_type column = 0; column < shape.columns(); ++column) {
        columns.push_back(results.quote_name(shape.column_name(column)));
    }
    // stream_from puts its table name into `COPY ... TO STDOUT` as given: a query in parentheses
    // is copied like a table.
    pqxx::stream_from from(snapshot, "(" + select_sql + ")");
    // libpqxx 6.4's stream_to adds a newline to the raw lines it is given, which already end in
    // one; tablewriter is its one public writer of raw lines.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    pqxx::tablewriter to(results, table, columns.begin(), columns.end());
    std::string line;
    while (from.get_raw_line(line)) {
        if (!line.empty() && line.back() == '\n') line.pop_back();
        to.write_raw_line(line);
    }
    from.complete();
    to.complete();
#pragma GCC diagnostic pop
}

// The proof and the checks after it group and sort the whole proof (millions of lines in full,
// every stored key incrementally): memory enough to keep that off disk, and no JIT, whose compile
// time these plans never win back (issue 16 measured both), but for the passes over a large
// journal (`compiled`). Set for the rest of the snapshot (the checks read the proof under the
// same settings) and in its twin's grouping.
const char* const proof_settings_sql = "SET LOCAL work_mem = '64MB'; SET LOCAL jit = off";

/// The per-transaction pass's own settings in the twin: its lines grouped from rows sorted by
/// transaction (its hashed grouping spills: 26 s at 10M lines against 17 s sorted, on a journal
/// out of id order; stop 39), read in that order through the index where the journal lies in it.
const Settings sorted_by_transaction = {{"enable_hashagg", "off"}, {"enable_sort", "on"}};

/// Work made in a twin of the snapshot (lib/snapshot.hpp) while the snapshot's own session makes
/// the full proof's groups: the per-transaction pass, then the groupings that read only the
/// transactions. PostgreSQL aggregates the full proof's groups in one process (its workers only
/// scan and join), so on two cores the two passes over the journal take about as long at once as
/// the longer one alone, and the twin, done first, takes what the snapshot's session would do
/// after its grouping. Each statement's rows become a temporary table of the twin, by name;
/// send() starts statements, in order after those sent before; wait() waits for all of them,
/// then copy() and row() read them, and send() may start more.
class WorkBeside {
public:
    struct Table {
        std::string name;
        std::string select;
        /// Planner settings for this statement alone (read in the twin's session as it is sent,
        /// so only in a batch sent while none runs).
        Settings settings = {};
    };

    explicit WorkBeside(std::shared_ptr<SnapshotTwin> twin) : m_twin(std::move(twin))
    {
        auto& txn = m_twin->txn();
        // One process: the snapshot's own grouping has the parallel workers.
        txn.exec0(std::string(proof_settings_sql) +
                  "; SET LOCAL enable_sort = off; SET LOCAL max_parallel_workers_per_gather = 0");
        // Each statement reads a whole table. Priced as if the kernel's cache made reading at
        // random free, a table lying out of its index's order (uuid ids) was walked through the
        // index a read call per row: the journal 41 s at 10M lines against 17 s sorted, the
        // transactions by source key 9.8 s against 3.0 s hashed (stop 39). Priced as read
        // through the shared buffers, an index is walked only where the table lies in its order.
        txn.exec("SELECT set_config('effective_cache_size', current_setting('shared_buffers'), true)");
    }

    /// Starts `tables`' statements after any still running.
    void send(const std::vector<Table>& tables)
    {
        // A pipeline's query yields one result: each statement's own settings are set by one
        // query before it and put back by one after.
        std::vector<std::string> queries;
        for (const auto& table : tables) {
            std::vector<std::string> set;
            std::vector<std::string> restore;
            for (const auto& [name, value] : table.settings) {
                if (m_pipeline) throw std::logic_error("a statement with settings of its own is sent first");
                auto& txn = m_twin->txn();
                const std::string before =
                    NamedRow(txn.exec_params1("SELECT current_setting($1) AS value", name)).text("value");
                set.push_back(fmt::format("set_config({}, {}, true)", txn.quote(name), txn.quote(value)));
                restore.push_back(fmt::format("set_config({}, {}, true)", txn.quote(name), txn.quote(before)));
            }
            if (!set.empty()) queries.push_back(fmt::format("SELECT {}", fmt::join(set, ", ")));
            queries.push_back(fmt::format("CREATE TEMP TABLE {} ON COMMIT DROP AS {}", table.name, table.select));
            if (!restore.empty()) queries.push_back(fmt::format("SELECT {}", fmt::join(restore, ", ")));
        }
        in_twin([&] {
            if (!m_pipeline) m_pipeline = std::make_unique<pqxx::pipeline>(m_twin->txn());
            // Held back and sent as one batch: a query sent alone would leave the next to wait
            // until this session next asked for results, after its own grouping.
            m_pipeline->retain(static_cast<int>(queries.size()) + 1);
            for (const auto& query : queries) m_queries.push_back(m_pipeline->insert(query));
            m_pipeline->resume();
        });
    }

    /// Whether a statement of the twin failed or the twin was lost (not the snapshot's session).
    bool twin_failed() const { return m_twin_failed; }

    /// Waits for every statement, in order (a failure is thrown here, as it would be had it run
    /// in the snapshot: the statements after a failed one never end, so each is waited for and
    /// retrieved before the next). It waits in short sleeps on `txn`'s session, the one a
    /// signal's interruption cancels (lib/interrupt.hpp): the cancelled sleep ends the wait and,
    /// through the pipeline's end, the twin's statement.
    void wait(pqxx::transaction_base& txn)
    {
        for (const auto query : m_queries) {
            const auto finished = [&] {
                return in_twin([&] {
                    m_pipeline->resume();
                    return m_pipeline->is_finished(query);
                });
            };
            while (!finished()) txn.exec_params("SELECT pg_sleep(0.05)");
            in_twin([&] { m_pipeline->retrieve(query); });
        }
        in_twin([&] { m_pipeline->complete(); });
        m_pipeline.reset();
        m_queries.clear();
    }

    /// Moves the rows of `select_sql`, read in the twin, into `table` of `txn`.
    void copy(const std::string& select_sql, pqxx::transaction_base& txn, const std::string& table)
    {
        in_twin([&] { copy_rows(m_twin->txn(), select_sql, txn, table); });
    }

    pqxx::row row(const std::string& select_sql)
    {
        return in_twin([&] { return m_twin->txn().exec_params1(select_sql); });
    }

    pqxx::result result(const std::string& select_sql)
    {
        return in_twin([&] { return m_twin->txn().exec_params(select_sql); });
    }

private:
    /// Runs `work`, which uses the twin's session. The loss of that session alone (its server
    /// process ended) is a failure of the proof, which the checks then make in the snapshot; a
    /// lost connection propagates as one only when the snapshot's own session is the lost one.
    template <class Work>
    auto in_twin(Work&& work) -> decltype(work())
    {
        const auto lost = [](const std::exception& e) {
            return std::runtime_error(
                fmt::format("the second session of the snapshot was lost: {}", first_line(e.what())));
        };
        try {
            return work();
        } catch (const pqxx::broken_connection& e) {
            m_twin_failed = true;
            if (m_twin->txn().conn().is_open()) throw;
            throw lost(e);
        } catch (const pqxx::sql_error& e) {
            m_twin_failed = true;
            // The server ending the session says so first (57P01 and its kin), and that error
            // may reach the pipeline before the closed socket does.
            if (e.sqlstate().rfind("57P", 0) != 0) throw;
            throw lost(e);
        } catch (...) {
            m_twin_failed = true;
            throw;
        }
    }

    std::shared_ptr<SnapshotTwin> m_twin;
    // Declared after the twin, so it ends first: a pipeline still running is cancelled.
    std::unique_ptr<pqxx::pipeline> m_pipeline;
    std::vector<pqxx::pipeline::query_id> m_queries;
    bool m_twin_failed = false;
};

/// How the store reads a stored table's rows and tells them apart: its columns, and a proved row
/// as the stored columns' types.
struct StoredShape {
    std::vector<std::string> names;
    std::vector<std::string> proved;                    // the proved rows' columns, of the stored columns' types
    std::vector<std::string> same;                      // a stored row (s) equal to a difference's (d)
    std::vector<std::pair<std::string, bool>> columns;  // each column's name, and whether a number

    StoredShape(pqxx::transaction_base& txn, const std::string& table)
    {
        for (const auto& column : txn.exec_params(
                 "SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS type, "
                 "a.atttypid = 'numeric'::regtype AS is_numeric, a.attnotnull AS not_null FROM pg_catalog.pg_attribute "
                 "a WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                 table)) {
            const NamedRow row(column);
            const std::string name = txn.quote_name(row.text("name"));
            const bool numeric = row.flag("is_numeric");
            names.push_back(name);
            proved.push_back(fmt::format("p.{0}::{1} AS {0}", name, row.text("type")));
            columns.emplace_back(name, numeric);
            // Each row's hash is the hash join's key (below); the columns are then compared, those
            // that may be NULL as not distinct.
            const char* equal = row.flag("not_null") ? "=" : "IS NOT DISTINCT FROM";
            same.push_back(fmt::format("s.{0} {1} d.{0}", name, equal));
            if (numeric) same.push_back(fmt::format("scale(s.{0}) {1} scale(d.{0})", name, equal));
        }
    }

    /// What tells two rows apart: every column of the rows named `alias`, a number's scale too.
    std::string grouped(const char* alias) const
    {
        std::vector<std::string> parts;
        for (const auto& [name, numeric] : columns) {
            parts.push_back(fmt::format("{}.{}", alias, name));
            if (numeric) parts.push_back(fmt::format("scale({}.{})", alias, name));
        }
        return fmt::format("{}", fmt::join(parts, ", "));
    }

    /// The count and digest of `rows` (the stored table, or proved_rows()), told apart by what
    /// the comparison groups by.
    std::string digest_sql(const std::string& rows) const
    {
        return fmt::format(
            "SELECT count(*) AS n, coalesce(sum(hash_record_extended(ROW({}), 0)), 0)::text AS digest FROM {} d",
            grouped("d"), rows);
    }

    /// The rows of `select_sql` as the stored columns.
    std::string proved_rows(const std::string& select_sql) const
    {
        return fmt::format("(SELECT {} FROM ({}) p)", fmt::join(proved, ", "), select_sql);
    }
};

/// Digests the store need not compute again: each digest_sql text with its count and digest, made
/// in the snapshot's twin.
using KnownDigests = std::map<std::string, std::pair<std::int64_t, std::string>>;

/// The store's digests (StoredShape::digest_sql texts) made in the twin while the snapshot's
/// session runs the checks, on the core the checks leave idle; collected by the store. A failure
/// of the twin leaves the store to make them itself, as it would without a twin.
class TwinDigests {
public:
    TwinDigests(std::shared_ptr<WorkBeside> beside, std::vector<std::string> sqls)
        : m_beside(std::move(beside)), m_sqls(std::move(sqls))
    {
        std::vector<std::string> each;
        for (std::size_t i = 0; i < m_sqls.size(); ++i) {
            each.push_back(fmt::format("SELECT {} AS i, n, digest FROM ({}) x", i, m_sqls[i]));
        }
        try {
            m_beside->send({{"proof_beside_digests", fmt::format("{}", fmt::join(each, " UNION ALL "))}});
        } catch (const std::exception& e) {
            given_up(e);
        }
    }

    /// Waits for the digests in short sleeps on `snapshot` (WorkBeside::wait), then ends the twin.
    KnownDigests collect(pqxx::transaction_base& snapshot)
    {
        if (!m_beside) return m_known;
        try {
            m_beside->wait(snapshot);
            for (const auto& result_row : m_beside->result("SELECT i, n, digest FROM pg_temp.proof_beside_digests")) {
                const NamedRow row(result_row);
                m_known[m_sqls.at(static_cast<std::size_t>(row.number("i")))] = {row.number("n"), row.text("digest")};
            }
        } catch (const std::exception& e) {
            given_up(e);
        }
        m_beside.reset();
        return m_known;
    }

private:
    /// A failure of the twin's: nothing is known, the store digests every table itself. Any
    /// other (this session's own, an interruption) is the run's.
    void given_up(const std::exception& e)
    {
        if (!m_beside->twin_failed()) throw;
        m_known.clear();
        m_beside.reset();
        log_info("the second session did not digest the stored proof, the store does: {}", first_line(e.what()));
    }

    std::shared_ptr<WorkBeside> m_beside;
    std::vector<std::string> m_sqls;
    KnownDigests m_known;
};

/// Makes `table` hold exactly the rows of `select_sql` (read in the snapshot; the table's columns
/// by name). When the snapshot reads the database the proof is stored in (`stored_in_snapshot`),
/// it compares them with the stored rows as it sees them, and only the rows that differ move
/// and are written: a full proof that agrees with the stored one writes next to nothing, where
/// rewriting the tables cost about 10 s at 10M lines (the groups' COPY, the keys' unique index;
/// issue 16). Rows are compared as values, a number with its scale (1.5 is not 1.50), NULL
/// equal to NULL; a row stored n times and proved m times is deleted n times and written m.
/// The store runs under recon.proof_state's lock and only over the stored version the snapshot
/// saw, and nothing but the store writes these tables, so what the snapshot saw is what the
/// results transaction holds; the count deleted is checked all the same, and a mismatch
/// rewrites the table whole. The rows are compared one by one only when their digests differ
/// (their count, and the sum of a 64-bit hash of each row with its numbers' scales): a scheduled
/// full proof mostly agrees, and the digests cost about a third of the comparison (0.36 s
/// against 0.93 s for the 510,000 groups at 10M lines; stop 40). A digest in `known`, made in the
/// same snapshot, is not made again.
void replace_rows(pqxx::transaction_base& snapshot, pqxx::transaction_base& results, const std::string& table,
                  const std::string& select_sql, bool stored_in_snapshot, const KnownDigests& known = {})
{
    const auto rewrite = [&] {
        results.exec0("DELETE FROM " + table);
        copy_rows(snapshot, select_sql, results, table);
    };
    if (!stored_in_snapshot) return rewrite();
    const StoredShape shape(snapshot, table);
    const auto& names = shape.names;
    const auto& same = shape.same;
    const auto grouped = [&](const char* alias) { return shape.grouped(alias); };
    // Both sides' rows as the stored columns, told apart by what the comparison groups by.
    const auto digest = [&](const std::string& rows) {
        const std::string sql = shape.digest_sql(rows);
        if (const auto found = known.find(sql); found != known.end()) return found->second;
        const NamedRow row(snapshot.exec_params1(sql));
        return std::pair{row.number("n"), row.text("digest")};
    };
    const auto stored = digest(table);
    if (stored.first == 0) return copy_rows(snapshot, select_sql, results, table);
    if (digest(shape.proved_rows(select_sql)) == stored) return;
    const std::string difference = fmt::format(
        R"sql(SELECT {0}, count(*) FILTER (WHERE is_stored_row) AS stored_rows,
       count(*) FILTER (WHERE NOT is_stored_row) AS proved_rows
FROM (SELECT {0}, true AS is_stored_row FROM {1} UNION ALL SELECT {2}, false FROM ({3}) p) u
GROUP BY {4} HAVING count(*) FILTER (WHERE is_stored_row) <> count(*) FILTER (WHERE NOT is_stored_row))sql",
        fmt::join(names, ", "), table, fmt::join(shape.proved, ", "), select_sql, grouped("u"));
    // Each table has its own columns: the differences' table is made again for each.
    results.exec0(
        fmt::format("DROP TABLE IF EXISTS pg_temp.store_difference; CREATE TEMP TABLE store_difference "
                    "ON COMMIT DROP AS SELECT {}, 0::bigint AS stored_rows, 0::bigint AS proved_rows "
                    "FROM {} WITH NO DATA",
                    fmt::join(names, ", "), table));
    copy_rows(snapshot, difference, results, "pg_temp.store_difference");
    const NamedRow sums(results.exec_params1(
        "SELECT coalesce(sum(stored_rows), 0)::bigint AS gone, coalesce(sum(proved_rows), 0)::bigint AS coming "
        "FROM pg_temp.store_difference"));
    if (sums.number("gone") > 0) {
        // A merge join would sort every stored row (8 s for the 408,000 keys at 10M lines). The
        // hash join's key is each row's hash: keyed by the columns that cannot be NULL alone (the
        // sums and counts, alike in many groups), replacing every group of a ledger whose
        // transactions all became unbooked took 48 s for 45,000 groups (stop 41).
        std::int64_t deleted = 0;
        results.exec0("ANALYZE pg_temp.store_difference");
        with_local_settings(results, {{"enable_mergejoin", "off"}}, [&] {
            deleted = static_cast<std::int64_t>(
                results
                    .exec0(fmt::format("DELETE FROM {} s USING pg_temp.store_difference d WHERE d.stored_rows > 0 AND "
                                       "hash_record_extended(ROW({}), 0) = hash_record_extended(ROW({}), 0) AND {}",
                                       table, grouped("s"), grouped("d"), fmt::join(same, " AND ")))
                    .affected_rows());
        });
        if (deleted != sums.number("gone")) {
            log_warn("{} held {} row(s) to replace where the proof's snapshot saw {}: rewritten whole", table, deleted,
                     sums.number("gone"));
            return rewrite();
        }
    }
    if (sums.number("coming") > 0) {
        results.exec0(fmt::format(
            "INSERT INTO {0} ({1}) SELECT {1} FROM pg_temp.store_difference CROSS JOIN generate_series(1, proved_rows)",
            table, fmt::join(names, ", ")));
    }
}

/// The rows of recon.proof_breaks, proof_defects and proof_duplicates from the proof's tables
/// (`where`: all of them, or " WHERE fresh").
std::string stored_breaks_sql(const char* where)
{
    return std::string(
               "SELECT txn_id::text AS txn_id, kind, currency, debits, credits, lines, debit_lines, "
               "credit_lines FROM pg_temp.proof_breaks") +
           where;
}

std::string stored_defects_sql(const char* where)
{
    return std::string(
               "SELECT line_id::text AS line_id, txn_id, account_code, side, amount, orphan, unknown_account, "
               "no_amount, no_currency, no_account, invalid_side, non_positive_amount FROM pg_temp.proof_defects") +
           where;
}

std::string stored_duplicates_sql(const char* where)
{
    return std::string(
               "SELECT source::text AS source, source_txn_id::text AS source_txn_id, n FROM pg_temp.proof_duplicates") +
           where;
}

/// A table of the stored proof and the rows a full proof replaces it with.
struct FullProofTable {
    std::string table;
    std::string rows;
    /// Whether `rows` read the ledger alone, no table of the snapshot's session: then the twin can
    /// digest them too.
    bool rows_read_ledger = false;
};

/// What a full proof stores.
std::vector<FullProofTable> full_proof_tables()
{
    return {
        {"recon.proof_groups", groups_to_store_sql("account, customer, currency", "pg_temp.proof_groups_new")},
        {"recon.proof_account_groups", groups_to_store_sql("account, currency", "pg_temp.proof_account_groups_new")},
        {"recon.proof_keys", "SELECT * FROM pg_temp.proof_keys_new"},
        {"recon.proof_wrong_sides", "SELECT * FROM pg_temp.proof_wrong_sides"},
        {"recon.proof_currencies", "SELECT * FROM pg_temp.proof_currencies_new"},
        {"recon.proof_breaks", stored_breaks_sql("")},
        {"recon.proof_defects", stored_defects_sql("")},
        {"recon.proof_duplicates", stored_duplicates_sql("")},
        {"recon.proof_open",
         fmt::format("SELECT txn_id::text AS txn_id, source::text AS source, source_txn_id::text AS source_txn_id "
                     "FROM contract.transactions WHERE NOT coalesce(status IN {}, false)",
                     booked_statuses_sql),
         true},
    };
}

/// What recon.proof_state records of a proof besides its version and watermark: read back as
/// stored, carried forward by an incremental run, written by the store.
struct ProofTotals {
    std::int64_t full_run_id = 0;  ///< 0: the run being proved
    std::string full_proof_at;
    std::string tail_from;
    std::string accounts_digest;
    /// What the contract's views the proof reads are (contract_digest_sql; "" when the stored
    /// proof predates it) and the session's time zone they were read in.
    std::string contract_digest;
    std::string time_zone;
    std::int64_t lines = 0;
    std::string lines_hash;
    std::int64_t transactions = 0;
    std::string transactions_hash;
    std::int64_t booked_transactions = 0;
    std::string max_line_id;  ///< the highest id seen ("" when ids have no usable order)
    std::string max_txn_id;
    /// The snapshots (snapshots_digest_sql) when a run last made sure none to replay falls inside
    /// a stored span, and that run's as-of ("" when none did).
    std::string snapshots_digest;
    std::string snapshots_as_of;
};

/// The stored proof as the snapshot sees it.
struct StoredProof {
    std::int64_t version = 0;
    std::string watermark;
    std::int64_t id_image = 0;  ///< the image of the ids its guard sums were made with
    ProofTotals totals;
    std::int64_t seconds_since_full = 0;
    std::int64_t watermark_age = 0;
    bool watermark_in_past = true;
    bool snapshots_as_of_passed = false;  ///< this run's as-of is at or after totals.snapshots_as_of
};

/// What this snapshot proved, and what the store writes.
struct Proved {
    ProofSummary summary;
    std::optional<StoredProof> base;  ///< the stored proof an incremental run extended (or replaced)
    std::string as_of;
    ProofTotals totals;
    bool stored_in_snapshot = false;            ///< ProofRequest::stored_in_snapshot
    std::shared_ptr<TwinDigests> twin_digests;  ///< what the twin digests for the store, if anything
};

std::optional<StoredProof> read_stored(pqxx::transaction_base& txn, const std::string& as_of)
{
    const auto rows = txn.exec_params(R"sql(
SELECT version, watermark, id_image, full_run_id, full_proof_at::text AS full_proof_at, tail_from::text AS tail_from,
       accounts_digest, coalesce(contract_digest, '') AS contract_digest, coalesce(time_zone, '') AS time_zone,
       lines, lines_hash::text AS lines_hash, transactions, transactions_hash::text AS transactions_hash,
       booked_transactions, max_line_id, max_txn_id, snapshots_digest, coalesce(snapshots_as_of::text, '') AS snapshots_as_of,
       coalesce(snapshots_as_of <= $1::timestamptz, false) AS snapshots_as_of_passed,
       floor(extract(epoch FROM ($1::timestamptz - full_proof_at)))::bigint AS seconds_since_full,
       age((pg_snapshot_xmin(watermark::pg_snapshot)::text::numeric % 4294967296)::text::xid)::bigint AS watermark_age,
       pg_snapshot_xmax(watermark::pg_snapshot) <= pg_snapshot_xmax(pg_current_snapshot()) AS watermark_in_past
FROM recon.proof_state WHERE id = 1
)sql",
                                      as_of);
    if (rows.empty()) return std::nullopt;
    const NamedRow row(rows[0]);
    return StoredProof{.version = row.number("version"),
                       .watermark = row.text("watermark"),
                       .id_image = row.number("id_image"),
                       .totals = {.full_run_id = row.number("full_run_id"),
                                  .full_proof_at = row.text("full_proof_at"),
                                  .tail_from = row.text("tail_from"),
                                  .accounts_digest = row.text("accounts_digest"),
                                  .contract_digest = row.text("contract_digest"),
                                  .time_zone = row.text("time_zone"),
                                  .lines = row.number("lines"),
                                  .lines_hash = row.text("lines_hash"),
                                  .transactions = row.number("transactions"),
                                  .transactions_hash = row.text("transactions_hash"),
                                  .booked_transactions = row.number("booked_transactions"),
                                  .max_line_id = row.text("max_line_id"),
                                  .max_txn_id = row.text("max_txn_id"),
                                  .snapshots_digest = row.text("snapshots_digest"),
                                  .snapshots_as_of = row.text("snapshots_as_of")},
                       .seconds_since_full = row.number("seconds_since_full"),
                       .watermark_age = row.number("watermark_age"),
                       .watermark_in_past = row.flag("watermark_in_past"),
                       .snapshots_as_of_passed = row.flag("snapshots_as_of_passed")};
}

/// The fence of a stored watermark (see Fence), listed when few enough ids may have committed
/// since and the server hashes constant lists.
Fence fence_of(pqxx::transaction_base& txn, const std::string& watermark)
{
    const NamedRow row(txn.exec_params1(R"sql(
WITH f AS (
    SELECT s, b, pg_snapshot_xmax(s)::text::bigint AS xmax,
           pg_snapshot_xmax(s)::text::bigint - pg_snapshot_xmin(s)::text::bigint AS span,
           pg_snapshot_xmax(pg_current_snapshot())::text::bigint - pg_snapshot_xmin(s)::text::bigint AS now
    FROM (SELECT $1::pg_snapshot AS s, pg_snapshot_xmin($1::pg_snapshot)::text::bigint % 4294967296 AS b) w
)
SELECT '{' || concat_ws(',', b, span, now, (4294967296 - b) % 4294967296, (4294967297 - b) % 4294967296,
                        (4294967298 - b) % 4294967296,
                        (SELECT string_agg(((x::text::bigint % 4294967296 - b + 4294967296) % 4294967296)::text, ',')
                         FROM pg_snapshot_xip(s) x)) || '}' AS numbers,
       CASE WHEN current_setting('server_version_num')::int >= 140000 AND now - span <= $2::bigint THEN
           '{' || coalesce((SELECT string_agg(id::text, ',')
                            FROM (SELECT x::text::bigint % 4294967296 AS id FROM pg_snapshot_xip(s) x
                                  UNION ALL
                                  SELECT (xmax + o) % 4294967296 FROM generate_series(0, now - span - 1) o) ids
                            WHERE id > 2), '') || '}'
       END AS listed
FROM f
)sql",
                                        watermark, max_listed_xids));
    if (row.is_null("listed")) return Fence{.listed = false, .parameter = row.text("numbers")};
    return Fence{.listed = true, .parameter = row.text("listed")};
}

/// The run's watermark: its snapshot as a pg_snapshot text naming every transaction id whose
/// rows it could not see, the in-progress transactions' subtransactions included (see
/// SnapshotXids). The ids in doubt (up to max_asked_in_doubt; past that, or when rows do not
/// name their xmin, xmax is lowered to the first of them) are asked about now, after the snapshot:
/// one still in progress (or too old to tell) is listed; an aborted one never has visible rows;
/// a committed one did before the snapshot unless it is above a transaction in progress then
/// that has ended since (asked after the statuses). Those few are settled by the rows the
/// snapshot sees in every view a fence reads (lines, transactions, and wallets when they name
/// their xmin), one hashed lookup of each row's xmin as the guards do: an id a seen row carries
/// is not listed (a wallet-only one listed would have its wallet compared again next run), and
/// listing one no seen row carries changes nothing. Past
/// max_doubtful_listed listed that way (the watermark is printed and stored), xmax is lowered to
/// the next: rows seen above it then count as unseen, the next run's guards find fewer seen rows
/// than were stored, and it proves in full.
constexpr std::int64_t max_doubtful_listed = 1000;
/// Asking costs about 1.5 µs an id (1.5 s for a million at 10M lines, stop 31): while a session
/// holds an id open across that many, each run pays that, not a full proof (90 s there). Twice
/// what the snapshot asks as it is taken, so a span between the two is asked here.
constexpr std::int64_t max_asked_in_doubt = 2000000;

std::string watermark_of(pqxx::transaction_base& txn, const SnapshotXids& xids, bool row_xmin_usable,
                         bool wallets_name_row_xmin)
{
    std::set<std::int64_t> unseen(xids.running.begin(), xids.running.end());
    unseen.insert(xids.subtransactions.begin(), xids.subtransactions.end());
    std::vector<std::int64_t> doubtful;
    for (std::int64_t id = xids.doubt_from; id < xids.xmax; ++id) {
        if (unseen.count(id) == 0) doubtful.push_back(id);
        if (std::ssize(doubtful) > max_asked_in_doubt) break;
    }
    std::int64_t xmax = xids.xmax;
    if (!doubtful.empty() && (!row_xmin_usable || std::ssize(doubtful) > max_asked_in_doubt)) {
        xmax = doubtful.front();
    } else if (!doubtful.empty()) {
        const auto settled = settle_in_doubt(txn, xids, doubtful);
        unseen.insert(settled.unseen.begin(), settled.unseen.end());
        const auto& settled_by_rows = settled.committed_since;
        std::set<std::int64_t> seen;  // as 32-bit xids, which row_xmin is
        if (!settled_by_rows.empty()) {
            std::vector<std::int64_t> xids32;
            for (const auto id : settled_by_rows) xids32.push_back(id % 4294967296);
            const char* const wallets =
                "\n    UNION\n    SELECT w.row_xmin FROM contract.wallets w WHERE w.row_xmin = ANY ($1::xid[]) "
                "GROUP BY w.row_xmin";
            const auto rows = txn.exec_params(fmt::format(R"sql(
SELECT id::text AS id FROM (
    SELECT l.row_xmin AS id FROM contract.journal_lines l WHERE l.row_xmin = ANY ($1::xid[]) GROUP BY l.row_xmin
    UNION
    SELECT t.row_xmin FROM contract.transactions t WHERE t.row_xmin = ANY ($1::xid[]) GROUP BY t.row_xmin{}
) ids
)sql",
                                                          wallets_name_row_xmin ? wallets : ""),
                                              fmt::format("{{{}}}", fmt::join(xids32, ",")));
            for (const auto& row : rows) seen.insert(row["id"].as<std::int64_t>());
        }
        std::int64_t listed = 0;
        for (const auto id : settled_by_rows) {
            if (seen.count(id % 4294967296) != 0) continue;
            if (++listed > max_doubtful_listed) {
                xmax = id;
                break;
            }
            unseen.insert(id);
        }
    }
    unseen.erase(unseen.lower_bound(xmax), unseen.end());
    return fmt::format("{}:{}:{}", xids.xmin, xmax, fmt::join(unseen, ","));
}

/// What a guard query found of a table.
struct Guard {
    std::int64_t rows = 0;
    std::int64_t known = 0;          ///< rows that name their xmin
    std::string hash = "0";          ///< the sum of every row's id image
    std::int64_t fresh = 0;          ///< rows newer than the fence
    std::int64_t fresh_orphans = 0;  ///< newer journal lines without a transaction id
};

Guard guard_of(const pqxx::row& result_row)
{
    const NamedRow row(result_row);
    return Guard{.rows = row.number("n"),
                 .known = row.number("known"),
                 .hash = row.text("hash"),
                 .fresh = row.number("fresh"),
                 .fresh_orphans = row.number("fresh_orphans")};
}

/// The newer rows a search found: how many and the sum of their id images (the same on every
/// row of its result; none found when it has none).
struct Found {
    std::int64_t rows = 0;
    std::string hash = "0";
};

Found found_of(const pqxx::result& rows)
{
    if (rows.empty()) return {};
    const NamedRow row(rows[0]);
    return Found{.rows = row.number("found"), .hash = row.text("hash")};
}

/// The txn_id column of `rows` as a text array literal, for ids_in_sql.
std::string txn_ids_of(const pqxx::result& rows)
{
    std::vector<std::string> ids;
    for (const auto& row : rows) {
        if (!row["txn_id"].is_null()) ids.push_back(row["txn_id"].as<std::string>());
    }
    return text_array_literal(ids);
}

/// Why the old rows of a guarded table fail its guard: `now` of them (`what`: "journal lines" or
/// "transaction rows", each a `row`) are left where the stored proof saw `then`, of which
/// `replaced` open transaction rows were replaced by newer versions (the one change a
/// transaction row may make, `note`). True whichever way they differ: fewer (updated or deleted),
/// more (an old row listed again: a view joining another table lists a row once per match), or
/// as many but not the same ones.
std::string old_rows_reason(const char* what, const char* row, std::int64_t now, std::int64_t then,
                            std::int64_t replaced = 0, const char* note = "")
{
    const std::string committed = fmt::format("{} committed before the stored proof changed", what);
    const std::string less =
        replaced > 0 ? fmt::format(", and {} open one(s) were replaced by newer versions", replaced) : "";
    if (now < then - replaced) {
        return fmt::format("{}: {} of its {} remain as they were{} (an old {} was updated or deleted{})", committed,
                           now, then, less, row, note);
    }
    if (now > then - replaced) {
        return fmt::format(
            "{}: {} are listed where it saw {}{} (an old {} is listed again, or was given back an "
            "old row version)",
            committed, now, then, less, row);
    }
    return fmt::format(
        "{}: as many are listed as it saw ({}{}), but not the same ones (an old {} was updated or deleted and "
        "another listed in its place{})",
        committed, then, less, row, note);
}

/// How the proof sums a table's ids for its guards: a 64-bit hash of each id (of the number when
/// ids are integers, else of its text), whose sums no arithmetic on ids cancels (the ids
/// themselves did: two rows listed again with ids 3 and 4, two deleted with 2 and 5, passed);
/// whether ids have an order an index range can use. recon.proof_state.id_image names the image
/// a stored proof's sums were made with (current_id_image).
struct IdImages {
    std::string line_image;
    std::string txn_image;
    std::string changed_image;  ///< txn_image of pg_temp.proof_changed, whose ids may be text
    bool lines_ordered = false;
    bool txns_ordered = false;
};

class ProofBuilder {
public:
    explicit ProofBuilder(CheckContext& context) : m_context(context), m_txn(context.ledger()) {}

    Proof build()
    {
        Proof proof;
        if (!m_txn.exec_params1("SELECT to_regclass('pg_temp.proof_mode') IS NOT NULL AS ready")["ready"].as<bool>()) {
            return proof;  // a standby: no temporary tables
        }
        const ProofRequest& request = m_context.snapshot().proof_request();
        m_txn.exec0(proof_settings_sql);
        m_proved.as_of = format_utc(m_context.as_of());
        m_proved.stored_in_snapshot = request.stored_in_snapshot;
        const NamedRow now(m_txn.exec_params1(R"sql(
SELECT (SELECT md5(coalesce(string_agg(a::text, E'\n' ORDER BY a::text), '')) FROM contract.accounts a) AS accounts_digest,
       (SELECT string_agg(CASE WHEN a.atttypid IS NULL THEN v.name || ' has no row_xmin column'
                               ELSE v.name || '.row_xmin is of type ' || format_type(a.atttypid, a.atttypmod) ||
                                    ', not xid (the row''s own xmin)'
                          END, '; ' ORDER BY v.name)
        FROM (VALUES ('contract.journal_lines'), ('contract.transactions')) v(name)
        LEFT JOIN pg_attribute a ON a.attrelid = v.name::regclass AND a.attname = 'row_xmin' AND NOT a.attisdropped
        WHERE a.atttypid IS DISTINCT FROM 'xid'::regtype) AS row_xmin_unusable,
       ($1::timestamptz - $2::interval)::text AS tail_from,
       to_regclass('contract.balance_snapshots') IS NOT NULL AS has_snapshots, current_setting('TimeZone') AS time_zone,
       )sql" + contract_digest_sql + " AS contract_digest, " +
                                                  names_row_xmin_sql("contract.wallets") + " AS wallets_name_row_xmin",
                                              m_proved.as_of, std::string(tail_interval)));
        const auto& xids = m_context.snapshot().snapshot_xids();
        if (!xids) throw std::logic_error("a proof's snapshot did not read its transaction ids");
        // Which rows are newer is told by their xmin, compared as type xid: of another type
        // (a number, text) it cannot be, and every run proves in full, saying why.
        const auto row_xmin_unusable = now.optional_text("row_xmin_unusable");
        m_wallets_name_row_xmin = now.flag("wallets_name_row_xmin");
        m_proved.summary.watermark = watermark_of(m_txn, *xids, !row_xmin_unusable, m_wallets_name_row_xmin);
        m_proved.totals.accounts_digest = now.text("accounts_digest");
        m_proved.totals.contract_digest = now.text("contract_digest");
        m_proved.totals.time_zone = now.text("time_zone");
        m_has_snapshots = now.flag("has_snapshots");
        m_ids = id_images();
        const auto stored = read_stored(m_txn, m_proved.as_of);
        std::string reason = full_reason(request, stored, row_xmin_unusable);
        // A scheduled full proof first extends the stored proof as any run would, to compare.
        const bool scheduled =
            reason.rfind(scheduled_reason, 0) == 0 && stored && read_otherwise(*stored).empty() && !row_xmin_unusable;
        bool compare = false;
        if (reason.empty() || scheduled) {
            const std::string why_not = try_incremental(*stored);
            if (reason.empty()) reason = why_not;
            compare = scheduled && why_not.empty();
            if (compare) m_txn.exec_params0(drift_record_sql, "incremental");
        }
        if (!reason.empty()) prove_in_full(reason, now.text("tail_from"), stored);
        if (compare) record_drift(proof);
        // The checks join the proof with CTEs whose sizes the planner can only guess (the chosen
        // snapshots: 1 or 677 estimated, 10,209 and 102,045 read at 1M and 10M lines). On such a
        // guess it sorts the proof's text keys for a merge join (1.3 s of snapshot_reconcile's
        // 3.2 s, issue 16) or nests loops over CTEs of thousands of rows (5 to 30 s instead of
        // 0.3 s at 1M lines), where a hash join reads each side once.
        m_txn.exec0("SET LOCAL enable_mergejoin = off; SET LOCAL enable_nestloop = off");
        finish(proof);
        return proof;
    }

private:
    /// `sql` with its transaction-id comparisons cast as this ledger needs.
    std::string ids(const std::string& sql) { return ids_sql(m_context, sql); }

    /// The id images and orders of this contract's journal lines and transactions.
    IdImages id_images()
    {
        IdImages ids{.line_image = "hashtextextended(l.line_id::text, 0)",
                     .txn_image = "hashtextextended(t.txn_id::text, 0)",
                     .changed_image = "hashtextextended(t.txn_id::text, 0)"};
        const auto rows = m_txn.exec_params(R"sql(
SELECT c.relname AS view, format_type(a.atttypid, a.atttypmod) AS type
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'contract' AND ((c.relname = 'journal_lines' AND a.attname = 'line_id')
                                  OR (c.relname = 'transactions' AND a.attname = 'txn_id'))
)sql");
        for (const auto& result_row : rows) {
            const NamedRow row(result_row);
            const std::string type = row.text("type");
            // An integer is hashed as one (hashint8extended: no text made per row), a numeric as
            // its text.
            const bool integer = type == "bigint" || type == "integer" || type == "smallint";
            const bool ordered = integer || type.rfind("numeric", 0) == 0 || type == "text" ||
                                 type.rfind("character varying", 0) == 0 || type == "uuid";
            if (row.text("view") == "journal_lines") {
                if (integer) ids.line_image = "hashint8extended(l.line_id::bigint, 0)";
                ids.lines_ordered = ordered;
            } else {
                if (integer) {
                    ids.txn_image = "hashint8extended(t.txn_id::bigint, 0)";
                    ids.changed_image = "hashint8extended(t.txn_id::text::bigint, 0)";
                }
                ids.txns_ordered = ordered;
            }
        }
        return ids;
    }

    std::string current_snapshots_digest()
    {
        return m_txn.exec_params1(snapshots_digest_sql, m_context.settings().snapshot_window_days)
            .at("digest")
            .as<std::string>();
    }

    /// The highest line and transaction ids of the snapshot, where ids have an order.
    void record_max_ids()
    {
        const NamedRow row(m_txn.exec_params1(fmt::format(
            "SELECT {} AS max_line_id, {} AS max_txn_id",
            m_ids.lines_ordered
                ? "coalesce((SELECT l.line_id::text FROM contract.journal_lines l ORDER BY l.line_id DESC LIMIT 1), '')"
                : "''",
            m_ids.txns_ordered
                ? "coalesce((SELECT t.txn_id::text FROM contract.transactions t ORDER BY t.txn_id DESC LIMIT 1), '')"
                : "''")));
        m_proved.totals.max_line_id = row.text("max_line_id");
        m_proved.totals.max_txn_id = row.text("max_txn_id");
    }

    std::string full_reason(const ProofRequest& request, const std::optional<StoredProof>& stored,
                            const std::optional<std::string>& row_xmin_unusable) const
    {
        if (!request.store) return "checks run without a stored proof";
        if (request.force_full) return "requested (--full)";
        if (!stored) return "no stored proof yet";
        if (row_xmin_unusable) return *row_xmin_unusable;
        if (request.stored_version && stored->version < *request.stored_version) {
            return fmt::format("the stored proof this snapshot sees (run {}) is older than the primary's (run {})",
                               stored->version, *request.stored_version);
        }
        if (stored->id_image != current_id_image) {
            return fmt::format(
                "the stored proof's guard sums are of another image of the ids (image {}, this version's {}): "
                "proved in full once to store them anew",
                stored->id_image, current_id_image);
        }
        if (stored->seconds_since_full >= request.full_interval_seconds) {
            return fmt::format("{}the last full proof (run {}) is {} s old, RECON_FULL_PROOF_INTERVAL_SECONDS is {}",
                               scheduled_reason, stored->totals.full_run_id, stored->seconds_since_full,
                               request.full_interval_seconds);
        }
        if (auto otherwise = read_otherwise(*stored); !otherwise.empty()) return otherwise;
        if (!stored->watermark_in_past || stored->watermark_age < 0 || stored->watermark_age > max_watermark_age) {
            return fmt::format(
                "the stored proof's snapshot is {} transaction ids old: too close to wraparound to "
                "compare row versions",
                stored->watermark_age);
        }
        return {};
    }

    /// Why the stored proof's rows meant something else than this run's would, row versions
    /// aside ("" when they mean the same): another chart of accounts, contract views redefined
    /// (a view changes what its rows say without changing any row's xmin), or another session
    /// time zone (a `timestamp` or `date` of the contract is read in it).
    std::string read_otherwise(const StoredProof& stored) const
    {
        if (stored.totals.accounts_digest != m_proved.totals.accounts_digest) return "the chart of accounts changed";
        if (stored.totals.contract_digest.empty()) {
            return "the stored proof does not record the definitions of the contract views it read (stored by an "
                   "earlier version): proved in full once to record them";
        }
        if (stored.totals.contract_digest != m_proved.totals.contract_digest) {
            return fmt::format("a contract view the proof reads ({}) was redefined since the stored proof (run {})",
                               fmt::join(contract_views_read, ", "), stored.version);
        }
        if (stored.totals.time_zone != m_proved.totals.time_zone) {
            return fmt::format(
                "the session's time zone is {}, the stored proof's (run {}) was {}: a timestamp or date without a "
                "zone is read in it (set TimeZone on the ledger's database, not in a client's environment)",
                m_proved.totals.time_zone, stored.version, stored.totals.time_zone);
        }
        return {};
    }

    /// Extends the stored proof; returns why it cannot (the run then proves in full).
    std::string try_incremental(const StoredProof& stored)
    {
        const Fence fence = fence_of(m_txn, stored.watermark);
        const auto fenced = [&](const std::string& sql, auto&&... more) {
            return m_txn.exec_params(ids(sql), fence.parameter, std::forward<decltype(more)>(more)...);
        };
        m_txn.exec0("INSERT INTO pg_temp.proof_mode VALUES (true)");
        const Guard lines = guard_of(fenced(guard_sql(fence, "contract.journal_lines", "l", m_ids.line_image)).at(0));
        const Guard txns = guard_of(fenced(guard_sql(fence, "contract.transactions", "t", m_ids.txn_image)).at(0));
        if (lines.known != lines.rows || txns.known != txns.rows) {
            return "some journal lines or transactions have no row_xmin, so which are newer cannot be told";
        }
        // Newer rows are looked for above the highest id the stored proof saw first (an index
        // range); when that finds fewer than the guard counted, in the whole table.
        const auto search = [&](const std::string& sql, const std::string& max_id, std::int64_t fresh, auto&&... more) {
            if (fresh == 0) return pqxx::result{};
            const char* above = max_id.empty() ? nullptr : max_id.c_str();
            auto rows = fenced(sql, above, max_id.empty(), more...);
            if (found_of(rows).rows != fresh) rows = fenced(sql, above, true, more...);
            return rows;
        };
        const auto touched = search(fresh_lines_sql(fence, m_ids.line_image), stored.totals.max_line_id, lines.fresh);
        // Transactions are looked for above the highest id alone first: the open ones the stored
        // proof follows (an index search each, 0.05-0.16 s for 2,969 at 10M lines) are searched
        // too only when some newer rows are not there, i.e. rows changed in place.
        const std::string fresh_transactions = fresh_transactions_sql(fence, m_ids.txn_image);
        pqxx::result changed;
        if (txns.fresh > 0 && !stored.totals.max_txn_id.empty()) {
            changed = fenced(fresh_transactions, stored.totals.max_txn_id, false, false);
        }
        if (found_of(changed).rows != txns.fresh) {
            changed = search(fresh_transactions, stored.totals.max_txn_id, txns.fresh, true);
        }
        const Found new_lines = found_of(touched);
        const Found new_txns = found_of(changed);
        if (new_lines.rows != lines.fresh || new_txns.rows != txns.fresh) {
            return fmt::format("{} newer journal lines and {} newer transactions counted, {} and {} found", lines.fresh,
                               txns.fresh, new_lines.rows, new_txns.rows);
        }
        // What the stored proof saw: every row now but the newer ones.
        const NamedRow old(m_txn.exec_params1(
            "SELECT ($1::numeric - $2::numeric)::text AS lines_hash, ($3::numeric - $4::numeric)::text AS txns_hash",
            lines.hash, new_lines.hash, txns.hash, new_txns.hash));
        const std::int64_t old_lines = lines.rows - lines.fresh;
        if (old_lines != stored.totals.lines || old.text("lines_hash") != stored.totals.lines_hash) {
            return old_rows_reason("journal lines", "line", old_lines, stored.totals.lines);
        }
        if (!touched.empty()) {
            m_txn.exec_params0("INSERT INTO pg_temp.proof_touched " + ids_in_sql("proof_touched", 1),
                               txn_ids_of(touched));
        }
        if (!changed.empty()) fenced(changed_transactions_sql(fence), txn_ids_of(changed));
        // Old rows may vanish only as open rows replaced by newer ones of their ids: what vanished
        // (stored less old rows now, count and image sum) must be exactly those.
        const NamedRow replaced(fenced(vanished_open_sql(fence, m_ids.changed_image)).at(0));
        const std::int64_t old_txns = txns.rows - txns.fresh;
        const std::int64_t vanished = stored.totals.transactions - old_txns;
        const bool same_ids =
            NamedRow(m_txn.exec_params1("SELECT $1::numeric - $2::numeric = $3::numeric AS same",
                                        stored.totals.transactions_hash, old.text("txns_hash"), replaced.text("hash")))
                .flag("same");
        if (vanished != replaced.number("n") || !same_ids) {
            return old_rows_reason("transaction rows", "row", old_txns, stored.totals.transactions,
                                   std::max<std::int64_t>(replaced.number("n"), 0),
                                   "; only open transactions are followed");
        }
        if (!changed.empty()) m_txn.exec0(ids(open_rows_sql));
        const auto touched_count = static_cast<std::int64_t>(fenced(touched_transactions_sql(fence)).affected_rows());
        if (touched_count > max_touched_transactions) {
            return fmt::format("{} transactions touched since the stored proof: more than {} are proved in full",
                               touched_count, max_touched_transactions);
        }
        // Only a run that replays snapshots needs them outside the stored spans: one that does not
        // extends the proof all the same, and the next that does looks, unless nothing that
        // decides which snapshots are replayed changed since a run last looked.
        std::optional<std::string> snapshots_digest;
        if (m_has_snapshots && m_context.snapshot().proof_request().replays_snapshots) {
            snapshots_digest = current_snapshots_digest();
            if (*snapshots_digest != stored.totals.snapshots_digest || !stored.snapshots_as_of_passed) {
                const auto straddled = m_txn.exec_params(straddled_snapshot_sql,
                                                         m_context.settings().snapshot_window_days, m_proved.as_of);
                if (!straddled.empty()) {
                    const NamedRow row(straddled[0]);
                    return fmt::format("snapshot {} as of {} falls inside a span of the stored proof",
                                       row.text("snapshot_id"), row.text("as_of"));
                }
            }
        }
        fenced(touched_lines_cte(fence) + delta_groups_sql);
        m_txn.exec0(account_groups_sql);
        m_txn.exec0(keys_sql);
        m_txn.exec0(wrong_sides_sql);
        m_txn.exec0(carried_wrong_sides_sql);
        fenced(touched_lines_cte(fence) + delta_currencies_sql);
        m_txn.exec0(ids(touched_breaks_sql));
        m_txn.exec0(carried_defects_sql);
        m_txn.exec0(ids(defects_sql("l.txn_id::txnid IN (SELECT txn_id::txnid FROM pg_temp.proof_txns)")));
        if (lines.fresh_orphans > 0) fenced(defects_sql("l.txn_id IS NULL AND " + fence.test("l.row_xmin")));
        if (txns.fresh > 0) {
            m_txn.exec0(touched_duplicates_sql);
        } else {
            m_txn.exec0(R"sql(
INSERT INTO pg_temp.proof_duplicates
SELECT (jsonb_populate_record(NULL::pg_temp.proof_duplicates, to_jsonb(s) || '{"fresh": false}')).*
FROM recon.proof_duplicates s
)sql");
        }
        const auto booked_change =
            m_txn
                .exec_params1(
                    "SELECT coalesce(sum(booked_now::int - booked_then::int), 0)::bigint AS n FROM pg_temp.proof_txns")
                .at("n")
                .as<std::int64_t>();
        m_proved.summary.kind = ProofKind::incremental;
        m_proved.summary.since_run_id = stored.version;
        m_proved.summary.lines_read = lines.fresh;
        m_proved.summary.transactions_touched = touched_count;
        m_proved.base = stored;
        // What the stored proof recorded carries forward (the last full proof, the tail, the
        // highest ids); the counts and hashes are this snapshot's.
        m_proved.totals = stored.totals;
        m_proved.totals.lines = lines.rows;
        m_proved.totals.lines_hash = lines.hash;
        m_proved.totals.transactions = txns.rows;
        m_proved.totals.transactions_hash = txns.hash;
        m_proved.totals.booked_transactions += booked_change;
        if (snapshots_digest) {
            m_proved.totals.snapshots_digest = *snapshots_digest;
            m_proved.totals.snapshots_as_of = m_proved.as_of;
        }
        if (lines.fresh > 0 || txns.fresh > 0) record_max_ids();
        return {};
    }

    /// The digests of what a full proof replaces that the twin can make while the checks run
    /// (the store compares them after the checks, on one core, about 0.5 s at 10M lines; stop
    /// 43): every stored table's, and the proved rows' that read the ledger alone. None when the
    /// proof is not stored in the snapshot's database.
    std::vector<std::string> store_digest_sqls()
    {
        std::vector<std::string> sqls;
        if (!m_context.snapshot().proof_request().store || !m_proved.stored_in_snapshot) return sqls;
        for (const auto& stored : full_proof_tables()) {
            const StoredShape shape(m_txn, stored.table);
            sqls.push_back(shape.digest_sql(stored.table));
            if (stored.rows_read_ledger) sqls.push_back(shape.digest_sql(shape.proved_rows(stored.rows)));
        }
        return sqls;
    }

    void prove_in_full(const std::string& reason, const std::string& tail_from,
                       const std::optional<StoredProof>& stored)
    {
        // Whatever an abandoned incremental attempt wrote is dropped first.
        for (const char* table :
             {"proof_mode", "proof_cutoffs", "proof_groups_new", "proof_account_groups_new", "proof_currencies_new",
              "proof_touched", "proof_changed", "proof_open_new", "proof_txns", "proof_keys_new", "proof_wrong_sides",
              "proof_breaks", "proof_classes", "proof_listed_currencies", "proof_defects", "proof_source_keys",
              "proof_duplicates"}) {
            m_txn.exec0(fmt::format("DELETE FROM pg_temp.{}", table));
        }
        m_txn.exec_params0("INSERT INTO pg_temp.proof_mode VALUES (false, $1::timestamptz)", tail_from);
        m_txn.exec_params0(full_cutoffs_sql(m_has_snapshots), m_context.settings().snapshot_window_days, m_proved.as_of,
                           tail_from);
        const NamedRow shared(m_txn.exec_params1(shared_bounds_sql, tail_from));
        const std::string classes_sql = ids(full_classes_sql(m_ids.line_image, m_ids.txn_image));
        const std::string repeated_sql = ids(repeated_ids_sql(m_ids.line_image));
        const bool ids_unique = transaction_ids_unique(m_txn);
        const Settings pass_settings = journal_pass_settings(m_txn);
        std::shared_ptr<WorkBeside> beside;
        if (auto twin = m_context.snapshot().twin()) {
            std::vector<WorkBeside::Table> tables = {
                {"proof_beside", classes_sql, sorted_by_transaction + pass_settings},
                {"proof_beside_keys", ids(source_keys_grouping_sql)}};
            if (!ids_unique) tables.push_back({"proof_beside_repeated", repeated_sql});
            beside = std::make_shared<WorkBeside>(std::move(twin));
            beside->send(tables);
        }
        if (shared.number("n") <= max_shared_bounds) {
            make_proof_groups(m_txn, pass_settings, ids(full_groups_sql(true)), tail_from, shared.text("bounds"));
        } else {
            with_local_settings(m_txn, pass_settings, [&] {
                m_txn.exec_params0(fmt::format("INSERT INTO {} {}", groups_table, ids(full_groups_sql(false))),
                                   tail_from);
            });
        }
        m_txn.exec0(account_groups_sql);
        m_txn.exec0(full_keys_sql);
        m_txn.exec0(wrong_sides_sql);
        if (beside) {
            beside->wait(m_txn);
            beside->copy("SELECT * FROM pg_temp.proof_beside", m_txn, "pg_temp.proof_classes");
        } else {
            insert_grouped(m_txn,
                           "pg_temp.proof_classes (listed, txn_id, currency, split, members, counted, "
                           "booked_transactions, lines, debit_lines, credit_lines, lines_hash, transactions, "
                           "transactions_hash, suspect_lines)",
                           pass_settings, classes_sql);
        }
        // The listed transactions, counted first so the planner knows how few they are: an index
        // search each where the journal has one, one hash of it where it has none (searches
        // forced one by one compared each listed transaction with every line, stop 41).
        m_txn.exec0("ANALYZE pg_temp.proof_classes");
        m_txn.exec0(ids(listed_breaks_sql));
        const NamedRow totals(m_txn.exec_params1(classes_totals_sql));
        // Lines are listed only when the grouping counted some that break a rule (rare).
        if (totals.number("suspect_lines") > 0) m_txn.exec0(ids(defects_sql("true")));
        if (beside) {
            beside->copy(ids(duplicates_of("pg_temp.proof_beside_keys")), m_txn, "pg_temp.proof_duplicates");
            beside->copy(ids(unknown_statuses_of("pg_temp.proof_beside_keys")), m_txn, "pg_temp.proof_breaks");
        } else {
            m_txn.exec0(ids(full_duplicates_sql));
        }
        m_proved.summary.kind = ProofKind::full;
        m_proved.summary.reason = reason;
        m_proved.summary.since_run_id.reset();
        m_proved.summary.transactions_touched = 0;
        // What the pass counted more than once: nothing where the ids are unique.
        std::int64_t repeated_lines = 0;
        std::string repeated_hash = "0";
        if (!ids_unique) {
            const NamedRow repeated(beside ? beside->row("SELECT * FROM pg_temp.proof_beside_repeated")
                                           : m_txn.exec_params1(repeated_sql));
            repeated_lines = repeated.number("lines");
            repeated_hash = repeated.text("hash");
        }
        if (beside) {
            // Sent now, the store's digests run beside the checks, on the core their one session
            // leaves idle (they ran beside the grouping before, stop 44).
            if (auto digests = store_digest_sqls(); !digests.empty()) {
                m_proved.twin_digests = std::make_shared<TwinDigests>(std::move(beside), std::move(digests));
            }
            beside.reset();
        }
        const std::int64_t lines = totals.number("lines") - repeated_lines;
        m_proved.summary.lines_read = lines;
        m_proved.base = stored;
        m_proved.totals.tail_from = tail_from;
        m_proved.totals.full_proof_at = m_proved.as_of;
        m_proved.totals.full_run_id = 0;
        m_proved.totals.lines = lines;
        m_proved.totals.lines_hash =
            NamedRow(m_txn.exec_params1("SELECT ($1::numeric - $2::numeric)::text AS lines_hash",
                                        totals.text("lines_hash"), repeated_hash))
                .text("lines_hash");
        m_proved.totals.transactions = totals.number("transactions");
        m_proved.totals.transactions_hash = totals.text("transactions_hash");
        m_proved.totals.booked_transactions = totals.number("booked_transactions");
        // Its spans are laid around the snapshots chosen now.
        m_proved.totals.snapshots_digest = m_has_snapshots ? current_snapshots_digest() : std::string();
        m_proved.totals.snapshots_as_of = m_has_snapshots ? m_proved.as_of : std::string();
        record_max_ids();
    }

    /// Compares the full proof just made with the incremental one recorded before it.
    void record_drift(Proof& proof)
    {
        m_txn.exec_params0(drift_record_sql, "full");
        for (const auto& result_row : m_txn.exec_params(drift_sql)) {
            const NamedRow row(result_row);
            const auto text_or_null = [&](const char* column) {
                return row.is_null(column) ? nlohmann::json(nullptr) : nlohmann::json(row.text(column));
            };
            Variance variance{.kind = "incremental_drift",
                              .keys = {{"part", row.text("part")}, {"key", row.text("key")}}};
            variance.detail = {{"incremental", text_or_null("incremental")}, {"full", text_or_null("full")}};
            proof.drift.push_back(std::move(variance));
        }
        if (!proof.drift.empty()) {
            log_warn("the scheduled full proof of book {} differs from the incremental one in {} place(s)",
                     m_context.book(), proof.drift.size());
        }
    }

    void finish(Proof& proof)
    {
        proof.available = true;
        proof.booked_transactions = m_proved.totals.booked_transactions;
        proof.lines = m_proved.totals.lines;
        proof.transactions = m_proved.totals.transactions;
        proof.full_run_id = m_proved.totals.full_run_id;
        proof.wallets_name_row_xmin = m_wallets_name_row_xmin;
        proof.suspect_lines =
            m_txn.exec_params1("SELECT count(*) AS n FROM pg_temp.proof_defects")["n"].as<std::int64_t>();
        ProofStore store;
        if (m_context.snapshot().proof_request().store) {
            store = [proved = m_proved, &snapshot = m_txn](pqxx::transaction_base& results, std::int64_t run_id) {
                return store_proof(proved, snapshot, results, run_id);
            };
        }
        m_context.snapshot().set_proof(m_proved.summary, std::move(store));
    }

    static bool store_proof(const Proved& proved, pqxx::transaction_base& snapshot, pqxx::transaction_base& results,
                            std::int64_t run_id);

    CheckContext& m_context;
    pqxx::transaction_base& m_txn;
    Proved m_proved;
    bool m_has_snapshots = false;
    bool m_wallets_name_row_xmin = false;
    IdImages m_ids;
};

/// Where a check keeps its verdicts per key with the proof, and where this snapshot holds them.
struct StoredVerdicts {
    const char* keys_table;    ///< one row per key
    const char* breaks_table;  ///< the breaks, by key
    const char* key_column;    ///< the key column of both, and its type
    const char* key_type;
    const char* compared_sql;  ///< the keys the check compared this time (when not every key)
    const char* new_keys_sql;  ///< their rows, and their breaks
    const char* new_breaks_sql;
};

/// Replaces a check's stored verdicts with this snapshot's: every key's when it compared every
/// key, else those of the keys it compared. Those are few against every stored key, so each is
/// found by the keys' index (a hash join read all 102,000 stored wallet keys at 10M lines: 50 ms
/// an hour).
void replace_verdicts(pqxx::transaction_base& snapshot, pqxx::transaction_base& results, const StoredVerdicts& stored,
                      bool everything, bool stored_in_snapshot)
{
    if (everything) {
        replace_rows(snapshot, results, stored.keys_table, stored.new_keys_sql, stored_in_snapshot);
        replace_rows(snapshot, results, stored.breaks_table, stored.new_breaks_sql, stored_in_snapshot);
        return;
    }
    // A table per key column: both checks may store in one results transaction.
    const std::string replaced = fmt::format("pg_temp.replaced_{}", stored.key_column);
    results.exec0(fmt::format("CREATE TEMP TABLE IF NOT EXISTS {} ({} {}) ON COMMIT DROP", replaced, stored.key_column,
                              stored.key_type));
    copy_rows(snapshot, stored.compared_sql, results, replaced);
    with_local_settings(results, {{"enable_hashjoin", "off"}, {"enable_mergejoin", "off"}}, [&] {
        results.exec0(
            fmt::format("DELETE FROM {0} k USING {3} x WHERE k.{2} = x.{2};"
                        "DELETE FROM {1} b USING {3} x WHERE b.{2} = x.{2}",
                        stored.keys_table, stored.breaks_table, stored.key_column, replaced));
    });
    copy_rows(snapshot, stored.new_keys_sql, results, stored.keys_table);
    copy_rows(snapshot, stored.new_breaks_sql, results, stored.breaks_table);
}

/// Stores what snapshot_reconcile checked in this snapshot (pg_temp.snapshot_*), when it did:
/// the keys it replayed replace their stored verdicts (all of them when it replayed every key),
/// and no key is dirty any more. When it did not, the keys whose sums this proof changed are
/// marked dirty for the next check (changed_keys_sql); a full proof leaves none (the next check
/// replays every key).
void store_snapshot_checks(bool full_proof, bool stored_in_snapshot, pqxx::transaction_base& snapshot,
                           pqxx::transaction_base& results, std::int64_t run_id)
{
    const auto checked = snapshot.exec_params(
        "SELECT everything, as_of::text AS as_of, window_days, n, "
        "digest::text AS digest FROM pg_temp.snapshot_checked");
    if (checked.empty()) {
        if (full_proof) {
            // The verdicts checked before it rest on marks it does not keep: every key is replayed.
            results.exec0("DELETE FROM recon.proof_dirty_keys; DELETE FROM recon.proof_snapshot_state");
        } else {
            results.exec0("CREATE TEMP TABLE IF NOT EXISTS dirty_store (key text[], upto timestamptz) ON COMMIT DROP");
            copy_rows(snapshot, changed_keys_sql, results, "pg_temp.dirty_store");
            results.exec_params0(
                "INSERT INTO recon.proof_dirty_keys (version, key, upto) SELECT $1, key, upto FROM pg_temp.dirty_store",
                run_id);
        }
        return;
    }
    const NamedRow row(checked[0]);
    // A key whose snapshots are all gone was written with none, to be removed.
    replace_verdicts(snapshot, results,
                     {.keys_table = "recon.proof_snapshot_keys",
                      .breaks_table = "recon.proof_snapshot_breaks",
                      .key_column = "key_hash",
                      .key_type = "bigint",
                      .compared_sql = "SELECT key_hash FROM pg_temp.snapshot_keys_new",
                      .new_keys_sql = "SELECT * FROM pg_temp.snapshot_keys_new WHERE n > 0",
                      .new_breaks_sql = "SELECT * FROM pg_temp.snapshot_breaks_new"},
                     row.flag("everything"), stored_in_snapshot);
    results.exec_params0(R"sql(
INSERT INTO recon.proof_snapshot_state (id, version, as_of, window_days, n, digest)
VALUES (1, $1, $2::timestamptz, $3, $4, $5::numeric)
ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, as_of = EXCLUDED.as_of, window_days = EXCLUDED.window_days,
                               n = EXCLUDED.n, digest = EXCLUDED.digest
)sql",
                         run_id, row.text("as_of"), row.number("window_days"), row.number("n"), row.text("digest"));
    results.exec0("DELETE FROM recon.proof_dirty_keys");
}

/// Stores what wallet_derivation compared in this snapshot (pg_temp.wallet_*), when it did: every
/// key's figures and breaks when it compared every wallet, else those of the keys it compared
/// replace theirs, with this snapshot's watermark. When it did not, the keys whose sums this
/// proof changed are kept for its next comparison (recon.proof_wallet_dirty), and a full proof
/// leaves it nothing to compare against (its next comparison is of every wallet).
void store_wallet_checks(bool full_proof, bool stored_in_snapshot, pqxx::transaction_base& snapshot,
                         pqxx::transaction_base& results, std::int64_t run_id, const std::string& watermark)
{
    const auto checked = snapshot.exec(
        "SELECT everything, accounts, n, digest::text AS digest, rechecked, duplicated, journal_wallets, "
        "lines_checked::text AS lines_checked FROM pg_temp.wallet_checked");
    if (checked.empty()) {
        if (full_proof) {
            results.exec0("DELETE FROM recon.proof_wallet_state; DELETE FROM recon.proof_wallet_dirty");
        } else if (!results.exec("SELECT 1 FROM recon.proof_wallet_state").empty()) {
            copy_rows(snapshot, "SELECT ARRAY[account, customer, currency] AS key FROM pg_temp.proof_keys_new", results,
                      "recon.proof_wallet_dirty");
        }
        return;
    }
    const NamedRow row(checked[0]);
    replace_verdicts(snapshot, results,
                     {.keys_table = "recon.proof_wallet_keys",
                      .breaks_table = "recon.proof_wallet_breaks",
                      .key_column = "key",
                      .key_type = "text[]",
                      .compared_sql = "SELECT key FROM pg_temp.wallet_rechecked",
                      .new_keys_sql = "SELECT * FROM pg_temp.wallet_keys_new",
                      .new_breaks_sql = "SELECT * FROM pg_temp.wallet_breaks_new"},
                     row.flag("everything"), stored_in_snapshot);
    results.exec_params0(R"sql(
INSERT INTO recon.proof_wallet_state (id, version, watermark, accounts, n, digest, rechecked, duplicated,
                                      journal_wallets, lines_checked)
VALUES (1, $1, $2, $3, $4, $5::numeric, $6, $7, $8, $9::numeric)
ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, watermark = EXCLUDED.watermark,
                               accounts = EXCLUDED.accounts, n = EXCLUDED.n, digest = EXCLUDED.digest,
                               rechecked = EXCLUDED.rechecked, duplicated = EXCLUDED.duplicated,
                               journal_wallets = EXCLUDED.journal_wallets, lines_checked = EXCLUDED.lines_checked
)sql",
                         run_id, watermark, row.text("accounts"), row.number("n"), row.text("digest"),
                         row.number("rechecked"), row.number("duplicated"), row.number("journal_wallets"),
                         row.text("lines_checked"));
    results.exec0("DELETE FROM recon.proof_wallet_dirty");
}

bool ProofBuilder::store_proof(const Proved& proved, pqxx::transaction_base& snapshot, pqxx::transaction_base& results,
                               std::int64_t run_id)
{
    const bool full = proved.summary.kind == ProofKind::full;
    // Collected before the lock, which no wait for the second session should hold.
    const KnownDigests known = full && proved.twin_digests ? proved.twin_digests->collect(snapshot) : KnownDigests{};
    // One writer at a time (a row lock would lock nothing before the first proof is stored), and
    // only over the proof this one started from.
    results.exec0("LOCK TABLE recon.proof_state IN SHARE ROW EXCLUSIVE MODE");
    const auto current = results.exec_params("SELECT version FROM recon.proof_state WHERE id = 1");
    const std::optional<std::int64_t> current_version =
        current.empty() ? std::nullopt : std::optional<std::int64_t>(current[0]["version"].as<std::int64_t>());
    const std::optional<std::int64_t> base_version =
        proved.base ? std::optional<std::int64_t>(proved.base->version) : std::nullopt;
    if (current_version != base_version) return false;
    // Stored versions only grow, as the snapshot checks' marks (proof_dirty_keys, the checked
    // state) compare them: an incremental run whose row was made before the stored proof's run,
    // but whose snapshot began after that proof was stored, stores nothing (the next run proves
    // its part). A full proof rests on no mark and always stores (run ids that went back, a
    // sequence reset, stop blocking the store there).
    if (!full && current_version && run_id < *current_version) return false;

    const char* fresh = full ? "" : " WHERE fresh";
    const std::string breaks = stored_breaks_sql(fresh);
    const std::string defects = stored_defects_sql(fresh);
    const std::string duplicates = stored_duplicates_sql(fresh);
    if (full) {
        for (const auto& stored : full_proof_tables()) {
            replace_rows(snapshot, results, stored.table, stored.rows, proved.stored_in_snapshot, known);
        }
    } else {
        results.exec0(
            "CREATE TEMP TABLE IF NOT EXISTS proof_store_txns (txn_id text) ON COMMIT DROP;"
            "CREATE TEMP TABLE IF NOT EXISTS proof_store_changed (txn_id text) ON COMMIT DROP;"
            "CREATE TEMP TABLE IF NOT EXISTS proof_store_keys (source text, source_txn_id text) ON COMMIT DROP");
        copy_rows(snapshot, "SELECT txn_id::text AS txn_id FROM pg_temp.proof_txns", results,
                  "pg_temp.proof_store_txns");
        results.exec0("DELETE FROM recon.proof_breaks b USING pg_temp.proof_store_txns x WHERE b.txn_id = x.txn_id");
        results.exec0("DELETE FROM recon.proof_defects d USING pg_temp.proof_store_txns x WHERE d.txn_id = x.txn_id");
        // Only a changed row can change whether its transaction is open: a touched one keeps its
        // entries. An id with a newer row gets an entry per open row of it (pg_temp.proof_open_new),
        // old or new: the guard counts them per id.
        copy_rows(snapshot, "SELECT txn_id::text AS txn_id FROM pg_temp.proof_changed", results,
                  "pg_temp.proof_store_changed");
        results.exec0("DELETE FROM recon.proof_open o USING pg_temp.proof_store_changed x WHERE o.txn_id = x.txn_id");
        copy_rows(snapshot,
                  "SELECT source::text AS source, source_txn_id::text AS source_txn_id FROM pg_temp.proof_source_keys",
                  results, "pg_temp.proof_store_keys");
        results.exec0(R"sql(
DELETE FROM recon.proof_duplicates d
WHERE EXISTS (SELECT 1 FROM pg_temp.proof_store_keys k
              WHERE k.source IS NOT DISTINCT FROM d.source AND k.source_txn_id IS NOT DISTINCT FROM d.source_txn_id)
   OR ((d.source IS NULL OR d.source_txn_id IS NULL)
       AND EXISTS (SELECT 1 FROM pg_temp.proof_store_keys WHERE source IS NULL OR source_txn_id IS NULL))
)sql");
        // The groups and account spans take the signed rows as they are; a summed key replaces
        // its stored row (kept at zero once its lines all left it, until the next full proof).
        copy_rows(snapshot, "SELECT * FROM pg_temp.proof_groups_new", results, "recon.proof_groups");
        copy_rows(snapshot, "SELECT * FROM pg_temp.proof_account_groups_new", results, "recon.proof_account_groups");
        results.exec0("CREATE TEMP TABLE IF NOT EXISTS proof_store_sums (LIKE recon.proof_keys) ON COMMIT DROP");
        copy_rows(snapshot, "SELECT * FROM pg_temp.proof_keys_new", results, "pg_temp.proof_store_sums");
        results.exec0(R"sql(
INSERT INTO recon.proof_keys SELECT * FROM pg_temp.proof_store_sums
ON CONFLICT ((ARRAY[account, customer, currency]))
DO UPDATE SET dr = EXCLUDED.dr, cr = EXCLUDED.cr, lines = EXCLUDED.lines, all_lines = EXCLUDED.all_lines
)sql");
        // Every run reads all the keys on the wrong side (the check counts them): rewritten whole.
        results.exec0("DELETE FROM recon.proof_wrong_sides");
        copy_rows(snapshot, "SELECT * FROM pg_temp.proof_wrong_sides", results, "recon.proof_wrong_sides");
        copy_rows(snapshot, "SELECT * FROM pg_temp.proof_currencies_new", results, "recon.proof_currencies");
        copy_rows(snapshot, breaks, results, "recon.proof_breaks");
        copy_rows(snapshot, defects, results, "recon.proof_defects");
        copy_rows(snapshot, duplicates, results, "recon.proof_duplicates");
        copy_rows(snapshot, "SELECT txn_id, source, source_txn_id FROM pg_temp.proof_open_new", results,
                  "recon.proof_open");
    }
    store_snapshot_checks(full, proved.stored_in_snapshot, snapshot, results, run_id);
    store_wallet_checks(full, proved.stored_in_snapshot, snapshot, results, run_id, proved.summary.watermark);
    const ProofTotals& written = proved.totals;
    results.exec_params0(R"sql(
INSERT INTO recon.proof_state (id, version, watermark, full_run_id, full_proof_at, tail_from, accounts_digest, lines,
                               lines_hash, transactions, transactions_hash, booked_transactions, max_line_id,
                               max_txn_id, snapshots_digest, snapshots_as_of, id_image, contract_digest, time_zone,
                               updated_at)
VALUES (1, $1, $2, $3, $4::timestamptz, $5::timestamptz, $6, $7, $8::numeric, $9, $10::numeric, $11, $12, $13, $14,
        $15::timestamptz, $16, $17, $18, now())
ON CONFLICT (id) DO UPDATE SET
    version = EXCLUDED.version, watermark = EXCLUDED.watermark, full_run_id = EXCLUDED.full_run_id,
    id_image = EXCLUDED.id_image,
    full_proof_at = EXCLUDED.full_proof_at, tail_from = EXCLUDED.tail_from, accounts_digest = EXCLUDED.accounts_digest,
    lines = EXCLUDED.lines, lines_hash = EXCLUDED.lines_hash, transactions = EXCLUDED.transactions,
    transactions_hash = EXCLUDED.transactions_hash, booked_transactions = EXCLUDED.booked_transactions,
    max_line_id = EXCLUDED.max_line_id, max_txn_id = EXCLUDED.max_txn_id, snapshots_digest = EXCLUDED.snapshots_digest,
    snapshots_as_of = EXCLUDED.snapshots_as_of, contract_digest = EXCLUDED.contract_digest,
    time_zone = EXCLUDED.time_zone, updated_at = now()
)sql",
                         run_id, proved.summary.watermark, written.full_run_id == 0 ? run_id : written.full_run_id,
                         written.full_proof_at, written.tail_from, written.accounts_digest, written.lines,
                         written.lines_hash, written.transactions, written.transactions_hash,
                         written.booked_transactions, written.max_line_id, written.max_txn_id, written.snapshots_digest,
                         written.snapshots_as_of.empty() ? nullptr : written.snapshots_as_of.c_str(), current_id_image,
                         written.contract_digest, written.time_zone);
    return true;
}

}  // namespace

Fence fence_since(pqxx::transaction_base& txn, const std::string& watermark)
{
    return fence_of(txn, watermark);
}

std::string chosen_snapshots_ctes(std::string_view source)
{
    // Each key's latest as-of and its id come from one hashed grouping joined back, not from
    // window functions over a sort of every snapshot by its three text keys (the first barely
    // varies, so the sort compares whole strings: 700 ms of 1.7 s at 204,000 snapshots). The key
    // is one array, as in the proof's keys: a null part matches itself, as PARTITION BY groups
    // it, and the planner estimates the join from one equality (with three it guessed one row
    // and nested the loops after it: 30 s instead of 1 s at 1M lines).
    return fmt::format(R"sql(
ranked AS MATERIALIZED (
    SELECT snapshot_id::text AS snapshot_id, account_code::text AS account_code, customer_id::text AS customer_id,
           currency::text AS currency, as_of, balance,
           ARRAY[account_code::text, customer_id::text, currency::text] AS snapshot_key
    FROM {}
),
snapshot_key_ids AS MATERIALIZED (
    SELECT snapshot_key, latest, row_number() OVER () AS key_id
    FROM (SELECT snapshot_key, max(as_of) FILTER (WHERE as_of <= $2::timestamptz) AS latest
          FROM ranked GROUP BY snapshot_key) k
),
chosen AS MATERIALIZED (
    SELECT r.snapshot_id, r.account_code, r.customer_id, r.currency, r.as_of, r.balance, k.latest, k.key_id
    FROM ranked r
    JOIN snapshot_key_ids k ON k.snapshot_key = r.snapshot_key
    WHERE {}
))sql",
                       source, chosen_window_sql);
}

std::string_view proof_setup_sql()
{
    return setup_sql;
}

const Proof& proof(CheckContext& context)
{
    return context.shared<Proof>("proof", [&] {
        // In a savepoint of its own: a proof that fails (a statement timeout) leaves the asking
        // check able to read what it can without it.
        auto& txn = context.ledger();
        txn.exec0("SAVEPOINT reconcile_proof");
        try {
            Proof proved = ProofBuilder(context).build();
            txn.exec0("RELEASE SAVEPOINT reconcile_proof");
            // The temporary tables now hold the proof: a later failure of the check that asked
            // must not roll them back under the checks that read them next.
            context.snapshot().checkpoint();
            return proved;
        } catch (const pqxx::broken_connection&) {
            throw;
        } catch (...) {
            txn.exec0("ROLLBACK TO SAVEPOINT reconcile_proof");
            throw;
        }
    });
}

void report_drift(CheckContext& context)
{
    const Proof& proved = proof(context);
    for (const auto& variance : proved.drift) context.variances().add(variance);
    if (!proved.drift.empty()) context.raise(CheckStatus::fail);
}

}  // namespace reconcile
