// libFuzzer target: parse_json_exact (lib/exact_json.cpp), the parser every broker answer goes
// through first. Properties: never crashes; fails only with JsonTextError carrying one line of
// valid UTF-8; nesting stays within the limit; a parsed document dumps (valid UTF-8) and
// re-parses to itself, every number kept as its exact literal text.
#include <cstdint>
#include <string_view>

#include "fuzz/fuzz_support.hpp"
#include "lib/exact_json.hpp"

using namespace reconcile;
using reconcile::fuzz::require;

namespace {

constexpr std::size_t max_depth = 16;

std::size_t depth(const nlohmann::json& value)
{
    if (!value.is_structured()) return 0;
    std::size_t deepest = 0;
    for (const auto& child : value) deepest = std::max(deepest, depth(child));
    return deepest + 1;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    nlohmann::json document;
    try {
        document = parse_json_exact(text, max_depth);
    } catch (const JsonTextError& e) {
        fuzz::require_one_line(e.what());
        // A body that is not JSON is quoted in the error of the account it came for.
        fuzz::require_one_line("body: " + printable_snippet(text));
        return 0;
    }
    require(depth(document) <= max_depth);
    // Numbers are strings now, so the document dumps and re-parses to itself exactly.
    const std::string dumped = document.dump();
    require(fuzz::valid_utf8(dumped));
    require(parse_json_exact(dumped, max_depth) == document);
    return 0;
}
