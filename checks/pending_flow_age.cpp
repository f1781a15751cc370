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
SELECT 'summary' AS row_kind, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       coalesce(round(max(age_hours), 2), 0)::text, count(*), 0, false
FROM open_flows
UNION ALL
SELECT 'aged', flow_id::text, flow_type::text, customer_id::text, amount::text, currency::text, status::text,
       to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), round(age_hours, 2)::text,
       total, failing, age_hours > $3
FROM aged
)sql";

class PendingFlowAge : public Check {
public:
    std::string_view name() const override { return "pending_flow_age"; }
    char category() const override { return 'D'; }
    std::string_view description() const override
    {
        return "No pending or in-transit flow is older than its tolerance (warn and fail thresholds in hours).";
    }

    void run(CheckContext& context) const override
    {
        const auto& settings = context.settings();
        std::int64_t total = 0;
        std::int64_t failing = 0;
        std::int64_t listed = 0;
        for (const auto& row :
             context.ledger().exec_params(aged_flows_sql, format_utc(context.as_of()), settings.pending_warn_hours,
                                          settings.pending_fail_hours, listing_limit(context))) {
            if (row[0].as<std::string>() == "summary") {
                context.metrics()["open_flows"] = row[9].as<std::int64_t>();
                context.metrics()["oldest_age_hours"] = row[8].as<std::string>();
                continue;
            }
            total = row[9].as<std::int64_t>();
            failing = row[10].as<std::int64_t>();
            ++listed;
            std::vector<std::pair<std::string, std::string>> keys{{"flow_id", row[1].as<std::string>()}};
            if (!row[3].is_null()) keys.emplace_back("customer_id", row[3].as<std::string>());
            keys.emplace_back("currency", text_or_empty(row[5]));
            Variance variance{.kind = "aged_pending", .keys = std::move(keys), .actual = optional_text(row[4])};
            variance.detail = {{"flow_type", text_or_empty(row[2])},
                               {"status", text_or_empty(row[6])},
                               {"created_at", row[7].as<std::string>()},
                               {"age_hours", row[8].as<std::string>()},
                               {"severity", row[11].as<bool>() ? "fail" : "warn"}};
            context.variances().add(std::move(variance));
        }
        context.variances().add_unlisted(total - listed);
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
