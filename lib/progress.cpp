#include "lib/progress.hpp"

#include <fmt/format.h>

#include "lib/log.hpp"

namespace reconcile {
namespace {

using Clock = std::chrono::steady_clock;

std::atomic<bool> g_enabled{false};

/// A few updates a second: enough to see it move, few enough to cost nothing.
constexpr std::chrono::milliseconds k_terminal_interval{200};

ProgressCounter::Sink terminal_sink()
{
    if (!progress_enabled()) return {};
    return [](const std::string& text, bool final) {
        if (final) {
            end_status_line(text);
        } else {
            show_status_line(text);
        }
    };
}

}  // namespace

std::string format_progress(std::string_view label, std::size_t done, std::size_t total, std::string_view unit)
{
    return fmt::format("{}: {}/{} {}", label, done, total, unit);
}

bool progress_wanted(bool stderr_is_terminal, bool quiet)
{
    return stderr_is_terminal && !quiet;
}

void set_progress_enabled(bool enabled)
{
    g_enabled = enabled;
}

bool progress_enabled()
{
    return g_enabled.load();
}

ProgressCounter::ProgressCounter(std::string label, std::size_t total, std::string unit)
    : ProgressCounter(std::move(label), total, std::move(unit), terminal_sink(), k_terminal_interval)
{
}

ProgressCounter::ProgressCounter(std::string label, std::size_t total, std::string unit, Sink sink,
                                 std::chrono::milliseconds interval)
    : m_label(std::move(label)),
      m_total(total),
      m_unit(std::move(unit)),
      m_sink(std::move(sink)),
      m_interval(interval),
      m_last_drawn(Clock::now().time_since_epoch().count())
{
    if (m_sink) draw(false);
}

ProgressCounter::~ProgressCounter()
{
    try {
        finish();
    } catch (...) {
        // A terminal that cannot be written to is no reason to fail anything.
    }
}

void ProgressCounter::advance()
{
    ++m_done;
    if (!m_sink) return;
    const auto now = Clock::now().time_since_epoch().count();
    if (now - m_last_drawn.load() < m_interval.count()) return;
    // One drawing at a time; a thread that finds another drawing skips (the next one shows its count).
    const std::unique_lock<std::mutex> lock(m_mutex, std::try_to_lock);
    if (!lock.owns_lock() || m_finished) return;
    m_last_drawn = now;
    draw(false);
}

void ProgressCounter::finish()
{
    if (!m_sink) return;
    const std::lock_guard<std::mutex> guard(m_mutex);
    if (m_finished) return;
    m_finished = true;
    draw(true);
}

void ProgressCounter::draw(bool final)
{
    // The count is read now, under the drawing lock, so the line never goes backwards.
    m_sink(format_progress(m_label, m_done.load(), m_total, m_unit), final);
}

}  // namespace reconcile
