#include "lib/http_server.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <regex>
#include <set>
#include <thread>
#include <unordered_map>
#include <variant>

#include "lib/errors.hpp"
#include "lib/hash.hpp"
#include "lib/log.hpp"
#include "lib/text.hpp"
#include "lib/timeutil.hpp"
#include "lib/utf8.hpp"

namespace reconcile {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

/// Room for chunk-size lines and chunk extensions in the read buffer, on top of the headers.
constexpr std::size_t chunked_framing_allowance = 16384;
/// How long a connection being closed may take to drain what the client still sends, so the
/// answer is not lost to a reset.
constexpr milliseconds drain_time{1000};
/// ... and at most this many bytes of it.
constexpr std::size_t drain_bytes = 65536;
/// Retry after accepting fails for lack of descriptors.
constexpr milliseconds accept_retry{100};

std::string_view trim(std::string_view text)
{
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

std::string detail_json(const std::string& detail)
{
    return dump_json(nlohmann::json{{"detail", detail}});
}

/// A request refused by the server itself, before any handler.
struct Refusal {
    int status;
    std::string detail;
    std::vector<std::pair<std::string, std::string>> headers = {};
};

/// A control character other than HTAB, which no field value or quoted string may hold.
bool is_control_but_tab(char c)
{
    const auto byte = static_cast<unsigned char>(c);
    return (byte < 0x20 && c != '\t') || byte == 0x7f;
}

/// RFC 9110 5.6.2: a field name is a token.
bool is_tchar(char c)
{
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) != 0 && byte < 0x80) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

/// RFC 3986 host [":" port], the value of Host and the authority of an absolute-form target
/// (RFC 9112 3.2); an empty host only when `empty_host` allows it. No userinfo.
bool valid_authority(std::string_view text, bool empty_host)
{
    const auto digits = [](std::string_view port) {
        return std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    const auto host_char = [](char c) {
        const auto byte = static_cast<unsigned char>(c);
        return (byte < 0x80 && std::isalnum(byte) != 0) ||
               std::string_view("-._~!$&'()*+,;=").find(c) != std::string_view::npos;
    };
    const auto valid_host = [&](std::string_view host, bool colons) {
        for (std::size_t i = 0; i < host.size(); ++i) {
            if (host[i] == '%') {  // pct-encoded: % HEX HEX
                if (i + 2 >= host.size() || std::isxdigit(static_cast<unsigned char>(host[i + 1])) == 0 ||
                    std::isxdigit(static_cast<unsigned char>(host[i + 2])) == 0) {
                    return false;
                }
                i += 2;
            } else if (!host_char(host[i]) && !(colons && host[i] == ':')) {
                return false;
            }
        }
        return true;
    };
    std::string_view host = text;
    if (!text.empty() && text.front() == '[') {
        // An IP literal: IPv6 or IPvFuture between brackets.
        const auto close = text.find(']');
        if (close == std::string_view::npos || close == 1) return false;
        if (!valid_host(text.substr(1, close - 1), true)) return false;
        const auto rest = text.substr(close + 1);
        return rest.empty() || (rest.front() == ':' && digits(rest.substr(1)));
    }
    if (const auto colon = text.rfind(':'); colon != std::string_view::npos) {
        if (!digits(text.substr(colon + 1))) return false;
        host = text.substr(0, colon);
    }
    if (host.empty()) return empty_host;
    return valid_host(host, false);
}

/// What the raw header block says about the body's framing, checked strictly before Beast
/// parses it (RFC 9112 3.2, 5, 6.1, 6.3), so every request that could be read two ways is
/// refused: one Host (required in HTTP/1.1); header names that are tokens, with no space
/// before the colon; no bare CR or LF and no other control character but HTAB in a header; no
/// obsolete line folding; Transfer-Encoding only as `chunked` alone (case-insensitive), never
/// with Content-Length, never in HTTP/1.0, `chunked` never before another coding; one valid
/// Content-Length.
struct Framing {
    bool chunked = false;
    std::optional<std::size_t> length;
    bool expect_continue = false;
};

std::variant<Framing, Refusal> parse_framing(std::string_view head, std::size_t max_body)
{
    Framing framing;
    std::vector<std::string_view> lengths;
    std::vector<std::string_view> encodings;
    std::vector<std::string_view> hosts;
    std::size_t at = head.find("\r\n");
    if (at == std::string_view::npos) return Refusal{400, "malformed HTTP request"};
    const std::string_view request_line = head.substr(0, at);
    if (request_line.find_first_of("\r\n") != std::string_view::npos) {
        return Refusal{400, "a bare CR or LF in the request line"};
    }
    // method SP target SP HTTP/<digit>.<digit> (RFC 9112 3); the version decides whether Host is
    // required and Transfer-Encoding trusted (both from HTTP/1.1 on).
    const auto first_space = request_line.find(' ');
    const auto last_space = request_line.rfind(' ');
    const std::string_view version = request_line.substr(last_space + 1);
    const auto digit = [](char c) { return c >= '0' && c <= '9'; };
    if (first_space == std::string_view::npos || first_space == 0 || last_space <= first_space + 1 ||
        version.size() != 8 || version.substr(0, 5) != "HTTP/" || !digit(version[5]) || version[6] != '.' ||
        !digit(version[7])) {
        return Refusal{400, "malformed HTTP request"};
    }
    // Only major version 1 is spoken here (RFC 9110 15.6.6); a later minor version of it is
    // processed as 1.1, the highest this server conforms to (RFC 9110 2.5).
    if (version[5] != '1') {
        return Refusal{505, fmt::format("{} is not supported: this server speaks HTTP/1.1", version)};
    }
    const bool before_http11 = version[7] == '0';
    at += 2;
    while (at < head.size()) {
        const std::size_t end = head.find("\r\n", at);
        if (end == std::string_view::npos || end == at) break;
        const std::string_view line = head.substr(at, end - at);
        at = end + 2;
        if (line.front() == ' ' || line.front() == '\t') {
            return Refusal{400, "obsolete line folding in the request headers"};
        }
        if (line.find_first_of("\r\n") != std::string_view::npos) {
            return Refusal{400, "a bare CR or LF in the request headers"};
        }
        const auto colon = line.find(':');
        if (colon == std::string_view::npos) return Refusal{400, "malformed HTTP request"};
        const std::string_view raw_name = line.substr(0, colon);
        if (!raw_name.empty() && (raw_name.back() == ' ' || raw_name.back() == '\t')) {
            return Refusal{400, "whitespace between a header name and its colon"};
        }
        if (raw_name.empty() || !std::all_of(raw_name.begin(), raw_name.end(), is_tchar)) {
            return Refusal{400, "malformed HTTP request"};
        }
        const std::string_view value = trim(line.substr(colon + 1));
        if (std::any_of(value.begin(), value.end(), is_control_but_tab)) {
            return Refusal{400, "a control character in a request header"};
        }
        const std::string name = lower(raw_name);
        if (name == "host") hosts.push_back(value);
        if (name == "content-length") lengths.push_back(value);
        if (name == "transfer-encoding") encodings.push_back(value);
        // An HTTP/1.0 client's expectation is ignored: it is never sent a 1xx (RFC 9110 10.1.1, 15.2).
        if (name == "expect" && lower(value) == "100-continue" && !before_http11) framing.expect_continue = true;
    }
    if (hosts.size() > 1) return Refusal{400, "more than one Host header"};
    if (hosts.empty() && !before_http11) return Refusal{400, "missing Host header (HTTP/1.1 requires it)"};
    if (!hosts.empty() && !valid_authority(hosts.front(), true)) return Refusal{400, "invalid Host header"};
    if (!encodings.empty() && before_http11) {
        return Refusal{400, "Transfer-Encoding in an HTTP/1.0 request: its framing cannot be trusted"};
    }
    if (!encodings.empty() && !lengths.empty()) {
        return Refusal{400, "both Content-Length and Transfer-Encoding: the body's length is ambiguous"};
    }
    if (lengths.size() > 1) return Refusal{400, "more than one Content-Length"};
    if (encodings.size() > 1) return Refusal{400, "more than one Transfer-Encoding"};
    if (!encodings.empty()) {
        // A list of codings, names case-insensitive (RFC 9112 7); empty list elements are
        // allowed (RFC 9110 5.6.1) and ignored.
        std::vector<std::string> codings;
        std::string_view list = encodings.front();
        while (true) {
            const auto comma = list.find(',');
            const auto coding = trim(list.substr(0, comma));
            if (!coding.empty()) codings.push_back(lower(coding));
            if (comma == std::string_view::npos) break;
            list.remove_prefix(comma + 1);
        }
        const auto chunked = std::count(codings.begin(), codings.end(), "chunked");
        if (codings.empty()) return Refusal{400, "an empty Transfer-Encoding"};
        if (chunked > 1) return Refusal{400, "Transfer-Encoding applies chunked more than once"};
        // Without chunked last nothing delimits the body (RFC 9112 6.3: 400, even for `gzip` alone).
        if (codings.back() != "chunked") {
            return Refusal{400, "chunked is not the final Transfer-Encoding: the body's length is ambiguous"};
        }
        if (codings.size() > 1 || chunked == 0) {
            return Refusal{501, "unsupported Transfer-Encoding (only chunked is accepted)"};
        }
        framing.chunked = true;
    }
    if (!lengths.empty()) {
        const std::string_view value = lengths.front();
        if (value.empty() || !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            return Refusal{400, "invalid Content-Length"};
        }
        // A valid length of any number of digits (RFC 9110 8.6): past 18 it is past any limit.
        const std::uint64_t length = value.size() > 18 ? UINT64_MAX : std::stoull(std::string(value));
        if (length > max_body) {
            return Refusal{413, fmt::format("request body exceeds the limit of {} bytes", max_body)};
        }
        framing.length = static_cast<std::size_t>(length);
    }
    return framing;
}

/// Where a request's head ends (RFC 9112 2.2): after the empty line that ends its fields, or at
/// the first LF without a CR before it, which on_header then refuses at once instead of waiting
/// for a CRLF CRLF that a client ending its lines with LF alone never sends. The scan goes on
/// where the last one stopped (the three bytes before it kept), so a head that trickles in a
/// byte at a time is still read once. The head starts as if after a line end, so an empty line
/// before the request line ends a head of its own, which on_header passes over.
struct HeadScan {
    std::array<char, 3> before{'\0', '\r', '\n'};
};

struct HeadEnd {
    HeadScan* scan;

    template <typename Iterator>
    std::pair<Iterator, bool> operator()(Iterator begin, Iterator end) const
    {
        auto& before = scan->before;
        for (Iterator at = begin; at != end; ++at) {
            if (*at == '\n' && (before[2] != '\r' || (before[0] == '\r' && before[1] == '\n'))) {
                return {std::next(at), true};
            }
            before = {before[1], before[2], *at};
        }
        return {end, false};
    }
};

}  // namespace
}  // namespace reconcile

template <>
struct boost::asio::is_match_condition<reconcile::HeadEnd> : std::true_type {
};

namespace reconcile {
namespace {

/// The origin form (path and query) of a request target: itself when it is one, the path and
/// query of an absolute-form http(s) target (RFC 9112 3.2.2: a server MUST accept it; its
/// authority wins over Host, which routing ignores anyway); std::nullopt for anything else
/// (authority-form is for CONNECT, which no route serves; asterisk-form for OPTIONS, answered
/// before routing).
std::optional<std::string> origin_form(std::string_view target)
{
    // A fragment is the client's own and never part of a request target (RFC 9112 3.2).
    if (target.find('#') != std::string_view::npos) return std::nullopt;
    if (!target.empty() && target.front() == '/') return std::string(target);
    const auto scheme_end = target.find("://");
    if (scheme_end == std::string_view::npos) return std::nullopt;
    const std::string scheme = lower(target.substr(0, scheme_end));
    if (scheme != "http" && scheme != "https") return std::nullopt;
    std::string_view rest = target.substr(scheme_end + 3);
    const auto authority_end = std::min(rest.find('/'), rest.find('?'));
    const auto authority = rest.substr(0, authority_end);
    if (!valid_authority(authority, false)) return std::nullopt;
    rest = authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);
    // An empty path is "/" (RFC 9112 3.2.1).
    return rest.empty() || rest.front() == '?' ? "/" + std::string(rest) : std::string(rest);
}

/// A fixed pool of threads for handlers with a bounded queue: past it the caller answers 503.
class WorkerPool {
public:
    WorkerPool(std::size_t workers, std::size_t max_queued) : m_max_queued(max_queued)
    {
        for (std::size_t i = 0; i < std::max<std::size_t>(workers, 1); ++i) {
            m_threads.emplace_back([this] { work(); });
        }
    }
    ~WorkerPool() { shutdown(); }
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    /// Queues `job`; false when every worker is busy and the queue is full.
    bool try_post(std::function<void()> job)
    {
        {
            std::lock_guard lock(m_mutex);
            const std::size_t idle = m_threads.size() - m_busy;
            if (m_stopping || (m_jobs.size() >= idle && m_jobs.size() - idle >= m_max_queued)) return false;
            m_jobs.push_back(std::move(job));
        }
        m_changed.notify_one();
        return true;
    }

    void shutdown()
    {
        {
            std::lock_guard lock(m_mutex);
            if (m_stopping && m_threads.empty()) return;
            m_stopping = true;
        }
        m_changed.notify_all();
        for (auto& thread : m_threads) {
            if (thread.joinable()) thread.join();
        }
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
                ++m_busy;
            }
            job();
            job = nullptr;
            std::lock_guard lock(m_mutex);
            --m_busy;
        }
    }

    std::size_t m_max_queued;
    std::vector<std::thread> m_threads;
    std::deque<std::function<void()>> m_jobs;
    std::mutex m_mutex;
    std::condition_variable m_changed;
    std::size_t m_busy = 0;
    bool m_stopping = false;
};

struct Route {
    std::string method;  // GET (also serves HEAD) or POST
    std::regex regex;
    std::vector<std::pair<std::string, std::size_t>> names;  // {name} -> capture index
    Access access;
    HttpHandler handler;
};

/// Turns `{name}` segments into capture groups and records which group each name is.
Route compile_route(const std::string& method, const std::string& pattern, Access access, HttpHandler handler)
{
    Route route{method, {}, {}, access, std::move(handler)};
    std::string regex;
    std::size_t groups = 0;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        const char c = pattern[i];
        if (c == '\\' && i + 1 < pattern.size()) {
            regex += pattern.substr(i, 2);
            ++i;
            continue;
        }
        if (c == '(' && (i + 1 >= pattern.size() || pattern[i + 1] != '?')) ++groups;
        if (c == '{') {
            const auto close = pattern.find('}', i);
            const std::string name = close == std::string::npos ? "" : pattern.substr(i + 1, close - i - 1);
            if (!name.empty() &&
                std::all_of(name.begin(), name.end(), [](unsigned char ch) { return std::isalnum(ch) || ch == '_'; })) {
                route.names.emplace_back(name, ++groups);
                regex += "([^/]+)";
                i = close;
                continue;
            }
        }
        regex += c;
    }
    route.regex = std::regex(regex);
    return route;
}

std::string_view buffer_text(const beast::flat_buffer& buffer)
{
    const auto data = buffer.data();
    return {static_cast<const char*>(data.data()), data.size()};
}

/// Whether `text` has a LF without its CR, or a CR followed by anything but LF (a CR at the end
/// may still get its LF).
bool has_bare_line_end(std::string_view text)
{
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) return true;
        if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] != '\n') return true;
    }
    return false;
}

/// Refuses a chunk extension with a control character but HTAB: a quoted string may not hold
/// one either (RFC 9112 7.1.1, RFC 9110 5.6.4), and a bare LF in it could end the chunk line for
/// a front end that reads lines differently. Beast keeps a reference: it lives as long as the
/// program.
auto refuse_control_characters = [](std::uint64_t, beast::string_view extensions, boost::system::error_code& ec) {
    if (std::any_of(extensions.begin(), extensions.end(), is_control_but_tab)) ec = http::error::bad_chunk_extension;
};

std::string overloaded_response(const std::string& detail)
{
    const std::string body = detail_json(detail);
    return fmt::format(
        "HTTP/1.1 503 Service Unavailable\r\nDate: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n"
        "Connection: close\r\nRetry-After: 1\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\r\n{}",
        format_http_date(std::chrono::system_clock::now()), body.size(), body);
}

}  // namespace

namespace {

/// Whether header `key` is `name`: field names are case-insensitive (RFC 9110 5.1).
bool same_field(std::string_view key, std::string_view name)
{
    return key.size() == name.size() && lower(key) == lower(name);
}

}  // namespace

std::optional<std::string> HttpServerRequest::header(std::string_view name) const
{
    for (const auto& [key, value] : headers) {
        if (same_field(key, name)) return value;
    }
    return std::nullopt;
}

std::size_t HttpServerRequest::header_count(std::string_view name) const
{
    return static_cast<std::size_t>(std::count_if(headers.begin(), headers.end(),
                                                  [&](const auto& header) { return same_field(header.first, name); }));
}

HttpReply HttpReply::json(const nlohmann::json& document, int status)
{
    HttpReply reply;
    reply.status = status;
    reply.body = dump_json(document);
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

std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space)
{
    const auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '%') {
            if (i + 2 >= text.size()) return std::nullopt;
            const int high = hex(text[i + 1]);
            const int low = hex(text[i + 2]);
            if (high < 0 || low < 0) return std::nullopt;
            out.push_back(static_cast<char>(high * 16 + low));
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out.push_back(' ');
        } else {
            out.push_back(c);
        }
    }
    return out;
}

namespace {

/// The token of an `Authorization: Bearer <token>` value: the scheme is case-insensitive and one
/// or more spaces follow it (RFC 9110 11.4, RFC 6750 2.1); std::nullopt for any other scheme.
std::optional<std::string> bearer_token(std::string_view authorization)
{
    constexpr std::string_view scheme = "bearer";
    if (authorization.size() <= scheme.size() || lower(authorization.substr(0, scheme.size())) != scheme) {
        return std::nullopt;
    }
    const auto rest = authorization.substr(scheme.size());
    if (rest.front() != ' ') return std::nullopt;
    const auto token = trim(rest);
    if (token.empty()) return std::nullopt;
    return std::string(token);
}

}  // namespace

std::optional<std::string> authorization_failure(const HttpServerRequest& request, Access access,
                                                 const AccessTokens& tokens)
{
    if (access == Access::open) return std::nullopt;
    // A credential given twice is ambiguous (each is a singleton field): refused, not guessed.
    for (const char* name : {"X-Ledger-Admin-Token", "X-Ledger-Token", "Authorization"}) {
        if (request.header_count(name) > 1) return fmt::format("more than one {} header", name);
    }
    const auto present = [&](std::string_view name) -> std::optional<std::string> {
        auto value = request.header(name);
        if (!value || value->empty()) return std::nullopt;
        return value;
    };
    // Prometheus, and any client of RFC 6750, sends its token as a bearer token.
    const auto authorization = present("Authorization");
    const auto bearer = authorization ? bearer_token(*authorization) : std::nullopt;
    auto admin = present("X-Ledger-Admin-Token");
    if (!admin && access == Access::admin) admin = bearer;  // a writer's token as a bearer token too
    // Both comparisons always run so the time taken does not say which token matched.
    const bool admin_ok = admin && constant_time_equal(*admin, tokens.admin);
    if (access == Access::admin) {
        if (!admin) return "missing X-Ledger-Admin-Token header (this endpoint writes)";
        if (!admin_ok) return "invalid token";
        return std::nullopt;
    }
    auto read = present("X-Ledger-Token");
    if (!read) read = bearer;
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
    Impl(HttpLimits limits, AccessTokens tokens) : m_limits(std::move(limits)), m_tokens(std::move(tokens)) {}

    ~Impl()
    {
        if (m_pool) m_pool->shutdown();
    }

    void add(const std::string& method, const std::string& pattern, Access access, HttpHandler handler)
    {
        m_routes.push_back(compile_route(method, pattern, access, std::move(handler)));
    }

    int bind(const std::string& address, int port)
    {
        try {
            const tcp::endpoint endpoint(asio::ip::make_address(address == "localhost" ? "127.0.0.1" : address),
                                         static_cast<unsigned short>(port));
            m_acceptor.open(endpoint.protocol());
            // Only SO_REUSEADDR (restart without TIME_WAIT trouble): SO_REUSEPORT would let a
            // second server share the port silently.
            m_acceptor.set_option(tcp::acceptor::reuse_address(true));
            m_acceptor.bind(endpoint);
            m_acceptor.listen(SOMAXCONN);
            return m_acceptor.local_endpoint().port();
        } catch (const std::exception&) {
            boost::system::error_code ignored;
            m_acceptor.close(ignored);
            throw Error(
                ExitCode::unavailable,
                fmt::format("cannot listen on {}:{} (address in use, or not an address of this host)", address, port));
        }
    }

    void every(milliseconds interval, std::function<void()> task)
    {
        m_periodic.push_back({interval, std::move(task), nullptr});
    }

    bool listen()
    {
        if (!m_acceptor.is_open()) return false;
        m_pool = std::make_unique<WorkerPool>(m_limits.workers, m_limits.max_queued);
        accept();
        for (auto& periodic : m_periodic) {
            periodic.timer = std::make_unique<asio::steady_timer>(m_io);
            schedule(periodic);
        }
        try {
            m_io.run();
        } catch (const std::exception& e) {
            log_error("http server stopped: {}", e.what());
            m_pool->shutdown();
            return false;
        }
        m_pool->shutdown();
        return true;
    }

    void stop()
    {
        asio::post(m_io, [this] { shut_down(); });
    }

    std::uint64_t rejected() const { return m_rejected.load(); }

private:
    class Connection;
    friend class Connection;

    struct Periodic {
        milliseconds interval;
        std::function<void()> task;
        std::unique_ptr<asio::steady_timer> timer;
    };

    void schedule(Periodic& periodic)
    {
        periodic.timer->expires_after(periodic.interval);
        periodic.timer->async_wait([this, &periodic](const boost::system::error_code& ec) {
            if (ec || m_stopping) return;
            periodic.task();
            schedule(periodic);
        });
    }

    void accept()
    {
        m_acceptor.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
            if (m_stopping) return;
            if (ec) {
                if (ec == asio::error::operation_aborted) return;
                // Out of descriptors (EMFILE) or a connection reset while queued: go on shortly.
                log_warn("http: accept failed: {}", ec.message());
                m_accept_retry.expires_after(accept_retry);
                m_accept_retry.async_wait([this](const boost::system::error_code& e) {
                    if (!e && !m_stopping) accept();
                });
                return;
            }
            admit(std::move(socket));
            accept();
        });
    }

    void admit(tcp::socket socket);
    void refuse_at_once(tcp::socket socket, const std::string& detail);
    void shut_down();

    HttpLimits m_limits;
    AccessTokens m_tokens;
    std::vector<Route> m_routes;
    // Connections unregister themselves when destroyed, possibly while m_io is torn down: these
    // outlive it (declared first).
    bool m_stopping = false;  // I/O thread only, as are the fields below
    std::unordered_map<Connection*, std::weak_ptr<Connection>> m_connections;
    std::unordered_map<std::string, std::size_t> m_per_client;
    std::size_t m_refusing = 0;
    asio::io_context m_io{1};
    tcp::acceptor m_acceptor{m_io};
    asio::steady_timer m_accept_retry{m_io};
    std::vector<Periodic> m_periodic;
    std::unique_ptr<WorkerPool> m_pool;
    std::atomic<std::uint64_t> m_rejected{0};
};

/// One connection, driven entirely on the I/O thread: idle wait, header, body, handler (on a
/// worker), response, then again or close. One timer bounds whichever phase it is in.
class HttpServer::Impl::Connection : public std::enable_shared_from_this<Connection> {
public:
    Connection(Impl& server, tcp::socket socket, std::string peer)
        : m_server(server),
          m_socket(std::move(socket)),
          m_timer(server.m_io),
          m_peer(std::move(peer)),
          m_buffer(server.m_limits.max_header_bytes + chunked_framing_allowance)
    {
    }

    ~Connection()
    {
        m_server.m_connections.erase(this);
        if (auto found = m_server.m_per_client.find(m_peer); found != m_server.m_per_client.end()) {
            if (--found->second == 0) m_server.m_per_client.erase(found);
        }
    }

    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    /// The first request's deadline runs from accept.
    void start()
    {
        arm(m_server.m_limits.request_timeout, Phase::reading);
        read_header();
    }

    /// The server is stopping: close now unless a handler or a write is under way.
    void stop()
    {
        if (m_phase == Phase::idle || m_phase == Phase::reading) {
            close_now();
        } else {
            m_close = true;
        }
    }

private:
    enum class Phase { idle, reading, handling, writing, draining, closed };

    void arm(milliseconds timeout, Phase phase)
    {
        m_phase = phase;
        const auto generation = ++m_generation;
        m_timer.expires_after(timeout);
        m_timer.async_wait([self = shared_from_this(), generation](const boost::system::error_code& ec) {
            if (ec || generation != self->m_generation) return;
            self->on_timeout();
        });
    }

    void disarm()
    {
        ++m_generation;
        m_timer.cancel();
    }

    void on_timeout()
    {
        switch (m_phase) {
            case Phase::reading:
                m_timed_out = true;
                m_socket.cancel();
                break;
            case Phase::writing:
                // A client that does not read: reset, so the kernel does not keep retrying the
                // unsent rest of the response into its closed window for minutes.
                close_now(true);
                break;
            case Phase::idle:
            case Phase::draining:
                close_now();
                break;
            case Phase::handling:
            case Phase::closed:
                break;
        }
    }

    void wait_idle()
    {
        m_head.clear();
        if (m_buffer.size() > 0) {
            // A pipelined request already arrived with the previous one.
            m_head = beast::buffers_to_string(m_buffer.data());
            m_buffer.consume(m_buffer.size());
            arm(m_server.m_limits.request_timeout, Phase::reading);
            return read_header();
        }
        arm(m_server.m_limits.keep_alive_timeout, Phase::idle);
        m_socket.async_wait(tcp::socket::wait_read, [self = shared_from_this()](const boost::system::error_code& ec) {
            if (ec || self->m_phase != Phase::idle) return self->close_now();
            // A new request begins: its deadline runs from its first byte.
            self->arm(self->m_server.m_limits.request_timeout, Phase::reading);
            self->read_header();
        });
    }

    void read_header()
    {
        m_started = Clock::now();
        m_method.clear();
        m_target.clear();
        m_head_scan = HeadScan{};
        asio::async_read_until(
            m_socket, asio::dynamic_buffer(m_head, m_server.m_limits.max_header_bytes), HeadEnd{&m_head_scan},
            [self = shared_from_this()](const boost::system::error_code& ec, std::size_t header_end) {
                self->on_header(ec, header_end);
            });
    }

    void on_header(const boost::system::error_code& ec, std::size_t header_end)
    {
        if (m_timed_out) return refuse_timed_out();
        if (ec == asio::error::not_found) {
            // The buffer filled up: within the request line it is the target that is too long
            // (RFC 9112 3: 414), after it the header section (RFC 6585 5: 431).
            std::string_view received(m_head);
            while (received.starts_with("\r\n")) received.remove_prefix(2);
            if (received.find('\n') == std::string_view::npos) {
                return refuse(
                    {414, fmt::format("the request line exceeds {} bytes", m_server.m_limits.max_header_bytes)});
            }
            return refuse(
                {431, fmt::format("the request line and headers exceed {} bytes", m_server.m_limits.max_header_bytes)});
        }
        if (ec) return close_now();  // the client went away (or sent nothing at all)
        // Empty lines before a request line are passed over (RFC 9112 2.2: a server SHOULD
        // ignore at least one), all of them at once, within the same deadline.
        if (std::string_view(m_head).starts_with("\r\n")) {
            std::size_t empty = 0;
            while (std::string_view(m_head).substr(empty, 2) == "\r\n") empty += 2;
            m_head.erase(0, empty);
            return read_header();
        }
        const std::string_view head(m_head.data(), header_end);
        const auto line_end = head.find("\r\n");
        const auto request_line = head.substr(0, line_end);
        if (const auto space = request_line.find(' '); space != std::string_view::npos) {
            m_method = request_line.substr(0, space);
            m_target = request_line.substr(space + 1, request_line.rfind(' ') - space - 1);
        }
        // The head ended at a LF without its CR (HeadEnd).
        if (!head.ends_with("\r\n\r\n")) {
            return refuse({400, line_end < head.size() - 1 ? "a bare CR or LF in the request headers"
                                                           : "a bare CR or LF in the request line"});
        }
        auto framing = parse_framing(head, m_server.m_limits.max_body_bytes);
        if (auto* refusal = std::get_if<Refusal>(&framing)) return refuse(std::move(*refusal));
        m_framing = std::get<Framing>(framing);
        // HTTP/1.2 and later minor versions are read as 1.1 (parse_framing), by the parser too.
        if (request_line.back() > '1') m_head.replace(request_line.size() - 3, 3, "1.1");

        m_parser.emplace();
        m_parser->on_chunk_header(refuse_control_characters);
        m_parser->header_limit(static_cast<std::uint32_t>(m_server.m_limits.max_header_bytes));
        m_parser->body_limit(m_server.m_limits.max_body_bytes);
        boost::system::error_code parse_error;
        m_parser->put(asio::buffer(m_head.data(), header_end), parse_error);
        if (parse_error || !m_parser->is_header_done()) return refuse({400, "malformed HTTP request"});
        // What came after the header is the start of the body (or of a pipelined request).
        m_buffer.consume(m_buffer.size());
        const std::size_t rest = m_head.size() - header_end;
        if (rest > 0) {
            if (rest > m_buffer.max_size()) return refuse({400, "malformed HTTP request"});
            auto space = m_buffer.prepare(rest);
            asio::buffer_copy(space, asio::buffer(m_head.data() + header_end, rest));
            m_buffer.commit(rest);
        }
        m_head.clear();
        route();
    }

    /// Routes (404, 405), authenticates (401) and checks the media type (415) before any body is
    /// read, so an unknown or unauthorised client never gets its body read.
    void route()
    {
        const auto& header = m_parser->get();
        // A refusal of a request without a body leaves nothing of it unread, so the connection
        // goes on to the next request; one with a body closes (refuse).
        const bool has_body = m_framing.chunked || m_framing.length.value_or(0) > 0;
        const auto refuse_request = [&](Refusal refusal) { refuse(std::move(refusal), has_body); };
        m_client_keep_alive = header.keep_alive();  // HTTP/1.1 unless "Connection: close"; 1.0 only when asked
        m_client_http10 = header.version() == 10;
        m_request = HttpServerRequest{};
        m_request.method = std::string(header.method_string());
        m_request.peer = m_peer;
        for (const auto& field : header) {
            m_request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
        }
        // The asterisk-form asks about the server as a whole, and only OPTIONS may send it (RFC
        // 9112 3.2.4, RFC 9110 9.3.7).
        if (header.target() == "*" && m_request.method == "OPTIONS") return answer_server_options();
        auto origin = origin_form(header.target());
        if (!origin) return refuse_request({400, "malformed request target"});
        m_request.target = std::move(*origin);
        const std::string_view target = m_request.target;
        const auto question = target.find('?');
        // An encoded slash is not a slash (RFC 3986 2.2): no route here has one in a segment.
        if (lower(target.substr(0, question)).find("%2f") != std::string::npos) {
            return refuse_request({404, fmt::format("no such endpoint: {}", target.substr(0, question))});
        }
        const auto path = percent_decode(target.substr(0, question), false);
        if (!path || path->empty() || path->front() != '/') return refuse_request({400, "malformed request target"});
        if (!is_valid_utf8(*path)) return refuse_request({400, "the request path is not valid UTF-8"});
        m_request.path = *path;
        if (question != std::string_view::npos) {
            std::string_view query = target.substr(question + 1);
            while (!query.empty()) {
                const auto amp = query.find('&');
                const auto pair = query.substr(0, amp);
                query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
                if (pair.empty()) continue;
                const auto equals = pair.find('=');
                const auto name = percent_decode(pair.substr(0, equals), true);
                const auto value = percent_decode(
                    equals == std::string_view::npos ? std::string_view{} : pair.substr(equals + 1), true);
                if (!name || !value) return refuse_request({400, "malformed query string (a bad percent escape)"});
                if (!is_valid_utf8(*name) || !is_valid_utf8(*value)) {
                    return refuse_request({400, "the query string is not valid UTF-8"});
                }
                m_request.params.emplace(*name, *value);
            }
        }

        // A method that is no HTTP method at all (methods are case-sensitive: `get` is none) is
        // one no resource here supports: 501 (RFC 9110 9.1, 15.6.2). A known one that a path
        // does not serve is that path's 405.
        static const std::set<std::string, std::less<>> http_methods{"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                                                     "CONNECT", "OPTIONS", "TRACE", "PATCH"};
        if (!http_methods.contains(m_request.method)) {
            return refuse_request({501, fmt::format("method {} is not implemented", m_request.method)});
        }
        const std::string method = m_request.method == "HEAD" ? "GET" : m_request.method;
        std::vector<std::string> allowed;
        m_route = nullptr;
        std::smatch match;
        for (const auto& candidate : m_server.m_routes) {
            if (!std::regex_match(m_request.path, match, candidate.regex)) continue;
            if (candidate.method == method) {
                m_route = &candidate;
                for (const auto& group : match) m_request.matches.push_back(group.str());
                for (const auto& [name, index] : candidate.names) {
                    if (index < match.size()) m_request.path_params[name] = match[index].str();
                }
                break;
            }
            allowed.push_back(candidate.method == "GET" ? "GET, HEAD" : candidate.method);
        }
        if (m_route == nullptr && !allowed.empty()) {
            return refuse_request({405,
                                   fmt::format("method {} not allowed on {}", m_request.method, m_request.path),
                                   {{"Allow", fmt::format("{}", fmt::join(allowed, ", "))}}});
        }
        if (m_route == nullptr) return refuse_request({404, fmt::format("no such endpoint: {}", m_request.path)});
        if (auto failure = authorization_failure(m_request, m_route->access, m_server.m_tokens)) {
            // RFC 9110 15.5.2: a 401 names a scheme the resource takes (RFC 6750 3).
            return refuse_request({401, *failure, {{"WWW-Authenticate", "Bearer realm=\"reconcile\""}}});
        }
        if (method == "POST" && has_body) {
            const std::string type = lower(m_request.header_value("Content-Type"));
            const auto media = trim(std::string_view(type).substr(0, type.find(';')));
            if (media != "application/json") {
                return refuse_request({415, "the body must be JSON: send Content-Type: application/json"});
            }
        }
        if (!has_body) return dispatch();
        if (m_framing.expect_continue) {
            static const std::string continue_line = "HTTP/1.1 100 Continue\r\n\r\n";
            asio::async_write(m_socket, asio::buffer(continue_line),
                              [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                                  if (ec) return self->close_now();
                                  self->read_body();
                              });
            return;
        }
        read_body();
    }

    /// Reads the body itself (http::async_read waits on the parser's need for more): between
    /// reads, what the parser left unread is the start of a chunk-size line or of the trailer
    /// section, in which a bare CR or LF is refused at once (RFC 9112 2.2, 7.1.2) instead of
    /// waiting for a CRLF CRLF that may never come (408).
    void read_body()
    {
        m_parser->eager(true);  // each read is parsed to its end, so only framing is left unread
        parse_body();
    }

    void parse_body()
    {
        if (m_buffer.size() > 0) {
            boost::system::error_code ec;
            m_buffer.consume(m_parser->put(m_buffer.data(), ec));
            if (ec == http::error::need_more) ec = {};
            if (ec || m_parser->is_done()) return on_body(ec);
            if (m_framing.chunked && has_bare_line_end(buffer_text(m_buffer))) {
                return refuse({400, "a bare CR or LF in the chunked body's framing"});
            }
        }
        const std::size_t room = beast::read_size(m_buffer, 65536);
        if (room == 0) return on_body(http::error::buffer_overflow);
        m_socket.async_read_some(m_buffer.prepare(room),
                                 [self = shared_from_this()](boost::system::error_code ec, std::size_t bytes) {
                                     self->m_buffer.commit(bytes);
                                     if (ec == asio::error::eof && self->m_parser->got_some()) {
                                         // As http::async_read: the end of the stream ends the body or makes it
                                         // partial.
                                         ec = {};
                                         self->m_parser->put_eof(ec);
                                         return self->on_body(ec ? ec : asio::error::eof);
                                     }
                                     if (ec) return self->on_body(ec);
                                     self->parse_body();
                                 });
    }

    void on_body(const boost::system::error_code& ec)
    {
        if (m_timed_out) return refuse_timed_out();
        if (ec == http::error::body_limit) {
            return refuse(
                {413, fmt::format("request body exceeds the limit of {} bytes", m_server.m_limits.max_body_bytes)});
        }
        if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset) {
            return close_now();
        }
        if (ec) return refuse({400, "malformed HTTP request body"});
        m_request.body = std::move(m_parser->get().body());
        if (!is_valid_utf8(m_request.body)) return refuse({400, "the request body is not valid UTF-8"});
        dispatch();
    }

    /// Hands the request to a worker; the reply comes back to the I/O thread.
    void dispatch()
    {
        disarm();
        m_phase = Phase::handling;
        m_parser.reset();
        ++m_served;
        auto work = asio::make_work_guard(m_server.m_io);
        const bool queued = m_server.m_pool->try_post(
            [self = shared_from_this(), work = std::move(work), handler = &m_route->handler]() mutable {
                HttpReply reply = run_handler(*handler, self->m_request);
                auto& io = self->m_server.m_io;
                asio::post(io, [self = std::move(self), reply = std::move(reply), work = std::move(work)]() mutable {
                    self->write(std::move(reply));
                });
            });
        if (!queued) {
            ++m_server.m_rejected;
            m_close = true;
            write(HttpReply::json({{"detail", "server busy: every worker is taken; retry later"}}, 503),
                  {{"Retry-After", "1"}});
        }
    }

    static HttpReply run_handler(const HttpHandler& handler, const HttpServerRequest& request)
    {
        try {
            return handler(request);
        } catch (const HttpError& e) {
            return HttpReply::json({{"detail", e.what()}}, e.status());
        } catch (...) {
            const auto [code, message] = classify_current_exception(true);
            const int status = http_status_for_exit_code(to_int(code));
            if (status >= 500) log_warn("http {} {}: {}", request.method, request.path, message);
            return HttpReply::json({{"detail", message}}, status);
        }
    }

    /// `OPTIONS *`: 200 naming every method some resource here serves, and no content (RFC 9110
    /// 9.3.7: Content-Length 0). Content the request may carry is not read: the connection closes
    /// after the answer instead.
    void answer_server_options()
    {
        if (m_framing.chunked || m_framing.length.value_or(0) > 0) {
            m_close = true;
            m_parser.reset();
        }
        std::vector<std::string> methods;
        for (const char* method : {"GET", "HEAD", "POST"}) {
            const std::string_view served = std::string_view(method) == "HEAD" ? "GET" : method;
            if (std::any_of(m_server.m_routes.begin(), m_server.m_routes.end(),
                            [&](const auto& route) { return route.method == served; })) {
                methods.emplace_back(method);
            }
        }
        methods.emplace_back("OPTIONS");
        write(HttpReply{.status = 200, .body = {}, .content_type = {}, .headers = {}},
              {{"Allow", fmt::format("{}", fmt::join(methods, ", "))}});
    }

    void refuse_timed_out()
    {
        refuse(
            {408, fmt::format("the request did not arrive within {} ms", m_server.m_limits.request_timeout.count())});
    }

    /// Answers a request the server refused itself. Whatever of it was not read stays unread, so
    /// unless nothing is left (`unread` false: a bodiless request refused once its head was
    /// read) the connection closes afterwards: nothing of it can pass for a next request.
    void refuse(Refusal refusal, bool unread = true)
    {
        if (unread) m_close = true;
        m_parser.reset();
        write(HttpReply::json({{"detail", refusal.detail}}, refusal.status), refusal.headers);
    }

    void write(HttpReply reply, const std::vector<std::pair<std::string, std::string>>& extra = {})
    {
        if (m_phase == Phase::closed) return;
        const bool keep = !m_close && m_client_keep_alive && !m_server.m_stopping &&
                          m_served < m_server.m_limits.keep_alive_max_requests;
        m_response = http::response<http::string_body>{};
        m_response.version(11);
        m_response.result(static_cast<unsigned>(reply.status));
        // Every answer is dated (RFC 9110 6.6.1: an origin server with a clock MUST, for 2xx-4xx).
        m_response.set(http::field::date, format_http_date(std::chrono::system_clock::now()));
        if (!reply.content_type.empty()) m_response.set(http::field::content_type, reply.content_type);
        m_response.set(http::field::cache_control, "no-store");
        m_response.set("X-Content-Type-Options", "nosniff");
        std::vector<std::string> seen;
        for (const auto& headers : {std::cref(extra), std::cref(reply.headers)}) {
            for (const auto& [name, value] : headers.get()) {
                const std::string key = lower(name);
                if (std::find(seen.begin(), seen.end(), key) == seen.end()) {
                    m_response.set(name, value);
                    seen.push_back(key);
                } else {
                    m_response.insert(name, value);
                }
            }
        }
        m_response.keep_alive(keep);
        // An HTTP/1.0 client keeps the connection only when told so (RFC 9112 9.3, C.2.2).
        if (keep && m_client_http10) m_response.set(http::field::connection, "keep-alive");
        m_close = !keep;
        m_status = reply.status;
        // A response to HEAD never has content, whatever its status (RFC 9110 9.3.2); its length
        // is what GET would have sent. The method is this request's own (a refusal can come
        // before the request is parsed, while m_request still holds the previous one).
        if (m_method == "HEAD") {
            m_response.content_length(reply.body.size());
        } else {
            m_response.body() = std::move(reply.body);
            m_response.prepare_payload();
        }
        arm(m_server.m_limits.write_timeout, Phase::writing);
        http::async_write(
            m_socket, m_response,
            [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) { self->on_written(ec); });
    }

    void on_written(const boost::system::error_code& ec)
    {
        const auto elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - m_started).count();
        log_info("http {} {} {} {} ms from {}", m_method.empty() ? "-" : m_method, m_target.empty() ? "-" : m_target,
                 m_status, elapsed, m_peer);
        if (ec) return close_now();
        if (m_close || m_server.m_stopping) return drain_and_close();
        wait_idle();
    }

    /// Half-closes, then reads (and drops) what the client still sends for a short while, so the
    /// response reaches it instead of being lost to a reset.
    void drain_and_close()
    {
        boost::system::error_code ignored;
        m_socket.shutdown(tcp::socket::shutdown_send, ignored);
        arm(drain_time, Phase::draining);
        drain();
    }

    void drain()
    {
        m_socket.async_read_some(asio::buffer(m_scratch),
                                 [self = shared_from_this()](const boost::system::error_code& ec, std::size_t got) {
                                     self->m_drained += got;
                                     if (ec || self->m_phase != Phase::draining || self->m_drained > drain_bytes) {
                                         return self->close_now();
                                     }
                                     self->drain();
                                 });
    }

    /// Closes the socket; `reset` discards whatever is unsent and answers the client with RST.
    void close_now(bool reset = false)
    {
        if (m_phase == Phase::closed) return;
        m_phase = Phase::closed;
        disarm();
        boost::system::error_code ignored;
        if (reset) {
            m_socket.set_option(asio::socket_base::linger(true, 0), ignored);
        } else {
            m_socket.shutdown(tcp::socket::shutdown_both, ignored);
        }
        m_socket.close(ignored);
    }

    Impl& m_server;
    tcp::socket m_socket;
    asio::steady_timer m_timer;
    std::string m_peer;
    Phase m_phase = Phase::reading;
    std::uint64_t m_generation = 0;
    bool m_timed_out = false;
    bool m_close = false;
    bool m_client_keep_alive = false;
    bool m_client_http10 = false;
    std::size_t m_served = 0;
    Clock::time_point m_started = Clock::now();
    std::string m_method;
    std::string m_target;
    int m_status = 0;
    std::string m_head;
    HeadScan m_head_scan;  ///< where the search for the head's end stopped (HeadEnd)
    beast::flat_buffer m_buffer;
    Framing m_framing;
    std::optional<http::request_parser<http::string_body>> m_parser;
    HttpServerRequest m_request;
    const Route* m_route = nullptr;
    http::response<http::string_body> m_response;
    std::array<char, 4096> m_scratch{};
    std::size_t m_drained = 0;
};

void HttpServer::Impl::admit(tcp::socket socket)
{
    boost::system::error_code ec;
    const auto remote = socket.remote_endpoint(ec);
    if (ec) return;  // already gone
    std::string peer = remote.address().to_string();
    if (m_connections.size() >= m_limits.max_connections) {
        return refuse_at_once(std::move(socket),
                              fmt::format("server busy: {} connections are open; retry later", m_connections.size()));
    }
    auto& mine = m_per_client[peer];
    if (mine >= m_limits.max_connections_per_client) {
        if (mine == 0) m_per_client.erase(peer);
        return refuse_at_once(std::move(socket),
                              fmt::format("too many connections from {} ({} open); retry later", peer, mine));
    }
    ++mine;
    socket.set_option(tcp::no_delay(true), ec);
    auto connection = std::make_shared<Connection>(*this, std::move(socket), std::move(peer));
    m_connections.emplace(connection.get(), connection);
    connection->start();
}

/// Past capacity: a 503 with Retry-After at once, without reading the request. The socket is
/// half-closed and drained briefly so the answer is not lost to a reset; when even those pile
/// up, the connection is simply closed.
void HttpServer::Impl::refuse_at_once(tcp::socket socket, const std::string& detail)
{
    ++m_rejected;
    if (m_refusing >= m_limits.max_connections) {
        // Even the refusals pile up: the 503 goes out in one non-blocking write (it fits any
        // send buffer) and the socket closes now, without the drain.
        boost::system::error_code ignored;
        socket.non_blocking(true, ignored);
        const std::string response = overloaded_response(detail);
        socket.write_some(asio::buffer(response), ignored);
        socket.shutdown(tcp::socket::shutdown_send, ignored);
        return;  // the socket closes here
    }
    struct Refused {
        tcp::socket socket;
        asio::steady_timer timer;
        std::string response;
        std::array<char, 1024> scratch{};
        std::size_t drained = 0;
    };
    ++m_refusing;
    auto refused = std::shared_ptr<Refused>(
        new Refused{std::move(socket), asio::steady_timer(m_io), overloaded_response(detail)}, [this](Refused* r) {
            --m_refusing;
            delete r;
        });
    refused->timer.expires_after(drain_time);
    refused->timer.async_wait([refused](const boost::system::error_code&) {
        boost::system::error_code ignored;
        refused->socket.close(ignored);
    });
    asio::async_write(
        refused->socket, asio::buffer(refused->response), [refused](const boost::system::error_code& ec, std::size_t) {
            boost::system::error_code ignored;
            if (ec) return (void)refused->timer.cancel();
            refused->socket.shutdown(tcp::socket::shutdown_send, ignored);
            // Drain until the client closes or the timer closes the socket.
            auto drain = std::make_shared<std::function<void()>>();
            *drain = [refused, drain] {
                refused->socket.async_read_some(asio::buffer(refused->scratch),
                                                [refused, drain](const boost::system::error_code& e, std::size_t got) {
                                                    refused->drained += got;
                                                    if (e || refused->drained > drain_bytes) {
                                                        boost::system::error_code closed;
                                                        refused->socket.close(closed);
                                                        refused->timer.cancel();
                                                        *drain = nullptr;
                                                        return;
                                                    }
                                                    (*drain)();
                                                });
            };
            (*drain)();
        });
}

void HttpServer::Impl::shut_down()
{
    if (m_stopping) return;
    m_stopping = true;
    boost::system::error_code ignored;
    m_acceptor.close(ignored);
    m_accept_retry.cancel();
    for (auto& periodic : m_periodic) {
        if (periodic.timer) periodic.timer->cancel();
    }
    std::vector<std::shared_ptr<Connection>> open;
    for (auto& [pointer, weak] : m_connections) {
        if (auto connection = weak.lock()) open.push_back(std::move(connection));
    }
    for (auto& connection : open) connection->stop();
}

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

void HttpServer::every(std::chrono::milliseconds interval, std::function<void()> task)
{
    m_impl->every(interval, std::move(task));
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
