#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lib/config.hpp"
#include "lib/db.hpp"
#include "lib/lifecycle.hpp"
#include "lib/results.hpp"

namespace reconcile {

/// How many variances (and resolved variances) an alert lists; its counts are always exact.
inline constexpr std::size_t alert_variance_limit = 10;

/// One webhook alert about one check of one run, ready to POST (README "Alerts").
struct Alert {
    std::string check_name;
    std::string status;     ///< the check's status: warn | fail, or ok for a recovery
    std::string event;      ///< problem | recovered
    std::string dedup_key;  ///< same key, same situation: receivers can drop repeats
    nlohmann::json payload;
};

/// The dedup key of a check's situation: hex SHA-256 over book, check, status and the sorted
/// fingerprints it listed. It changes exactly when the status or the set of breaks changes.
std::string alert_dedup_key(const std::string& book, const std::string& check_name, const std::string& status,
                            std::vector<std::string> fingerprints);

/// Decides which checks of a finished run alert and builds their payloads (no I/O). Every
/// warn/fail check alerts in mode `every`; in mode `change` only when its dedup key differs from
/// the last alert delivered for it. In both modes a check that is ok again after a delivered
/// warn/fail alert sends one `recovered` alert. `error` checks never alert.
std::vector<Alert> plan_alerts(const Settings& settings, const RunReport& report, const RunChanges& changes);

/// The HTTP headers of one alert: content type, event, dedup key and, with a secret, the
/// timestamp and the signature "sha256=" + HMAC-SHA256(secret, timestamp + "." + body) in hex.
std::vector<std::string> alert_headers(const Alert& alert, const std::string& body,
                                       const std::optional<std::string>& secret, const std::string& timestamp);

/// How one alert's delivery ended.
struct AlertDelivery {
    std::string check_name;
    bool delivered = false;  ///< the webhook answered 2xx
    int attempts = 0;        ///< 2 when a connect failure was retried
    long http_status = 0;    ///< 0 when no answer came
    std::string failure;     ///< why it was not delivered (one line, never the URL)
};

/// POSTs every alert at once over libcurl and returns within `budget` whatever happens: one total
/// deadline for all of them, at most one retry after a connect failure, redirects not followed.
std::vector<AlertDelivery> deliver_alerts(const std::string& url, const std::optional<std::string>& secret,
                                          const std::vector<Alert>& alerts, std::chrono::milliseconds budget);

/// The post-run step of every run path (run, serve, tick), after the results committed: plans,
/// delivers within RECON_ALERT_TIMEOUT_MS, logs failures as one line and remembers what was
/// delivered. Never throws and never changes the run's outcome.
void send_run_alerts(const Settings& settings, const RunReport& report, const RunChanges& changes,
                     Session& control) noexcept;

}  // namespace reconcile
