#include "lib/http_server.hpp"

#include <fmt/format.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <regex>
#include <thread>

#include "lib/errors.hpp"
#include "lib/hash.hpp"
#include "lib/log.hpp"

namespace reconcile {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

/// Room for chunk-size lines and trailers on top of the body limit of a chunked request.
constexpr std::size_t chunked_framing_allowance = 16384;
/// How often a connection idle between requests looks whether the server is stopping.
constexpr milliseconds stop_poll_slice{200};

int remaining_ms(Clock::time_point deadline)
{
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    return static_cast<int>(std::clamp<long long>(left, 0, 24LL * 3600 * 1000));
}

/// poll() one descriptor for `events`, retrying on EINTR; true when ready.
bool poll_one(int fd, short events, int timeout_ms)
{
    pollfd entry{fd, events, 0};
    const auto deadline = Clock::now() + milliseconds(timeout_ms);
    while (true) {
        const int ready = ::poll(&entry, 1, timeout_ms);
        if (ready > 0) return true;
        if (ready == 0) return false;
        if (errno != EINTR) return false;
        timeout_ms = remaining_ms(deadline);
    }
}

void numeric_address(const sockaddr_storage& address, socklen_t length, std::string& ip, int& port)
{
    char host[NI_MAXHOST] = {};
    char service[NI_MAXSERV] = {};
    if (::getnameinfo(reinterpret_cast<const sockaddr*>(&address), length, host, sizeof host, service, sizeof service,
                      NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
        ip = host;
        port = std::atoi(service);
    }
}

/// One accepted connection as httplib reads and writes it. Unlike httplib's own stream, every
/// request has a deadline for its whole arrival (a client trickling one byte a second is cut
/// off) and a byte budget (headers first, then the body, chunked framing included), so neither
/// time nor memory depends on what a client chooses to send.
class ConnectionStream final : public httplib::Stream {
public:
    ConnectionStream(int fd, const HttpLimits& limits) : m_fd(fd), m_limits(limits) {}

    /// Starts the next request's deadline (from `arrived`) and header budget.
    void begin_request(Clock::time_point arrived)
    {
        started = arrived;
        m_deadline = started + m_limits.request_timeout;
        m_budget = m_limits.max_header_bytes;
        m_body_ended = false;
        over_limit = false;
        timed_out = false;
    }

    /// Headers are read: the body may take `bytes` more.
    void set_body_budget(std::size_t bytes)
    {
        m_budget = bytes;
        m_body_ended = false;
    }

    /// The request has no body: reads see end of stream until the next request.
    void end_body() { m_body_ended = true; }

    /// Waits up to the keep-alive timeout for the next request; false when the peer went away,
    /// stayed idle, or the server is stopping.
    bool wait_for_next_request(const std::function<bool()>& stopping)
    {
        if (m_begin < m_end) return true;
        const auto deadline = Clock::now() + m_limits.keep_alive_timeout;
        while (!stopping()) {
            const int slice = std::min(remaining_ms(deadline), static_cast<int>(stop_poll_slice.count()));
            if (poll_one(m_fd, POLLIN, slice)) return true;
            if (Clock::now() >= deadline) return false;
        }
        return false;
    }

    bool is_readable() const override { return m_begin < m_end || poll_one(m_fd, POLLIN, remaining_ms(m_deadline)); }

    bool is_writable() const override
    {
        return poll_one(m_fd, POLLOUT, static_cast<int>(m_limits.write_timeout.count()));
    }

    ssize_t read(char* ptr, std::size_t size) override
    {
        if (m_body_ended) return 0;
        if (m_budget == 0) {
            over_limit = true;
            return -1;
        }
        size = std::min(size, m_budget);
        if (m_begin == m_end) {
            if (!poll_one(m_fd, POLLIN, remaining_ms(m_deadline))) {
                timed_out = true;
                return -1;
            }
            ssize_t got = 0;
            do {
                got = ::recv(m_fd, m_buffer, sizeof m_buffer, 0);
            } while (got < 0 && errno == EINTR);
            if (got <= 0) return got;
            m_begin = 0;
            m_end = static_cast<std::size_t>(got);
        }
        const std::size_t n = std::min(size, m_end - m_begin);
        std::memcpy(ptr, m_buffer + m_begin, n);
        m_begin += n;
        m_budget -= n;
        return static_cast<ssize_t>(n);
    }

    ssize_t write(const char* ptr, std::size_t size) override
    {
        if (!is_writable()) return -1;
        ssize_t sent = 0;
        do {
            sent = ::send(m_fd, ptr, size, MSG_NOSIGNAL);
        } while (sent < 0 && errno == EINTR);
        return sent;
    }

    void get_remote_ip_and_port(std::string& ip, int& port) const override
    {
        sockaddr_storage address{};
        socklen_t length = sizeof address;
        if (::getpeername(m_fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
            numeric_address(address, length, ip, port);
        }
    }

    void get_local_ip_and_port(std::string& ip, int& port) const override
    {
        sockaddr_storage address{};
        socklen_t length = sizeof address;
        if (::getsockname(m_fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
            numeric_address(address, length, ip, port);
        }
    }

    socket_t socket() const override { return m_fd; }

    Clock::time_point started{};
    bool over_limit = false;   ///< the request ran past its byte budget
    bool timed_out = false;    ///< the request did not arrive within its deadline
    bool close_after = false;  ///< answered without reading the whole request: close afterwards

private:
    int m_fd;
    const HttpLimits& m_limits;
    char m_buffer[4096];
    std::size_t m_begin = 0;
    std::size_t m_end = 0;
    Clock::time_point m_deadline{};
    std::size_t m_budget = 0;
    bool m_body_ended = false;
};

/// The connection the current worker thread serves, for httplib's callbacks.
thread_local ConnectionStream* t_connection = nullptr;
/// Set while the listening thread hands a connection over that no worker can take.
thread_local bool t_overloaded = false;
/// When the connection a worker starts on was accepted: its first request's deadline runs from
/// there, so time spent waiting in the queue counts and a queued slow client gains nothing.
thread_local Clock::time_point t_accepted_at{};

/// A fixed pool of workers with a bounded queue of accepted connections. When the queue is
/// full the connection is answered 503 at once on the accepting thread instead of waiting.
class BoundedTaskQueue final : public httplib::TaskQueue {
public:
    BoundedTaskQueue(std::size_t workers, std::size_t max_queued) : m_max_queued(max_queued)
    {
        for (std::size_t i = 0; i < std::max<std::size_t>(workers, 1); ++i) {
            m_threads.emplace_back([this] { work(); });
        }
    }

    void enqueue(std::function<void()> fn) override
    {
        {
            std::unique_lock lock(m_mutex);
            if (m_jobs.size() < m_max_queued) {
                m_jobs.push_back([fn = std::move(fn), accepted = Clock::now()] {
                    t_accepted_at = accepted;
                    fn();
                });
                lock.unlock();
                m_changed.notify_one();
                return;
            }
        }
        t_overloaded = true;
        fn();  // answers 503 and closes (HardenedServer::process_and_close_socket)
        t_overloaded = false;
    }

    void shutdown() override
    {
        {
            std::lock_guard lock(m_mutex);
            m_stopping = true;
        }
        m_changed.notify_all();
        for (auto& thread : m_threads) thread.join();
    }

private:
    void work()
    {
        while (true) {
            std::function<void()> job;
            {
                std::unique_lock lock(m_mutex);
                m_changed.wait(lock, [this] { return m_stopping || !m_jobs.empty(); });
                if (m_jobs.empty()) return;
                job = std::move(m_jobs.front());
                m_jobs.pop_front();
            }
            job();
        }
    }

    std::size_t m_max_queued;
    std::vector<std::thread> m_threads;
    std::deque<std::function<void()>> m_jobs;
    std::mutex m_mutex;
    std::condition_variable m_changed;
    bool m_stopping = false;
};

const char* const overloaded_response =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 58\r\n"
    "Connection: close\r\nRetry-After: 1\r\n\r\n{\"detail\": \"server busy: every worker is taken; retry later\"}";

/// httplib's server with our connection loop: the stream above, keep-alive between requests,
/// and the quick 503 when overloaded. process_and_close_socket is httplib's per-connection
/// hook (virtual, as for its SSL server).
class HardenedServer final : public httplib::Server {
public:
    HardenedServer(const HttpLimits& limits, std::atomic<std::uint64_t>& rejected)
        : m_limits(limits), m_rejected(rejected)
    {
    }

private:
    bool process_and_close_socket(socket_t sock) override
    {
        if (t_overloaded) {
            ++m_rejected;
            [[maybe_unused]] const auto sent =
                ::send(sock, overloaded_response, std::strlen(overloaded_response), MSG_NOSIGNAL | MSG_DONTWAIT);
            ::shutdown(sock, SHUT_RDWR);
            ::close(sock);
            return false;
        }
        ConnectionStream stream(sock, m_limits);
        t_connection = &stream;
        bool ok = true;
        const auto stopping = [this] { return svr_sock_ == INVALID_SOCKET; };
        for (std::size_t left = m_limits.keep_alive_max_requests; left > 0; --left) {
            const bool first = left == m_limits.keep_alive_max_requests;
            if (!first && !stream.wait_for_next_request(stopping)) break;
            stream.begin_request(first ? t_accepted_at : Clock::now());
            bool connection_closed = false;
            ok = process_request(stream, left == 1 || stopping(), connection_closed, nullptr);
            if (!ok || connection_closed || stream.close_after || stream.over_limit || stream.timed_out) break;
        }
        t_connection = nullptr;
        ::shutdown(sock, SHUT_RDWR);
        ::close(sock);
        return ok;
    }

    const HttpLimits& m_limits;
    std::atomic<std::uint64_t>& m_rejected;
};

std::string detail_json(const std::string& detail)
{
    return nlohmann::json{{"detail", detail}}.dump();
}

void set_reply(httplib::Response& res, int status, const std::string& detail)
{
    res.status = status;
    res.set_content(detail_json(detail), "application/json");
}

bool expects_body(const std::string& method)
{
    return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
}

/// The token a header carries; std::nullopt when absent or empty.
std::optional<std::string> header(const httplib::Request& req, const char* name)
{
    if (!req.has_header(name)) return std::nullopt;
    auto value = req.get_header_value(name);
    if (value.empty()) return std::nullopt;
    return value;
}

struct Route {
    std::string method;  // GET (also serves HEAD) or POST
    std::string pattern;
    std::regex regex;
    Access access;
};

}  // namespace

HttpReply HttpReply::json(const nlohmann::json& document, int status)
{
    HttpReply reply;
    reply.status = status;
    reply.body = document.dump();
    return reply;
}

int http_status_for_exit_code(int exit_code)
{
    switch (static_cast<ExitCode>(exit_code)) {
        case ExitCode::usage:
            return 400;
        case ExitCode::lock_held:
            return 409;
        case ExitCode::unavailable:
        case ExitCode::transient:
            return 503;
        default:
            return 500;
    }
}

std::optional<std::string> authorization_failure(const httplib::Request& request, Access access,
                                                 const AccessTokens& tokens)
{
    if (access == Access::open) return std::nullopt;
    const auto admin = header(request, "X-Ledger-Admin-Token");
    // Both comparisons always run so the time taken does not say which token matched.
    const bool admin_ok = admin && constant_time_equal(*admin, tokens.admin);
    if (access == Access::admin) {
        if (!admin) return "missing X-Ledger-Admin-Token header (this endpoint writes)";
        if (!admin_ok) return "invalid token";
        return std::nullopt;
    }
    auto read = header(request, "X-Ledger-Token");
    if (!read) {
        // Prometheus sends its credentials as a bearer token.
        const auto authorization = header(request, "Authorization");
        if (authorization && authorization->rfind("Bearer ", 0) == 0) read = authorization->substr(7);
    }
    bool read_ok = false;
    if (read) {
        const bool as_read = tokens.read && constant_time_equal(*read, *tokens.read);
        const bool as_admin = constant_time_equal(*read, tokens.admin);
        read_ok = as_read || as_admin;
    }
    if (!admin && !read) return "missing X-Ledger-Token header";
    if (!admin_ok && !read_ok) return "invalid token";
    return std::nullopt;
}

class HttpServer::Impl {
public:
    Impl(HttpLimits limits, AccessTokens tokens)
        : m_limits(std::move(limits)), m_tokens(std::move(tokens)), m_server(m_limits, m_rejected)
    {
        m_server.new_task_queue = [this] { return new BoundedTaskQueue(m_limits.workers, m_limits.max_queued); };
        const auto seconds = [](milliseconds ms) {
            return std::max<time_t>(1, static_cast<time_t>(ms.count() / 1000));
        };
        m_server.set_read_timeout(seconds(m_limits.request_timeout));
        m_server.set_write_timeout(seconds(m_limits.write_timeout));
        m_server.set_keep_alive_timeout(seconds(m_limits.keep_alive_timeout));
        m_server.set_keep_alive_max_count(m_limits.keep_alive_max_requests);
        m_server.set_payload_max_length(m_limits.max_body_bytes);
        // httplib's default adds SO_REUSEPORT, which would let a second server share the port
        // silently; only SO_REUSEADDR (restart without TIME_WAIT trouble).
        m_server.set_socket_options([](socket_t sock) {
            int yes = 1;
            ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
        });
        m_server.set_default_headers({{"Cache-Control", "no-store"}, {"X-Content-Type-Options", "nosniff"}});
        m_server.set_expect_100_continue_handler(
            [this](const httplib::Request& req, httplib::Response& res) { return expect_continue(req, res); });
        m_server.set_pre_routing_handler(
            [this](const httplib::Request& req, httplib::Response& res) { return pre_route(req, res); });
        m_server.set_error_handler(httplib::Server::HandlerWithResponse(
            [this](const httplib::Request& req, httplib::Response& res) { return error_reply(req, res); }));
        m_server.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
            std::string message = "unknown exception";
            try {
                std::rethrow_exception(ep);
            } catch (const std::exception& e) {
                message = e.what();
            } catch (...) {
            }
            log_error("http handler failed: {}", first_line(message));
            set_reply(res, 500, "internal error: " + first_line(message));
        });
        m_server.set_logger([](const httplib::Request& req, const httplib::Response& res) {
            const auto elapsed =
                t_connection == nullptr
                    ? 0
                    : std::chrono::duration_cast<milliseconds>(Clock::now() - t_connection->started).count();
            log_info("http {} {} {} {} ms from {}", req.method, req.path, res.status, elapsed, req.remote_addr);
        });
    }

    void add(const std::string& method, const std::string& pattern, Access access, HttpHandler handler)
    {
        m_routes.push_back({method, pattern, std::regex(pattern), access});
        auto wrapped = [this, handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
            HttpReply reply;
            try {
                // A chunked body's byte budget includes its framing, so a decoded body slightly
                // over the limit can arrive whole: the limit is on the decoded size.
                if (req.body.size() > m_limits.max_body_bytes) throw HttpError(413, too_large());
                reply = handler(req);
            } catch (const HttpError& e) {
                reply = HttpReply::json({{"detail", e.what()}}, e.status());
            } catch (...) {
                const auto [code, message] = classify_current_exception(true);
                const int status = http_status_for_exit_code(to_int(code));
                if (status >= 500) log_warn("http {} {}: {}", req.method, req.path, message);
                reply = HttpReply::json({{"detail", message}}, status);
            }
            res.status = reply.status;
            for (const auto& [name, value] : reply.headers) res.set_header(name, value);
            res.set_content(reply.body, reply.content_type);
        };
        if (method == "GET") {
            m_server.Get(pattern, std::move(wrapped));
        } else {
            m_server.Post(pattern, std::move(wrapped));
        }
    }

    int bind(const std::string& address, int port)
    {
        const int bound =
            port == 0 ? m_server.bind_to_any_port(address) : (m_server.bind_to_port(address, port) ? port : -1);
        if (bound < 0) {
            throw Error(
                ExitCode::unavailable,
                fmt::format("cannot listen on {}:{} (address in use, or not an address of this host)", address, port));
        }
        return bound;
    }

    bool listen() { return m_server.listen_after_bind(); }
    void stop() { m_server.stop(); }
    std::uint64_t rejected() const { return m_rejected.load(); }

private:
    /// Before a body is sent with Expect: 100-continue: refuse one that is too large up front.
    int expect_continue(const httplib::Request& req, httplib::Response& res)
    {
        if (const auto length = content_length(req); length && *length > m_limits.max_body_bytes) {
            if (t_connection != nullptr) t_connection->close_after = true;
            res.set_header("Connection", "close");
            set_reply(res, 413, too_large());
            return 413;
        }
        return 100;
    }

    /// Runs after the headers, before any body is read: frames the body budget, routes (404,
    /// 405) and authenticates (401), so an unknown or unauthorised client never gets its body
    /// read.
    httplib::Server::HandlerResponse pre_route(const httplib::Request& req, httplib::Response& res)
    {
        using Handled = httplib::Server::HandlerResponse;
        ConnectionStream* connection = t_connection;
        const bool chunked = req.get_header_value("Transfer-Encoding").find("chunked") != std::string::npos;
        const bool has_length = req.has_header("Content-Length");
        const auto length = content_length(req);
        const bool has_body = chunked || (length && *length > 0);
        const auto refuse = [&](int status, const std::string& detail) {
            if (has_body && connection != nullptr) {
                connection->close_after = true;  // the body stays unread
                res.set_header("Connection", "close");
            }
            set_reply(res, status, detail);
            return Handled::Handled;
        };
        if (chunked && has_length) return refuse(400, "both Content-Length and Transfer-Encoding: chunked");
        if (req.has_header("Transfer-Encoding") && !chunked) return refuse(501, "unsupported Transfer-Encoding");
        if (has_length && !length) return refuse(400, "invalid Content-Length");
        if (length && *length > m_limits.max_body_bytes) return refuse(413, too_large());
        if (connection != nullptr) {
            if (chunked) {
                connection->set_body_budget(m_limits.max_body_bytes + chunked_framing_allowance);
            } else if (length) {
                connection->set_body_budget(*length);
            } else if (expects_body(req.method)) {
                connection->end_body();  // no length, not chunked: the body is empty
            } else {
                connection->set_body_budget(0);
            }
            if (has_body && !expects_body(req.method)) connection->close_after = true;  // never read
        }

        const std::string method = req.method == "HEAD" ? "GET" : req.method;
        const Route* route = nullptr;
        std::vector<std::string> allowed;
        for (const auto& candidate : m_routes) {
            if (!std::regex_match(req.path, candidate.regex)) continue;
            if (candidate.method == method) {
                route = &candidate;
                break;
            }
            allowed.push_back(candidate.method == "GET" ? "GET, HEAD" : candidate.method);
        }
        if (route == nullptr && !allowed.empty()) {
            res.set_header("Allow", fmt::format("{}", fmt::join(allowed, ", ")));
            return refuse(405, fmt::format("method {} not allowed on {}", req.method, req.path));
        }
        if (route == nullptr) return refuse(404, fmt::format("no such endpoint: {}", req.path));
        if (auto failure = authorization_failure(req, route->access, m_tokens)) return refuse(401, *failure);
        return Handled::Unhandled;
    }

    /// Gives every error httplib produces itself a {"detail": ...} body.
    httplib::Server::HandlerResponse error_reply(const httplib::Request& req, httplib::Response& res)
    {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;  // a route's own reply
        ConnectionStream* connection = t_connection;
        std::string detail;
        if (connection != nullptr && connection->over_limit) {
            res.status = 413;
            detail = too_large();
        } else if (connection != nullptr && connection->timed_out) {
            res.status = 408;
            detail = fmt::format("the request did not arrive within {} ms", m_limits.request_timeout.count());
        } else {
            switch (res.status) {
                case 400:
                    detail = "malformed HTTP request";
                    break;
                case 404:
                    detail = fmt::format("no such endpoint: {}", req.path);
                    break;
                case 413:
                    detail = too_large();
                    break;
                case 414:
                    detail = "request line too long";
                    break;
                case 416:
                    detail = "range not satisfiable";
                    break;
                default:
                    detail = fmt::format("HTTP {}", res.status);
                    break;
            }
        }
        if (connection != nullptr && res.status != 404) {
            connection->close_after = true;  // the stream may be anywhere inside the request
            res.set_header("Connection", "close");
        }
        res.set_content(detail_json(detail), "application/json");
        return httplib::Server::HandlerResponse::Handled;
    }

    std::string too_large() const
    {
        return fmt::format("request body exceeds the limit of {} bytes", m_limits.max_body_bytes);
    }

    /// The Content-Length header as a number; std::nullopt when absent or not a number.
    static std::optional<std::size_t> content_length(const httplib::Request& req)
    {
        if (!req.has_header("Content-Length")) return std::nullopt;
        const std::string value = req.get_header_value("Content-Length");
        if (value.empty() || value.size() > 18 ||
            !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            return std::nullopt;
        }
        return static_cast<std::size_t>(std::stoull(value));
    }

    HttpLimits m_limits;
    AccessTokens m_tokens;
    std::atomic<std::uint64_t> m_rejected{0};
    HardenedServer m_server;
    std::vector<Route> m_routes;
};

HttpServer::HttpServer(HttpLimits limits, AccessTokens tokens)
    : m_impl(std::make_unique<Impl>(std::move(limits), std::move(tokens)))
{
}

HttpServer::~HttpServer() = default;

void HttpServer::get(const std::string& pattern, Access access, HttpHandler handler)
{
    m_impl->add("GET", pattern, access, std::move(handler));
}

void HttpServer::post(const std::string& pattern, Access access, HttpHandler handler)
{
    m_impl->add("POST", pattern, access, std::move(handler));
}

int HttpServer::bind(const std::string& address, int port)
{
    return m_impl->bind(address, port);
}

bool HttpServer::listen()
{
    return m_impl->listen();
}

void HttpServer::stop()
{
    m_impl->stop();
}

std::uint64_t HttpServer::rejected_connections() const
{
    return m_impl->rejected();
}

}  // namespace reconcile
