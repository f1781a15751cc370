#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>

namespace reconcile {

/// Log severities; lines below the threshold are dropped.
enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3 };

/// Sets the lowest level written to stderr (--quiet raises it to warn).
void set_log_level(LogLevel level);

/// Writes one line "reconcile: <level>: <message>" to stderr (format_log_line), so each event is
/// exactly one journald entry; under journald (JOURNAL_STREAM names stderr) with its syslog
/// priority prefix, so `journalctl -p err` works.
void log_line(LogLevel level, std::string_view message);

/// The bytes of one log line: "<N>" (the syslog priority: 3 error, 4 warn, 6 info, 7 debug)
/// when `journal_priority`, then "reconcile: <level>: <message>\n", with CR and LF in the message
/// folded to spaces, every other C0 control (ESC included) and DEL written as \xNN, a C1 control
/// (U+0080-U+009F) as the \xc2\xNN of its UTF-8 form and any byte that is not UTF-8 as \xNN,
/// so no client-supplied text can forge a line or drive a terminal.
std::string format_log_line(LogLevel level, std::string_view message, bool journal_priority);

/// Shows `text` as stderr's status line (terminal progress), rewriting the previous one in
/// place. Log lines written while it shows go above it, so the two never mix on one line.
void show_status_line(std::string_view text);

/// Writes `text` as the status line's final state and ends it with a newline.
void end_status_line(std::string_view text);

/// The bytes that replace a status line `previous_width` characters wide by `text`: a carriage
/// return, the text, and spaces over what is left of the old line (pure; "" erases it).
std::string status_rewrite(std::size_t previous_width, std::string_view text);

/// The first line of a possibly multi-line message (libpq errors span lines).
std::string first_line(std::string_view text);

template <typename... Args>
void log_info(fmt::format_string<Args...> format, Args&&... args)
{
    log_line(LogLevel::info, fmt::format(format, std::forward<Args>(args)...));
}

template <typename... Args>
void log_warn(fmt::format_string<Args...> format, Args&&... args)
{
    log_line(LogLevel::warn, fmt::format(format, std::forward<Args>(args)...));
}

template <typename... Args>
void log_error(fmt::format_string<Args...> format, Args&&... args)
{
    log_line(LogLevel::error, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace reconcile
