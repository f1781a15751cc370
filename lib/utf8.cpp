#include "lib/utf8.hpp"

#include <fmt/format.h>

namespace reconcile {
namespace {

/// Length of the well-formed UTF-8 sequence starting at `at` (RFC 3629: no overlong forms, no
/// surrogates, nothing above U+10FFFF), or 0 when the byte there does not start one.
std::size_t sequence_length(std::string_view text, std::size_t at)
{
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
    const unsigned char lead = byte(at);
    if (lead < 0x80) return 1;
    std::size_t length = 0;
    unsigned char low = 0x80;  // bounds of the second byte, which rule out overlong forms etc.
    unsigned char high = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) {
        length = 2;
    } else if (lead >= 0xe0 && lead <= 0xef) {
        length = 3;
        if (lead == 0xe0) low = 0xa0;
        if (lead == 0xed) high = 0x9f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
        length = 4;
        if (lead == 0xf0) low = 0x90;
        if (lead == 0xf4) high = 0x8f;
    } else {
        return 0;
    }
    if (at + length > text.size()) return 0;
    if (byte(at + 1) < low || byte(at + 1) > high) return 0;
    for (std::size_t i = 2; i < length; ++i) {
        if (byte(at + i) < 0x80 || byte(at + i) > 0xbf) return 0;
    }
    return length;
}

void escape_in_place(std::string& text)
{
    if (!is_valid_utf8(text)) text = escape_invalid_utf8(text);
}

void escape_in_place(std::optional<std::string>& text)
{
    if (text) escape_in_place(*text);
}

}  // namespace

bool is_valid_utf8(std::string_view text)
{
    for (std::size_t at = 0; at < text.size();) {
        const auto length = sequence_length(text, at);
        if (length == 0) return false;
        at += length;
    }
    return true;
}

std::string escape_invalid_utf8(std::string_view text)
{
    std::string result;
    result.reserve(text.size());
    for (std::size_t at = 0; at < text.size();) {
        const auto length = sequence_length(text, at);
        if (length == 0) {
            result += fmt::format("\\x{:02x}", static_cast<unsigned char>(text[at]));
            ++at;
        } else {
            result.append(text.substr(at, length));
            at += length;
        }
    }
    return result;
}

std::string escape_controls(std::string_view text)
{
    const std::string valid = escape_invalid_utf8(text);
    std::string result;
    result.reserve(valid.size());
    for (std::size_t i = 0; i < valid.size(); ++i) {
        const auto byte = static_cast<unsigned char>(valid[i]);
        const bool c1 = byte == 0xc2 && i + 1 < valid.size() && static_cast<unsigned char>(valid[i + 1]) <= 0x9f;
        if (byte < 0x20 || byte == 0x7f) {
            result += fmt::format("\\x{:02x}", byte);
        } else if (c1) {
            result += fmt::format("\\xc2\\x{:02x}", static_cast<unsigned char>(valid[i + 1]));
            ++i;
        } else {
            result.push_back(valid[i]);
        }
    }
    return result;
}

void escape_invalid_utf8(nlohmann::json& value)
{
    if (value.is_string()) {
        escape_in_place(value.get_ref<std::string&>());
    } else if (value.is_array()) {
        for (auto& element : value) escape_invalid_utf8(element);
    } else if (value.is_object()) {
        bool keys_valid = true;
        for (auto& [key, element] : value.items()) {
            keys_valid = keys_valid && is_valid_utf8(key);
            escape_invalid_utf8(element);
        }
        if (keys_valid) return;
        // Keys cannot be renamed in place: rebuild the object (escaped keys keep their order).
        nlohmann::json rebuilt = nlohmann::json::object();
        for (auto& [key, element] : value.items()) rebuilt[escape_invalid_utf8(key)] = std::move(element);
        value = std::move(rebuilt);
    }
}

std::string dump_json(nlohmann::json value, int indent)
{
    escape_invalid_utf8(value);
    return value.dump(indent);
}

void escape_invalid_utf8(CheckResult& result)
{
    for (auto& variance : result.variances) {
        escape_in_place(variance.kind);
        for (auto& [name, text] : variance.keys) {
            escape_in_place(name);
            escape_in_place(text);
        }
        escape_in_place(variance.expected);
        escape_in_place(variance.actual);
        escape_in_place(variance.difference);
        escape_invalid_utf8(variance.detail);
    }
    escape_invalid_utf8(result.metrics);
}

}  // namespace reconcile
