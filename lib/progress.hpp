#pragma once

// Progress of long fan-outs (category C's customers) on the terminal: one status line per
// activity on stderr, rewritten in place a few times a second, ended with the final count and a
// newline. Shown only when the command turned it on (`run` and `india`, when stderr is a terminal
// and without --quiet); serve, tick and the tests' pipes never see it. The line lives in
// lib/log.cpp's stderr writer, so log lines are written above it and never mixed into it.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

namespace reconcile {

/// "gtn_ledger_recon: 1200/5000 customers": the text of one progress line.
std::string format_progress(std::string_view label, std::size_t done, std::size_t total, std::string_view unit);

/// Whether a command should show progress: only on a terminal, and never with --quiet.
bool progress_wanted(bool stderr_is_terminal, bool quiet);

/// Turns terminal progress on or off for this process (off by default). The CLI's `run` and
/// `india` commands turn it on through progress_wanted; nothing else does.
void set_progress_enabled(bool enabled);
/// True when set_progress_enabled(true) was called.
bool progress_enabled();

/// Counts one activity's units done (thread-safe) and draws its line: at once (0/N), then at most
/// once per `interval`, and the final count on finish(). Draws nothing when created disabled.
class ProgressCounter {
public:
    /// Where lines go: the text, and whether it is the last one (then it ends with a newline).
    using Sink = std::function<void(const std::string& text, bool final)>;
    /// The terminal's status line when progress_enabled(), else nothing.
    ProgressCounter(std::string label, std::size_t total, std::string unit);
    /// A counter drawing into `sink` (the unit tests').
    ProgressCounter(std::string label, std::size_t total, std::string unit, Sink sink,
                    std::chrono::milliseconds interval);
    /// Finishes the line if finish() was not called.
    ~ProgressCounter();
    ProgressCounter(const ProgressCounter&) = delete;
    ProgressCounter& operator=(const ProgressCounter&) = delete;

    /// One more unit done; draws when the last drawing is at least `interval` old.
    void advance();
    /// Draws the final count and ends the line (once).
    void finish();

private:
    void draw(bool final);

    std::string m_label;
    std::size_t m_total;
    std::string m_unit;
    Sink m_sink;
    std::chrono::steady_clock::duration m_interval;
    std::atomic<std::size_t> m_done{0};
    std::atomic<std::chrono::steady_clock::rep> m_last_drawn;
    std::mutex m_mutex;  // one drawing at a time
    bool m_finished = false;
};

}  // namespace reconcile
