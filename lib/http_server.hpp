#pragma once

// The hardened HTTP layer of `reconcile serve`, on cpp-httplib 0.11: every request must arrive
// whole within a deadline and a byte budget (chunked bodies included), writes time out, a
// bounded worker pool with a bounded queue answers 503 beyond it, tokens are checked before a
// body is read, and every error is {"detail": "..."}. Routes are registered with their access
// level; the API (lib/api.hpp) knows nothing of sockets.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace reconcile {

/// Limits that keep one client from hurting the others.
struct HttpLimits {
    std::size_t max_body_bytes = 65536;                  ///< request body, after chunked decoding (plus framing)
    std::size_t max_header_bytes = 65536;                ///< request line and headers together
    std::chrono::milliseconds request_timeout{10000};    ///< a whole request must arrive within this
    std::chrono::milliseconds write_timeout{10000};      ///< each write of the response
    std::chrono::milliseconds keep_alive_timeout{5000};  ///< idle time between two requests
    std::size_t keep_alive_max_requests = 100;
    std::size_t workers = 8;      ///< connections served at once
    std::size_t max_queued = 64;  ///< accepted connections waiting; beyond: 503
};

/// Tokens of the API. Reads accept either token; writes only the admin token.
struct AccessTokens {
    std::string admin;
    std::optional<std::string> read;
};

/// Who may call a route.
enum class Access { open, read, admin };

/// A handler's failure with its HTTP status; the client sees {"detail": message}.
class HttpError : public std::runtime_error {
public:
    HttpError(int status, const std::string& detail) : std::runtime_error(detail), m_status(status) {}
    /// The HTTP status to answer.
    int status() const { return m_status; }

private:
    int m_status;
};

/// What a route answers.
struct HttpReply {
    int status = 200;
    std::string body;
    std::string content_type = "application/json";
    std::vector<std::pair<std::string, std::string>> headers;

    /// A JSON reply.
    static HttpReply json(const nlohmann::json& document, int status = 200);
};

/// A route handler: the request (path matches in req.matches) in, a reply out. Throws HttpError,
/// reconcile::Error (mapped by exit code: usage 400, lock_held 409, unavailable/transient 503,
/// others 500) or anything else (500).
using HttpHandler = std::function<HttpReply(const httplib::Request&)>;

/// The HTTP status a reconcile::Error's exit code maps to.
int http_status_for_exit_code(int exit_code);

/// Checks a request's token headers for `access`; returns the reason it is refused (the 401
/// detail), or std::nullopt when allowed. Tokens are compared in constant time.
std::optional<std::string> authorization_failure(const httplib::Request& request, Access access,
                                                 const AccessTokens& tokens);

/// The server. Register routes, bind, then listen() blocks until stop().
class HttpServer {
public:
    HttpServer(HttpLimits limits, AccessTokens tokens);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    /// Adds a GET (and HEAD) route; `pattern` is an ECMAScript regex over the path.
    void get(const std::string& pattern, Access access, HttpHandler handler);
    /// Adds a POST route.
    void post(const std::string& pattern, Access access, HttpHandler handler);

    /// Binds the address; port 0 picks a free port. Returns the bound port; throws
    /// Error(unavailable) when the address cannot be bound.
    int bind(const std::string& address, int port);
    /// Serves until stop() (from any thread). Returns false when the server could not run.
    bool listen();
    /// Stops accepting and returns listen(); in-flight requests finish first.
    void stop();

    /// Connections refused with 503 because every worker was busy and the queue full.
    std::uint64_t rejected_connections() const;

private:
    class Impl;
    std::unique_ptr<Impl> m_impl;
};

}  // namespace reconcile
