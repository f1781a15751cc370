#pragma once

// Sharding category C across hosts: `reconcile run --category C --shard K/N` fetches and compares
// only the customers whose stable hash falls in shard K of N (README "Beyond one machine").

#include <cstdint>
#include <string>
#include <string_view>

namespace reconcile {

/// The most shards a run may be split into: enough for any fleet, small enough that a typo
/// (`--shard 1/10000`) is caught.
inline constexpr int max_shard_count = 1024;

/// Shard K (1-based) of N.
struct Shard {
    int index = 1;
    int count = 1;

    /// "K/N", as given on the command line and shown in reports.
    std::string to_string() const;
    /// "shard-K-of-N": the suffix of the run's lock scope and the scope of its check states.
    std::string scope() const;
    /// True when `customer_id` hashes into this shard (customer_shard).
    bool contains(std::string_view customer_id) const;
    bool operator==(const Shard&) const = default;
};

/// The shard (1..count) of a customer: the first 8 bytes of SHA-256 of its id (the bytes of its
/// text, as PostgreSQL returns it), big-endian, modulo count, plus one. Never changes between
/// versions or hosts: every shard of a fleet must agree on who is whose.
int customer_shard(std::string_view customer_id, int count);

/// Parses "K/N" (decimal digits only, 1 <= K <= N <= max_shard_count). Anything else throws
/// Error(usage) with one line naming the value and what is wrong with it.
Shard parse_shard(std::string_view text);

}  // namespace reconcile
