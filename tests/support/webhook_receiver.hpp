#pragma once

// A real HTTP webhook receiver on 127.0.0.1 (an ephemeral port) for alert tests: it answers 204,
// answers 500, or accepts connections and never answers, and records what it received.

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/process.hpp"

namespace httplib {
class Server;
}

namespace reconcile::test {

/// One request the receiver got: headers (names lower-cased) and the raw body.
struct ReceivedRequest {
    std::map<std::string, std::string> headers;
    std::string body;
};

/// A webhook endpoint in the test process. Use from one test; stops in its destructor.
class WebhookReceiver {
public:
    enum class Behaviour {
        accept,        ///< answers 204 No Content
        fail,          ///< answers 500
        never_answer,  ///< accepts the TCP connection, reads nothing, answers nothing
    };

    explicit WebhookReceiver(Behaviour behaviour = Behaviour::accept);
    ~WebhookReceiver();
    WebhookReceiver(const WebhookReceiver&) = delete;
    WebhookReceiver& operator=(const WebhookReceiver&) = delete;

    /// http://127.0.0.1:<port>/hooks/reconcile
    std::string url() const;
    /// Requests received so far (never_answer: none; see connections()).
    std::vector<ReceivedRequest> requests() const;
    /// Connections accepted so far (every behaviour).
    int connections() const { return m_connections.load(); }
    /// Waits until at least `count` requests arrived (true) or `timeout` passed (false).
    bool wait_for_requests(std::size_t count, std::chrono::milliseconds timeout) const;

private:
    void serve_silently();

    Behaviour m_behaviour;
    int m_port = 0;
    std::unique_ptr<httplib::Server> m_server;
    int m_listen_fd = -1;
    std::atomic<bool> m_stopping{false};
    std::atomic<int> m_connections{0};
    mutable std::mutex m_mutex;
    std::vector<ReceivedRequest> m_requests;
    std::vector<int> m_held;
    std::thread m_thread;
};

/// Log lines of a run's stderr that are about the webhook.
std::vector<std::string> webhook_lines(const std::string& err);

/// What a run of the real binary did while its webhook accepted connections and never answered.
struct HungWebhookRun {
    ProcessResult result;
    std::chrono::milliseconds elapsed{0};  ///< wall time of the whole run
    int connections = 0;                   ///< connections the receiver accepted
};

/// Runs `reconcile <args>` with `options`, alerting to a receiver that never answers, with
/// RECON_ALERT_TIMEOUT_MS=`alert_timeout_ms` (the e2e alert tests and the fault suite share it).
HungWebhookRun run_with_hung_webhook(std::vector<std::string> args, ProcessOptions options, int alert_timeout_ms);

}  // namespace reconcile::test
