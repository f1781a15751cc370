#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace reconcile {

/// Thrown for text that is not one well-formed JSON document (or nests too deeply).
class JsonTextError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Parses broker JSON keeping every number exact: each JSON number becomes a string holding
/// its literal text ("0.1", "1e-7", "123456789012345678901.5"), so amounts reach
/// Decimal::parse without passing through a double. Strings, booleans, nulls, arrays and
/// objects are kept as they are. Nesting deeper than `max_depth` is refused (hostile input).
/// Throws JsonTextError with a one-line reason.
nlohmann::json parse_json_exact(std::string_view text, std::size_t max_depth = 64);

/// Untrusted text (a broker's body, a reason it sent) made safe for a one-line message that
/// may end up in JSON: control characters become spaces, bytes that are not valid UTF-8 become
/// '?', and it is cut at `limit` bytes (never inside a character), with "..." when cut.
std::string printable_snippet(std::string_view text, std::size_t limit = 120);

}  // namespace reconcile
