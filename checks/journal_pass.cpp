// The journal pass: one grouping of the journal per transaction, shared by the A checks that
// need it, and the per-line detail it points at only when there is something to detail.
#include "checks/journal_pass.hpp"

#include <fmt/format.h>

#include "checks/sql_support.hpp"

namespace reconcile {
namespace {

// Lines are grouped by txn_id first (a streaming GroupAggregate over the journal in txn_id
// order) and the groups are then full-joined with the transactions: the expensive grouping
// touches every line once, the join only one row per transaction, and the same pass yields
// orphaned lines (groups without a transaction) and booked transactions without lines
// (transactions without a group). A transaction whose lines mix currencies, or contain a line
// that breaks a per-line rule, is split per currency afterwards by an index lookup (rare).
// Each line is flagged when it breaks any per-line rule; LineDefects details them. This CTE is
// the grouping both statements below start from.
const std::string per_txn_lines_cte = R"sql(
WITH per_txn_lines AS (
    SELECT l.txn_id,
           count(*) AS lines,
           count(*) FILTER (WHERE l.side = 'DR') AS debit_lines,
           count(*) FILTER (WHERE l.side = 'CR') AS credit_lines,
           coalesce(sum(l.amount) FILTER (WHERE l.side = 'DR'), 0) AS debits,
           coalesce(sum(l.amount) FILTER (WHERE l.side = 'CR'), 0) AS credits,
           min(l.currency COLLATE "C") AS currency,
           max(l.currency COLLATE "C") AS last_currency,
           count(*) FILTER (WHERE l.amount IS NULL OR l.amount <= 0 OR l.currency IS NULL OR l.account_code IS NULL
                               OR l.side IS NULL OR l.side NOT IN ('DR', 'CR')
                               OR l.account_code NOT IN (SELECT account_code FROM contract.accounts)) AS defective
    FROM contract.journal_lines l
    GROUP BY l.txn_id
)
)sql";

// Each transaction with its lines' figures: the groups full-joined with the transactions. Both
// statements read it once per consumer, so only the detail statement materializes it.
const std::string per_txn_select = fmt::format(R"sql(
    SELECT t.txn_id, coalesce(t.status IN {0}, false) AS booked, t.txn_id IS NULL AS orphaned,
           coalesce(g.lines, 0) AS lines, coalesce(g.debit_lines, 0) AS debit_lines,
           coalesce(g.credit_lines, 0) AS credit_lines, coalesce(g.debits, 0) AS debits,
           coalesce(g.credits, 0) AS credits, g.currency,
           coalesce(g.currency <> g.last_currency OR g.defective > 0, false) AS split,
           coalesce(g.defective, 0) AS defective
    FROM per_txn_lines g
    FULL JOIN contract.transactions t ON t.txn_id = g.txn_id
)sql",
                                               booked_statuses_sql);

// The healthy path: one streaming pass, nothing materialized. Every booked, single-currency
// transaction without a defective line adds to its currency's totals; the rest is only
// counted. When anything needs listing (an unbalanced or misshapen transaction) or splitting
// (several currencies, a defective line), the detail statement below reruns the pass.
const std::string journal_summary_sql = per_txn_lines_cte + fmt::format(R"sql(,
{0}
classified AS (
    SELECT *, booked AND NOT split AND lines > 0 AS counted FROM per_txn
)
SELECT CASE WHEN counted THEN currency END::text AS currency,
       sum(debits) FILTER (WHERE counted)::text, sum(credits) FILTER (WHERE counted)::text,
       (sum(debits) FILTER (WHERE counted) - sum(credits) FILTER (WHERE counted))::text,
       coalesce(sum(lines) FILTER (WHERE counted), 0)::bigint, count(*) FILTER (WHERE counted),
       count(*) FILTER (WHERE booked), coalesce(sum(lines), 0)::bigint,
       (coalesce(sum(lines) FILTER (WHERE orphaned), 0) + coalesce(sum(defective) FILTER (WHERE NOT orphaned), 0))::bigint,
       count(*) FILTER (WHERE counted AND debits <> credits)
           + count(*) FILTER (WHERE booked AND (lines < 2 OR debit_lines = 0 OR credit_lines = 0))
           + count(*) FILTER (WHERE booked AND split)
FROM classified
GROUP BY 1
)sql",
                                                                        "per_txn AS (" + per_txn_select + "),");

// The detail path: the same pass materialized, split per currency where needed, with listings.
const std::string journal_pass_sql =
    per_txn_lines_cte + fmt::format(R"sql(,
{0}
split_currency AS MATERIALIZED (
    SELECT p.txn_id, s.currency, s.lines, s.debits, s.credits
    FROM per_txn p
    CROSS JOIN LATERAL (
        SELECT l.currency, count(*) AS lines,
               coalesce(sum(l.amount) FILTER (WHERE l.side = 'DR'), 0) AS debits,
               coalesce(sum(l.amount) FILTER (WHERE l.side = 'CR'), 0) AS credits
        FROM contract.journal_lines l WHERE l.txn_id = p.txn_id
        GROUP BY l.currency OFFSET 0) s
    WHERE p.booked AND p.split
),
per_txn_currency AS (
    SELECT txn_id, currency, lines, debits, credits FROM per_txn WHERE booked AND NOT split AND lines > 0
    UNION ALL
    SELECT txn_id, currency, lines, debits, credits FROM split_currency
),
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
SELECT 'currency' AS row_kind, NULL AS txn_id, currency::text, sum(debits)::text, sum(credits)::text,
       (sum(debits) - sum(credits))::text, sum(lines)::bigint, count(*), 0::bigint
FROM per_txn_currency GROUP BY currency
UNION ALL
SELECT 'unbalanced', txn_id::text, currency::text, debits::text, credits::text, (debits - credits)::text, total, 0, 0
FROM unbalanced
UNION ALL
SELECT 'misshapen', txn_id::text, NULL, lines::text, debit_lines::text, credit_lines::text, total, 0, 0
FROM misshapen
UNION ALL
SELECT 'summary', NULL, NULL, NULL, NULL, NULL, count(*) FILTER (WHERE booked), coalesce(sum(lines), 0)::bigint,
       (coalesce(sum(lines) FILTER (WHERE orphaned), 0) + coalesce(sum(defective) FILTER (WHERE NOT orphaned), 0))::bigint
FROM per_txn
)sql",
                                    "per_txn AS MATERIALIZED (" + per_txn_select + "),");

// Every line that breaks a per-line rule, with each rule it breaks; two listings (one per
// check) and exact per-rule totals.
const std::string line_defects_sql = R"sql(
WITH flagged AS MATERIALIZED (
    SELECT l.line_id, l.txn_id, l.account_code, l.side, l.amount,
           (l.txn_id IS NULL OR t.txn_id IS NULL) AS orphan,
           (l.account_code IS NOT NULL AND a.account_code IS NULL) AS unknown_account,
           l.amount IS NULL AS no_amount, l.currency IS NULL AS no_currency, l.account_code IS NULL AS no_account,
           (l.side IS NULL OR l.side NOT IN ('DR', 'CR')) AS invalid_side,
           coalesce(l.amount <= 0, false) AS non_positive_amount
    FROM contract.journal_lines l
    LEFT JOIN contract.transactions t ON t.txn_id = l.txn_id
    LEFT JOIN contract.accounts a ON a.account_code = l.account_code
    WHERE t.txn_id IS NULL OR a.account_code IS NULL OR l.amount IS NULL OR l.amount <= 0 OR l.currency IS NULL
       OR l.side IS NULL OR l.side NOT IN ('DR', 'CR')
)
SELECT 'summary' AS row_kind, NULL, NULL, NULL, NULL, NULL,
       count(*) FILTER (WHERE orphan) > 0, count(*) FILTER (WHERE unknown_account) > 0, false, false, false,
       false, false,
       count(*) FILTER (WHERE orphan), count(*) FILTER (WHERE unknown_account),
       count(*) FILTER (WHERE no_amount OR no_currency OR no_account),
       count(*) FILTER (WHERE invalid_side), count(*) FILTER (WHERE non_positive_amount)
FROM flagged
UNION ALL
(SELECT 'completeness', line_id::text, txn_id::text, account_code::text, side::text, amount::text, orphan,
        unknown_account, no_amount, no_currency, no_account, invalid_side, non_positive_amount, 0, 0, 0, 0, 0
 FROM flagged WHERE orphan OR unknown_account OR no_amount OR no_currency OR no_account
 ORDER BY flagged.line_id LIMIT $1)
UNION ALL
(SELECT 'sign', line_id::text, txn_id::text, account_code::text, side::text, amount::text, orphan,
        unknown_account, no_amount, no_currency, no_account, invalid_side, non_positive_amount, 0, 0, 0, 0, 0
 FROM flagged WHERE invalid_side OR non_positive_amount
 ORDER BY flagged.line_id LIMIT $1)
)sql";

JournalPass compute_journal_pass(CheckContext& context)
{
    JournalPass pass;
    std::int64_t needs_detail = 0;
    for (const auto& row : context.ledger().exec_params(journal_summary_sql)) {
        if (!row[0].is_null()) {
            pass.currencies.push_back({.currency = row[0].as<std::string>(),
                                       .debits = row[1].as<std::string>(),
                                       .credits = row[2].as<std::string>(),
                                       .difference = row[3].as<std::string>(),
                                       .lines = row[4].as<std::int64_t>(),
                                       .groups = row[5].as<std::int64_t>()});
        }
        pass.booked_transactions += row[6].as<std::int64_t>();
        pass.lines += row[7].as<std::int64_t>();
        pass.suspect_lines += row[8].as<std::int64_t>();
        needs_detail += row[9].as<std::int64_t>();
    }
    if (needs_detail == 0) return pass;

    pass = JournalPass{};
    const auto cap = static_cast<std::int64_t>(context.variances().cap());
    for (const auto& row : context.ledger().exec_params(journal_pass_sql, cap)) {
        const auto kind = row[0].as<std::string>();
        if (kind == "currency") {
            pass.currencies.push_back({.currency = text_or_empty(row[2]),
                                       .debits = row[3].as<std::string>(),
                                       .credits = row[4].as<std::string>(),
                                       .difference = row[5].as<std::string>(),
                                       .lines = row[6].as<std::int64_t>(),
                                       .groups = row[7].as<std::int64_t>()});
        } else if (kind == "unbalanced") {
            pass.unbalanced_total = row[6].as<std::int64_t>();
            pass.unbalanced.push_back({.txn_id = row[1].as<std::string>(),
                                       .currency = text_or_empty(row[2]),
                                       .debits = row[3].as<std::string>(),
                                       .credits = row[4].as<std::string>(),
                                       .difference = row[5].as<std::string>()});
        } else if (kind == "misshapen") {
            pass.misshapen_total = row[6].as<std::int64_t>();
            pass.misshapen.push_back({.txn_id = row[1].as<std::string>(),
                                      .lines = row[3].as<std::int64_t>(),
                                      .debit_lines = row[4].as<std::int64_t>(),
                                      .credit_lines = row[5].as<std::int64_t>()});
        } else {
            pass.booked_transactions = row[6].as<std::int64_t>();
            pass.lines = row[7].as<std::int64_t>();
            pass.suspect_lines = row[8].as<std::int64_t>();
        }
    }
    return pass;
}

LineDefects compute_line_defects(CheckContext& context)
{
    LineDefects defects;
    const auto cap = static_cast<std::int64_t>(context.variances().cap());
    for (const auto& row : context.ledger().exec_params(line_defects_sql, cap)) {
        const auto kind = row[0].as<std::string>();
        if (kind == "summary") {
            defects.orphans = row[13].as<std::int64_t>();
            defects.unknown_accounts = row[14].as<std::int64_t>();
            defects.incomplete = row[15].as<std::int64_t>();
            defects.invalid_sides = row[16].as<std::int64_t>();
            defects.non_positive_amounts = row[17].as<std::int64_t>();
            continue;
        }
        LineDefects::Line line{.line_id = row[1].as<std::string>(),
                               .txn_id = optional_text(row[2]),
                               .account = optional_text(row[3]),
                               .side = optional_text(row[4]),
                               .amount = optional_text(row[5]),
                               .orphan = row[6].as<bool>(),
                               .unknown_account = row[7].as<bool>(),
                               .no_amount = row[8].as<bool>(),
                               .no_currency = row[9].as<bool>(),
                               .no_account = row[10].as<bool>(),
                               .invalid_side = row[11].as<bool>(),
                               .non_positive_amount = row[12].as<bool>()};
        (kind == "completeness" ? defects.completeness : defects.sign).push_back(std::move(line));
    }
    return defects;
}

}  // namespace

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
