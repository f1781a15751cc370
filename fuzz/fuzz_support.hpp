#pragma once

// Properties shared by the fuzz targets of broker answers (fuzz_exact_json, fuzz_broker_*).
// A violated property aborts, which libFuzzer reports as a crash with the input that did it.

#include <cstdlib>
#include <string>
#include <string_view>

namespace reconcile::fuzz {

/// True when `text` is well-formed UTF-8 (what nlohmann::json::dump and PostgreSQL accept).
inline bool valid_utf8(std::string_view text)
{
    std::size_t i = 0;
    while (i < text.size()) {
        const auto byte = static_cast<unsigned char>(text[i]);
        std::size_t length = 0;
        unsigned int code = 0;
        if (byte < 0x80) {
            ++i;
            continue;
        } else if ((byte & 0xE0) == 0xC0) {
            length = 2;
            code = byte & 0x1F;
        } else if ((byte & 0xF0) == 0xE0) {
            length = 3;
            code = byte & 0x0F;
        } else if ((byte & 0xF8) == 0xF0) {
            length = 4;
            code = byte & 0x07;
        } else {
            return false;
        }
        if (i + length > text.size()) return false;
        for (std::size_t k = 1; k < length; ++k) {
            const auto next = static_cast<unsigned char>(text[i + k]);
            if ((next & 0xC0) != 0x80) return false;
            code = (code << 6) | (next & 0x3F);
        }
        const unsigned int minimum[] = {0, 0, 0x80, 0x800, 0x10000};
        if (code < minimum[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
        i += length;
    }
    return true;
}

/// The property every error message of a broker parser keeps: one line of valid UTF-8 (it
/// goes into a log line and, as a fetch_error's detail, into the run's JSON and jsonb).
inline void require_one_line(std::string_view message)
{
    if (message.empty() || message.find_first_of("\r\n") != std::string_view::npos || !valid_utf8(message)) {
        std::abort();
    }
}

/// `condition` or abort.
inline void require(bool condition)
{
    if (!condition) std::abort();
}

}  // namespace reconcile::fuzz
