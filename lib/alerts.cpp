#include "lib/alerts.hpp"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <memory>

#include "lib/curl_handles.hpp"
#include "lib/hash.hpp"
#include "lib/log.hpp"
#include "lib/output.hpp"
#include "lib/text.hpp"

namespace reconcile {
namespace {

using Clock = std::chrono::steady_clock;

/// A pause before the one retry after a connect failure, so a receiver that is restarting has
/// a moment; never beyond the deadline.
constexpr std::chrono::milliseconds connect_retry_pause{250};
constexpr std::size_t summary_limit = 400;

bool is_problem(CheckStatus status)
{
    return status == CheckStatus::warn || status == CheckStatus::fail;
}

/// Operator-visible text from ledger data: control characters folded so the summary stays one line.
std::string one_line(std::string text)
{
    for (char& c : text) {
        if (std::iscntrl(static_cast<unsigned char>(c))) c = ' ';
    }
    if (text.size() > summary_limit) {
        text.resize(summary_limit - 3);
        text += "...";
    }
    return text;
}

std::string variance_brief(const Variance& variance)
{
    std::string text = variance.kind;
    for (const auto& [name, value] : variance.keys) text += fmt::format(" {}={}", name, value);
    if (variance.difference) text += fmt::format(" difference={}", *variance.difference);
    return text;
}

/// "book/category", plus " shard K/N" for a sharded run.
std::string run_subject(const RunReport& report)
{
    std::string subject = fmt::format("{}/{}", report.book, report.category);
    if (report.shard) subject += " shard " + report.shard->to_string();
    return subject;
}

/// What a check's dedup key is about: the book, or for a sharded run the book and its shard, so
/// each shard's situation is deduplicated on its own.
std::string dedup_subject(const RunReport& report)
{
    return report.shard ? report.book + '/' + report.shard->scope() : report.book;
}

std::string summary_of(const RunReport& report, const CheckResult& check, const CheckChanges* changes,
                       const std::string& event)
{
    const std::int64_t resolved = changes ? changes->resolved_count : 0;
    if (event == "recovered") {
        return one_line(fmt::format("{} {} OK again: {} variance(s) resolved, none left", run_subject(report),
                                    check.check_name, resolved));
    }
    std::string text = fmt::format("{} {} {}: {} variance(s)", run_subject(report), check.check_name,
                                   upper(to_string(check.status)), check.variances_total);
    if (changes) {
        text += fmt::format(" ({} new, {} persisting, {} reopened, {} resolved)", changes->new_count,
                            changes->persisting_count, changes->reopened_count, resolved);
    }
    const auto first = std::find_if(check.variances.begin(), check.variances.end(),
                                    [](const Variance& v) { return !v.acknowledgement; });
    if (first != check.variances.end()) text += "; first: " + variance_brief(*first);
    return one_line(std::move(text));
}

nlohmann::json payload_of(const Settings& settings, const RunReport& report, const CheckResult& check,
                          const CheckChanges* changes, const Alert& alert)
{
    nlohmann::json variances = nlohmann::json::array();
    std::int64_t acknowledged = 0;
    for (const auto& variance : check.variances) {
        if (variance.acknowledgement) {
            ++acknowledged;
            continue;
        }
        if (variances.size() >= alert_variance_limit) continue;
        auto json = variance_to_json(variance);
        if (changes) {
            if (const auto found = changes->states.find(variance.fingerprint); found != changes->states.end()) {
                json["state"] = found->second.state;
                json["open_since_run"] = found->second.open_since_run;
                json["open_since_at"] = format_utc(found->second.open_since_at);
                json["occurrences"] = found->second.occurrences;
            }
        }
        variances.push_back(std::move(json));
    }
    nlohmann::json resolved = nlohmann::json::array();
    if (changes) {
        for (const auto& item : changes->resolved) {
            resolved.push_back({{"fingerprint", item.fingerprint},
                                {"kind", item.kind},
                                {"keys", item.keys},
                                {"open_since_run", item.open_since_run},
                                {"open_since_at", format_utc(item.open_since_at)},
                                {"occurrences", item.occurrences}});
        }
    }
    const auto previous = changes && changes->previous_status
                              ? nlohmann::json(std::string(to_string(*changes->previous_status)))
                              : nlohmann::json(nullptr);
    return {{"version", 1},
            {"event", alert.event},
            {"dedup_key", alert.dedup_key},
            {"book", report.book},
            {"run_id", report.run_id},
            {"category", report.category},
            {"shard", shard_to_json(report.shard)},
            {"scope", report.scope},
            {"trigger", report.trigger},
            {"check_name", check.check_name},
            {"status", to_string(check.status)},
            {"previous_status", previous},
            {"mode", settings.alert_mode},
            {"run_started_at", format_utc(report.started_at)},
            {"summary", summary_of(report, check, changes, alert.event)},
            {"counts",
             {{"variances_total", check.variances_total},
              {"listed", check.variances.size()},
              {"acknowledged", acknowledged},
              {"new", changes ? changes->new_count : 0},
              {"persisting", changes ? changes->persisting_count : 0},
              {"reopened", changes ? changes->reopened_count : 0},
              {"resolved", changes ? changes->resolved_count : 0}}},
            {"variances", std::move(variances)},
            {"resolved", std::move(resolved)}};
}

std::size_t discard_body(char*, std::size_t size, std::size_t count, void*)
{
    return size * count;
}

/// One alert in flight. While its easy handle is added to the multi handle, `multi` says so,
/// and leaving (a throw included) removes it before the handle is freed.
struct Transfer {
    Transfer() = default;
    Transfer(const Transfer&) = delete;
    Transfer& operator=(const Transfer&) = delete;
    ~Transfer()
    {
        if (multi != nullptr) curl_multi_remove_handle(multi, easy.get());
    }

    CurlEasy easy;
    CurlSlist headers;
    CURLM* multi = nullptr;
    std::string body;
    bool done = false;
    std::optional<Clock::time_point> retry_at;
    AlertDelivery result;
};

std::int64_t remaining_ms(Clock::time_point deadline)
{
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return std::max<std::int64_t>(left, 1);
}

void start_transfer(CURLM* multi, Transfer& transfer, Clock::time_point deadline)
{
    const long left = static_cast<long>(remaining_ms(deadline));
    curl_easy_setopt(transfer.easy.get(), CURLOPT_TIMEOUT_MS, left);
    curl_easy_setopt(transfer.easy.get(), CURLOPT_CONNECTTIMEOUT_MS, left);
    ++transfer.result.attempts;
    transfer.retry_at.reset();
    curl_multi_add_handle(multi, transfer.easy.get());
    transfer.multi = multi;
}

void finish_transfer(Transfer& transfer, CURLcode code, std::chrono::milliseconds budget)
{
    transfer.done = true;
    if (code == CURLE_OK) {
        long status = 0;
        curl_easy_getinfo(transfer.easy.get(), CURLINFO_RESPONSE_CODE, &status);
        transfer.result.http_status = status;
        transfer.result.delivered = status >= 200 && status < 300;
        if (!transfer.result.delivered) transfer.result.failure = fmt::format("webhook answered HTTP {}", status);
    } else if (code == CURLE_OPERATION_TIMEDOUT) {
        transfer.result.failure = fmt::format("no answer within the alert deadline of {} ms", budget.count());
    } else {
        transfer.result.failure = curl_easy_strerror(code);
        if (transfer.result.attempts > 1) transfer.result.failure += " (after one retry)";
    }
}

}  // namespace

std::string alert_dedup_key(const std::string& book, const std::string& check_name, const std::string& status,
                            std::vector<std::string> fingerprints)
{
    std::sort(fingerprints.begin(), fingerprints.end());
    fingerprints.erase(std::unique(fingerprints.begin(), fingerprints.end()), fingerprints.end());
    std::string material = book + '\x1f' + check_name + '\x1f' + status;
    for (const auto& fingerprint : fingerprints) material += '\x1f' + fingerprint;
    return to_hex(sha256(material));
}

std::vector<Alert> plan_alerts(const Settings& settings, const RunReport& report, const RunChanges& changes)
{
    std::vector<Alert> alerts;
    for (const auto& check : report.checks) {
        const CheckChanges* history = changes.find(check.check_name);
        Alert alert{.check_name = check.check_name, .status = std::string(to_string(check.status))};
        if (is_problem(check.status)) {
            // Acknowledged variances raise no alert: neither the key nor the payload knows them.
            std::vector<std::string> fingerprints;
            for (const auto& variance : check.variances) {
                if (!variance.acknowledgement) fingerprints.push_back(variance.fingerprint);
            }
            alert.event = "problem";
            alert.dedup_key =
                alert_dedup_key(dedup_subject(report), check.check_name, alert.status, std::move(fingerprints));
            if (settings.alert_mode == "change" && history && history->alerted_dedup_key == alert.dedup_key) continue;
        } else if (check.status == CheckStatus::ok) {
            const bool was_problem = history && history->alerted_status &&
                                     (*history->alerted_status == "warn" || *history->alerted_status == "fail");
            if (!was_problem) continue;
            alert.event = "recovered";
            alert.dedup_key = alert_dedup_key(dedup_subject(report), check.check_name, alert.status, {});
        } else {
            continue;  // error: the check proved nothing either way
        }
        alert.payload = payload_of(settings, report, check, history, alert);
        alerts.push_back(std::move(alert));
    }
    return alerts;
}

std::vector<std::string> alert_headers(const Alert& alert, const std::string& body,
                                       const std::optional<std::string>& secret, const std::string& timestamp)
{
    std::vector<std::string> headers{
        "Content-Type: application/json", fmt::format("User-Agent: reconcile/{}", RECON_VERSION),
        "Expect:", "X-Reconcile-Event: " + alert.event, "X-Reconcile-Dedup-Key: " + alert.dedup_key};
    if (secret) {
        headers.push_back("X-Reconcile-Timestamp: " + timestamp);
        headers.push_back("X-Reconcile-Signature: sha256=" + hmac_sha256_hex(*secret, timestamp + "." + body));
    }
    return headers;
}

std::vector<AlertDelivery> deliver_alerts(const std::string& url, const std::optional<std::string>& secret,
                                          const std::vector<Alert>& alerts, std::chrono::milliseconds budget)
{
    curl_global_init_once();
    const auto deadline = Clock::now() + budget;
    const std::string timestamp = std::to_string(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
    const CurlMulti multi(curl_multi_init());
    if (!multi) throw std::runtime_error("cannot initialise libcurl");
    std::vector<Transfer> transfers(alerts.size());
    for (std::size_t i = 0; i < alerts.size(); ++i) {
        Transfer& transfer = transfers[i];
        transfer.result.check_name = alerts[i].check_name;
        transfer.body = alerts[i].payload.dump();
        for (const auto& header : alert_headers(alerts[i], transfer.body, secret, timestamp)) {
            curl_slist_add(transfer.headers, header.c_str());
        }
        transfer.easy.reset(curl_easy_init());
        if (!transfer.easy) {
            transfer.done = true;
            transfer.result.failure = "cannot initialise libcurl";
            continue;
        }
        CURL* easy = transfer.easy.get();
        curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
        curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(easy, CURLOPT_HTTPHEADER, transfer.headers.get());
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, transfer.body.c_str());
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(transfer.body.size()));
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &discard_body);
        curl_easy_setopt(easy, CURLOPT_PRIVATE, &transfer);
        start_transfer(multi.get(), transfer, deadline);
    }

    const auto all_done = [&] {
        return std::all_of(transfers.begin(), transfers.end(), [](const Transfer& t) { return t.done; });
    };
    while (!all_done() && Clock::now() < deadline) {
        int running = 0;
        curl_multi_perform(multi.get(), &running);
        int queued = 0;
        while (CURLMsg* message = curl_multi_info_read(multi.get(), &queued)) {
            if (message->msg != CURLMSG_DONE) continue;
            CURL* easy = message->easy_handle;
            const CURLcode code = message->data.result;
            Transfer* transfer = nullptr;
            curl_easy_getinfo(easy, CURLINFO_PRIVATE, &transfer);
            curl_multi_remove_handle(multi.get(), easy);
            transfer->multi = nullptr;
            if (code == CURLE_COULDNT_CONNECT && transfer->result.attempts < 2) {
                transfer->retry_at = Clock::now() + connect_retry_pause;
                continue;
            }
            finish_transfer(*transfer, code, budget);
        }
        for (auto& transfer : transfers) {
            if (!transfer.done && transfer.retry_at && Clock::now() >= *transfer.retry_at) {
                start_transfer(multi.get(), transfer, deadline);
            }
        }
        if (all_done()) break;
        const auto wait = std::min<std::int64_t>(remaining_ms(deadline), 50);
        curl_multi_poll(multi.get(), nullptr, 0, static_cast<int>(wait), nullptr);
    }

    std::vector<AlertDelivery> results;
    for (auto& transfer : transfers) {
        if (!transfer.done) {
            transfer.result.failure = transfer.retry_at
                                          ? "could not connect; no time left for a retry"
                                          : fmt::format("no answer within the alert deadline of {} ms", budget.count());
        }
        results.push_back(std::move(transfer.result));
    }
    return results;
}

void send_run_alerts(const Settings& settings, const RunReport& report, const RunChanges& changes,
                     Session& control) noexcept
{
    try {
        if (!settings.alert_webhook_url) return;
        const auto alerts = plan_alerts(settings, report, changes);
        if (alerts.empty()) return;
        const auto deliveries = deliver_alerts(*settings.alert_webhook_url, settings.alert_webhook_secret, alerts,
                                               std::chrono::milliseconds(settings.alert_timeout_ms));
        std::vector<DeliveredAlert> delivered;
        std::string failures;
        std::size_t failed = 0;
        for (std::size_t i = 0; i < deliveries.size(); ++i) {
            if (deliveries[i].delivered) {
                delivered.push_back({alerts[i].check_name, alerts[i].status, alerts[i].dedup_key});
                continue;
            }
            ++failed;
            failures +=
                fmt::format("{}{}: {}", failures.empty() ? "" : "; ", deliveries[i].check_name, deliveries[i].failure);
        }
        if (failed > 0) {
            log_warn("webhook: {} of {} alert(s) of run {} ({}/{}) not delivered: {}", failed, alerts.size(),
                     report.run_id, report.book, report.category, failures);
        } else {
            log_info("webhook: delivered {} alert(s) of run {} ({}/{})", delivered.size(), report.run_id, report.book,
                     report.category);
        }
        record_delivered_alerts(control, report.book, report.run_id, check_state_scope(report), delivered);
    } catch (const std::exception& e) {
        log_warn("webhook: alerts of run {} ({}/{}) not sent: {}", report.run_id, report.book, report.category,
                 first_line(e.what()));
    } catch (...) {
        log_warn("webhook: alerts of run {} ({}/{}) not sent", report.run_id, report.book, report.category);
    }
}

}  // namespace reconcile
