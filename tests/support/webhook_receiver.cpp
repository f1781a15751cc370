#include "tests/support/webhook_receiver.hpp"
#include "lib/text.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <system_error>

#include <httplib.h>

namespace reconcile::test {
namespace {

}  // namespace

WebhookReceiver::WebhookReceiver(Behaviour behaviour) : m_behaviour(behaviour)
{
    if (behaviour == Behaviour::never_answer) {
        m_listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (m_listen_fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.sin_port = 0;
        socklen_t length = sizeof address;
        if (::bind(m_listen_fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
            ::listen(m_listen_fd, 16) != 0 ||
            ::getsockname(m_listen_fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
            ::close(m_listen_fd);
            throw std::system_error(errno, std::generic_category(), "bind/listen");
        }
        m_port = ntohs(address.sin_port);
        m_thread = std::thread([this] { serve_silently(); });
        return;
    }
    m_server = std::make_unique<httplib::Server>();
    m_server->Post("/hooks/reconcile", [this](const httplib::Request& request, httplib::Response& response) {
        ReceivedRequest received;
        for (const auto& [name, value] : request.headers) received.headers[lower(name)] = value;
        received.body = request.body;
        {
            const std::lock_guard<std::mutex> guard(m_mutex);
            m_requests.push_back(std::move(received));
        }
        ++m_connections;
        response.status = m_behaviour == Behaviour::fail ? 500 : 204;
        if (m_behaviour == Behaviour::fail) response.set_content("{\"detail\": \"receiver down\"}", "application/json");
    });
    m_port = m_server->bind_to_any_port("127.0.0.1");
    if (m_port <= 0) throw std::runtime_error("webhook receiver: cannot bind 127.0.0.1");
    m_thread = std::thread([this] { m_server->listen_after_bind(); });
    for (int i = 0; i < 400 && !m_server->is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (!m_server->is_running()) throw std::runtime_error("webhook receiver: did not start");
}

WebhookReceiver::~WebhookReceiver()
{
    m_stopping = true;
    if (m_server) m_server->stop();
    if (m_thread.joinable()) m_thread.join();
    if (m_listen_fd >= 0) ::close(m_listen_fd);
    for (int fd : m_held) ::close(fd);
}

void WebhookReceiver::serve_silently()
{
    while (!m_stopping) {
        pollfd listening{m_listen_fd, POLLIN, 0};
        if (::poll(&listening, 1, 20) <= 0) continue;
        const int fd = ::accept4(m_listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) continue;
        ++m_connections;
        const std::lock_guard<std::mutex> guard(m_mutex);
        m_held.push_back(fd);  // held open, never read, never answered
    }
}

std::string WebhookReceiver::url() const
{
    return "http://127.0.0.1:" + std::to_string(m_port) + "/hooks/reconcile";
}

std::vector<ReceivedRequest> WebhookReceiver::requests() const
{
    const std::lock_guard<std::mutex> guard(m_mutex);
    return m_requests;
}

bool WebhookReceiver::wait_for_requests(std::size_t count, std::chrono::milliseconds timeout) const
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (requests().size() >= count) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return requests().size() >= count;
}

std::vector<std::string> webhook_lines(const std::string& err)
{
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < err.size()) {
        const auto end = err.find('\n', start);
        const auto line = err.substr(start, end == std::string::npos ? std::string::npos : end - start);
        if (line.find("webhook") != std::string::npos) lines.push_back(line);
        if (end == std::string::npos) break;
        start = end + 1;
    }
    return lines;
}

HungWebhookRun run_with_hung_webhook(std::vector<std::string> args, ProcessOptions options, int alert_timeout_ms)
{
    WebhookReceiver receiver(WebhookReceiver::Behaviour::never_answer);
    options.env["ALERT_WEBHOOK_URL"] = receiver.url();
    options.env["RECON_ALERT_TIMEOUT_MS"] = std::to_string(alert_timeout_ms);
    auto& unset = options.unset_env;
    unset.erase(std::remove_if(unset.begin(), unset.end(),
                               [](const std::string& name) {
                                   return name == "ALERT_WEBHOOK_URL" || name == "RECON_ALERT_TIMEOUT_MS";
                               }),
                unset.end());
    args.insert(args.begin(), reconcile_binary());
    HungWebhookRun run;
    const auto started = std::chrono::steady_clock::now();
    run.result = run_process(args, options);
    run.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    run.connections = receiver.connections();
    return run;
}

}  // namespace reconcile::test
