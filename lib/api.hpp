#pragma once

// The HTTP API of `reconcile serve` (README "serve"): runs, run history, health and metrics.
// Parsing of bodies and query strings is pure and unit-tested; the routes are registered on an
// HttpServer, which owns sockets, limits and tokens. To add a route, add one line to
// register_routes() with a handler returning an HttpReply.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "lib/check_registry.hpp"
#include "lib/config.hpp"
#include "lib/db.hpp"
#include "lib/history.hpp"
#include "lib/http_server.hpp"
#include "lib/india_reports.hpp"
#include "lib/metrics.hpp"
#include "lib/run_launcher.hpp"

namespace reconcile {

/// The token `serve --dev` uses for reads and writes.
inline constexpr const char* dev_token = "localdev";

/// Everything `serve` reads beyond the engine's settings (README "Settings").
struct ServeSettings {
    std::string address = "127.0.0.1";
    int port = 8078;
    AccessTokens tokens;
    bool dev = false;
    HttpLimits limits;
    std::chrono::milliseconds run_wait{30000};  ///< POST /run answers 202 past this
    /// Every request's database work (and /metrics, /readyz) ends within this.
    std::chrono::milliseconds probe_timeout{5000};
};

/// Reads RECON_SERVE_* and the tokens. Without --dev, LEDGER_ADMIN_TOKEN is required (and both
/// tokens must be at least 16 characters): Error(config) otherwise. With --dev, the address
/// must be loopback (Error(usage)) and both tokens are `localdev`.
ServeSettings load_serve_settings(const Settings& settings, bool dev, const std::optional<std::string>& address,
                                  const std::optional<int>& port);

/// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback_address(std::string_view address);

/// The body of POST /v1/reconciliation/run, validated.
struct RunSpec {
    std::optional<std::string> book;
    std::optional<Category> category;
    std::vector<std::string> checks;
};

/// Parses and validates a run body: empty, or a JSON object with only `category` ("A".."D"),
/// `book` (one of RECON_BOOKS) and `checks` (names of that category; needs `category`).
/// Anything else throws HttpError(400) naming the problem.
/// A request body that must be one JSON object: blank is an empty object; anything else is read
/// strictly, and not being JSON (where it stops), a member name given twice in any object (which
/// parsers resolve differently, so the request would mean different things to different readers)
/// or a value that is not an object (`example` shows the expected shape) is HttpError 400.
nlohmann::json json_object_body(std::string_view body, std::string_view example);

RunSpec parse_run_body(std::string_view body, const Settings& settings, const CheckRegistry& registry);

/// The (book, category) pairs a spec runs: the named book or every book with a database, the
/// named category or the internal ones (A, B, D; C reaches live brokers and is asked for by
/// name).
std::vector<std::pair<std::string, Category>> run_targets(const RunSpec& spec, const Settings& settings);

/// Query parameters as the handlers see them (HttpServerRequest::params).
using QueryParams = std::multimap<std::string, std::string>;

/// The one value of a query parameter; a repeated one throws HttpError(400).
std::optional<std::string> single_param(const QueryParams& params, const std::string& name);

/// Throws HttpError(400) for any query parameter outside `known`, naming the known ones.
void require_known_params(const QueryParams& params, const std::set<std::string>& known);

/// `book` when it is one of RECON_BOOKS; HttpError(400) otherwise.
std::string validated_book(const std::string& book, const Settings& settings);

/// A positive whole number; HttpError(400) naming `what` otherwise.
std::int64_t parse_positive(const std::string& text, const std::string& what);

/// The books that have a database configured, in RECON_BOOKS order.
std::vector<std::string> configured_books(const Settings& settings);

/// A page request of GET /v1/reconciliation/runs.
struct RunListQuery {
    std::vector<std::string> books;
    RunFilter filter;                            ///< before_run_id unused: see `cursor`
    std::map<std::string, std::int64_t> cursor;  ///< book -> only runs with a smaller id
};

/// Parses book, category, status, since, limit (1..500, default 20) and cursor; any other
/// parameter, or a bad value, throws HttpError(400).
RunListQuery parse_run_list_query(const std::multimap<std::string, std::string>& params, const Settings& settings);

/// The opaque page cursor: base64url of {"book": last run id seen, ...}.
std::string encode_cursor(const std::map<std::string, std::int64_t>& positions);
/// Inverse of encode_cursor; throws HttpError(400) on anything it did not produce.
std::map<std::string, std::int64_t> decode_cursor(std::string_view cursor);

/// The routes of the API, their state (launched runs) and their settings.
class ReconcileApi {
public:
    ReconcileApi(const Settings& settings, const ServeSettings& serve, const CheckRegistry& registry);

    /// Adds every route to `server`.
    void register_routes(HttpServer& server);

    /// Wakes handlers waiting for runs so they answer now (202 with the run ids).
    void request_stop() { m_launcher.request_stop(); }

    /// Stops waiting handlers and waits up to `grace` for launched runs; false if some still run.
    bool stop(std::chrono::milliseconds grace) { return m_launcher.stop(grace); }

private:
    HttpReply post_run(const HttpServerRequest& request);
    HttpReply list_runs(const HttpServerRequest& request);
    HttpReply show_run(const HttpServerRequest& request);
    HttpReply metrics(const HttpServer& server);
    /// GET /readyz: 200 when every configured book's database answers within the probe
    /// timeout, else 503 naming the books that are down.
    HttpReply ready();
    /// GET /v1/india/<report>[?customer=ID]: lib/india_reports.hpp's report as JSON (200); 404 for
    /// a customer without a ViewTrade account, 502 when ViewTrade is unreachable, 503 when it is
    /// not configured.
    HttpReply india_report(const HttpServerRequest& request, IndiaReport report);
    /// The books' databases for one request: its work within probe_timeout from now.
    BookDatabases request_databases();

    const Settings& m_settings;
    const ServeSettings& m_serve;
    const CheckRegistry& m_registry;
    RunLauncher m_launcher;
    BoundedBookCalls m_book_calls;
    BoundedCalls m_calls;  ///< every handler's database work, keyed by book
};

}  // namespace reconcile
