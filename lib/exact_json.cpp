#include "lib/exact_json.hpp"

#include <fmt/format.h>

#include <string>
#include <vector>

namespace reconcile {
namespace {

using Json = nlohmann::json;

/// The length of the well-formed UTF-8 character `text` starts with (1 to 4), or 0 when it does
/// not start with one (a stray continuation byte, an overlong form, a surrogate, a cut-off end).
std::size_t utf8_length(std::string_view text)
{
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
    const unsigned char lead = byte(0);
    if (lead < 0x80) return 1;
    std::size_t length = 0;
    char32_t code = 0;
    if ((lead & 0xE0) == 0xC0) {
        length = 2;
        code = lead & 0x1Fu;
    } else if ((lead & 0xF0) == 0xE0) {
        length = 3;
        code = lead & 0x0Fu;
    } else if ((lead & 0xF8) == 0xF0) {
        length = 4;
        code = lead & 0x07u;
    } else {
        return 0;
    }
    if (text.size() < length) return 0;
    for (std::size_t i = 1; i < length; ++i) {
        if ((byte(i) & 0xC0) != 0x80) return 0;
        code = (code << 6) | (byte(i) & 0x3Fu);
    }
    constexpr char32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < smallest[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return 0;
    return length;
}

/// A SAX handler that builds the document like nlohmann's own DOM parser, except that numbers
/// are stored as their source text: number_float receives the literal token, and integers
/// (int64/uint64, exact by construction) are printed back in full.
class ExactDomBuilder : public nlohmann::json_sax<Json> {
public:
    explicit ExactDomBuilder(std::size_t max_depth) : m_max_depth(max_depth) {}

    bool null() override { return put(Json(nullptr)); }
    bool boolean(bool value) override { return put(Json(value)); }
    bool number_integer(number_integer_t value) override { return put(Json(std::to_string(value))); }
    bool number_unsigned(number_unsigned_t value) override { return put(Json(std::to_string(value))); }
    bool number_float(number_float_t /*value*/, const string_t& text) override { return put(Json(text)); }
    bool string(string_t& value) override { return put(Json(std::move(value))); }
    bool binary(binary_t& /*value*/) override { return fail("binary values are not JSON"); }

    bool start_object(std::size_t /*elements*/) override { return open(Json::object()); }
    bool key(string_t& name) override
    {
        m_key = std::move(name);
        return true;
    }
    bool end_object() override { return close(); }
    bool start_array(std::size_t /*elements*/) override { return open(Json::array()); }
    bool end_array() override { return close(); }

    bool parse_error(std::size_t position, const std::string& /*last_token*/,
                     const nlohmann::detail::exception& error) override
    {
        std::string reason = error.what();
        // "[json.exception.parse_error.101] parse error at line 1, column 5: syntax error ..."
        if (const auto bracket = reason.find("] "); bracket != std::string::npos) reason.erase(0, bracket + 2);
        // The reason quotes the offending bytes, which need not be UTF-8 (or printable).
        return fail(fmt::format("malformed JSON near byte {}: {}", position, printable_snippet(reason, 200)));
    }

    Json take() { return std::move(m_root); }
    const std::string& error() const { return m_error; }

private:
    bool fail(std::string reason)
    {
        if (m_error.empty()) m_error = std::move(reason);
        return false;
    }

    /// Places a finished value into the container being built (or makes it the root).
    Json* place(Json value)
    {
        if (m_stack.empty()) {
            m_root = std::move(value);
            return &m_root;
        }
        Json& parent = *m_stack.back();
        if (parent.is_array()) {
            parent.push_back(std::move(value));
            return &parent.back();
        }
        Json& slot = parent[m_key];
        slot = std::move(value);
        return &slot;
    }

    bool put(Json value)
    {
        place(std::move(value));
        return true;
    }

    bool open(Json container)
    {
        if (m_stack.size() >= m_max_depth) return fail(fmt::format("JSON nests deeper than {} levels", m_max_depth));
        m_stack.push_back(place(std::move(container)));
        return true;
    }

    bool close()
    {
        m_stack.pop_back();
        return true;
    }

    std::size_t m_max_depth;
    Json m_root;
    std::vector<Json*> m_stack;
    std::string m_key;
    std::string m_error;
};

}  // namespace

nlohmann::json parse_json_exact(std::string_view text, std::size_t max_depth)
{
    ExactDomBuilder builder(max_depth);
    const bool ok = Json::sax_parse(text.begin(), text.end(), &builder);
    if (!ok) {
        throw JsonTextError(builder.error().empty() ? std::string("malformed JSON") : builder.error());
    }
    return builder.take();
}

std::string printable_snippet(std::string_view text, std::size_t limit)
{
    std::string result;
    std::size_t i = 0;
    while (i < text.size() && i < limit) {
        const std::size_t length = utf8_length(text.substr(i));
        if (length == 0) {
            result.push_back('?');
            ++i;
            continue;
        }
        if (i + length > limit) break;  // never cut a character in two
        const auto byte = static_cast<unsigned char>(text[i]);
        if (length == 1 && (byte < 0x20 || byte == 0x7f)) {
            result.push_back(' ');
        } else {
            result.append(text.substr(i, length));
        }
        i += length;
    }
    if (i < text.size()) result += "...";
    return result;
}

}  // namespace reconcile
