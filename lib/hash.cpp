#include "lib/hash.hpp"

#include <stdexcept>

#include <fmt/core.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

namespace reconcile {

namespace {

constexpr char hex_digits[] = "0123456789abcdef";
constexpr char base64url_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// OpenSSL wants a valid pointer even for zero-length input; string_view may hold nullptr.
const unsigned char* bytes_of(std::string_view data)
{
    static const unsigned char empty = 0;
    return data.empty() ? &empty : reinterpret_cast<const unsigned char*>(data.data());
}

[[noreturn]] void throw_openssl_error(std::string_view what)
{
    char detail[256] = "unknown error";
    if (const unsigned long code = ERR_get_error(); code != 0) {
        ERR_error_string_n(code, detail, sizeof detail);
    }
    ERR_clear_error();
    throw std::runtime_error(fmt::format("{} failed: {}", what, detail));
}

int base64url_value(char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '-') {
        return 62;
    }
    if (c == '_') {
        return 63;
    }
    return -1;
}

}  // namespace

std::array<std::uint8_t, 32> sha256(std::string_view data)
{
    std::array<std::uint8_t, 32> digest{};
    unsigned int length = 0;
    if (EVP_Digest(bytes_of(data), data.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1 ||
        length != digest.size()) {
        throw_openssl_error("SHA-256");
    }
    return digest;
}

std::uint64_t sha256_prefix64(std::string_view data)
{
    const auto digest = sha256(data);
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < 8; ++i) value = (value << 8) | digest[i];
    return value;
}

std::string to_hex(std::span<const std::uint8_t> bytes)
{
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const std::uint8_t byte : bytes) {
        out.push_back(hex_digits[byte >> 4]);
        out.push_back(hex_digits[byte & 0x0f]);
    }
    return out;
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data)
{
    std::array<std::uint8_t, EVP_MAX_MD_SIZE> mac{};
    std::size_t length = 0;
    if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, bytes_of(key), key.size(), bytes_of(data), data.size(),
                  mac.data(), mac.size(), &length) == nullptr ||
        length != 32) {
        throw_openssl_error("HMAC-SHA256");
    }
    return to_hex(std::span<const std::uint8_t>(mac.data(), length));
}

bool constant_time_equal(std::string_view a, std::string_view b)
{
    if (a.size() != b.size()) {
        // Still walk the content so timing depends only on the lengths, never on bytes.
        (void)CRYPTO_memcmp(bytes_of(a), bytes_of(a), a.size());
        return false;
    }
    return CRYPTO_memcmp(bytes_of(a), bytes_of(b), a.size()) == 0;
}

std::string base64url_encode(std::string_view data)
{
    std::string out;
    out.reserve((data.size() * 4 + 2) / 3);
    std::size_t i = 0;
    for (; i + 3 <= data.size(); i += 3) {
        const std::uint32_t chunk = (std::uint32_t{static_cast<unsigned char>(data[i])} << 16) |
                                    (std::uint32_t{static_cast<unsigned char>(data[i + 1])} << 8) |
                                    std::uint32_t{static_cast<unsigned char>(data[i + 2])};
        out.push_back(base64url_alphabet[(chunk >> 18) & 0x3f]);
        out.push_back(base64url_alphabet[(chunk >> 12) & 0x3f]);
        out.push_back(base64url_alphabet[(chunk >> 6) & 0x3f]);
        out.push_back(base64url_alphabet[chunk & 0x3f]);
    }
    const std::size_t remaining = data.size() - i;
    if (remaining == 1) {
        const std::uint32_t chunk = std::uint32_t{static_cast<unsigned char>(data[i])} << 16;
        out.push_back(base64url_alphabet[(chunk >> 18) & 0x3f]);
        out.push_back(base64url_alphabet[(chunk >> 12) & 0x3f]);
    } else if (remaining == 2) {
        const std::uint32_t chunk = (std::uint32_t{static_cast<unsigned char>(data[i])} << 16) |
                                    (std::uint32_t{static_cast<unsigned char>(data[i + 1])} << 8);
        out.push_back(base64url_alphabet[(chunk >> 18) & 0x3f]);
        out.push_back(base64url_alphabet[(chunk >> 12) & 0x3f]);
        out.push_back(base64url_alphabet[(chunk >> 6) & 0x3f]);
    }
    return out;
}

std::string base64url_decode(std::string_view data)
{
    if (data.size() % 4 == 1) {
        throw std::invalid_argument(fmt::format("invalid base64url: length {} cannot be encoded data", data.size()));
    }
    std::string out;
    out.reserve(data.size() * 3 / 4);
    std::uint32_t buffer = 0;
    int bits = 0;
    for (std::size_t i = 0; i < data.size(); ++i) {
        const int value = base64url_value(data[i]);
        if (value < 0) {
            throw std::invalid_argument(fmt::format("invalid base64url: unexpected character at offset {}", i));
        }
        buffer = (buffer << 6) | static_cast<std::uint32_t>(value);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((buffer >> bits) & 0xff));
        }
    }
    // A canonical encoding leaves the unused low bits of the last character zero.
    if ((buffer & ((1u << bits) - 1)) != 0) {
        throw std::invalid_argument("invalid base64url: non-zero trailing bits");
    }
    return out;
}

}  // namespace reconcile
