// The GTN institution assertion: RS256 signing and its verification.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cctype>
#include <memory>

#include "lib/errors.hpp"
#include "lib/hash.hpp"
#include "lib/jwt.hpp"
#include "tests/support/exit_code_of.hpp"
#include "tests/support/fake_broker.hpp"

using namespace reconcile;
using namespace reconcile::test;

TEST_CASE("an RS256 JWT verifies with the public key and carries its claims")
{
    const Rs256Signer signer(test_keys().private_pem, "GTN_PRIVATE_KEY");
    const nlohmann::json claims = {{"iss", "app"}, {"instCode", "INST"}, {"iat", 1000}, {"exp", 2000}};
    const std::string token = signer.sign(claims);
    CHECK(base64url_decode(token.substr(0, token.find('.'))) == R"({"alg":"RS256","typ":"JWT"})");

    std::string reason;
    const auto verified = verify_rs256_jwt(token, test_keys().public_pem, 1500, reason);
    REQUIRE(verified.has_value());
    CHECK(*verified == claims);

    CHECK_FALSE(verify_rs256_jwt(token, test_keys().public_pem, 2000, reason).has_value());
    CHECK(reason == "expired or missing exp");
    CHECK_FALSE(verify_rs256_jwt(token, unrelated_public_key(), 1500, reason).has_value());
    CHECK(reason == "bad signature");
    std::string tampered = token;
    tampered[token.find('.') + 3] ^= 1;
    CHECK_FALSE(verify_rs256_jwt(tampered, test_keys().public_pem, 1500, reason).has_value());
    CHECK_FALSE(verify_rs256_jwt("a.b", test_keys().public_pem, 1500, reason).has_value());
}

TEST_CASE("a key that is not an RSA private key is a configuration error naming the setting only")
{
    CHECK(exit_code_of([] {
              Rs256Signer("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "GTN_PRIVATE_KEY");
          }) == ExitCode::config);
    try {
        Rs256Signer("secret material", "GTN_PRIVATE_KEY");
    } catch (const Error& e) {
        CHECK(std::string(e.what()) == "GTN_PRIVATE_KEY: not an RSA private key (expected hex PKCS#8 DER or PEM)");
    }
    // Hex, but not a key.
    CHECK(exit_code_of([] { Rs256Signer("00ff00ff", "GTN_PRIVATE_KEY"); }) == ExitCode::config);
}

TEST_CASE("a PEM key and the same key as hex PKCS#8 DER (GTN's form) give the same signature")
{
    // The hex DER is made by OpenSSL's own PKCS#8 encoder, not by the code under test.
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(
        BIO_new_mem_buf(test_keys().private_pem.data(), static_cast<int>(test_keys().private_pem.size())), &BIO_free);
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
        PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
    REQUIRE(key);
    std::unique_ptr<PKCS8_PRIV_KEY_INFO, decltype(&PKCS8_PRIV_KEY_INFO_free)> info(EVP_PKEY2PKCS8(key.get()),
                                                                                   &PKCS8_PRIV_KEY_INFO_free);
    REQUIRE(info);
    unsigned char* der = nullptr;
    const int length = i2d_PKCS8_PRIV_KEY_INFO(info.get(), &der);
    REQUIRE(length > 0);
    std::string hex;
    for (int i = 0; i < length; ++i) hex += fmt::format("{:02x}", der[i]);
    OPENSSL_free(der);
    CHECK(hex.rfind("308204", 0) == 0);  // a DER SEQUENCE, as GTN's key files begin

    // RSASSA-PKCS1-v1_5 is deterministic: the same key signs the same claims identically.
    const nlohmann::json claims = {
        {"iss", "app"}, {"instCode", "INST"}, {"userId", "server-user"}, {"iat", 1000}, {"exp", 4600}};
    const std::string from_pem = Rs256Signer(test_keys().private_pem, "GTN_PRIVATE_KEY").sign(claims);
    const std::string from_hex = Rs256Signer(hex, "GTN_PRIVATE_KEY").sign(claims);
    const std::string from_upper_hex_wrapped =
        Rs256Signer(
            [&] {
                std::string upper;
                for (std::size_t i = 0; i < hex.size(); ++i) {
                    upper.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(hex[i]))));
                    if (i % 64 == 63) upper.push_back('\n');
                }
                return upper;
            }(),
            "GTN_PRIVATE_KEY")
            .sign(claims);
    CHECK(from_pem == from_hex);
    CHECK(from_pem == from_upper_hex_wrapped);
    std::string reason;
    const auto verified = verify_rs256_jwt(from_hex, test_keys().public_pem, 2000, reason);
    REQUIRE(verified.has_value());
    CHECK(*verified == claims);
}
