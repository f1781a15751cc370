#include "lib/output.hpp"
#include "lib/broker_health.hpp"
#include "lib/log.hpp"
#include "lib/runner.hpp"
#include "lib/text.hpp"
#include "lib/utf8.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace reconcile {
namespace {

nlohmann::json optional_text(const std::optional<std::string>& value)
{
    return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

std::optional<std::string> text_or_null(const nlohmann::json& json, const char* key)
{
    const auto found = json.find(key);
    if (found == json.end() || found->is_null()) return std::nullopt;
    return found->get<std::string>();
}

Timestamp timestamp_field(const nlohmann::json& json, const char* key)
{
    const auto parsed = parse_utc(json.at(key).get<std::string>());
    if (!parsed) throw std::invalid_argument(fmt::format("bad timestamp in field {}", key));
    return *parsed;
}

/// Text lines are wrapped at this many characters (a terminal, a mail, a ticket).
constexpr std::size_t text_width = 100;

/// Scalar metrics as "k=v" lines under a check, wrapped at text_width after `indent`; nested
/// ones are left to the JSON output.
std::string scalar_metrics(const nlohmann::json& metrics, std::size_t indent)
{
    std::string text;
    std::string line;
    for (const auto& [key, value] : metrics.items()) {
        if (key == "error" || value.is_structured()) continue;
        const std::string item =
            printable(fmt::format("{}={}", key, value.is_string() ? value.get<std::string>() : value.dump()));
        if (!line.empty() && indent + line.size() + 1 + item.size() > text_width) {
            text += std::string(indent, ' ') + line + '\n';
            line.clear();
        }
        line += (line.empty() ? "" : " ") + item;
    }
    if (!line.empty()) text += std::string(indent, ' ') + line + '\n';
    return text;
}

std::string variance_line(const Variance& variance)
{
    // Keys sorted by name, as the fingerprint sees them and as a stored run reads them back,
    // so `run` and `runs show` print the same variance alike.
    auto keys = variance.keys;
    std::sort(keys.begin(), keys.end());
    std::string line = printable(variance.kind);
    for (const auto& [name, value] : keys) line += fmt::format(" {}={}", printable(name), printable(value));
    if (variance.expected) line += fmt::format(" expected={}", *variance.expected);
    if (variance.actual) line += fmt::format(" actual={}", *variance.actual);
    if (variance.difference) line += fmt::format(" difference={}", *variance.difference);
    for (const auto& [name, value] : variance.detail.items()) {
        line += fmt::format(" {}={}", printable(name),
                            printable(value.is_string() ? value.get<std::string>() : value.dump()));
    }
    if (variance.acknowledgement) {
        line += fmt::format("  ACKNOWLEDGED {} by {}: {}", to_string(variance.acknowledgement->variance_class),
                            printable(variance.acknowledgement->by), printable(variance.acknowledgement->note));
    }
    line += fmt::format("  [{}]", variance.fingerprint.substr(0, 12));
    return line;
}

}  // namespace

std::string printable(std::string_view text)
{
    return escape_controls(text);
}

nlohmann::json acknowledgement_to_json(const Acknowledgement& acknowledgement)
{
    return {{"class", to_string(acknowledgement.variance_class)},
            {"note", acknowledgement.note},
            {"by", acknowledgement.by},
            {"acknowledged_at", format_utc(acknowledgement.at)},
            {"until", acknowledgement.until ? nlohmann::json(format_utc(*acknowledgement.until)) : nullptr}};
}

Acknowledgement acknowledgement_from_json(const nlohmann::json& json)
{
    Acknowledgement acknowledgement;
    const auto variance_class = parse_variance_class(json.at("class").get<std::string>());
    if (!variance_class) throw std::invalid_argument("bad acknowledgement class");
    acknowledgement.variance_class = *variance_class;
    acknowledgement.note = json.at("note").get<std::string>();
    acknowledgement.by = json.at("by").get<std::string>();
    acknowledgement.at = timestamp_field(json, "acknowledged_at");
    if (const auto until = json.find("until"); until != json.end() && !until->is_null()) {
        acknowledgement.until = timestamp_field(json, "until");
    }
    return acknowledgement;
}

nlohmann::json variance_to_json(const Variance& variance)
{
    nlohmann::json keys = nlohmann::json::object();
    for (const auto& [name, value] : variance.keys) keys[name] = value;
    nlohmann::json json = {{"kind", variance.kind},
                           {"keys", std::move(keys)},
                           {"expected", optional_text(variance.expected)},
                           {"actual", optional_text(variance.actual)},
                           {"difference", optional_text(variance.difference)},
                           {"detail", variance.detail},
                           {"fingerprint", variance.fingerprint}};
    // Only an acknowledged variance carries the key, so unacknowledged output is unchanged.
    if (variance.acknowledgement) json["acknowledgement"] = acknowledgement_to_json(*variance.acknowledgement);
    return json;
}

Variance variance_from_json(const nlohmann::json& json)
{
    Variance variance;
    variance.kind = json.at("kind").get<std::string>();
    for (const auto& [name, value] : json.at("keys").items()) {
        variance.keys.emplace_back(name, value.get<std::string>());
    }
    variance.expected = text_or_null(json, "expected");
    variance.actual = text_or_null(json, "actual");
    variance.difference = text_or_null(json, "difference");
    variance.detail = json.value("detail", nlohmann::json::object());
    variance.fingerprint = json.value("fingerprint", "");
    if (const auto found = json.find("acknowledgement"); found != json.end() && !found->is_null()) {
        variance.acknowledgement = acknowledgement_from_json(*found);
    }
    return variance;
}

nlohmann::json check_result_to_json(const CheckResult& result)
{
    nlohmann::json variances = nlohmann::json::array();
    for (const auto& variance : result.variances) variances.push_back(variance_to_json(variance));
    return {{"check_name", result.check_name},     {"category", result.category},
            {"status", to_string(result.status)},  {"metrics", result.metrics},
            {"ran_at", format_utc(result.ran_at)}, {"duration_ms", result.duration_ms},
            {"variances", std::move(variances)},   {"variances_total", result.variances_total}};
}

CheckResult check_result_from_json(const nlohmann::json& json)
{
    CheckResult result;
    result.check_name = json.at("check_name").get<std::string>();
    const auto category = parse_category_text(json.at("category").get<std::string>());
    if (!category) throw std::invalid_argument("bad check category in run history");
    result.category = *category;
    const auto status = parse_check_status(json.at("status").get<std::string>());
    if (!status) throw std::invalid_argument("bad check status in run history");
    result.status = *status;
    result.metrics = json.value("metrics", nlohmann::json::object());
    result.ran_at = timestamp_field(json, "ran_at");
    result.duration_ms = json.value("duration_ms", std::int64_t{0});
    for (const auto& variance : json.at("variances")) result.variances.push_back(variance_from_json(variance));
    result.variances_total = json.value("variances_total", std::int64_t{0});
    // A C check's reach is persisted as its broker_status metric: read back, a stored run
    // answers exit_code_for (and the scheduler's retry of exit 69) as it did when it ran.
    if (const auto reach = result.metrics.find("broker_status"); reach != result.metrics.end() && reach->is_string()) {
        result.broker_reach = parse_broker_reach(reach->get<std::string>());
    }
    return result;
}

nlohmann::json shard_to_json(const std::optional<Shard>& shard)
{
    if (!shard) return nullptr;
    return {{"index", shard->index}, {"count", shard->count}};
}

nlohmann::json proof_to_json(const ProofSummary& proof)
{
    return {{"kind", proof.kind},
            {"reason", proof.reason},
            {"watermark", proof.watermark},
            {"since_run_id", proof.since_run_id ? nlohmann::json(*proof.since_run_id) : nullptr},
            {"lines_read", proof.lines_read},
            {"transactions_touched", proof.transactions_touched},
            {"stored", proof.stored}};
}

std::optional<ProofSummary> proof_from_json(const nlohmann::json& json)
{
    if (!json.is_object()) return std::nullopt;
    const auto kind = parse_proof_kind(json.value("kind", std::string{}));
    if (!kind) return std::nullopt;
    ProofSummary proof{.kind = *kind,
                       .reason = json.value("reason", std::string{}),
                       .watermark = json.value("watermark", std::string{}),
                       .lines_read = json.value("lines_read", std::int64_t{0}),
                       .transactions_touched = json.value("transactions_touched", std::int64_t{0}),
                       .stored = json.value("stored", false)};
    if (const auto since = json.find("since_run_id"); since != json.end() && since->is_number_integer()) {
        proof.since_run_id = since->get<std::int64_t>();
    }
    return proof;
}

std::string proof_line(const ProofSummary& proof)
{
    if (proof.kind == ProofKind::incremental) {
        return fmt::format(
            "proof: incremental since run {} (watermark {}), {} line(s) read, {} transaction(s) "
            "re-proved",
            proof.since_run_id.value_or(0), proof.watermark, proof.lines_read, proof.transactions_touched);
    }
    return fmt::format("proof: full ({}), watermark {}", proof.reason, proof.watermark);
}

nlohmann::json run_report_to_json(const RunReport& report)
{
    nlohmann::json checks = nlohmann::json::array();
    for (const auto& check : report.checks) checks.push_back(check_result_to_json(check));
    nlohmann::json json = {
        {"run_id", report.run_id},
        {"book", report.book},
        {"category", report.category},
        {"shard", shard_to_json(report.shard)},
        {"scope", report.scope},
        {"checks_requested", report.checks_requested},
        {"trigger", report.trigger},
        {"status", report.status},
        {"started_at", format_utc(report.started_at)},
        {"finished_at", report.finished_at ? nlohmann::json(format_utc(*report.finished_at)) : nullptr},
        {"duration_ms", report.duration_ms},
        {"checks", std::move(checks)},
    };
    if (report.error) json["error"] = *report.error;
    if (!report.brokers.empty()) json["brokers"] = broker_health_to_json(report.brokers);
    if (report.proof) json["proof"] = proof_to_json(*report.proof);
    return json;
}

std::string render_variance_line(const Variance& variance)
{
    return variance_line(variance);
}

namespace {

/// Characters, not bytes: UTF-8 continuation bytes take no column.
std::size_t display_width(std::string_view text)
{
    return static_cast<std::size_t>(
        std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

/// The first `width` characters of `text`, the last replaced by "…" when it is longer.
std::string fit(const std::string& text, std::size_t width)
{
    if (width == 0 || display_width(text) <= width) return text;
    std::string result;
    std::size_t shown = 0;
    for (const char c : text) {
        const bool starts_char = (static_cast<unsigned char>(c) & 0xC0) != 0x80;
        if (starts_char && ++shown == width) break;
        result.push_back(c);
    }
    return result + "…";
}

}  // namespace

std::string render_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows,
                         const std::vector<std::size_t>& max_widths)
{
    std::vector<std::vector<std::string>> lines{header};
    for (const auto& row : rows) lines.push_back(row);
    std::vector<std::size_t> widths(header.size(), 0);
    for (auto& line : lines) {
        line.resize(header.size());
        for (std::size_t i = 0; i < line.size(); ++i) {
            line[i] = fit(printable(line[i]), i < max_widths.size() ? max_widths[i] : 0);
            widths[i] = std::max(widths[i], display_width(line[i]));
        }
    }
    std::string text;
    for (const auto& line : lines) {
        std::string out;
        for (std::size_t i = 0; i < line.size(); ++i) {
            out += line[i];
            if (i + 1 < line.size()) out += std::string(widths[i] - display_width(line[i]) + 2, ' ');
        }
        while (!out.empty() && out.back() == ' ') out.pop_back();
        text += out + '\n';
    }
    return text;
}

std::string run_finished_message(const RunReport& report, ExitCode code)
{
    std::string message =
        fmt::format("run {} of {}/{}{} ({}) finished {} in {} ms (exit {})", report.run_id, report.book,
                    report.category, report.shard ? " shard " + report.shard->to_string() : std::string{},
                    report.trigger, report.status, report.duration_ms, to_int(code));
    if (code != ExitCode::ok) message += ": " + run_exit_reason(report, code);
    return message;
}

void log_run_finished(const RunReport& report, ExitCode code)
{
    log_line(code == ExitCode::ok ? LogLevel::info : LogLevel::warn, run_finished_message(report, code));
}

std::string render_runs_table(const std::vector<RunReport>& reports)
{
    std::vector<std::vector<std::string>> rows;
    for (const auto& report : reports) {
        std::map<CheckStatus, std::size_t> counts;
        for (const auto& check : report.checks) ++counts[check.status];
        rows.push_back({std::to_string(report.run_id), report.book, std::string(to_string(report.category)),
                        report.shard ? report.shard->to_string() : "-", std::string(to_string(report.scope)),
                        std::string(to_string(report.status)), format_utc(report.started_at),
                        std::to_string(report.duration_ms), std::to_string(report.checks.size()),
                        std::to_string(counts[CheckStatus::ok]), std::to_string(counts[CheckStatus::warn]),
                        std::to_string(counts[CheckStatus::fail]), std::to_string(counts[CheckStatus::error]),
                        std::string(to_string(report.trigger))});
    }
    return render_table({"run_id", "book", "category", "shard", "scope", "status", "started_at", "duration_ms",
                         "checks", "ok", "warn", "fail", "error", "trigger"},
                        rows);
}

std::string render_run_text(const RunReport& report)
{
    std::string text =
        fmt::format("run {}  book {}  category {}{}  {}  started {}  {} ms\n", report.run_id, report.book,
                    report.category, report.shard ? "  shard " + report.shard->to_string() : std::string{},
                    upper(to_string(report.status)), format_utc(report.started_at), report.duration_ms);
    if (report.scope == RunScope::partial) {
        std::string names;
        for (const auto& name : report.checks_requested) names += (names.empty() ? "" : ", ") + name;
        text += fmt::format("  partial run: only {} ran; the other checks of category {} keep their latest results\n",
                            names, report.category);
    }
    if (report.error) text += fmt::format("  error: {}\n", *report.error);
    if (report.proof) text += "  " + proof_line(*report.proof) + "\n";
    std::size_t width = 0;
    for (const auto& check : report.checks) width = std::max(width, check.check_name.size());
    for (const auto& check : report.checks) {
        // A check that ended error found nothing either way: it says why, not "0 variance(s)".
        if (const auto error = check.metrics.find("error");
            check.status == CheckStatus::error && error != check.metrics.end()) {
            text += fmt::format("  {:<5}  {:<{}}  error: {}\n", upper(to_string(check.status)), check.check_name, width,
                                printable(error->is_string() ? error->get<std::string>() : error->dump()));
        } else {
            text += fmt::format("  {:<5}  {:<{}}  {} variance(s)\n", upper(to_string(check.status)), check.check_name,
                                width, check.variances_total);
        }
        text += scalar_metrics(check.metrics, 9);
    }
    for (const auto& check : report.checks) {
        if (check.variances_total == 0) continue;
        text += fmt::format("\n{} ({} variance(s){}):\n", check.check_name, check.variances_total,
                            static_cast<std::int64_t>(check.variances.size()) < check.variances_total
                                ? fmt::format(", first {} listed", check.variances.size())
                                : std::string{});
        for (const auto& variance : check.variances) text += "  " + variance_line(variance) + "\n";
    }
    return text;
}

}  // namespace reconcile
