#pragma once

// Shared by the serve and tick end-to-end tests: two migrated books, the real binary started as
// a server (port 0, the port read from its "listening on" line), an HTTP client over loopback,
// and raw sockets for the abuse tests.

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "tests/db/fixture.hpp"
#include "tests/support/process.hpp"

namespace reconcile::test {

inline const std::string admin_token = "e2e-admin-token-0123456789";
inline const std::string read_token = "e2e-read-token-0123456789";

/// Both books of the test binary (created once), reset to the clean ledger.
struct Books {
    BookDb uae{"uae"};
    BookDb india{"india"};
};
Books& clean_books();

/// The environment of a child: both books' URLs, the tokens, the scheduler off unless `extra`
/// switches it on, plus `extra`.
ProcessOptions book_env(const Books& books, const std::map<std::string, std::string>& extra = {});

/// A `reconcile serve` child on a free port.
class ServeProcess {
public:
    /// Starts `reconcile serve --port 0 <args>` and waits for its "listening on" line; fails the
    /// test when it does not come within 20 s.
    explicit ServeProcess(const ProcessOptions& options, const std::vector<std::string>& args = {});
    /// The bound port.
    int port() const { return m_port; }
    /// The child, for its output.
    BackgroundProcess& process() { return *m_process; }
    /// SIGTERM, then waits for the exit.
    ProcessResult stop();

private:
    std::unique_ptr<BackgroundProcess> m_process;
    int m_port = 0;
};

/// One HTTP exchange as the test sees it.
struct HttpResult {
    int status = 0;  ///< 0: no response (connection failed or closed)
    std::string body;
    httplib::Headers headers;
    /// The body as JSON (fails the test when it is not).
    nlohmann::json json() const;
};

/// GET over loopback with the given headers.
HttpResult http_get(int port, const std::string& path, const httplib::Headers& headers = {});
/// POST over loopback; `content_type` empty sends no body at all.
HttpResult http_post(int port, const std::string& path, const httplib::Headers& headers, const std::string& body,
                     const std::string& content_type = "application/json");

/// Reader / admin headers.
httplib::Headers read_headers();
httplib::Headers admin_headers();

/// A raw TCP connection to 127.0.0.1:port, for bodies, framing and timing httplib would not send.
class RawConnection {
public:
    /// Connects from the loopback address `source` (127.0.0.x: other clients, as the server
    /// counts them per address).
    explicit RawConnection(int port, const std::string& source = "127.0.0.1");
    ~RawConnection();
    RawConnection(const RawConnection&) = delete;
    RawConnection& operator=(const RawConnection&) = delete;
    /// Sends everything; false when the peer closed or reset the connection.
    bool send_all(const std::string& data);
    /// Reads until the peer closes or `timeout` passes; returns what arrived.
    std::string read_until_closed(std::chrono::milliseconds timeout);
    /// True when the peer closed the connection within `timeout` (data before the close is kept).
    bool closed_within(std::chrono::milliseconds timeout);
    /// Everything received so far.
    const std::string& received() const { return m_received; }

private:
    int m_fd = -1;
    std::string m_received;
};

/// The HTTP status code at the start of a raw response ("HTTP/1.1 413 ..."), or 0.
int raw_status(const std::string& response);

/// The value of the first header `name` (as spelled) in a raw response's head, or "".
std::string raw_header(const std::string& response, const std::string& name);

}  // namespace reconcile::test
