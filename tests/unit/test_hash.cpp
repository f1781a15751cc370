#include "lib/hash.hpp"

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

using namespace reconcile;

TEST_CASE("hash: SHA-256 known vectors")
{
    CHECK(to_hex(sha256("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(to_hex(sha256("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(to_hex(sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")) ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const std::string with_nul("a\0b", 3);
    CHECK(sha256(with_nul) != sha256("ab"));
}

TEST_CASE("hash: to_hex")
{
    const std::uint8_t bytes[] = {0x00, 0x0f, 0xa0, 0xff};
    CHECK(to_hex(bytes) == "000fa0ff");
    CHECK(to_hex(std::span<const std::uint8_t>{}).empty());
}

TEST_CASE("hash: HMAC-SHA256 RFC 4231 test cases")
{
    // Test case 2.
    CHECK(hmac_sha256_hex("Jefe", "what do ya want for nothing?") ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    // Test case 1: key = 20 x 0x0b.
    CHECK(hmac_sha256_hex(std::string(20, '\x0b'), "Hi There") ==
          "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    // Test case 6: key longer than the block size is hashed first.
    CHECK(hmac_sha256_hex(std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First") ==
          "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    // Empty key and message.
    CHECK(hmac_sha256_hex("", "") == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST_CASE("hash: constant_time_equal")
{
    CHECK(constant_time_equal("", ""));
    CHECK(constant_time_equal("secret-token", "secret-token"));
    CHECK_FALSE(constant_time_equal("secret-token", "secret-tokeN"));
    CHECK_FALSE(constant_time_equal("secret-token", "Secret-token"));
    CHECK_FALSE(constant_time_equal("secret", "secret-token"));
    CHECK_FALSE(constant_time_equal("secret-token", "secret"));
    CHECK_FALSE(constant_time_equal("", "x"));
    CHECK_FALSE(constant_time_equal("x", ""));
    CHECK(constant_time_equal(std::string("a\0b", 3), std::string("a\0b", 3)));
    CHECK_FALSE(constant_time_equal(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST_CASE("hash: base64url encode known values")
{
    CHECK(base64url_encode("").empty());
    CHECK(base64url_encode("f") == "Zg");
    CHECK(base64url_encode("fo") == "Zm8");
    CHECK(base64url_encode("foo") == "Zm9v");
    CHECK(base64url_encode("foob") == "Zm9vYg");
    CHECK(base64url_encode("fooba") == "Zm9vYmE");
    CHECK(base64url_encode("foobar") == "Zm9vYmFy");
    CHECK(base64url_encode("\xfb\xff\xbf") == "-_-_");
    CHECK(base64url_encode(R"({"alg":"RS256","typ":"JWT"})") == "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9");
}

TEST_CASE("hash: base64url round trip over all byte values and lengths")
{
    std::string all;
    for (int i = 0; i < 256; ++i) {
        all.push_back(static_cast<char>(i));
    }
    for (std::size_t length = 0; length <= all.size(); ++length) {
        const std::string input = all.substr(all.size() - length);
        const std::string encoded = base64url_encode(input);
        CHECK(encoded.find_first_of("+/=") == std::string::npos);
        CHECK(base64url_decode(encoded) == input);
    }
}

TEST_CASE("hash: base64url decode rejects invalid input")
{
    for (const char* text :
         {"Z", "Zm9vY", "Zg==", "Zm8=", "Zm9v+g", "Zm9v/g", "Zm 9v", "Zm9v\n", "Zh", "Zm9", "Zm.v", "*"}) {
        CAPTURE(text);
        CHECK_THROWS_AS(base64url_decode(text), std::invalid_argument);
    }
    CHECK(base64url_decode("").empty());
}
