#pragma once

// The API routes of acknowledgements, traces and the console (docs/http-api.md): each handler is
// a function of plain values (query parameters, body, path parameter) returning an HttpReply, so
// it does not depend on the HTTP core; lib/api.cpp registers them, one line per route. Their
// database work goes through `databases`, bounded by the request's deadline: a book that is down
// or does not answer in time is Error(unavailable) naming it (503).

#include <optional>
#include <string>
#include <string_view>

#include "lib/acknowledgements.hpp"
#include "lib/api.hpp"
#include "lib/check_registry.hpp"
#include "lib/config.hpp"
#include "lib/db.hpp"
#include "lib/http_server.hpp"

namespace reconcile {

/// GET /v1/reconciliation/variances: breaks of every book (or `book`), filtered by `check` (a
/// check of `registry`), `state` (open | resolved | acknowledged | unacknowledged), `class` (data | code | timing: only
/// breaks acknowledged as it), a page of `limit` (1..500, default 100) after `cursor`.
HttpReply list_variances_reply(const BookDatabases& databases, const CheckRegistry& registry,
                               const QueryParams& params);

/// POST /v1/reconciliation/variances/{fingerprint}/ack and /unack (by = "api"). The ack body is
/// {"class": "data|code|timing", "note": "...", "until": "ISO-8601 UTC" (optional), "book": ...
/// (optional)}; the unack body is empty or {"book": ...}. 404 for an unknown fingerprint, 400 for
/// anything else wrong.
HttpReply variance_action_reply(const BookDatabases& databases, VarianceAction action, const std::string& fingerprint,
                                std::string_view body);

/// GET /v1/reconciliation/trace?book=B&txn=ID (or &source=S&source_txn_id=X): lib/trace.hpp's
/// trace as JSON.
HttpReply trace_reply(const BookDatabases& databases, const QueryParams& params);

/// GET /v1/reconciliation/daily?book=B&days=N (1..90, default 30): per book, check and UTC day,
/// the variance count and the absolute drift (sum of |difference| of the listed variances) of the
/// day's last completed unsharded run of that check.
HttpReply daily_reply(const BookDatabases& databases, const QueryParams& params);

/// The console's files (GET /, /console.js, /console.css) with their Content-Security-Policy;
/// std::nullopt for any other path.
std::optional<HttpReply> console_reply(std::string_view path);

/// The Content-Security-Policy of the console: its own scripts, styles and API only.
inline constexpr const char* console_csp =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

}  // namespace reconcile
