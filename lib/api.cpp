#include "lib/api.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <set>

#include "lib/db.hpp"
#include "lib/hash.hpp"
#include "lib/metrics.hpp"
#include "lib/output.hpp"
#include "lib/schedule.hpp"
#include "lib/text.hpp"
#include "lib/variances_api.hpp"

namespace reconcile {
namespace {

/// Categories a run request without a category runs: the internal ones of every cycle.
constexpr Category internal_categories[] = {Category::A, Category::B, Category::D};
constexpr std::int64_t max_page = 500;

HttpError bad_request(const std::string& detail)
{
    return HttpError(400, detail);
}

std::string run_href(const std::string& book, std::int64_t run_id)
{
    return fmt::format("/v1/reconciliation/runs/{}?book={}", run_id, book);
}

Category validated_category(const std::string& text)
{
    if (const auto category = parse_category_text(text)) return *category;
    throw bad_request(fmt::format("category must be one of A, B, C, D, got '{}'", text));
}

/// A run document for lists: each check without its variance list (variances_total stays).
nlohmann::json run_summary_json(const RunReport& report)
{
    auto json = run_report_to_json(report);
    for (auto& check : json["checks"]) check.erase("variances");
    json["href"] = run_href(report.book, report.run_id);
    return json;
}

/// A run that is still going when the wait bound passed.
nlohmann::json running_stub(const LaunchedRun& run, const LaunchedRun::State& state)
{
    return {{"run_id", state.run_id},
            {"book", run.book},
            {"category", run.category},
            {"status", RunStatus::running},
            {"href", run_href(run.book, state.run_id)}};
}

}  // namespace

std::optional<std::string> single_param(const QueryParams& params, const std::string& name)
{
    const auto [first, last] = params.equal_range(name);
    if (first == last) return std::nullopt;
    if (std::next(first) != last) throw bad_request(fmt::format("query parameter '{}' is given more than once", name));
    return first->second;
}

void require_known_params(const QueryParams& params, const std::set<std::string>& known)
{
    for (const auto& [name, value] : params) {
        if (known.count(name) == 0) {
            throw bad_request(fmt::format("unknown query parameter '{}' (known: {})", name, fmt::join(known, ", ")));
        }
    }
}

std::string validated_book(const std::string& book, const Settings& settings)
{
    if (std::find(settings.books.begin(), settings.books.end(), book) == settings.books.end()) {
        throw bad_request(fmt::format("unknown book '{}' (RECON_BOOKS is {})", book, fmt::join(settings.books, ",")));
    }
    return book;
}

std::int64_t parse_positive(const std::string& text, const std::string& what)
{
    std::int64_t value = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || ptr != text.data() + text.size() || text.empty() || value <= 0) {
        throw bad_request(fmt::format("{} must be a positive whole number, got '{}'", what, text));
    }
    return value;
}

bool is_loopback_address(std::string_view address)
{
    if (address == "localhost" || address == "::1" || address == "[::1]") return true;
    in_addr v4{};
    const std::string text(address);
    return ::inet_pton(AF_INET, text.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

ServeSettings load_serve_settings(const Settings& settings, bool dev, const std::optional<std::string>& address,
                                  const std::optional<int>& port)
{
    const ServeConfig& config = settings.serve;
    ServeSettings serve;
    serve.dev = dev;
    serve.address = address.value_or(config.address);
    serve.port = port.value_or(static_cast<int>(config.port));
    if (serve.port < 0 || serve.port > 65535) throw Error(ExitCode::usage, "--port must be within 0..65535");
    if (address && !is_bind_address(*address)) {
        throw Error(ExitCode::usage,
                    fmt::format("--address: expected an IPv4 or IPv6 address or localhost, got '{}'", *address));
    }
    serve.limits.max_body_bytes = static_cast<std::size_t>(config.max_body_bytes);
    serve.limits.request_timeout = std::chrono::seconds(config.read_timeout_seconds);
    serve.limits.write_timeout = std::chrono::seconds(config.write_timeout_seconds);
    serve.limits.keep_alive_timeout = std::chrono::seconds(config.keepalive_seconds);
    serve.limits.workers = static_cast<std::size_t>(config.workers);
    serve.limits.max_queued = static_cast<std::size_t>(config.queue);
    serve.limits.max_connections = static_cast<std::size_t>(config.max_connections);
    serve.limits.max_connections_per_client = static_cast<std::size_t>(config.max_connections_per_client);
    serve.run_wait = std::chrono::seconds(config.run_wait_seconds);
    serve.probe_timeout = std::chrono::seconds(config.probe_timeout_seconds);

    if (dev) {
        if (!is_loopback_address(serve.address)) {
            throw Error(ExitCode::usage,
                        fmt::format("--dev binds a loopback address only (127.0.0.1, ::1), not {}", serve.address));
        }
        serve.tokens.admin = dev_token;
        serve.tokens.read = dev_token;
        return serve;
    }
    const auto& admin = config.admin_token;
    if (!admin) {
        throw Error(ExitCode::config,
                    "LEDGER_ADMIN_TOKEN (or LEDGER_ADMIN_TOKEN_FILE) is not set: serve refuses to start without "
                    "tokens (use --dev for a loopback-only server with the token localdev)");
    }
    // Their length was checked with every setting (lib/setting_table.cpp).
    serve.tokens.admin = *admin;
    serve.tokens.read = config.read_token;
    return serve;
}

nlohmann::json json_object_body(std::string_view body, std::string_view example)
{
    if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return nlohmann::json::object();
    // The member names of every object being read, innermost last.
    std::vector<std::set<std::string>> names;
    const nlohmann::json::parser_callback_t refuse_duplicates = [&names](int, nlohmann::json::parse_event_t event,
                                                                         nlohmann::json& parsed) {
        using Event = nlohmann::json::parse_event_t;
        if (event == Event::object_start) names.emplace_back();
        if (event == Event::object_end) names.pop_back();
        if (event == Event::key && !names.back().insert(parsed.get<std::string>()).second) {
            throw bad_request(fmt::format("the body names '{}' twice in one object", parsed.get<std::string>()));
        }
        return true;
    };
    nlohmann::json json;
    try {
        json = nlohmann::json::parse(body, refuse_duplicates);
    } catch (const nlohmann::json::parse_error& e) {
        // Where it stops, in the client's terms; the parser's own wording names its internals.
        throw bad_request(fmt::format("the body is not valid JSON (it stops making sense at byte {} of {})",
                                      std::min(e.byte, body.size()), body.size()));
    } catch (const nlohmann::json::out_of_range&) {
        // 1e400: valid JSON, but no number a reconcile field could hold.
        throw bad_request("the body holds a number too large to read");
    }
    if (!json.is_object()) throw bad_request(fmt::format("the body must be a JSON object such as {}", example));
    return json;
}

RunSpec parse_run_body(std::string_view body, const Settings& settings, const CheckRegistry& registry)
{
    RunSpec spec;
    const nlohmann::json json = json_object_body(body, R"({"category": "A"})");
    for (const auto& [key, value] : json.items()) {
        if (key == "category") {
            if (!value.is_string()) throw bad_request("category must be a string: \"A\", \"B\", \"C\" or \"D\"");
            spec.category = validated_category(value.get<std::string>());
        } else if (key == "book") {
            if (!value.is_string()) throw bad_request("book must be a string");
            spec.book = validated_book(value.get<std::string>(), settings);
        } else if (key == "checks") {
            if (!value.is_array()) throw bad_request("checks must be an array of check names");
            for (const auto& name : value) {
                if (!name.is_string()) throw bad_request("checks must be an array of check names");
                spec.checks.push_back(name.get<std::string>());
            }
        } else {
            throw bad_request(fmt::format("unknown field '{}' (known: book, category, checks)", key));
        }
    }
    if (!spec.checks.empty()) {
        if (!spec.category) throw bad_request("checks needs a category");
        try {
            registry.select(*spec.category, spec.checks);
        } catch (const Error& e) {
            throw bad_request(e.what());
        }
    }
    return spec;
}

std::vector<std::string> configured_books(const Settings& settings)
{
    std::vector<std::string> books;
    for (const auto& book : settings.books) {
        if (settings.database_urls.count(book) != 0) books.push_back(book);
    }
    return books;
}

std::vector<std::pair<std::string, Category>> run_targets(const RunSpec& spec, const Settings& settings)
{
    const std::vector<std::string> books =
        spec.book ? std::vector<std::string>{*spec.book} : configured_books(settings);
    if (books.empty()) throw Error(ExitCode::config, "no book has a database configured (RECON_DATABASE_URL_<BOOK>)");
    std::vector<Category> categories(std::begin(internal_categories), std::end(internal_categories));
    if (spec.category) categories = {*spec.category};
    std::vector<std::pair<std::string, Category>> targets;
    for (const auto& book : books) {
        for (const Category category : categories) targets.emplace_back(book, category);
    }
    return targets;
}

std::string encode_cursor(const std::map<std::string, std::int64_t>& positions)
{
    nlohmann::json json = nlohmann::json::object();
    for (const auto& [book, run_id] : positions) json[book] = run_id;
    return base64url_encode(json.dump());
}

std::map<std::string, std::int64_t> decode_cursor(std::string_view cursor)
{
    try {
        const auto json = nlohmann::json::parse(base64url_decode(cursor));
        if (!json.is_object()) throw std::invalid_argument("not an object");
        std::map<std::string, std::int64_t> positions;
        for (const auto& [book, run_id] : json.items()) {
            if (!run_id.is_number_integer() || run_id.get<std::int64_t>() <= 0) throw std::invalid_argument("bad id");
            positions[book] = run_id.get<std::int64_t>();
        }
        return positions;
    } catch (const std::exception&) {
        throw bad_request("invalid cursor: pass next_cursor from a previous page unchanged");
    }
}

RunListQuery parse_run_list_query(const std::multimap<std::string, std::string>& params, const Settings& settings)
{
    require_known_params(params, {"book", "category", "status", "since", "limit", "cursor"});
    RunListQuery query;
    if (const auto book = single_param(params, "book")) {
        query.books = {validated_book(*book, settings)};
    } else {
        query.books = configured_books(settings);
    }
    if (const auto category = single_param(params, "category")) {
        query.filter.category = validated_category(*category);
    }
    if (const auto status = single_param(params, "status")) {
        query.filter.status = parse_run_status(*status);
        if (!query.filter.status) {
            auto known = run_status_names();
            std::sort(known.begin(), known.end());
            throw bad_request(fmt::format("status must be one of {}, got '{}'", fmt::join(known, ", "), *status));
        }
    }
    if (const auto since = single_param(params, "since")) {
        query.filter.since = parse_utc(*since);
        if (!query.filter.since) {
            throw bad_request(
                fmt::format("since must be an ISO-8601 time such as 2026-11-28T00:00:00Z, got '{}'", *since));
        }
    }
    if (const auto limit = single_param(params, "limit")) {
        query.filter.limit = parse_positive(*limit, "limit");
        if (query.filter.limit > max_page) throw bad_request(fmt::format("limit must be at most {}", max_page));
    }
    if (const auto cursor = single_param(params, "cursor")) query.cursor = decode_cursor(*cursor);
    return query;
}

ReconcileApi::ReconcileApi(const Settings& settings, const ServeSettings& serve, const CheckRegistry& registry)
    : m_settings(settings),
      m_serve(serve),
      m_registry(registry),
      m_launcher(settings, registry),
      m_book_calls(serve.probe_timeout)
{
}

void ReconcileApi::register_routes(HttpServer& server)
{
    server.get("/healthz", Access::open, [](const HttpServerRequest&) {
        return HttpReply::json({{"status", "ok"}, {"version", RECON_VERSION}});
    });
    server.get("/readyz", Access::open, [this](const HttpServerRequest&) { return ready(); });
    server.get("/metrics", Access::read, [this, &server](const HttpServerRequest&) { return metrics(server); });
    server.post("/v1/reconciliation/run", Access::admin, [this](const HttpServerRequest& r) { return post_run(r); });
    server.get("/v1/reconciliation/runs", Access::read, [this](const HttpServerRequest& r) { return list_runs(r); });
    server.get("/v1/reconciliation/runs/{run_id}", Access::read,
               [this](const HttpServerRequest& r) { return show_run(r); });
    // Acknowledgements, traces and the console (lib/variances_api.hpp).
    server.get("/v1/reconciliation/variances", Access::read, [this](const HttpServerRequest& r) {
        return list_variances_reply(request_databases(), m_registry, r.params);
    });
    for (const auto action : {VarianceAction::ack, VarianceAction::unack}) {
        server.post("/v1/reconciliation/variances/{fingerprint}/" + std::string(to_string(action)), Access::admin,
                    [this, action](const HttpServerRequest& r) {
                        return variance_action_reply(request_databases(), action, r.path_params.at("fingerprint"),
                                                     r.body);
                    });
    }
    server.get("/v1/reconciliation/trace", Access::read,
               [this](const HttpServerRequest& r) { return trace_reply(request_databases(), r.params); });
    server.get("/v1/reconciliation/daily", Access::read,
               [this](const HttpServerRequest& r) { return daily_reply(request_databases(), r.params); });
    // Route patterns are regexes: the dots are escaped.
    for (const char* pattern : {"/", R"(/console\.js)", R"(/console\.css)"}) {
        server.get(pattern, Access::open, [](const HttpServerRequest& r) { return console_reply(r.path).value(); });
    }
    for (const auto report : {IndiaReport::ledger_recon, IndiaReport::holdings_recon, IndiaReport::reconciliation}) {
        server.get("/v1/india/" + std::string(to_string(report)), Access::read,
                   [this, report](const HttpServerRequest& r) { return india_report(r, report); });
    }
}

HttpReply ReconcileApi::india_report(const HttpServerRequest& request, IndiaReport report)
{
    require_known_params(request.params, {"customer"});
    // A book that is not configured is the request's fault (400) with a customer or without;
    // only a customer the book does not know is a missing resource (404, below).
    m_settings.require_book("india");
    // The report waits for ViewTrade as long as its client allows; its database connection is
    // bounded like every request's, its statements by RECON_STATEMENT_TIMEOUT_MS.
    const IndiaReportRequest spec{
        .report = report,
        .customer_id = single_param(request.params, "customer"),
        .session_limits = {.connect_timeout = m_serve.probe_timeout, .dead_peer_timeout = m_serve.probe_timeout}};
    nlohmann::json document;
    try {
        document = build_india_report(m_settings, spec);
    } catch (const Error& e) {
        if (e.code() == ExitCode::usage && spec.customer_id) throw HttpError(404, e.what());
        throw;
    }
    // The report is the answer whatever it found; a broker that could not be asked at all is not.
    const std::string broker = document.value("broker_status", "");
    if (broker == "unreachable") throw HttpError(502, document.value("error", "ViewTrade unreachable"));
    if (broker == "not_configured") throw HttpError(503, document.value("error", "ViewTrade is not configured"));
    return HttpReply::json(document);
}

HttpReply ReconcileApi::post_run(const HttpServerRequest& request)
{
    require_known_params(request.params, {});
    // The server refused a body that is not application/json (415) before reading it.
    const RunSpec spec = parse_run_body(request.body, m_settings, m_registry);
    const auto targets = run_targets(spec, m_settings);
    std::vector<std::shared_ptr<LaunchedRun>> runs;
    for (const auto& [book, category] : targets) {
        RunRequest run;
        run.book = book;
        run.category = category;
        run.check_names = spec.checks;
        run.session_limits.connect_timeout = m_serve.probe_timeout;
        runs.push_back(m_launcher.launch(std::move(run)));
    }
    // A run starts (connected, verified, locked, its row written) within the request's database
    // deadline or is answered 503; once started, it is waited for up to RECON_SERVE_RUN_WAIT_SECONDS.
    const auto now = std::chrono::steady_clock::now();
    const auto deadline = now + m_serve.run_wait;
    const auto start_deadline = now + m_serve.probe_timeout;
    std::vector<LaunchedRun::State> states;
    for (const auto& run : runs) states.push_back(run->wait(deadline, m_launcher.stopping(), start_deadline));
    const BookDatabases databases = request_databases();

    // The run in progress that holds a refused run's lock, named from its `running` row.
    const auto lock_held = [&databases](const LaunchedRun& run) {
        nlohmann::json json = {{"book", run.book}, {"category", run.category}};
        RunOutcome held{.lock_held = true};
        const std::string label = fmt::format("{}/{}", run.book, run.category);
        std::string detail = lock_held_message(held, label);
        try {
            using Rows = std::pair<std::optional<RunReport>, std::optional<RunReport>>;
            const auto [holder, last] = databases.with_session<Rows>(
                run.book,
                [book = run.book, category = run.category](Session& session) {
                    RunHistory history(session);
                    auto running = history.running(book, category);
                    if (running) return Rows{std::move(running), std::nullopt};
                    return Rows{std::nullopt, history.last_completed(book, category)};
                },
                BookCheck::none);
            held.lock_holder = holder;
            if (held.lock_holder) {
                json["run_id"] = held.lock_holder->run_id;
                json["href"] = run_href(run.book, held.lock_holder->run_id);
                detail = lock_held_message(held, label);
            } else if (last) {
                // The holder finished between the refusal and this lookup.
                json["last_run_id"] = last->run_id;
                json["href"] = run_href(run.book, last->run_id);
                detail = fmt::format("a run of {} was in progress and has just finished: run {} ({}); retry", label,
                                     last->run_id, last->status);
            } else {
                detail = fmt::format("a run of {} was in progress and has just finished; retry", label);
            }
        } catch (...) {
            // The history cannot be read: say so rather than leave the holder unexplained.
            detail += " (its run id could not be read: the book's database did not answer)";
        }
        json["detail"] = detail;
        return json;
    };
    const auto failure = [](const LaunchedRun& run, const LaunchedRun::State& state) {
        nlohmann::json json = {{"book", run.book},
                               {"category", run.category},
                               {"exit_code", to_int(state.code)},
                               {"detail", state.message}};
        if (state.started) json["run_id"] = state.run_id;
        return json;
    };
    // Not started within the deadline: its database did not answer (the run gives up connecting
    // soon after; a run that does start later is in the history like any other).
    const auto not_started = [this](const LaunchedRun& run) {
        return nlohmann::json{
            {"book", run.book},
            {"category", run.category},
            {"exit_code", to_int(ExitCode::unavailable)},
            {"detail", fmt::format("book '{}': its database did not answer within {} ms; the run did not start",
                                   run.book, m_serve.probe_timeout.count())}};
    };

    if (spec.book && spec.category) {
        const auto& run = *runs.front();
        const auto& state = states.front();
        if (!state.done && !state.started) return HttpReply::json(not_started(run), 503);
        if (!state.done) {
            auto reply = HttpReply::json(running_stub(run, state), 202);
            reply.headers.emplace_back("Location", run_href(run.book, state.run_id));
            return reply;
        }
        if (state.lock_held) return HttpReply::json(lock_held(run), 409);
        if (state.report) return HttpReply::json(run_report_to_json(*state.report));
        return HttpReply::json(failure(run, state), http_status_for_exit_code(to_int(state.code)));
    }

    // Several runs: one combined document (README "POST /v1/reconciliation/run").
    nlohmann::json finished = nlohmann::json::array();
    nlohmann::json skipped = nlohmann::json::array();
    nlohmann::json errors = nlohmann::json::array();
    bool any_running = false;
    std::optional<CheckStatus> worst_status;
    std::vector<ExitCode> error_codes;
    for (std::size_t i = 0; i < runs.size(); ++i) {
        const auto& state = states[i];
        if (!state.done && !state.started) {
            errors.push_back(not_started(*runs[i]));
            error_codes.push_back(ExitCode::unavailable);
        } else if (!state.done) {
            any_running = true;
            finished.push_back(running_stub(*runs[i], state));
        } else if (state.lock_held) {
            skipped.push_back(lock_held(*runs[i]));
        } else if (state.report) {
            finished.push_back(run_report_to_json(*state.report));
            const auto status = check_status_of(state.report->status).value_or(CheckStatus::error);
            worst_status = worst_status ? worst(*worst_status, status) : status;
        } else {
            errors.push_back(failure(*runs[i], state));
            error_codes.push_back(state.code);
        }
    }
    nlohmann::json document = {{"status", any_running    ? nlohmann::json(RunStatus::running)
                                          : worst_status ? nlohmann::json(to_string(*worst_status))
                                                         : nlohmann::json(nullptr)},
                               {"runs", std::move(finished)},
                               {"skipped", std::move(skipped)},
                               {"errors", std::move(errors)}};
    int status = 200;
    if (any_running) {
        status = 202;
    } else if (!worst_status && error_codes.empty()) {
        status = 409;
    } else if (!worst_status) {
        status = http_status_for_exit_code(to_int(aggregate_exit_codes(error_codes)));
    }
    return HttpReply::json(document, status);
}

HttpReply ReconcileApi::list_runs(const HttpServerRequest& request)
{
    const RunListQuery query = parse_run_list_query(request.params, m_settings);
    const auto limit = static_cast<std::size_t>(query.filter.limit);
    // One page per book (one more than asked, to know whether more follow), merged newest
    // first; each book's position in the cursor is the last run id taken from it.
    // A book that is down fails the whole list with 503 naming it (docs/decisions/request-database-deadline.md).
    const BookDatabases databases = request_databases();
    std::vector<std::vector<RunReport>> pages;
    for (const auto& book : query.books) {
        RunFilter filter = query.filter;
        filter.limit = query.filter.limit + 1;
        if (const auto position = query.cursor.find(book); position != query.cursor.end()) {
            filter.before_run_id = position->second;
        }
        pages.push_back(databases.with_session<std::vector<RunReport>>(
            book, [book, filter](Session& session) { return RunHistory(session).list(book, filter); }));
    }
    std::vector<std::size_t> heads(pages.size(), 0);
    auto positions = query.cursor;
    nlohmann::json runs = nlohmann::json::array();
    while (runs.size() < limit) {
        std::optional<std::size_t> pick;
        for (std::size_t i = 0; i < pages.size(); ++i) {
            if (heads[i] >= pages[i].size()) continue;
            if (!pick || pages[i][heads[i]].started_at > pages[*pick][heads[*pick]].started_at) pick = i;
        }
        if (!pick) break;
        const RunReport& report = pages[*pick][heads[*pick]++];
        positions[report.book] = report.run_id;
        runs.push_back(run_summary_json(report));
    }
    bool more = false;
    for (std::size_t i = 0; i < pages.size(); ++i) more = more || heads[i] < pages[i].size();
    return HttpReply::json(
        {{"runs", std::move(runs)},
         {"next_cursor", more ? nlohmann::json(encode_cursor(positions)) : nlohmann::json(nullptr)}});
}

HttpReply ReconcileApi::show_run(const HttpServerRequest& request)
{
    require_known_params(request.params, {"book"});
    const std::int64_t run_id = parse_positive(request.path_params.at("run_id"), "the run id");
    std::vector<std::string> books = configured_books(m_settings);
    if (const auto book = single_param(request.params, "book")) books = {validated_book(*book, m_settings)};
    const BookDatabases databases = request_databases();
    std::vector<RunReport> found;
    for (const auto& book : books) {
        auto report = databases.with_session<std::optional<RunReport>>(
            book, [run_id](Session& session) { return RunHistory(session).find(run_id); });
        if (report) found.push_back(std::move(*report));
    }
    if (found.empty()) throw HttpError(404, fmt::format("no run {} in the run history", run_id));
    if (found.size() > 1) {
        std::vector<std::string> names;
        for (const auto& report : found) names.push_back(report.book);
        throw bad_request(
            fmt::format("run {} exists in books {}: add ?book={}", run_id, fmt::join(names, ", "), names.front()));
    }
    return HttpReply::json(run_report_to_json(found.front()));
}

BookDatabases ReconcileApi::request_databases()
{
    return BookDatabases(m_settings, m_calls, m_serve.probe_timeout);
}

HttpReply ReconcileApi::metrics(const HttpServer& server)
{
    auto books = m_book_calls.call("metrics", configured_books(m_settings), [this](const std::string& book) {
        return read_book_metrics(m_settings, m_registry, book, limits_after_wait(m_serve.probe_timeout));
    });
    for (auto& book : books) {
        if (!book.up && !book.down_reason.empty()) {
            // A hanging book keeps its schedule flag (settings only) in the exposition.
            for (const auto& cadence : schedule_config(m_settings).books) {
                if (cadence.book == book.book) book.schedule_enabled = cadence.enabled;
            }
        }
    }
    HttpReply reply;
    reply.body = render_prometheus(books, server.rejected_connections());
    reply.content_type = "text/plain; version=0.0.4; charset=utf-8";
    return reply;
}

HttpReply ReconcileApi::ready()
{
    const auto books = m_book_calls.call("ready", configured_books(m_settings), [this](const std::string& book) {
        return probe_book(m_settings, book, m_serve.probe_timeout);
    });
    nlohmann::json states = nlohmann::json::object();
    std::vector<std::string> down;
    for (const auto& book : books) {
        states[book.book] =
            book.up ? nlohmann::json{{"up", true}} : nlohmann::json{{"up", false}, {"detail", book.down_reason}};
        if (!book.up) down.push_back(book.book);
    }
    if (down.empty()) return HttpReply::json({{"status", "ready"}, {"books", std::move(states)}});
    const std::string detail = down.size() == 1 ? fmt::format("book {} is down: {}", down.front(),
                                                              states[down.front()]["detail"].get<std::string>())
                                                : fmt::format("books {} are down", fmt::join(down, ", "));
    return HttpReply::json({{"status", "not ready"}, {"detail", detail}, {"books", std::move(states)}}, 503);
}

}  // namespace reconcile
