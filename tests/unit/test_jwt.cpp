// The GTN institution assertion: RS256 signing and its verification.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
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
        CHECK(std::string(e.what()) ==
              "GTN_PRIVATE_KEY: not an RSA private key (expected hex or base64 PKCS#8 DER, or PEM)");
    }
    // Hex, but not a key.
    CHECK(exit_code_of([] { Rs256Signer("00ff00ff", "GTN_PRIVATE_KEY"); }) == ExitCode::config);
}

TEST_CASE("a PEM key and the same key as hex PKCS#8 DER (GTN's form) or base64 DER give the same signature")
{
    // The hex and base64 DER are made by OpenSSL's own PKCS#8 and base64 encoders, not by the
    // code under test.
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
    std::string base64(static_cast<std::size_t>(4 * ((length + 2) / 3)) + 1, '\0');  // + the NUL it writes
    base64.resize(
        static_cast<std::size_t>(EVP_EncodeBlock(reinterpret_cast<unsigned char*>(base64.data()), der, length)));
    OPENSSL_free(der);
    CHECK(base64.rfind("MII", 0) == 0);  // never hex: read as base64 (GTN's Java SDK's other form)
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
    const std::string from_base64 = Rs256Signer(base64, "GTN_PRIVATE_KEY").sign(claims);
    std::string unpadded_wrapped = base64.substr(0, base64.find('='));
    for (std::size_t at = 64; at < unpadded_wrapped.size(); at += 65) unpadded_wrapped.insert(at, "\n");
    const std::string from_base64_wrapped = Rs256Signer(unpadded_wrapped, "GTN_PRIVATE_KEY").sign(claims);
    CHECK(from_pem == from_hex);
    CHECK(from_pem == from_upper_hex_wrapped);
    CHECK(from_pem == from_base64);
    CHECK(from_pem == from_base64_wrapped);
    for (const std::string& token : {from_hex, from_base64}) {
        std::string reason;
        const auto verified = verify_rs256_jwt(token, test_keys().public_pem, 2000, reason);
        REQUIRE(verified.has_value());
        CHECK(*verified == claims);
    }
    // base64url's letters, or a padding in the middle, are not base64: refused like any non-key.
    std::string url_letters = base64;
    std::replace(url_letters.begin(), url_letters.end(), '+', '-');
    std::replace(url_letters.begin(), url_letters.end(), '/', '_');
    REQUIRE(url_letters != base64);  // some '+' or '/' among ~1,600 letters (all but certain)
    CHECK(exit_code_of([&] { Rs256Signer(url_letters, "GTN_PRIVATE_KEY"); }) == ExitCode::config);
    CHECK(exit_code_of([&] { Rs256Signer(base64.substr(0, 8) + "=" + base64.substr(8), "GTN_PRIVATE_KEY"); }) ==
          ExitCode::config);
}
