#include "tests/browser/cdp.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "lib/hash.hpp"

namespace reconcile::test {
namespace {

using Clock = std::chrono::steady_clock;

bool executable(const std::filesystem::path& path)
{
    return access(path.c_str(), X_OK) == 0;
}

}  // namespace

std::optional<std::string> find_chromium()
{
    if (const char* explicit_path = std::getenv("RECON_CHROMIUM"); explicit_path != nullptr && *explicit_path) {
        return executable(explicit_path) ? std::optional<std::string>(explicit_path) : std::nullopt;
    }
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        for (const char* name : {"chromium", "chromium-browser"}) {
            const auto candidate = std::filesystem::path(dir) / name;
            if (executable(candidate)) return candidate.string();
        }
    }
    return std::nullopt;
}

Chromium::Chromium(const std::string& executable_path, const std::filesystem::path& profile_dir)
    : m_log(profile_dir / "chromium.log")
{
    std::filesystem::create_directories(profile_dir);
    int to_browser[2];
    int from_browser[2];
    if (pipe2(to_browser, O_CLOEXEC) != 0 || pipe2(from_browser, O_CLOEXEC) != 0) {
        throw std::runtime_error("pipe failed");
    }
    const std::vector<std::string> args{executable_path,
                                        "--headless=new",
                                        "--no-sandbox",
                                        "--disable-gpu",
                                        "--disable-dev-shm-usage",
                                        "--disable-extensions",
                                        "--no-first-run",
                                        "--no-default-browser-check",
                                        "--remote-debugging-pipe",
                                        "--window-size=1400,1100",
                                        "--user-data-dir=" + profile_dir.string(),
                                        "about:blank"};
    m_pid = fork();
    if (m_pid < 0) throw std::runtime_error("fork failed");
    if (m_pid == 0) {
        // fds 3 and 4 may be taken by the pipes themselves: move them out of the way first.
        const int in = fcntl(to_browser[0], F_DUPFD, 10);
        const int out = fcntl(from_browser[1], F_DUPFD, 10);
        dup2(in, 3);
        dup2(out, 4);
        const int log = open(m_log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (log >= 0) {
            dup2(log, 1);
            dup2(log, 2);
        }
        std::vector<char*> argv;
        for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
        argv.push_back(nullptr);
        execv(argv[0], argv.data());
        _exit(127);
    }
    close(to_browser[0]);
    close(from_browser[1]);
    m_to_browser = to_browser[1];
    m_from_browser = from_browser[0];
    const auto target = send("Target.createTarget", {{"url", "about:blank"}}, true);
    const auto attached = send("Target.attachToTarget", {{"targetId", target.at("targetId")}, {"flatten", true}}, true);
    m_session = attached.at("sessionId").get<std::string>();
    send("Page.enable");
}

Chromium::~Chromium()
{
    if (m_to_browser >= 0) close(m_to_browser);
    if (m_from_browser >= 0) close(m_from_browser);
    if (m_pid > 0) {
        kill(m_pid, SIGTERM);
        int status = 0;
        const auto deadline = Clock::now() + std::chrono::seconds(5);
        while (waitpid(m_pid, &status, WNOHANG) == 0) {
            if (Clock::now() > deadline) {
                kill(m_pid, SIGKILL);
                waitpid(m_pid, &status, 0);
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }
}

std::string Chromium::log() const
{
    std::ifstream in(m_log);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

nlohmann::json Chromium::read_message(Clock::time_point deadline)
{
    for (;;) {
        if (const auto end = m_buffer.find('\0'); end != std::string::npos) {
            auto message = nlohmann::json::parse(m_buffer.substr(0, end));
            m_buffer.erase(0, end + 1);
            return message;
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) throw std::runtime_error("no answer from Chromium in time");
        pollfd fd{.fd = m_from_browser, .events = POLLIN, .revents = 0};
        if (poll(&fd, 1, static_cast<int>(left)) <= 0) continue;
        char chunk[65536];
        const auto got = read(m_from_browser, chunk, sizeof chunk);
        if (got <= 0) throw std::runtime_error("Chromium closed its DevTools pipe: " + log());
        m_buffer.append(chunk, static_cast<std::size_t>(got));
    }
}

nlohmann::json Chromium::send(const std::string& method, const nlohmann::json& params, bool browser_level,
                              std::chrono::milliseconds timeout)
{
    const std::int64_t id = m_next_id++;
    nlohmann::json command = {{"id", id}, {"method", method}, {"params", params}};
    if (!browser_level && !m_session.empty()) command["sessionId"] = m_session;
    std::string text = command.dump();
    text.push_back('\0');
    std::size_t written = 0;
    while (written < text.size()) {
        const auto n = write(m_to_browser, text.data() + written, text.size() - written);
        if (n <= 0) throw std::runtime_error("cannot write to Chromium's DevTools pipe");
        written += static_cast<std::size_t>(n);
    }
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        auto message = read_message(deadline);
        if (!message.contains("id") || message["id"] != id) continue;  // an event, or another reply
        if (message.contains("error")) throw std::runtime_error(method + ": " + message["error"].dump());
        return message.value("result", nlohmann::json::object());
    }
}

void Chromium::navigate(const std::string& url)
{
    send("Page.navigate", {{"url", url}});
}

nlohmann::json Chromium::evaluate(const std::string& expression)
{
    const auto result =
        send("Runtime.evaluate", {{"expression", expression}, {"returnByValue", true}, {"awaitPromise", true}});
    if (result.contains("exceptionDetails")) {
        throw std::runtime_error("JavaScript threw: " + result["exceptionDetails"].dump());
    }
    return result.at("result").value("value", nlohmann::json(nullptr));
}

bool Chromium::wait_for(const std::string& expression, std::chrono::milliseconds timeout)
{
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
        const auto value = evaluate("Boolean(" + expression + ")");
        if (value.is_boolean() && value.get<bool>()) return true;
        // Polling the page's state: a condition in another process, nothing to block on.
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

void Chromium::screenshot(const std::filesystem::path& path)
{
    const auto metrics = send("Page.getLayoutMetrics");
    const auto size = metrics.at("cssContentSize");
    const auto shot = send(
        "Page.captureScreenshot",
        {{"format", "png"},
         {"captureBeyondViewport", true},
         {"clip", {{"x", 0}, {"y", 0}, {"width", size.at("width")}, {"height", size.at("height")}, {"scale", 1}}}});
    std::string data = shot.at("data").get<std::string>();
    for (char& c : data) {
        if (c == '+') c = '-';
        if (c == '/') c = '_';
    }
    while (!data.empty() && data.back() == '=') data.pop_back();
    std::ofstream out(path, std::ios::binary);
    out << base64url_decode(data);
}

}  // namespace reconcile::test
