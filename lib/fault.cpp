#include "lib/fault.hpp"

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "lib/log.hpp"

namespace reconcile {

void fault_pause(std::string_view point)
{
    const std::string name = "RECON_FAULT_PAUSE_" + std::string(point) + "_MS";
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return;
    const std::string_view text(value);
    long long milliseconds = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), milliseconds);
    if (ec != std::errc{} || end != text.data() + text.size() || milliseconds <= 0) return;
    log_warn("fault hook: pausing at {} for {} ms ({} is set: test use only)", point, milliseconds, name);
    std::this_thread::sleep_for(std::chrono::milliseconds(milliseconds));
}

}  // namespace reconcile
