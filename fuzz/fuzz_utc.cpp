// libFuzzer target: parse_utc (lib/timeutil.cpp), which reads broker dates and database
// timestamps. Properties: never throws; what parses formats to ISO-8601 that re-parses to the
// same instant truncated to milliseconds.
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "lib/timeutil.hpp"

using namespace reconcile;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto parsed = parse_utc(text);
    if (!parsed) return 0;
    const auto printed = format_utc(*parsed);
    const auto again = parse_utc(printed);
    if (!again) std::abort();
    const auto truncated = std::chrono::floor<std::chrono::milliseconds>(*parsed);
    if (*again != truncated) std::abort();
    if (format_utc(*again) != printed) std::abort();
    return 0;
}
