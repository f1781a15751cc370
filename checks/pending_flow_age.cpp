// pending_flow_age (D): no pending or in-transit flow is older than its tolerance: warn past
// RECON_PENDING_WARN_HOURS, fail past RECON_PENDING_FAIL_HOURS, measured at the run's start.
#include "checks/sql_support.hpp"

namespace reconcile {
namespace {

const std::string aged_flows_sql = R"sql(
WITH open_flows AS MATERIALIZED (
    SELECT flow_id, flow_type, customer_id, amount, currency, status, created_at,
           extract(epoch FROM ($1::timestamptz - created_at)) / 3600.0 AS age_hours
    FROM contract.pending_flows
    WHERE status IN ('pending', 'in_transit')
),
aged AS (
    SELECT *, count(*) OVER () AS total, sum((age_hours > $3)::int) OVER () AS failing
    FROM open_flows WHERE age_hours > $2
    ORDER BY created_at, flow_id LIMIT $4
)
SELECT 'summary' AS row_kind, NULL AS flow_id, NULL AS flow_type, NULL AS customer_id, NULL AS amount,
       NULL AS currency, NULL AS status, NULL AS created_at, NULL AS age_hours, NULL::bigint AS total,
       NULL::bigint AS failing, NULL::boolean AS failed, coalesce(round(max(age_hours), 2), 0)::text AS oldest_age_hours,
       count(*) AS open_flows
FROM open_flows
UNION ALL
SELECT 'aged', flow_id::text, flow_type::text, customer_id::text, amount::text, currency::text, status::text,
       to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), round(age_hours, 2)::text,
       total, failing, age_hours > $3, NULL, NULL
FROM aged
)sql";

class PendingFlowAge : public Check {
public:
    std::string_view name() const override { return "pending_flow_age"; }
    Category category() const override { return Category::D; }
    std::set<ContractView> reads() const override { return {ContractView::pending_flows}; }
    std::string_view description() const override
    {
        return "No pending or in-transit flow is older than its tolerance (warn and fail thresholds in hours).";
    }

    void run(CheckContext& context) const override
    {
        const auto& settings = context.settings();
        const auto rows = CappedRows::listing(context, aged_flows_sql, format_utc(context.as_of()),
                                              settings.pending_warn_hours, settings.pending_fail_hours);
        const NamedRow summary = rows.one();
        context.metrics()["open_flows"] = summary.number("open_flows");
        context.metrics()["oldest_age_hours"] = summary.text("oldest_age_hours");
        const std::int64_t total = rows.list(context, "aged", {"total"}, [](const NamedRow& row) {
            Variance variance{
                .kind = "aged_pending",
                .keys =
                    row.keys({{"flow_id", "flow_id"}, {"customer_id", "customer_id", true}, {"currency", "currency"}}),
                .actual = row.optional_text("amount")};
            variance.detail = {{"flow_type", row.text_or_empty("flow_type")},
                               {"status", row.text_or_empty("status")},
                               {"created_at", row.text("created_at")},
                               {"age_hours", row.text("age_hours")},
                               {"severity", row.flag("failed") ? "fail" : "warn"}};
            return variance;
        });
        const std::int64_t failing = rows.total("aged", {"failing"});
        context.metrics()["aged_warn"] = total - failing;
        context.metrics()["aged_fail"] = failing;
        context.metrics()["warn_hours"] = settings.pending_warn_hours;
        context.metrics()["fail_hours"] = settings.pending_fail_hours;
        if (failing > 0) {
            context.raise(CheckStatus::fail);
        } else if (total > 0) {
            context.raise(CheckStatus::warn);
        }
    }
};

}  // namespace

std::unique_ptr<Check> make_pending_flow_age()
{
    return std::make_unique<PendingFlowAge>();
}

}  // namespace reconcile
