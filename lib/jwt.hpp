#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

typedef struct evp_pkey_st EVP_PKEY;

namespace reconcile {

/// Signs JWTs with RS256 (RSASSA-PKCS1-v1_5 over SHA-256): GTN's institution assertion.
/// The key is parsed once; signing is thread-safe.
class Rs256Signer {
public:
    /// Parses an RSA private key: hex (base16) DER, PKCS#8 as GTN hands it out (PKCS#1 too),
    /// base64 DER when the text is not hex (as GTN's Java SDK takes it), or PEM. Throws
    /// Error(config) naming `setting` (never the key) when it is not one.
    Rs256Signer(std::string_view private_key, std::string_view setting);

    /// header.payload.signature, base64url without padding; header {"alg":"RS256","typ":"JWT"}.
    std::string sign(const nlohmann::json& claims) const;

private:
    std::shared_ptr<EVP_PKEY> m_key;
};

/// Verifies an RS256 JWT against a PEM public key and returns its claims, or std::nullopt with
/// the reason in `reason` (bad shape, wrong algorithm, bad signature, expired: `exp` at or
/// before `now_epoch_seconds`). The fake broker and the tests use it.
std::optional<nlohmann::json> verify_rs256_jwt(std::string_view token, std::string_view public_key_pem,
                                               long long now_epoch_seconds, std::string& reason);

}  // namespace reconcile
