#pragma once

// The HTTP layer of `reconcile serve`, event-driven on Boost.Beast over Asio: one I/O thread
// owns every socket, so an idle or slow connection costs a socket and a timer, never a thread;
// a small bounded pool of workers runs only the handlers (they block on the database) and hands
// the reply back to the I/O thread. Every request must arrive whole within a deadline and a
// byte budget (chunked bodies included), framing is strict (RFC 9112), tokens are checked
// before a body is read, and every error is {"detail": "..."}. Routes are registered with their
// access level; the API (lib/api.hpp) knows nothing of sockets.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "lib/utf8.hpp"

namespace reconcile {

/// Limits that keep one client from hurting the others.
struct HttpLimits {
    std::size_t max_body_bytes = 65536;                  ///< request body, after chunked decoding
    std::size_t max_header_bytes = 65536;                ///< request line and headers together
    std::chrono::milliseconds request_timeout{10000};    ///< a whole request must arrive within this
    std::chrono::milliseconds write_timeout{10000};      ///< writing one response
    std::chrono::milliseconds keep_alive_timeout{5000};  ///< idle time between two requests
    std::size_t keep_alive_max_requests = 100;
    std::size_t workers = 8;                      ///< handlers running at once
    std::size_t max_queued = 64;                  ///< requests waiting for a worker; beyond: 503
    std::size_t max_connections = 512;            ///< open connections; beyond: 503 at once
    std::size_t max_connections_per_client = 64;  ///< open connections of one client address
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
    /// `detail` may quote what the client sent: its control characters are escaped
    /// (escape_controls), so a NUL cannot cut it short and no escape sequence reaches a terminal.
    HttpError(int status, const std::string& detail) : std::runtime_error(escape_controls(detail)), m_status(status) {}
    /// The HTTP status to answer.
    int status() const { return m_status; }

private:
    int m_status;
};

/// One request as a handler sees it, independent of the transport.
struct HttpServerRequest {
    std::string method;                                        ///< GET, HEAD, POST, ...
    std::string target;                                        ///< path and query as sent (origin form)
    std::string path;                                          ///< percent-decoded, valid UTF-8
    std::multimap<std::string, std::string> params;            ///< query parameters, decoded
    std::vector<std::pair<std::string, std::string>> headers;  ///< as sent, in order
    std::string body;                                          ///< valid UTF-8
    std::string peer;                                          ///< the client's address
    std::vector<std::string> matches;                          ///< [0] the path, then each capture of the route
    std::map<std::string, std::string> path_params;            ///< `{name}` segments of the route's pattern

    /// The first header of that name (case-insensitive); std::nullopt when absent.
    std::optional<std::string> header(std::string_view name) const;
    /// How many headers of that name (case-insensitive) were sent.
    std::size_t header_count(std::string_view name) const;
    /// The header's value or "".
    std::string header_value(std::string_view name) const { return header(name).value_or(""); }
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

/// A route handler: the request in, a reply out. Runs on a worker thread. Throws HttpError,
/// reconcile::Error (mapped by exit code: usage 400, lock_held 409, unavailable/transient 503,
/// others 500) or anything else (500).
using HttpHandler = std::function<HttpReply(const HttpServerRequest&)>;

/// The HTTP status a reconcile::Error's exit code maps to.
int http_status_for_exit_code(int exit_code);

/// Checks a request's token headers for `access`; returns the reason it is refused (the 401
/// detail), or std::nullopt when allowed. Tokens are compared in constant time, as exact byte
/// strings, length included.
std::optional<std::string> authorization_failure(const HttpServerRequest& request, Access access,
                                                 const AccessTokens& tokens);

/// Percent-decodes `text` ('+' as a space when `plus_is_space`); std::nullopt on a bad escape.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space);

/// The server. Register routes, bind, then listen() blocks until stop().
class HttpServer {
public:
    HttpServer(HttpLimits limits, AccessTokens tokens);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    /// Adds a GET (and HEAD) route. `pattern` is matched against the whole decoded path: an
    /// ECMAScript regex whose groups land in request.matches, where `{name}` stands for one
    /// path segment that also lands in request.path_params["name"].
    void get(const std::string& pattern, Access access, HttpHandler handler);
    /// Adds a POST route. A POST with a body must say Content-Type: application/json (415).
    void post(const std::string& pattern, Access access, HttpHandler handler);

    /// Binds the address (backlog SOMAXCONN); port 0 picks a free port. Returns the bound port;
    /// throws Error(unavailable) when the address cannot be bound.
    int bind(const std::string& address, int port);
    /// Runs `task` on the I/O thread every `interval` while listen() runs (a watchdog ping there
    /// proves the event loop alive).
    void every(std::chrono::milliseconds interval, std::function<void()> task);
    /// Serves until stop() (from any thread). Returns false when the server could not run.
    bool listen();
    /// Stops accepting, closes idle connections and returns listen() once in-flight requests
    /// are answered. Safe from any thread, before or during listen().
    void stop();

    /// Connections and requests refused with 503 because the server was at capacity.
    std::uint64_t rejected_connections() const;

private:
    class Impl;
    std::unique_ptr<Impl> m_impl;
};

}  // namespace reconcile
