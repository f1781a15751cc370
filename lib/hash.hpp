#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace reconcile {

/// SHA-256 digest of bytes; basis of variance fingerprints and content hashes.
std::array<std::uint8_t, 32> sha256(std::string_view data);

/// The first 8 bytes of SHA-256(data) as a big-endian unsigned integer: a hash that never
/// changes between builds, hosts or versions (advisory-lock keys, customer shards).
std::uint64_t sha256_prefix64(std::string_view data);

/// Lower-case hex of bytes, the textual form we store and compare digests in.
std::string to_hex(std::span<const std::uint8_t> bytes);

/// HMAC-SHA256 of data under key, lower-case hex (webhook signatures).
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

/// Constant-time equality for secrets (tokens), so comparison time does not leak how many
/// leading bytes matched; different lengths compare unequal without early exit on content.
bool constant_time_equal(std::string_view a, std::string_view b);

/// base64url without padding (JWT segments).
std::string base64url_encode(std::string_view data);

/// Strict inverse of base64url_encode: no padding, no whitespace, no stray bits.
/// Throws std::invalid_argument for anything else.
std::string base64url_decode(std::string_view data);

}  // namespace reconcile
