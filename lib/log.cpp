#include "lib/log.hpp"

#include <atomic>
#include <cstdio>
#include <mutex>

namespace reconcile {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::info)};
std::mutex g_mutex;

std::string_view level_name(LogLevel level)
{
    switch (level) {
        case LogLevel::debug: return "debug";
        case LogLevel::info: return "info";
        case LogLevel::warn: return "warn";
        case LogLevel::error: return "error";
    }
    return "info";
}

}  // namespace

void set_log_level(LogLevel level) { g_level = static_cast<int>(level); }

void log_line(LogLevel level, std::string_view message)
{
    if (static_cast<int>(level) < g_level.load()) return;
    std::string line = fmt::format("reconcile: {}: ", level_name(level));
    for (char c : message) line.push_back(c == '\n' || c == '\r' ? ' ' : c);
    line.push_back('\n');
    const std::lock_guard<std::mutex> guard(g_mutex);
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
}

std::string first_line(std::string_view text)
{
    const auto newline = text.find('\n');
    std::string line{text.substr(0, newline)};
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.pop_back();
    return line;
}

}  // namespace reconcile
