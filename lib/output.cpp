#include "lib/output.hpp"
#include "lib/text.hpp"

#include <fmt/format.h>

#include <algorithm>

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

/// Scalar metrics as "k=v" for the text line; nested ones are left to the JSON output.
std::string scalar_metrics(const nlohmann::json& metrics)
{
    std::string text;
    for (const auto& [key, value] : metrics.items()) {
        if (key == "error" || value.is_structured()) continue;
        if (!text.empty()) text += ' ';
        text += key;
        text += '=';
        text += value.is_string() ? value.get<std::string>() : value.dump();
    }
    return text;
}

std::string variance_line(const Variance& variance)
{
    std::string line = printable(variance.kind);
    for (const auto& [name, value] : variance.keys) line += fmt::format(" {}={}", printable(name), printable(value));
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
    std::string result;
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte == 0x7f) {
            result += fmt::format("\\x{:02x}", byte);
        } else {
            result.push_back(c);
        }
    }
    return result;
}

nlohmann::json acknowledgement_to_json(const Acknowledgement& acknowledgement)
{
    return {{"class", to_string(acknowledgement.variance_class)},
            {"note", acknowledgement.note},
            {"by", acknowledgement.by},
            {"at", format_utc(acknowledgement.at)},
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
    acknowledgement.at = timestamp_field(json, "at");
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
    return result;
}

nlohmann::json shard_to_json(const std::optional<Shard>& shard)
{
    if (!shard) return nullptr;
    return {{"index", shard->index}, {"count", shard->count}};
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
        {"trigger", report.trigger},
        {"status", report.status},
        {"started_at", format_utc(report.started_at)},
        {"finished_at", report.finished_at ? nlohmann::json(format_utc(*report.finished_at)) : nullptr},
        {"duration_ms", report.duration_ms},
        {"checks", std::move(checks)},
    };
    if (report.error) json["error"] = *report.error;
    return json;
}

std::string render_variance_line(const Variance& variance)
{
    return variance_line(variance);
}

std::string render_run_line(const RunReport& report)
{
    std::size_t failing = 0;
    for (const auto& check : report.checks) {
        if (check.status == CheckStatus::fail || check.status == CheckStatus::error) ++failing;
    }
    return fmt::format("{:>6}  {:<6} {}  {:<9} {}  {:>7} ms  {} check(s), {} not ok  [{}]{}", report.run_id,
                       report.book, report.category, report.status, format_utc(report.started_at), report.duration_ms,
                       report.checks.size(), failing, report.trigger,
                       report.shard ? " shard " + report.shard->to_string() : std::string{});
}

std::string render_run_text(const RunReport& report)
{
    std::string text =
        fmt::format("run {}  book {}  category {}{}  {}  started {}  {} ms\n", report.run_id, report.book,
                    report.category, report.shard ? "  shard " + report.shard->to_string() : std::string{},
                    upper(to_string(report.status)), format_utc(report.started_at), report.duration_ms);
    if (report.error) text += fmt::format("  error: {}\n", *report.error);
    std::size_t width = 0;
    for (const auto& check : report.checks) width = std::max(width, check.check_name.size());
    for (const auto& check : report.checks) {
        std::string detail = scalar_metrics(check.metrics);
        if (const auto error = check.metrics.find("error"); error != check.metrics.end()) {
            detail = fmt::format("error: {}", error->is_string() ? error->get<std::string>() : error->dump());
        }
        text += fmt::format("  {:<5}  {:<{}}  {:>5} variance(s)  {}\n", upper(to_string(check.status)),
                            check.check_name, width, check.variances_total, detail);
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
