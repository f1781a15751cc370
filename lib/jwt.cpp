#include "lib/jwt.hpp"

#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cctype>
#include <optional>
#include <stdexcept>
#include <vector>

#include "lib/errors.hpp"
#include "lib/hash.hpp"

namespace reconcile {
namespace {

using KeyPtr = std::shared_ptr<EVP_PKEY>;

template <typename Read>
KeyPtr read_pem(std::string_view pem, Read read)
{
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
    if (!bio) return nullptr;
    EVP_PKEY* key = read(bio.get());
    return key == nullptr ? nullptr : KeyPtr(key, &EVP_PKEY_free);
}

const std::string& rs256_header()
{
    static const std::string header = base64url_encode(R"({"alg":"RS256","typ":"JWT"})");
    return header;
}

/// The text without its spaces, tabs and line breaks (a key pasted over several lines).
std::string without_whitespace(std::string_view text)
{
    std::string kept;
    for (const char c : text) {
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t') kept.push_back(c);
    }
    return kept;
}

/// The bytes of a hex (base16) text, whitespace ignored; nullopt when it is not hex.
std::optional<std::string> hex_bytes(std::string_view text)
{
    const std::string digits = without_whitespace(text);
    for (const char c : digits) {
        if (!std::isxdigit(static_cast<unsigned char>(c))) return std::nullopt;
    }
    if (digits.empty() || digits.size() % 2 != 0) return std::nullopt;
    std::string bytes(digits.size() / 2, '\0');
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        bytes[i] = static_cast<char>(std::stoi(digits.substr(2 * i, 2), nullptr, 16));
    }
    return bytes;
}

/// The bytes of a standard base64 text (RFC 4648 section 4, the alphabet of Java's
/// Base64.getDecoder that GTN's Java SDK reads the key with), whitespace ignored, padding
/// optional; nullopt when it is not base64.
std::optional<std::string> base64_bytes(std::string_view text)
{
    std::string digits = without_whitespace(text);
    std::size_t padding = 0;
    while (!digits.empty() && digits.back() == '=' && padding < 2) {
        digits.pop_back();
        ++padding;
    }
    if (digits.empty() || (padding > 0 && (digits.size() + padding) % 4 != 0)) return std::nullopt;
    for (char& c : digits) {
        if (c == '-' || c == '_') return std::nullopt;  // base64url's letters, not base64's
        if (c == '+') c = '-';
        if (c == '/') c = '_';
    }
    try {
        return base64url_decode(digits);
    } catch (const std::invalid_argument&) {
        return std::nullopt;
    }
}

/// The DER bytes of a key written as hex or, when the text is not hex, as base64.
std::optional<std::string> der_bytes(std::string_view text)
{
    if (auto bytes = hex_bytes(text)) return bytes;
    return base64_bytes(text);
}

}  // namespace

Rs256Signer::Rs256Signer(std::string_view private_key, std::string_view setting)
{
    if (private_key.find("-----BEGIN") != std::string_view::npos) {
        m_key = read_pem(private_key, [](BIO* bio) { return PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr); });
    } else if (const auto der = der_bytes(private_key)) {
        // GTN hands the key out as hex DER (PKCS#8); its Java SDK also takes base64 DER when the
        // text is not hex. d2i_AutoPrivateKey also takes PKCS#1.
        const auto* bytes = reinterpret_cast<const unsigned char*>(der->data());
        EVP_PKEY* key = d2i_AutoPrivateKey(nullptr, &bytes, static_cast<long>(der->size()));
        if (key != nullptr) m_key = KeyPtr(key, &EVP_PKEY_free);
    }
    if (!m_key || EVP_PKEY_get_base_id(m_key.get()) != EVP_PKEY_RSA) {
        throw Error(ExitCode::config,
                    fmt::format("{}: not an RSA private key (expected hex or base64 PKCS#8 DER, or PEM)", setting));
    }
}

std::string Rs256Signer::sign(const nlohmann::json& claims) const
{
    const std::string input = rs256_header() + "." + base64url_encode(claims.dump());
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    std::size_t length = 0;
    if (!context || EVP_DigestSignInit(context.get(), nullptr, EVP_sha256(), nullptr, m_key.get()) != 1 ||
        EVP_DigestSign(context.get(), nullptr, &length, reinterpret_cast<const unsigned char*>(input.data()),
                       input.size()) != 1) {
        throw std::runtime_error("RS256 signing failed");
    }
    std::vector<unsigned char> signature(length);
    if (EVP_DigestSign(context.get(), signature.data(), &length, reinterpret_cast<const unsigned char*>(input.data()),
                       input.size()) != 1) {
        throw std::runtime_error("RS256 signing failed");
    }
    return input + "." + base64url_encode(std::string_view(reinterpret_cast<const char*>(signature.data()), length));
}

std::optional<nlohmann::json> verify_rs256_jwt(std::string_view token, std::string_view public_key_pem,
                                               long long now_epoch_seconds, std::string& reason)
{
    const auto first = token.find('.');
    const auto second = first == std::string_view::npos ? first : token.find('.', first + 1);
    if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
        reason = "not a JWT (expected three segments)";
        return std::nullopt;
    }
    nlohmann::json header;
    nlohmann::json claims;
    std::string signature;
    try {
        header = nlohmann::json::parse(base64url_decode(token.substr(0, first)));
        claims = nlohmann::json::parse(base64url_decode(token.substr(first + 1, second - first - 1)));
        signature = base64url_decode(token.substr(second + 1));
    } catch (const std::exception& e) {
        reason = fmt::format("undecodable JWT: {}", e.what());
        return std::nullopt;
    }
    if (!header.is_object() || header.value("alg", "") != "RS256" || !claims.is_object()) {
        reason = "JWT is not RS256";
        return std::nullopt;
    }
    const auto key =
        read_pem(public_key_pem, [](BIO* bio) { return PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr); });
    if (!key) {
        reason = "bad public key";
        return std::nullopt;
    }
    const std::string_view input = token.substr(0, second);
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    if (!context || EVP_DigestVerifyInit(context.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
        EVP_DigestVerify(context.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                         reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
        reason = "bad signature";
        return std::nullopt;
    }
    const auto exp = claims.find("exp");
    if (exp == claims.end() || !exp->is_number_integer() || exp->get<long long>() <= now_epoch_seconds) {
        reason = "expired or missing exp";
        return std::nullopt;
    }
    return claims;
}

}  // namespace reconcile
