#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace reconcile {

/// Limits of every broker call (settings RECON_BROKER_*).
struct HttpLimits {
    std::int64_t connect_timeout_ms = 5000;      ///< TCP (and TLS) connect, per attempt
    std::int64_t total_timeout_ms = 30000;       ///< the whole attempt, connect to last byte
    std::int64_t max_retries = 3;                ///< attempts after the first, on retryable failures
    std::int64_t backoff_base_ms = 250;          ///< first backoff; doubles per attempt, jittered
    std::int64_t backoff_max_ms = 8000;          ///< cap of one backoff
    std::int64_t retry_after_max_seconds = 60;   ///< a longer Retry-After is not waited for
    std::int64_t max_response_bytes = 16 << 20;  ///< the transfer is aborted past this
};

/// Why a call failed after its retries.
enum class HttpFailure {
    unreachable,  ///< no connection could be made (refused, no route, DNS, connect timeout)
    timeout,      ///< connected, but the answer did not complete within the total timeout
    transport,    ///< the connection broke mid-answer (reset, truncated body)
    too_large,    ///< the answer exceeded the response size limit (never retried)
    http_status,  ///< 408, 429 or 5xx on every attempt, or a Retry-After beyond the limit
};

/// What one attempt of a request did (per-request statistics: broker health).
struct HttpAttempt {
    long status = 0;                     ///< 0 when no answer came
    std::optional<HttpFailure> failure;  ///< set when the attempt failed or is retried for its status
    std::chrono::milliseconds elapsed{0};
};

/// One request. Headers are sent as given; `body` is sent for POST. `on_attempt`, when set, is
/// told about every attempt (the first and each retry) as it ends.
struct HttpRequest {
    std::string method = "GET";
    std::string url;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::function<void(const HttpAttempt&)> on_attempt;
};

/// What came back from the last attempt.
struct HttpResponse {
    long status = 0;
    std::string body;
    std::map<std::string, std::string> headers;  ///< lower-cased names, last value wins
    int attempts = 0;                            ///< how many attempts the call took
};

/// A call that did not produce a usable answer; the message is one line for the operator.
class HttpCallError : public std::runtime_error {
public:
    HttpCallError(HttpFailure kind, long status, const std::string& message)
        : std::runtime_error(message), m_kind(kind), m_status(status)
    {
    }
    HttpFailure kind() const { return m_kind; }
    /// The last HTTP status seen (0 when none).
    long status() const { return m_status; }

private:
    HttpFailure m_kind;
    long m_status;
};

/// The backoff before retry number `attempt` (1 = the first retry): exponential from `base_ms`,
/// capped at `max_ms`, with "equal jitter" (half fixed, half random: `unit` in [0, 1)).
/// A Retry-After the server sent replaces it when longer.
std::chrono::milliseconds backoff_delay(int attempt, std::int64_t base_ms, std::int64_t max_ms, double unit,
                                        std::optional<std::int64_t> retry_after_seconds);

/// Parses Retry-After: delta-seconds or an HTTP-date (seconds from `now_epoch`); nullopt if
/// absent or unreadable.
std::optional<std::int64_t> parse_retry_after(const std::string& value, std::int64_t now_epoch);

/// HTTP over libcurl for broker adapters. Thread-safe: each call borrows an idle curl handle
/// (so connections are kept alive and reused across calls) and returns it afterwards.
/// Retries connection failures, timeouts, broken transfers, 408, 429 and 5xx with jittered
/// exponential backoff, honouring Retry-After; never follows redirects; http and https only.
class HttpClient {
public:
    explicit HttpClient(HttpLimits limits);
    ~HttpClient();
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    /// Sends with retries. Returns the answer for any status that is not retried (2xx, 3xx,
    /// 4xx but 408 and 429); throws HttpCallError when every attempt failed or the failure is final.
    HttpResponse send(const HttpRequest& request);

    const HttpLimits& limits() const { return m_limits; }

private:
    struct Handle;
    std::unique_ptr<Handle> borrow();
    void give_back(std::unique_ptr<Handle> handle);
    /// One attempt; throws HttpCallError for transport failures.
    HttpResponse attempt(Handle& handle, const HttpRequest& request);

    HttpLimits m_limits;
    std::mutex m_mutex;
    std::vector<std::unique_ptr<Handle>> m_idle;
};

/// Runs task(i) for i in [0, count) on at most `concurrency` threads (the calling thread
/// included), each index exactly once. A task must not throw (a throw terminates).
void run_bounded(std::size_t count, std::size_t concurrency, const std::function<void(std::size_t)>& task);

/// Percent-encodes one URL path segment or query value (RFC 3986 unreserved kept).
std::string url_encode(std::string_view text);

}  // namespace reconcile
