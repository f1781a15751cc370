#pragma once

// A headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe: the
// browser reads commands on fd 3 and writes replies and events on fd 4, each a JSON text ended by
// a NUL byte). No WebSocket, no driver binary: see docs/decisions/browser-test-cdp-pipe.md.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace reconcile::test {

/// The Chromium executable: $RECON_CHROMIUM, else `chromium` or `chromium-browser` on PATH;
/// std::nullopt when there is none.
std::optional<std::string> find_chromium();

/// One headless browser with one page.
class Chromium {
public:
    /// Starts the browser (throws std::runtime_error when it cannot) and opens a blank page.
    Chromium(const std::string& executable, const std::filesystem::path& profile_dir);
    ~Chromium();
    Chromium(const Chromium&) = delete;
    Chromium& operator=(const Chromium&) = delete;

    /// Sends a command to the page (or the browser with `browser_level`) and returns its
    /// result; throws std::runtime_error on a protocol error or after `timeout`.
    nlohmann::json send(const std::string& method, const nlohmann::json& params = nlohmann::json::object(),
                        bool browser_level = false, std::chrono::milliseconds timeout = std::chrono::seconds(30));

    /// Navigates the page.
    void navigate(const std::string& url);
    /// Evaluates a JavaScript expression in the page (promises awaited) and returns its value;
    /// throws when it throws.
    nlohmann::json evaluate(const std::string& expression);
    /// Evaluates `expression` until it is truthy or `timeout` passes; returns whether it became so.
    bool wait_for(const std::string& expression, std::chrono::milliseconds timeout = std::chrono::seconds(20));
    /// A PNG of the whole page, written to `path`.
    void screenshot(const std::filesystem::path& path);
    /// What the browser wrote on stderr so far (for failure messages).
    std::string log() const;

private:
    nlohmann::json read_message(std::chrono::steady_clock::time_point deadline);

    pid_t m_pid = -1;
    int m_to_browser = -1;
    int m_from_browser = -1;
    std::filesystem::path m_log;
    std::string m_buffer;
    std::string m_session;
    std::int64_t m_next_id = 1;
};

}  // namespace reconcile::test
