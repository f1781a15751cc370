// Shards split category C's customers across hosts. Every host of a fleet, whatever its version,
// must put a customer in the same shard, so the hash is pinned by fixed vectors.
#include <doctest/doctest.h>

#include <map>
#include <string>

#include "lib/errors.hpp"
#include "lib/lock.hpp"
#include "lib/shard.hpp"

using namespace reconcile;

TEST_CASE("a customer's shard is the first 8 bytes of SHA-256 of its id, big-endian, mod N, plus one")
{
    // Values computed independently with Python's hashlib:
    //   int.from_bytes(hashlib.sha256(id.encode()).digest()[:8], 'big') % n + 1
    // A change here moves customers between shards on a running fleet.
    struct Vector {
        const char* id;
        int of2;
        int of3;
        int of1024;
    };
    for (const auto& v : {Vector{"C001", 2, 2, 364}, Vector{"C002", 1, 3, 73}, Vector{"C003", 2, 3, 764},
                          Vector{"C004", 2, 2, 804}, Vector{"AE-C003", 1, 1, 703}, Vector{"", 1, 2, 21},
                          Vector{"'; DROP TABLE journal_lines; --", 2, 1, 628}, Vector{"\xc3\xbc", 1, 3, 805}}) {
        CAPTURE(v.id);
        CHECK(customer_shard(v.id, 2) == v.of2);
        CHECK(customer_shard(v.id, 3) == v.of3);
        CHECK(customer_shard(v.id, 1024) == v.of1024);
        CHECK(customer_shard(v.id, 1) == 1);
        CHECK(Shard{.index = v.of2, .count = 2}.contains(v.id));
        CHECK_FALSE(Shard{.index = 3 - v.of2, .count = 2}.contains(v.id));
    }
    CHECK_THROWS_AS(customer_shard("C001", 0), std::invalid_argument);
}

TEST_CASE("customers spread evenly over the shards")
{
    // 20,000 ids shaped like real ones: each of 8 shards gets its share within 5%.
    constexpr int customers = 20000;
    constexpr int shards = 8;
    std::map<int, int> counts;
    for (int i = 0; i < customers; ++i) ++counts[customer_shard("IN-C" + std::to_string(i), shards)];
    CHECK(counts.size() == shards);
    for (const auto& [shard, count] : counts) {
        CAPTURE(shard);
        CHECK(shard >= 1);
        CHECK(shard <= shards);
        CHECK(count > customers / shards * 95 / 100);
        CHECK(count < customers / shards * 105 / 100);
    }
}

TEST_CASE("--shard K/N: 1 <= K <= N <= 1024, digits only; anything else is a usage error")
{
    CHECK(parse_shard("1/2") == Shard{.index = 1, .count = 2});
    CHECK(parse_shard("2/2") == Shard{.index = 2, .count = 2});
    CHECK(parse_shard("1/1") == Shard{.index = 1, .count = 1});
    CHECK(parse_shard("1024/1024") == Shard{.index = 1024, .count = 1024});
    CHECK(parse_shard("7/16").to_string() == "7/16");
    CHECK(parse_shard("7/16").scope() == "shard-7-of-16");

    const std::map<std::string, std::string> bad{
        {"0/2", "K is out of range"},    {"3/2", "K is out of range"},     {"2/0", "N is out of range"},
        {"1/1025", "N is out of range"}, {"x", "not of the form K/N"},     {"1/2/3", "not of the form K/N"},
        {"", "not of the form K/N"},     {"/2", "not of the form K/N"},    {"1/", "not of the form K/N"},
        {"-1/2", "not of the form K/N"}, {"+1/2", "not of the form K/N"},  {" 1/2", "not of the form K/N"},
        {"1/2 ", "not of the form K/N"}, {"1.0/2", "not of the form K/N"}, {"99999/100000", "N is out of range"},
        {"1\n/2", "not of the form K/N"}};
    for (const auto& [text, why] : bad) {
        CAPTURE(text);
        try {
            parse_shard(text);
            FAIL("accepted");
        } catch (const Error& e) {
            CHECK(e.code() == ExitCode::usage);
            CHECK(std::string(e.what()) ==
                  "--shard \"" + text + "\": " + why + " (expected K/N with 1 <= K <= N <= 1024)");
        }
    }
}

TEST_CASE("each shard has its own lock scope beside the category's")
{
    CHECK(run_lock_scope("india", Category::C, Shard{.index = 1, .count = 2}) == "reconcile/india/C/shard-1-of-2");
    CHECK(run_lock_scope("india", Category::C, std::nullopt) == "reconcile/india/C");
    // Python: int.from_bytes(sha256(b"reconcile/india/C/shard-1-of-2").digest()[:8], 'big', signed=True)
    CHECK(advisory_lock_key("reconcile/india/C/shard-1-of-2") == 6616457679984709910LL);
    CHECK(advisory_lock_key(run_lock_scope("india", Category::C, Shard{.index = 1, .count = 2})) !=
          advisory_lock_key(run_lock_scope("india", Category::C, Shard{.index = 2, .count = 2})));
}
