// The journal pass: one grouping of the journal per transaction, shared by the A checks that
// need it, and the per-line detail it points at only when there is something to detail.
#include "checks/journal_pass.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "checks/proof.hpp"
#include "checks/sql_support.hpp"

namespace reconcile {
namespace {

// How a transaction's amounts are summed: its debits and credits apart (what the journal pass
// reports), or one signed sum, debits minus credits (all the full proof's classification asks:
// balanced or not; half the numeric additions).
enum class AmountSums { debits_and_credits, signed_only };

// Lines are grouped by txn_id first (a streaming GroupAggregate over the journal in txn_id
// order) and the groups are then full-joined with the transactions: the expensive grouping
// touches every line once, the join only one row per transaction, and the same pass yields
// orphaned lines (groups without a transaction) and booked transactions without lines
// (transactions without a group). A transaction whose lines mix currencies, or contain a line
// that breaks a per-line rule, is split per currency afterwards from its own lines.
// Each line is flagged when it breaks any per-line rule; LineDefects details them. This CTE is
// the grouping every statement below (and the full proof's) starts from; `line_columns` adds
// aggregates of its own.
std::string per_txn_lines_cte(const std::string& line_columns, AmountSums sums = AmountSums::debits_and_credits)
{
    const char* amounts =
        sums == AmountSums::signed_only
            ? R"sql(coalesce(sum(CASE l.side WHEN 'DR' THEN l.amount WHEN 'CR' THEN -l.amount END), 0) AS signed,)sql"
            : R"sql(coalesce(sum(l.amount) FILTER (WHERE l.side = 'DR'), 0) AS debits,
           coalesce(sum(l.amount) FILTER (WHERE l.side = 'CR'), 0) AS credits,)sql";
    return R"sql(
WITH per_txn_lines AS (
    SELECT l.txn_id,
           count(*) AS lines,
           count(*) FILTER (WHERE l.side = 'DR') AS debit_lines,
           count(*) FILTER (WHERE l.side = 'CR') AS credit_lines,
           )sql" +
           std::string(amounts) +
           R"sql(
           min(l.currency::text COLLATE "C") AS currency,
           max(l.currency::text COLLATE "C") AS last_currency,
           count(*) FILTER (WHERE l.amount IS NULL OR l.amount <= 0 OR l.currency IS NULL OR l.account_code IS NULL
                               OR l.side IS NULL OR l.side NOT IN ('DR', 'CR')
                               OR l.account_code::text NOT IN (SELECT account_code::text FROM contract.accounts)) AS defective
           )sql" +
           line_columns + R"sql(
    FROM contract.journal_lines l
    GROUP BY l.txn_id
)
)sql";
}

// Each transaction with its lines' figures: the groups full-joined with the transactions. Both
// statements read it once per consumer, so only the detail statement materializes it.
std::string per_txn_select(const std::string& txn_columns, AmountSums sums = AmountSums::debits_and_credits)
{
    return fmt::format(R"sql(
    SELECT t.txn_id, coalesce(t.status IN {0}, false) AS booked, t.txn_id IS NULL AS orphaned,
           coalesce(g.lines, 0) AS lines, coalesce(g.debit_lines, 0) AS debit_lines,
           coalesce(g.credit_lines, 0) AS credit_lines, {2}, g.currency,
           coalesce(g.currency <> g.last_currency OR g.defective > 0, false) AS split,
           coalesce(g.defective, 0) AS defective {1}
    FROM per_txn_lines g
    FULL JOIN contract.transactions t ON t.txn_id::txnid = g.txn_id::txnid
)sql",
                       booked_statuses_sql, txn_columns,
                       sums == AmountSums::signed_only
                           ? "coalesce(g.signed, 0) AS signed"
                           : "coalesce(g.debits, 0) AS debits, coalesce(g.credits, 0) AS credits");
}

// The healthy path: one streaming pass, nothing materialized. Every booked, single-currency
// transaction without a defective line adds to its currency's totals; the rest is only
// counted. When anything needs listing (an unbalanced or misshapen transaction) or splitting
// (several currencies, a defective line), the detail statement below reruns the pass.
const std::string journal_summary_sql = per_txn_lines_cte("") + fmt::format(R"sql(,
{0}
classified AS (
    SELECT *, booked AND NOT split AND lines > 0 AS counted FROM per_txn
)
SELECT CASE WHEN counted THEN currency END::text AS currency,
       sum(debits) FILTER (WHERE counted)::text AS debits, sum(credits) FILTER (WHERE counted)::text AS credits,
       (sum(debits) FILTER (WHERE counted) - sum(credits) FILTER (WHERE counted))::text AS difference,
       coalesce(sum(lines) FILTER (WHERE counted), 0)::bigint AS lines, count(*) FILTER (WHERE counted) AS txn_groups,
       count(*) FILTER (WHERE booked) AS booked_transactions, coalesce(sum(lines), 0)::bigint AS all_lines,
       (coalesce(sum(lines) FILTER (WHERE orphaned), 0) + coalesce(sum(defective) FILTER (WHERE NOT orphaned), 0))::bigint
           AS suspect_lines,
       count(*) FILTER (WHERE counted AND debits <> credits)
           + count(*) FILTER (WHERE booked AND (lines < 2 OR debit_lines = 0 OR credit_lines = 0))
           + count(*) FILTER (WHERE booked AND split) AS needs_detail
FROM classified
GROUP BY 1
)sql",
                                                                            "per_txn AS (" + per_txn_select("") + "),");

// The grouping materialized (the detail statement reads it several times), with
// `per_txn_currency`: one row per (booked transaction, currency), split where the transaction's
// lines mix currencies or hold a defective line: those transactions' lines grouped again by
// currency (an index search each where the journal has one, one scan where it has none, never a
// scan per transaction: docs/decisions/searches-grouped-not-per-id.md).
std::string per_transaction_ctes(const std::string& line_columns, const std::string& txn_columns)
{
    return per_txn_lines_cte(line_columns) + ",\nper_txn AS MATERIALIZED (" + per_txn_select(txn_columns) + R"sql(),
split_currency AS MATERIALIZED (
    SELECT p.txn_id, s.currency, s.lines, s.debits, s.credits
    FROM per_txn p
    JOIN (
        SELECT l.txn_id::txnid AS txn_id, l.currency::text AS currency, count(*) AS lines,
               coalesce(sum(l.amount) FILTER (WHERE l.side = 'DR'), 0) AS debits,
               coalesce(sum(l.amount) FILTER (WHERE l.side = 'CR'), 0) AS credits
        FROM contract.journal_lines l
        WHERE l.txn_id::txnid IN (SELECT txn_id::txnid FROM per_txn WHERE booked AND split)
        GROUP BY 1, l.currency) s ON s.txn_id = p.txn_id::txnid
    WHERE p.booked AND p.split
),
per_txn_currency AS (
    SELECT txn_id, currency, lines, debits, credits FROM per_txn WHERE booked AND NOT split AND lines > 0
    UNION ALL
    SELECT txn_id, currency, lines, debits, credits FROM split_currency
)
)sql";
}

// The detail path: the same pass materialized, split per currency where needed, with listings.
const std::string journal_pass_sql = per_transaction_ctes("", "") + R"sql(,
unbalanced AS (
    SELECT txn_id, currency, debits, credits, count(*) OVER () AS total
    FROM per_txn_currency WHERE debits <> credits
    ORDER BY abs(debits - credits) DESC, txn_id LIMIT $1
),
misshapen AS (
    SELECT txn_id, lines, debit_lines, credit_lines, count(*) OVER () AS total
    FROM per_txn WHERE booked AND (lines < 2 OR debit_lines = 0 OR credit_lines = 0)
    ORDER BY txn_id LIMIT $1
)
SELECT 'currency' AS row_kind, NULL AS txn_id, currency::text AS currency, sum(debits)::text AS debits,
       sum(credits)::text AS credits, (sum(debits) - sum(credits))::text AS difference, sum(lines)::bigint AS lines,
       count(*) AS txn_groups, NULL::bigint AS total, NULL::bigint AS debit_lines, NULL::bigint AS credit_lines,
       NULL::bigint AS booked_transactions, NULL::bigint AS all_lines, NULL::bigint AS suspect_lines
FROM per_txn_currency GROUP BY currency
UNION ALL
SELECT 'unbalanced', txn_id::text, currency::text, debits::text, credits::text, (debits - credits)::text, NULL,
       NULL, total, NULL, NULL, NULL, NULL, NULL
FROM unbalanced
UNION ALL
SELECT 'misshapen', txn_id::text, NULL, NULL, NULL, NULL, lines, NULL, total, debit_lines, credit_lines, NULL, NULL,
       NULL
FROM misshapen
UNION ALL
SELECT 'summary', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, count(*) FILTER (WHERE booked),
       coalesce(sum(lines), 0)::bigint,
       (coalesce(sum(lines) FILTER (WHERE orphaned), 0) + coalesce(sum(defective) FILTER (WHERE NOT orphaned), 0))::bigint
FROM per_txn
)sql";

// Every line that breaks a per-line rule, with each rule it breaks; two listings (one per
// check) and exact per-rule totals. Read from the proof (checks/proof.hpp) when the snapshot
// holds one, else from the journal.
const std::string line_defects_proof_cte = R"sql(
WITH flagged AS (SELECT * FROM pg_temp.proof_defects)
)sql";
const std::string line_defects_journal_cte = fmt::format(R"sql(
WITH flagged AS MATERIALIZED (
    SELECT l.line_id, l.txn_id, l.account_code, l.side, l.amount,
           (l.txn_id IS NULL OR t.txn_id IS NULL) AS orphan,
           (l.account_code IS NOT NULL AND a.account_code IS NULL) AS unknown_account,
           l.amount IS NULL AS no_amount, l.currency IS NULL AS no_currency, l.account_code IS NULL AS no_account,
           (l.side IS NULL OR l.side NOT IN ('DR', 'CR')) AS invalid_side,
           coalesce(l.amount <= 0, false) AS non_positive_amount
    FROM contract.journal_lines l
    LEFT JOIN contract.transactions t ON t.txn_id::txnid = l.txn_id::txnid
    LEFT JOIN {} a ON a.account_code = l.account_code::text
    WHERE t.txn_id IS NULL OR a.account_code IS NULL OR l.amount IS NULL OR l.amount <= 0 OR l.currency IS NULL
       OR l.side IS NULL OR l.side NOT IN ('DR', 'CR')
)
)sql",
                                                         chart_sql);
const std::string line_defects_listing = R"sql(
SELECT 'summary' AS row_kind, NULL AS line_id, NULL AS txn_id, NULL AS account_code, NULL AS side, NULL AS amount,
       NULL::boolean AS orphan, NULL::boolean AS unknown_account, NULL::boolean AS no_amount,
       NULL::boolean AS no_currency, NULL::boolean AS no_account, NULL::boolean AS invalid_side,
       NULL::boolean AS non_positive_amount, count(*) FILTER (WHERE orphan) AS orphans,
       count(*) FILTER (WHERE unknown_account) AS unknown_accounts,
       count(*) FILTER (WHERE no_amount OR no_currency OR no_account) AS incomplete,
       count(*) FILTER (WHERE invalid_side) AS invalid_sides,
       count(*) FILTER (WHERE non_positive_amount) AS non_positive_amounts
FROM flagged
UNION ALL
(SELECT 'completeness', line_id::text, txn_id::text, account_code::text, side::text, amount::text, orphan,
        unknown_account, no_amount, no_currency, no_account, invalid_side, non_positive_amount, NULL, NULL, NULL,
        NULL, NULL
 FROM flagged WHERE orphan OR unknown_account OR no_amount OR no_currency OR no_account
 ORDER BY flagged.line_id LIMIT $1)
UNION ALL
(SELECT 'sign', line_id::text, txn_id::text, account_code::text, side::text, amount::text, orphan,
        unknown_account, no_amount, no_currency, no_account, invalid_side, non_positive_amount, NULL, NULL, NULL,
        NULL, NULL
 FROM flagged WHERE invalid_side OR non_positive_amount
 ORDER BY flagged.line_id LIMIT $1)
)sql";

// The same figures from the proof: currency totals from its groups summed over customers, the
// listed transactions from its verdicts.
const std::string journal_proof_sql = R"sql(
SELECT 'currency' AS row_kind, g.currency, g.debits::text AS debits, g.credits::text AS credits,
       (g.debits - g.credits)::text AS difference, g.lines, coalesce(c.txn_groups, 0)::bigint AS txn_groups,
       NULL AS txn_id, NULL::bigint AS total, NULL::bigint AS debit_lines, NULL::bigint AS credit_lines
FROM (SELECT currency, sum(dr) AS debits, sum(cr) AS credits, sum(all_lines)::bigint AS lines
      FROM pg_temp.proof_account_groups GROUP BY currency HAVING sum(all_lines) > 0) g
LEFT JOIN (SELECT currency, sum(txn_groups) AS txn_groups FROM pg_temp.proof_currencies GROUP BY currency) c
       ON c.currency IS NOT DISTINCT FROM g.currency
UNION ALL
(SELECT 'unbalanced', currency, debits::text, credits::text, (debits - credits)::text, NULL, NULL, txn_id::text,
        count(*) OVER (), NULL, NULL
 FROM pg_temp.proof_breaks WHERE kind = 'unbalanced'
 ORDER BY abs(debits - credits) DESC, txn_id LIMIT $1)
UNION ALL
(SELECT 'misshapen', NULL, NULL, NULL, NULL, lines, NULL, txn_id::text, count(*) OVER (), debit_lines, credit_lines
 FROM pg_temp.proof_breaks WHERE kind = 'misshapen'
 ORDER BY txn_id LIMIT $1)
)sql";

/// One currency's totals, from a row of either statement (same column names).
/// Debits, credits and their difference are shown side by side (trial_balance_zero's metrics and
/// variances): one scale, so a one-sided transaction's credits read "0.00", never "0".
JournalPass::CurrencyTotal currency_total(const NamedRow& row)
{
    JournalPass::CurrencyTotal total{.currency = row.text_or_empty("currency"),
                                     .debits = row.text("debits"),
                                     .credits = row.text("credits"),
                                     .difference = row.text("difference"),
                                     .lines = row.number("lines"),
                                     .groups = row.number("txn_groups")};
    align_decimal_texts({total.debits, total.credits, total.difference});
    return total;
}

/// The listings of either statement (same row kinds and column names).
void read_listings(const CappedRows& rows, JournalPass& pass)
{
    rows.each("currency", [&](const NamedRow& row) { pass.currencies.push_back(currency_total(row)); });
    rows.each("unbalanced", [&](const NamedRow& row) {
        auto& txn = pass.unbalanced.emplace_back(JournalPass::Unbalanced{.txn_id = row.text("txn_id"),
                                                                         .currency = row.text_or_empty("currency"),
                                                                         .debits = row.text("debits"),
                                                                         .credits = row.text("credits"),
                                                                         .difference = row.text("difference")});
        align_decimal_texts({txn.debits, txn.credits, txn.difference});
    });
    pass.unbalanced_total = rows.total("unbalanced", {"total"});
    rows.each("misshapen", [&](const NamedRow& row) {
        pass.misshapen.push_back({.txn_id = row.text("txn_id"),
                                  .lines = row.number("lines"),
                                  .debit_lines = row.number("debit_lines"),
                                  .credit_lines = row.number("credit_lines")});
    });
    pass.misshapen_total = rows.total("misshapen", {"total"});
}

JournalPass compute_journal_pass(CheckContext& context)
{
    JournalPass pass;
    if (const Proof& proved = proof(context); proved.available) {
        read_listings(CappedRows::shared_listing(context, journal_proof_sql), pass);
        // The proof groups currencies by hash: list them in one order whatever the run's kind.
        std::sort(pass.currencies.begin(), pass.currencies.end(),
                  [](const auto& a, const auto& b) { return a.currency < b.currency; });
        pass.booked_transactions = proved.booked_transactions;
        pass.lines = proved.lines;
        pass.suspect_lines = proved.suspect_lines;
        return pass;
    }
    std::int64_t needs_detail = 0;
    for (const auto& result_row : context.ledger().exec_params(ids_sql(context, journal_summary_sql))) {
        const NamedRow row(result_row);
        if (!row.is_null("currency")) pass.currencies.push_back(currency_total(row));
        pass.booked_transactions += row.number("booked_transactions");
        pass.lines += row.number("all_lines");
        pass.suspect_lines += row.number("suspect_lines");
        needs_detail += row.number("needs_detail");
    }
    if (needs_detail == 0) return pass;

    pass = JournalPass{};
    const auto rows = CappedRows::shared_listing(context, ids_sql(context, journal_pass_sql));
    read_listings(rows, pass);
    const NamedRow summary = rows.one();
    pass.booked_transactions = summary.number("booked_transactions");
    pass.lines = summary.number("all_lines");
    pass.suspect_lines = summary.number("suspect_lines");
    return pass;
}

LineDefects compute_line_defects(CheckContext& context)
{
    LineDefects defects;
    const auto rows = CappedRows::shared_listing(
        context, ids_sql(context, (proof(context).available ? line_defects_proof_cte : line_defects_journal_cte) +
                                      line_defects_listing));
    const NamedRow summary = rows.one();
    defects.orphans = summary.number("orphans");
    defects.unknown_accounts = summary.number("unknown_accounts");
    defects.incomplete = summary.number("incomplete");
    defects.invalid_sides = summary.number("invalid_sides");
    defects.non_positive_amounts = summary.number("non_positive_amounts");
    const auto line_of = [](const NamedRow& row) {
        return LineDefects::Line{.line_id = row.text("line_id"),
                                 .txn_id = row.optional_text("txn_id"),
                                 .account = row.optional_text("account_code"),
                                 .side = row.optional_text("side"),
                                 .amount = row.optional_text("amount"),
                                 .orphan = row.flag("orphan"),
                                 .unknown_account = row.flag("unknown_account"),
                                 .no_amount = row.flag("no_amount"),
                                 .no_currency = row.flag("no_currency"),
                                 .no_account = row.flag("no_account"),
                                 .invalid_side = row.flag("invalid_side"),
                                 .non_positive_amount = row.flag("non_positive_amount")};
    };
    rows.each("completeness", [&](const NamedRow& row) { defects.completeness.push_back(line_of(row)); });
    rows.each("sign", [&](const NamedRow& row) { defects.sign.push_back(line_of(row)); });
    return defects;
}

}  // namespace

std::string per_transaction_signed_ctes(const std::string& line_columns, const std::string& txn_columns)
{
    return per_txn_lines_cte(line_columns, AmountSums::signed_only) + ",\nper_txn AS NOT MATERIALIZED (" +
           per_txn_select(txn_columns, AmountSums::signed_only) + ")";
}

const JournalPass& journal_pass(CheckContext& context)
{
    return context.shared<JournalPass>("journal_pass", [&] { return compute_journal_pass(context); });
}

const LineDefects& line_defects(CheckContext& context)
{
    return context.shared<LineDefects>("line_defects", [&] {
        return journal_pass(context).suspect_lines > 0 ? compute_line_defects(context) : LineDefects{};
    });
}

}  // namespace reconcile
