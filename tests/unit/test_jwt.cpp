// The GTN institution assertion: RS256 signing and its verification.
#include <doctest/doctest.h>

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
        CHECK(std::string(e.what()) == "GTN_PRIVATE_KEY: not a PEM RSA private key");
    }
}
