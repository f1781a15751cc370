#include "lib/variances_api.hpp"

#include <fmt/format.h>

#include <map>

#include "lib/api.hpp"
#include "lib/console.hpp"
#include "lib/decimal.hpp"
#include "lib/lifecycle.hpp"
#include "lib/migrate.hpp"
#include "lib/output.hpp"
#include "lib/trace.hpp"

namespace reconcile {
namespace {

constexpr std::int64_t default_page = 100;
constexpr std::int64_t max_page = 500;
constexpr std::int64_t max_days = 90;

std::vector<std::string> books_of(const Settings& settings, const QueryParams& params)
{
    if (const auto book = single_param(params, "book")) return {validated_book(*book, settings)};
    return configured_books(settings);
}

// The day's last completed unsharded run of each check; drift sums the listed variances'
// differences that are plain decimals (exact: numeric in, text out).
const std::string daily_sql = R"sql(
SELECT check_name, to_char(day, 'YYYY-MM-DD') AS day, variances, drift::text AS drift
FROM (
    SELECT DISTINCT ON (c->>'check_name', (r.started_at AT TIME ZONE 'UTC')::date)
           c->>'check_name' AS check_name, (r.started_at AT TIME ZONE 'UTC')::date AS day,
           coalesce((c->>'variances_total')::bigint, 0) AS variances,
           (SELECT coalesce(sum(abs((v->>'difference')::numeric)), 0)
            FROM jsonb_array_elements(coalesce(c->'variances', '[]'::jsonb)) v
            WHERE v->>'difference' ~ '^-?[0-9]+(\.[0-9]+)?$') AS drift
    FROM recon.runs r, jsonb_array_elements(r.metadata->'checks') c
    WHERE r.book = $1 AND r.status IN ('ok', 'warn', 'fail', 'error') AND r.error IS NULL
      AND r.shard_count IS NULL AND r.started_at >= now() - make_interval(days => $2::int)
    ORDER BY c->>'check_name', (r.started_at AT TIME ZONE 'UTC')::date, r.started_at DESC
) d
ORDER BY check_name, day
)sql";

std::string_view content_type_of(std::string_view name)
{
    if (name.ends_with(".html")) return "text/html; charset=utf-8";
    if (name.ends_with(".js")) return "text/javascript; charset=utf-8";
    if (name.ends_with(".css")) return "text/css; charset=utf-8";
    if (name.ends_with(".svg")) return "image/svg+xml";
    return "application/octet-stream";
}

}  // namespace

HttpReply list_variances_reply(const BookDatabases& databases, const CheckRegistry& registry, const QueryParams& params)
{
    const Settings& settings = databases.settings();
    require_known_params(params, {"book", "check", "state", "class", "cursor", "limit"});
    VarianceHistoryFilter filter;
    filter.check_name = single_param(params, "check");
    if (filter.check_name && registry.find(*filter.check_name) == nullptr) {
        throw HttpError(400, fmt::format("unknown check '{}' (see `reconcile checks`)", *filter.check_name));
    }
    if (const auto state = single_param(params, "state")) {
        if (*state == "open" || *state == "resolved") {
            filter.status = *state;
        } else if (*state == "acknowledged" || *state == "unacknowledged") {
            filter.status = "open";
            filter.acknowledged = *state == "acknowledged";
        } else {
            throw HttpError(
                400, fmt::format("state must be open, resolved, acknowledged or unacknowledged, got '{}'", *state));
        }
    }
    if (const auto text = single_param(params, "class")) {
        filter.variance_class = parse_variance_class(*text);
        if (!filter.variance_class)
            throw HttpError(400, fmt::format("class must be data, code or timing, got '{}'", *text));
    }
    std::int64_t limit = default_page;
    if (const auto text = single_param(params, "limit")) {
        limit = parse_positive(*text, "limit");
        if (limit > max_page) throw HttpError(400, fmt::format("limit must be at most {}", max_page));
    }
    std::map<std::string, std::int64_t> offsets;
    if (const auto cursor = single_param(params, "cursor")) offsets = decode_cursor(*cursor);

    // Book after book: each book's position in the cursor is how many of its breaks were taken.
    nlohmann::json variances = nlohmann::json::array();
    bool more = false;
    for (const auto& book : books_of(settings, params)) {
        const std::int64_t room = limit - static_cast<std::int64_t>(variances.size());
        filter.offset = offsets[book];
        filter.limit = std::max<std::int64_t>(room, 0) + 1;
        const auto rows = databases.with_session<std::vector<VarianceHistory>>(
            book, [book, filter](Session& session) { return list_variance_history(session, book, filter); });
        const auto taken = std::min<std::int64_t>(room, static_cast<std::int64_t>(rows.size()));
        for (std::int64_t i = 0; i < taken; ++i) variances.push_back(variance_history_to_json(rows[i]));
        offsets[book] += taken;
        if (static_cast<std::int64_t>(rows.size()) > taken) {
            more = true;
            break;
        }
    }
    return HttpReply::json({{"variances", std::move(variances)},
                            {"next_cursor", more ? nlohmann::json(encode_cursor(offsets)) : nlohmann::json(nullptr)}});
}

HttpReply variance_action_reply(const BookDatabases& databases, VarianceAction action, const std::string& fingerprint,
                                std::string_view body)
{
    const Settings& settings = databases.settings();
    const nlohmann::json document =
        json_object_body(body, action == VarianceAction::ack ? R"({"class": "timing", "note": "why"})" : "{}");
    const std::set<std::string> known = action == VarianceAction::ack
                                            ? std::set<std::string>{"class", "note", "until", "book"}
                                            : std::set<std::string>{"book"};
    for (const auto& [key, value] : document.items()) {
        if (known.count(key) == 0) throw HttpError(400, fmt::format("unknown field '{}'", key));
        if (!value.is_string() && !(key == "until" && value.is_null())) {
            throw HttpError(400, fmt::format("field '{}' must be a string", key));
        }
    }
    VarianceActionRequest request;
    request.action = action;
    request.fingerprints = {fingerprint};
    request.by = "api";
    if (document.contains("book")) request.book = validated_book(document["book"].get<std::string>(), settings);
    if (action == VarianceAction::ack) {
        const std::string text = document.value("class", "");
        request.variance_class = parse_variance_class(text);
        if (!request.variance_class)
            throw HttpError(400, fmt::format("class must be data, code or timing, got '{}'", text));
        request.note = document.value("note", "");
        if (document.contains("until") && document["until"].is_string()) {
            request.until = parse_utc(document["until"].get<std::string>());
            if (!request.until) throw HttpError(400, "until must be a UTC ISO-8601 time (2026-12-31T00:00:00Z)");
        }
    }
    std::vector<RecordedAction> recorded;
    try {
        recorded = record_variance_actions(databases, request);
    } catch (const UnknownVariance& e) {
        throw HttpError(404, e.what());
    }
    nlohmann::json actions = nlohmann::json::array();
    for (const auto& done : recorded) {
        actions.push_back({{"book", done.book},
                           {"check_name", done.check_name},
                           {"fingerprint", done.fingerprint},
                           {"action", to_string(done.action)},
                           {"by", request.by},
                           {"acted_at", format_utc(done.at)}});
    }
    return HttpReply::json({{"actions", std::move(actions)}});
}

HttpReply trace_reply(const BookDatabases& databases, const QueryParams& params)
{
    const Settings& settings = databases.settings();
    require_known_params(params, {"book", "txn", "source", "source_txn_id"});
    const auto book = single_param(params, "book");
    if (!book) throw HttpError(400, "trace needs book=");
    TraceQuery query{.txn_id = single_param(params, "txn"),
                     .source = single_param(params, "source"),
                     .source_txn_id = single_param(params, "source_txn_id")};
    if (!query.txn_id && !(query.source && query.source_txn_id)) {
        throw HttpError(400, "trace needs txn=ID or source=S&source_txn_id=X");
    }
    const std::string name = validated_book(*book, settings);
    // Its own copy of the settings: the work may outlive this request (lib/db.hpp BookDatabases).
    const auto report = databases.call<TraceReport>(name, [settings, name, query](const SessionLimits& limits) {
        return trace_transaction(settings, name, query, limits);
    });
    return HttpReply::json(trace_report_to_json(report));
}

HttpReply daily_reply(const BookDatabases& databases, const QueryParams& params)
{
    const Settings& settings = databases.settings();
    require_known_params(params, {"book", "days"});
    std::int64_t days = 30;
    if (const auto text = single_param(params, "days")) {
        days = parse_positive(*text, "days");
        if (days > max_days) throw HttpError(400, fmt::format("days must be at most {}", max_days));
    }
    nlohmann::json series = nlohmann::json::array();
    for (const auto& book : books_of(settings, params)) {
        const auto days_of_book = databases.with_session<nlohmann::json>(book, [book, days](Session& session) {
            nlohmann::json rows = nlohmann::json::array();
            pqxx::read_transaction txn(session.connection());
            for (const auto& row : txn.exec_params(daily_sql, book, days)) {
                rows.push_back({{"book", book},
                                {"check_name", row["check_name"].as<std::string>()},
                                {"date", row["day"].as<std::string>()},
                                {"variances", row["variances"].as<std::int64_t>()},
                                {"drift", row["drift"].as<std::string>()}});
            }
            // One check's days keep one scale: a quiet day reads "0.00" beside "1800.00".
            std::map<std::string, std::vector<std::reference_wrapper<std::string>>> drifts_of_check;
            for (auto& day : rows) {
                drifts_of_check[day["check_name"].get<std::string>()].push_back(day["drift"].get_ref<std::string&>());
            }
            for (const auto& [check_name, drifts] : drifts_of_check) align_decimal_texts(drifts);
            return rows;
        });
        for (const auto& row : days_of_book) series.push_back(row);
    }
    return HttpReply::json({{"days", days}, {"series", std::move(series)}});
}

std::optional<HttpReply> console_reply(std::string_view path)
{
    const std::string_view name = path == "/" ? std::string_view("index.html") : path.substr(1);
    for (const auto& asset : console_assets()) {
        if (asset.name != name) continue;
        HttpReply reply;
        reply.body = std::string(asset.body);
        reply.content_type = std::string(content_type_of(name));
        reply.headers = {
            {"Content-Security-Policy", console_csp}, {"Referrer-Policy", "no-referrer"}, {"X-Frame-Options", "DENY"}};
        return reply;
    }
    return std::nullopt;
}

}  // namespace reconcile
