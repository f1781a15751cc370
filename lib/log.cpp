#include "lib/log.hpp"

#include <atomic>
#include <cstdio>
#include <mutex>

namespace reconcile {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::info)};
std::mutex g_mutex;
std::string g_status;  // the status line on screen ("" when none); guarded by g_mutex

std::string_view level_name(LogLevel level)
{
    switch (level) {
        case LogLevel::debug:
            return "debug";
        case LogLevel::info:
            return "info";
        case LogLevel::warn:
            return "warn";
        case LogLevel::error:
            return "error";
    }
    return "info";
}

void write_stderr(const std::string& bytes)
{
    std::fwrite(bytes.data(), 1, bytes.size(), stderr);
    std::fflush(stderr);
}

}  // namespace

void set_log_level(LogLevel level)
{
    g_level = static_cast<int>(level);
}

void log_line(LogLevel level, std::string_view message)
{
    if (static_cast<int>(level) < g_level.load()) return;
    std::string line = fmt::format("reconcile: {}: ", level_name(level));
    for (char c : message) line.push_back(c == '\n' || c == '\r' ? ' ' : c);
    line.push_back('\n');
    const std::lock_guard<std::mutex> guard(g_mutex);
    if (!g_status.empty()) line = status_rewrite(g_status.size(), "") + line + g_status;
    write_stderr(line);
}

void show_status_line(std::string_view text)
{
    const std::lock_guard<std::mutex> guard(g_mutex);
    write_stderr(status_rewrite(g_status.size(), text));
    g_status = text;
}

void end_status_line(std::string_view text)
{
    const std::lock_guard<std::mutex> guard(g_mutex);
    write_stderr(status_rewrite(g_status.size(), text) + "\n");
    g_status.clear();
}

std::string status_rewrite(std::size_t previous_width, std::string_view text)
{
    std::string out = "\r";
    out += text;
    if (previous_width > text.size()) {
        out.append(previous_width - text.size(), ' ');
        out += '\r';
        out += text;
    }
    return out;
}

std::string first_line(std::string_view text)
{
    const auto newline = text.find('\n');
    std::string line{text.substr(0, newline)};
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.pop_back();
    return line;
}

}  // namespace reconcile
