#include "tests/e2e/serve_fixture.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <regex>
#include <thread>

#include <doctest/doctest.h>

namespace reconcile::test {

Books& clean_books()
{
    static Books books;
    for (BookDb* db : {&books.uae, &books.india}) {
        db->reset();
        db->exec(clean_ledger_sql);
    }
    return books;
}

ProcessOptions book_env(const Books& books, const std::map<std::string, std::string>& extra)
{
    ProcessOptions options;
    options.env = {{"RECON_BOOKS", "uae,india"},
                   {"RECON_DATABASE_URL_UAE", books.uae.url()},
                   {"RECON_DATABASE_URL_INDIA", books.india.url()},
                   {"LEDGER_ADMIN_TOKEN", admin_token},
                   {"LEDGER_TOKEN", read_token},
                   {"RECON_SCHEDULE_ENABLED", "false"},
                   {"INDIA_RECON_ENABLED", "false"}};
    options.unset_env = {"RECON_CONFIG", "ALERT_WEBHOOK_URL", "LEDGER_ADMIN_TOKEN_FILE", "LEDGER_TOKEN_FILE"};
    for (const auto& [key, value] : extra) options.env[key] = value;
    return options;
}

ServeProcess::ServeProcess(const ProcessOptions& options, const std::vector<std::string>& args)
{
    std::vector<std::string> argv{reconcile_binary(), "serve", "--port", "0"};
    argv.insert(argv.end(), args.begin(), args.end());
    m_process = std::make_unique<BackgroundProcess>(argv, options);
    const std::regex listening(R"(listening on \S+:(\d+)\n)");
    std::smatch match;
    const bool up = wait_for(
        [&] {
            const std::string err = m_process->err_so_far();
            return std::regex_search(err, match, listening) || !m_process->running();
        },
        std::chrono::seconds(20));
    const std::string err = m_process->err_so_far();
    REQUIRE_MESSAGE((up && std::regex_search(err, match, listening)), err);
    m_port = std::stoi(match[1].str());
}

ProcessResult ServeProcess::stop()
{
    m_process->send_signal(SIGTERM);
    return m_process->wait(std::chrono::seconds(60));
}

nlohmann::json HttpResult::json() const
{
    const auto parsed = nlohmann::json::parse(body, nullptr, false);
    REQUIRE_MESSAGE(!parsed.is_discarded(), "not JSON: " << body);
    return parsed;
}

namespace {

httplib::Client client_for(int port)
{
    httplib::Client client("127.0.0.1", port);
    client.set_connection_timeout(std::chrono::seconds(5));
    client.set_read_timeout(std::chrono::seconds(60));
    client.set_write_timeout(std::chrono::seconds(10));
    return client;
}

HttpResult to_result(const httplib::Result& result)
{
    HttpResult out;
    if (!result) return out;
    out.status = result->status;
    out.body = result->body;
    out.headers = result->headers;
    return out;
}

}  // namespace

HttpResult http_get(int port, const std::string& path, const httplib::Headers& headers)
{
    auto client = client_for(port);
    return to_result(client.Get(path, headers));
}

HttpResult http_post(int port, const std::string& path, const httplib::Headers& headers, const std::string& body,
                     const std::string& content_type)
{
    auto client = client_for(port);
    if (content_type.empty()) return to_result(client.Post(path, headers));
    return to_result(client.Post(path, headers, body, content_type));
}

httplib::Headers read_headers()
{
    return {{"X-Ledger-Token", read_token}};
}
httplib::Headers admin_headers()
{
    return {{"X-Ledger-Admin-Token", admin_token}};
}

RawConnection::RawConnection(int port, const std::string& source)
{
    m_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(m_fd >= 0);
    if (source != "127.0.0.1") {
        sockaddr_in local{};
        local.sin_family = AF_INET;
        REQUIRE(::inet_pton(AF_INET, source.c_str(), &local.sin_addr) == 1);
        REQUIRE(::bind(m_fd, reinterpret_cast<sockaddr*>(&local), sizeof local) == 0);
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(m_fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
}

RawConnection::~RawConnection()
{
    if (m_fd >= 0) ::close(m_fd);
}

bool RawConnection::send_all(const std::string& data)
{
    std::size_t sent = 0;
    while (sent < data.size()) {
        const ssize_t n = ::send(m_fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) return false;
        sent += static_cast<std::size_t>(n);
    }
    return true;
}

bool RawConnection::closed_within(std::chrono::milliseconds timeout)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        pollfd entry{m_fd, POLLIN, 0};
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (::poll(&entry, 1, static_cast<int>(std::max<long long>(left.count(), 0))) <= 0) continue;
        char buffer[65536];
        const ssize_t n = ::recv(m_fd, buffer, sizeof buffer, 0);
        if (n <= 0) return true;  // EOF or reset
        m_received.append(buffer, static_cast<std::size_t>(n));
    }
    return false;
}

std::string RawConnection::read_until_closed(std::chrono::milliseconds timeout)
{
    closed_within(timeout);
    return m_received;
}

int raw_status(const std::string& response)
{
    static const std::regex status_line(R"(^HTTP/1\.[01] (\d{3}) )");
    std::smatch match;
    return std::regex_search(response, match, status_line) ? std::stoi(match[1].str()) : 0;
}

std::string raw_header(const std::string& response, const std::string& name)
{
    const std::string field = "\r\n" + name + ": ";
    const auto at = response.find(field);
    if (at == std::string::npos || at > response.find("\r\n\r\n")) return {};
    const auto value = at + field.size();
    return response.substr(value, response.find("\r\n", value) - value);
}

}  // namespace reconcile::test
