// The HTTP limits of `reconcile serve` at exactly their value, one byte under and one byte over,
// black-box over real loopback sockets against the real binary (no server internals), so the
// same file holds any HTTP core behind `reconcile serve`: the body limit with Content-Length,
// chunked and Expect: 100-continue, the 64 KiB header budget, and the request deadline.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tests/e2e/serve_fixture.hpp"

using namespace reconcile::test;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t body_limit = 4096;

std::string body_of(const std::string& raw)
{
    const auto split = raw.find("\r\n\r\n");
    return split == std::string::npos ? std::string{} : raw.substr(split + 4);
}

/// The detail of a JSON error response ("" when the body is not one).
std::string detail_of(const std::string& raw)
{
    const auto json = nlohmann::json::parse(body_of(raw), nullptr, false);
    return json.is_object() && json.contains("detail") ? json["detail"].get<std::string>() : std::string{};
}

/// A run request naming a book that does not exist, padded with spaces to exactly `size` bytes:
/// read whole, it is refused 400 for the book; refused for its size, 413 before any parsing.
std::string padded_body(std::size_t size)
{
    std::string body = R"({"book":"no_such_book","category":"A"})";
    REQUIRE(body.size() <= size);
    body.append(size - body.size(), ' ');
    return body;
}

std::string run_head()
{
    return "POST /v1/reconciliation/run HTTP/1.1\r\nHost: x\r\nX-Ledger-Admin-Token: " + admin_token +
           "\r\nContent-Type: application/json\r\nConnection: close\r\n";
}

/// Sends a run request with a Content-Length body of `size` bytes; returns the raw response.
std::string post_sized(int port, std::size_t size)
{
    RawConnection raw(port);
    raw.send_all(run_head() + fmt::format("Content-Length: {}\r\n\r\n", size));
    raw.send_all(padded_body(size));  // may fail once the server refused: that is allowed
    return raw.read_until_closed(10s);
}

/// The same body chunked in 1000-byte chunks.
std::string post_chunked(int port, std::size_t size)
{
    RawConnection raw(port);
    const std::string body = padded_body(size);
    std::string framed;
    for (std::size_t at = 0; at < body.size(); at += 1000) {
        const auto chunk = body.substr(at, 1000);
        framed += fmt::format("{:x}\r\n{}\r\n", chunk.size(), chunk);
    }
    framed += "0\r\n\r\n";
    raw.send_all(run_head() + "Transfer-Encoding: chunked\r\n\r\n");
    raw.send_all(framed);
    return raw.read_until_closed(10s);
}

const std::string too_large = fmt::format("request body exceeds the limit of {} bytes", body_limit);

}  // namespace

TEST_CASE("body limit: exactly RECON_SERVE_MAX_BODY_BYTES is read; one byte more is 413")
{
    auto& b = clean_books();
    ServeProcess server(book_env(b, {{"RECON_SERVE_MAX_BODY_BYTES", std::to_string(body_limit)}}));
    const int port = server.port();

    for (const std::size_t size : {body_limit - 1, body_limit}) {
        CAPTURE(size);
        const auto response = post_sized(port, size);
        CHECK(raw_status(response) == 400);  // read whole and parsed: the book is unknown
        CHECK(detail_of(response).find("no_such_book") != std::string::npos);
    }
    const auto over = post_sized(port, body_limit + 1);
    CHECK(raw_status(over) == 413);
    CHECK(detail_of(over) == too_large);
    server.stop();
}

TEST_CASE("body limit, chunked: exactly the limit after decoding is read; one byte more is 413")
{
    auto& b = clean_books();
    ServeProcess server(book_env(b, {{"RECON_SERVE_MAX_BODY_BYTES", std::to_string(body_limit)}}));
    const int port = server.port();
    for (const std::size_t size : {body_limit - 1, body_limit}) {
        CAPTURE(size);
        const auto response = post_chunked(port, size);
        CHECK(raw_status(response) == 400);
        CHECK(detail_of(response).find("no_such_book") != std::string::npos);
    }
    const auto over = post_chunked(port, body_limit + 1);
    CHECK(raw_status(over) == 413);
    CHECK(detail_of(over) == too_large);
    server.stop();
}

TEST_CASE("body limit, Expect: 100-continue: exactly the limit gets 100 Continue; one byte more 413 at once")
{
    auto& b = clean_books();
    ServeProcess server(book_env(b, {{"RECON_SERVE_MAX_BODY_BYTES", std::to_string(body_limit)}}));
    const int port = server.port();
    {
        RawConnection raw(port);
        raw.send_all(run_head() + fmt::format("Content-Length: {}\r\nExpect: 100-continue\r\n\r\n", body_limit));
        // The interim answer comes before any body byte is sent.
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (raw.received().find("\r\n\r\n") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
            if (raw.closed_within(100ms)) break;
        }
        CHECK(raw.received().rfind("HTTP/1.1 100 Continue\r\n", 0) == 0);
        raw.send_all(padded_body(body_limit));
        const auto response = raw.read_until_closed(10s);
        const auto final_at = response.find("HTTP/1.1 ", 1);
        REQUIRE(final_at != std::string::npos);
        CHECK(raw_status(response.substr(final_at)) == 400);
        CHECK(detail_of(response.substr(final_at)).find("no_such_book") != std::string::npos);
    }
    {
        RawConnection raw(port);
        raw.send_all(run_head() + fmt::format("Content-Length: {}\r\nExpect: 100-continue\r\n\r\n", body_limit + 1));
        const auto response = raw.read_until_closed(10s);  // no body sent: the answer must not wait for one
        CHECK(raw_status(response) == 413);
        CHECK(response.find("100 Continue") == std::string::npos);
        CHECK(detail_of(response) == too_large);
    }
    server.stop();
}

namespace {

/// A GET /healthz whose request line and headers take exactly `size` bytes, the final empty
/// line included, padded with X-Pad headers of at most 4000 bytes each.
std::string request_of_size(std::size_t size)
{
    const std::string start = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";
    const std::string end = "\r\n";
    std::string request = start;
    std::size_t left = size - start.size() - end.size();
    int n = 0;
    while (left > 0) {
        const std::string name = fmt::format("X-Pad-{:04}: ", n++);
        const std::size_t overhead = name.size() + 2;
        REQUIRE(left >= overhead + 1);
        std::size_t value = std::min<std::size_t>(4000, left - overhead);
        // Never leave a remainder too small for one more header.
        if (left - overhead - value > 0 && left - overhead - value < 20) value -= 20;
        request += name + std::string(value, 'a') + "\r\n";
        left -= overhead + value;
    }
    request += end;
    REQUIRE(request.size() == size);
    return request;
}

int status_for_headers(int port, std::size_t size)
{
    RawConnection raw(port);
    raw.send_all(request_of_size(size));
    return raw_status(raw.read_until_closed(10s));
}

}  // namespace

TEST_CASE("header budget: 64 KiB of request line and headers is served; one byte more is refused")
{
    auto& b = clean_books();
    ServeProcess server(book_env(b));
    const int port = server.port();
    CHECK(status_for_headers(port, 65535) == 200);
    CHECK(status_for_headers(port, 65536) == 200);
    const int over = status_for_headers(port, 65537);
    CHECK(over >= 400);
    CHECK(over < 500);
    CHECK(status_for_headers(port, 70000) == over);
    // The server is still fine afterwards.
    CHECK(http_get(port, "/healthz").status == 200);
    server.stop();
}

TEST_CASE(
    "request deadline: a request completed inside RECON_SERVE_READ_TIMEOUT_SECONDS is served; a stalled one is cut off "
    "at it")
{
    auto& b = clean_books();
    ServeProcess server(book_env(b, {{"RECON_SERVE_READ_TIMEOUT_SECONDS", "2"}}));
    const int port = server.port();
    {
        // Half the request, a pause well inside the deadline, the rest: served.
        RawConnection raw(port);
        raw.send_all("GET /healthz HTTP/1.1\r\nHost: x\r\n");
        CHECK_FALSE(raw.closed_within(1s));
        raw.send_all("Connection: close\r\n\r\n");
        CHECK(raw_status(raw.read_until_closed(5s)) == 200);
    }
    {
        // Never completed: cut off with 408 once the deadline passes, not before.
        RawConnection raw(port);
        const auto started = std::chrono::steady_clock::now();
        raw.send_all("GET /healthz HTTP/1.1\r\nHost: x\r\n");
        const auto response = raw.read_until_closed(10s);
        const auto waited = std::chrono::steady_clock::now() - started;
        CHECK(raw_status(response) == 408);
        CHECK(waited >= 2s);
        CHECK(waited < 6s);
    }
    server.stop();
}
