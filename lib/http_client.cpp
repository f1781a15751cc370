#include "lib/http_client.hpp"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <ctime>
#include <exception>
#include <random>
#include <thread>

#include "lib/curl_handles.hpp"
#include "lib/log.hpp"
#include "lib/text.hpp"

namespace reconcile {
namespace {

double random_unit()
{
    thread_local std::mt19937_64 engine{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
}

std::string trim(std::string text)
{
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
    std::size_t start = 0;
    while (start < text.size() && std::isspace(static_cast<unsigned char>(text[start]))) ++start;
    return text.substr(start);
}

/// Per-transfer state the curl callbacks write into.
struct Transfer {
    std::string body;
    std::map<std::string, std::string> headers;
    std::size_t limit = 0;
    bool too_large = false;
};

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user)
{
    auto& transfer = *static_cast<Transfer*>(user);
    const std::size_t bytes = size * count;
    if (transfer.body.size() + bytes > transfer.limit) {
        transfer.too_large = true;
        return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
    }
    transfer.body.append(data, bytes);
    return bytes;
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user)
{
    auto& transfer = *static_cast<Transfer*>(user);
    const std::size_t bytes = size * count;
    const std::string line(data, bytes);
    if (line.rfind("HTTP/", 0) == 0) {
        transfer.headers.clear();  // a new response (e.g. after 100 Continue)
    } else if (const auto colon = line.find(':'); colon != std::string::npos) {
        transfer.headers[lower(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
    }
    return bytes;
}

/// 408 (request timeout: GTN's TIMEOUT), 429 (throttled) and 5xx are worth another attempt.
bool retryable_status(long status)
{
    return status == 408 || status == 429 || (status >= 500 && status <= 599);
}

/// The host part of a URL for messages (never the query, which may carry ids).
std::string where(const std::string& url)
{
    const auto scheme = url.find("://");
    const auto start = scheme == std::string::npos ? 0 : scheme + 3;
    const auto end = url.find('/', start);
    return url.substr(0, end == std::string::npos ? url.size() : end);
}

}  // namespace

struct HttpClient::Handle {
    Handle() : owned(curl_easy_init()), curl(owned.get())
    {
        if (curl == nullptr) throw std::runtime_error("curl_easy_init failed");
    }
    CurlEasy owned;
    CURL* curl;
};

std::chrono::milliseconds backoff_delay(int attempt, std::int64_t base_ms, std::int64_t max_ms, double unit,
                                        std::optional<std::int64_t> retry_after_seconds)
{
    const int exponent = std::clamp(attempt - 1, 0, 30);
    const std::int64_t full = std::min<std::int64_t>(max_ms, base_ms * (std::int64_t{1} << exponent));
    const auto jittered = full / 2 + static_cast<std::int64_t>(std::floor(static_cast<double>(full / 2) * unit));
    std::int64_t delay = std::max<std::int64_t>(0, jittered);
    if (retry_after_seconds) delay = std::max(delay, *retry_after_seconds * 1000);
    return std::chrono::milliseconds(delay);
}

std::optional<std::int64_t> parse_retry_after(const std::string& value, std::int64_t now_epoch)
{
    const std::string text = trim(value);
    if (text.empty()) return std::nullopt;
    if (std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); })) {
        if (text.size() > 9) return std::nullopt;
        return std::stoll(text);
    }
    const time_t when = curl_getdate(text.c_str(), nullptr);
    if (when < 0) return std::nullopt;
    return std::max<std::int64_t>(0, static_cast<std::int64_t>(when) - now_epoch);
}

std::string url_encode(std::string_view text)
{
    static const char* const hex = "0123456789ABCDEF";
    std::string result;
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (std::isalnum(byte) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
            result.push_back(c);
        } else {
            result.push_back('%');
            result.push_back(hex[byte >> 4]);
            result.push_back(hex[byte & 0x0F]);
        }
    }
    return result;
}

HttpClient::HttpClient(HttpLimits limits) : m_limits(limits)
{
    curl_global_init_once();
}

HttpClient::~HttpClient() = default;

std::unique_ptr<HttpClient::Handle> HttpClient::borrow()
{
    {
        const std::lock_guard<std::mutex> guard(m_mutex);
        if (!m_idle.empty()) {
            auto handle = std::move(m_idle.back());
            m_idle.pop_back();
            return handle;
        }
    }
    return std::make_unique<Handle>();
}

void HttpClient::give_back(std::unique_ptr<Handle> handle)
{
    const std::lock_guard<std::mutex> guard(m_mutex);
    m_idle.push_back(std::move(handle));
}

HttpResponse HttpClient::attempt(Handle& handle, const HttpRequest& request)
{
    CURL* curl = handle.curl;
    curl_easy_reset(curl);  // keeps the handle's live connections for reuse
    Transfer transfer;
    transfer.limit = static_cast<std::size_t>(m_limits.max_response_bytes);

    CurlSlist header_list;
    for (const auto& [name, value] : request.headers) {
        curl_slist_add(header_list, fmt::format("{}: {}", name, value).c_str());
    }
    curl_slist_add(header_list, "Expect:");

    curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(m_limits.connect_timeout_ms));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(m_limits.total_timeout_ms));
    curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(m_limits.max_response_bytes));
    curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, header_list.get());
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "reconcile/" RECON_VERSION);
    if (request.method == "POST") {
        curl_easy_setopt(curl, CURLOPT_POST, 1L);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.c_str());
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    } else if (request.method != "GET") {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }

    const CURLcode code = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    const std::string host = where(request.url);
    if (code != CURLE_OK) {
        if (transfer.too_large || code == CURLE_FILESIZE_EXCEEDED) {
            throw HttpCallError(HttpFailure::too_large, status,
                                fmt::format("{}: response larger than {} bytes", host, m_limits.max_response_bytes));
        }
        // Connected means a new connection completed or the request went out on a reused one
        // (a reused connection has no connect time of its own).
        curl_off_t connect_time = 0;
        long request_bytes = 0;
        curl_easy_getinfo(curl, CURLINFO_CONNECT_TIME_T, &connect_time);
        curl_easy_getinfo(curl, CURLINFO_REQUEST_SIZE, &request_bytes);
        const bool connected = connect_time > 0 || request_bytes > 0;
        switch (code) {
            case CURLE_COULDNT_CONNECT:
            case CURLE_COULDNT_RESOLVE_HOST:
            case CURLE_COULDNT_RESOLVE_PROXY:
                throw HttpCallError(HttpFailure::unreachable, 0, fmt::format("{}: {}", host, curl_easy_strerror(code)));
            case CURLE_OPERATION_TIMEDOUT:
                if (!connected && status == 0) {
                    throw HttpCallError(
                        HttpFailure::unreachable, 0,
                        fmt::format("{}: no connection within {} ms", host, m_limits.connect_timeout_ms));
                }
                throw HttpCallError(
                    HttpFailure::timeout, status,
                    fmt::format("{}: no complete answer within {} ms", host, m_limits.total_timeout_ms));
            default:
                throw HttpCallError(HttpFailure::transport, status,
                                    fmt::format("{}: {}", host, curl_easy_strerror(code)));
        }
    }
    HttpResponse response;
    response.status = status;
    response.body = std::move(transfer.body);
    response.headers = std::move(transfer.headers);
    return response;
}

HttpResponse HttpClient::send(const HttpRequest& request)
{
    auto handle = borrow();
    const int max_attempts = static_cast<int>(m_limits.max_retries) + 1;
    for (int attempt_no = 1;; ++attempt_no) {
        std::optional<std::int64_t> retry_after;
        std::optional<HttpCallError> failure;
        const auto attempt_started = std::chrono::steady_clock::now();
        const auto report = [&](long status, std::optional<HttpFailure> kind) {
            if (!request.on_attempt) return;
            request.on_attempt(HttpAttempt{.status = status,
                                           .failure = kind,
                                           .elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
                                               std::chrono::steady_clock::now() - attempt_started)});
        };
        try {
            HttpResponse response = attempt(*handle, request);
            report(response.status,
                   retryable_status(response.status) ? std::optional(HttpFailure::http_status) : std::nullopt);
            if (!retryable_status(response.status)) {
                response.attempts = attempt_no;
                give_back(std::move(handle));
                return response;
            }
            if (const auto header = response.headers.find("retry-after"); header != response.headers.end()) {
                retry_after = parse_retry_after(header->second, static_cast<std::int64_t>(std::time(nullptr)));
            }
            failure.emplace(HttpFailure::http_status, response.status,
                            fmt::format("{}: HTTP {}", where(request.url), response.status));
        } catch (const HttpCallError& e) {
            report(e.status(), e.kind());
            if (e.kind() == HttpFailure::too_large) {
                give_back(std::move(handle));
                throw;
            }
            failure.emplace(e);
        }
        if (retry_after && *retry_after > m_limits.retry_after_max_seconds) {
            give_back(std::move(handle));
            throw HttpCallError(HttpFailure::http_status, failure->status(),
                                fmt::format("{} with Retry-After {} s, beyond the {} s we wait", failure->what(),
                                            *retry_after, m_limits.retry_after_max_seconds));
        }
        if (attempt_no >= max_attempts) {
            give_back(std::move(handle));
            throw HttpCallError(failure->kind(), failure->status(),
                                attempt_no == 1 ? std::string(failure->what())
                                                : fmt::format("{} (after {} attempts)", failure->what(), attempt_no));
        }
        const auto delay =
            backoff_delay(attempt_no, m_limits.backoff_base_ms, m_limits.backoff_max_ms, random_unit(), retry_after);
        log_line(LogLevel::debug,
                 fmt::format("retrying {} in {} ms: {}", where(request.url), delay.count(), failure->what()));
        std::this_thread::sleep_for(delay);
    }
}

void run_bounded(std::size_t count, std::size_t concurrency, const std::function<void(std::size_t)>& task)
{
    std::atomic<std::size_t> next{0};
    std::atomic<bool> stop{false};
    std::exception_ptr first_error;
    std::mutex error_mutex;
    const auto worker = [&] {
        for (;;) {
            if (stop.load()) return;
            const std::size_t index = next.fetch_add(1);
            if (index >= count) return;
            try {
                task(index);
            } catch (...) {
                const std::lock_guard<std::mutex> guard(error_mutex);
                if (!first_error) first_error = std::current_exception();
                stop = true;
            }
        }
    };
    const std::size_t threads = std::min(count, std::max<std::size_t>(1, concurrency));
    std::vector<std::thread> pool;
    for (std::size_t i = 1; i < threads; ++i) pool.emplace_back(worker);
    worker();
    for (auto& thread : pool) thread.join();
    if (first_error) std::rethrow_exception(first_error);
}

}  // namespace reconcile
