#include "tests/support/cli.hpp"

#include <thread>

namespace reconcile::test {

ProcessResult reconcile_cli(std::vector<std::string> args, const ProcessOptions& options)
{
    args.insert(args.begin(), reconcile_binary());
    return run_process(args, options);
}

std::string slow_journal_view(int seconds)
{
    return "CREATE OR REPLACE VIEW contract.journal_lines AS SELECT l.line_id, l.txn_id, l.account_code,"
           " l.customer_id, l.side, l.amount, l.currency, l.xmin AS row_xmin FROM ledger.journal_lines l"
           " CROSS JOIN (SELECT pg_sleep(" +
           std::to_string(seconds) + ")) AS slow";
}

const char* const normal_journal_view =
    "CREATE OR REPLACE VIEW contract.journal_lines AS SELECT line_id, txn_id, account_code, customer_id, side,"
    " amount, currency, xmin AS row_xmin FROM ledger.journal_lines";

std::string view_over(const std::string& view, const std::string& definition, const std::string& rest)
{
    return "CREATE OR REPLACE VIEW " + view + " AS SELECT s.* FROM (" +
           definition.substr(0, definition.find_last_not_of("; \n") + 1) + ") s " + rest;
}

std::string slowed_view(const std::string& view, const std::string& definition, const std::string& seconds)
{
    return view_over(view, definition, "CROSS JOIN (SELECT pg_sleep(" + seconds + ")) AS slow");
}

namespace {

/// True in the full proof's second session alone: it alone runs with parallel workers off.
const char* const in_twin_sql = "current_setting('max_parallel_workers_per_gather') = '0'";

}  // namespace

std::string in_twin_only(int seconds)
{
    return std::string("CASE WHEN ") + in_twin_sql + " THEN " + std::to_string(seconds) + " ELSE 0 END";
}

std::string failing_in_twin_only()
{
    return failing_in_twin_unless("false");
}

std::string failing_in_twin_unless(const std::string& condition)
{
    return std::string("WHERE 1 / (CASE WHEN ") + in_twin_sql + " AND NOT (" + condition + ") THEN 0 ELSE 1 END) = 1";
}

bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds timeout)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (condition()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return condition();
}

}  // namespace reconcile::test
