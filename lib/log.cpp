#include "lib/log.hpp"

#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "lib/utf8.hpp"

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

int syslog_priority(LogLevel level)
{
    switch (level) {
        case LogLevel::debug:
            return 7;
        case LogLevel::info:
            return 6;
        case LogLevel::warn:
            return 4;
        case LogLevel::error:
            return 3;
    }
    return 6;
}

/// True when stderr is the journal's stream (systemd sets JOURNAL_STREAM to its device:inode).
bool stderr_is_journal()
{
    const char* stream = std::getenv("JOURNAL_STREAM");
    if (stream == nullptr) return false;
    struct stat info {};
    if (::fstat(2, &info) != 0) return false;
    unsigned long long device = 0;
    unsigned long long inode = 0;
    if (std::sscanf(stream, "%llu:%llu", &device, &inode) != 2) return false;
    return device == static_cast<unsigned long long>(info.st_dev) &&
           inode == static_cast<unsigned long long>(info.st_ino);
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
    static const bool journal = stderr_is_journal();
    std::string line = format_log_line(level, message, journal);
    const std::lock_guard<std::mutex> guard(g_mutex);
    if (!g_status.empty()) line = status_rewrite(g_status.size(), "") + line + g_status;
    write_stderr(line);
}

std::string format_log_line(LogLevel level, std::string_view message, bool journal_priority)
{
    std::string line = journal_priority ? fmt::format("<{}>", syslog_priority(level)) : std::string();
    line += fmt::format("reconcile: {}: ", level_name(level));
    // A line break would start a second log line: it is folded to a space; every other control
    // character, and bytes that are not UTF-8, are written as \xNN (escape_controls).
    std::string text(message);
    std::replace(text.begin(), text.end(), '\n', ' ');
    std::replace(text.begin(), text.end(), '\r', ' ');
    line += escape_controls(text);
    line.push_back('\n');
    return line;
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
