#include "lib/shard.hpp"

#include <fmt/format.h>

#include <charconv>
#include <optional>
#include <stdexcept>

#include "lib/errors.hpp"
#include "lib/hash.hpp"

namespace reconcile {
namespace {

/// A shard number: 1 to 9 decimal digits (it fits an int), nothing else: no sign, no spaces.
std::optional<int> shard_number(std::string_view text)
{
    if (text.empty() || text.size() > 9) return std::nullopt;
    int value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc{} || end != text.data() + text.size() || text.front() == '-') return std::nullopt;
    return value;
}

}  // namespace

std::string Shard::to_string() const
{
    return fmt::format("{}/{}", index, count);
}

std::string Shard::scope() const
{
    return fmt::format("shard-{}-of-{}", index, count);
}

bool Shard::contains(std::string_view customer_id) const
{
    return customer_shard(customer_id, count) == index;
}

int customer_shard(std::string_view customer_id, int count)
{
    if (count < 1) throw std::invalid_argument("customer_shard: count must be at least 1");
    return static_cast<int>(sha256_prefix64(customer_id) % static_cast<std::uint64_t>(count)) + 1;
}

Shard parse_shard(std::string_view text)
{
    const auto fail = [&](const char* why) {
        return Error(ExitCode::usage, fmt::format("--shard \"{}\": {} (expected K/N with 1 <= K <= N <= {})", text, why,
                                                  max_shard_count));
    };
    const auto slash = text.find('/');
    if (slash == std::string_view::npos) throw fail("not of the form K/N");
    const auto index = shard_number(text.substr(0, slash));
    const auto count = shard_number(text.substr(slash + 1));
    if (!index || !count) throw fail("not of the form K/N");
    if (*count < 1 || *count > max_shard_count) throw fail("N is out of range");
    if (*index < 1 || *index > *count) throw fail("K is out of range");
    return Shard{.index = *index, .count = *count};
}

}  // namespace reconcile
