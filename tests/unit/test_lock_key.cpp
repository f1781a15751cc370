// Advisory-lock keys must never change between builds or hosts: two versions of reconcile
// running side by side during a deploy must contend for the same lock.
#include <doctest/doctest.h>

#include <set>

#include "lib/lock.hpp"

using namespace reconcile;

TEST_CASE("lock keys are the first 8 bytes of SHA-256 of the scope, big-endian")
{
    CHECK(run_lock_scope("uae", Category::A) == "reconcile/uae/A");
    // Values computed independently (Python hashlib); a change here breaks running fleets.
    CHECK(advisory_lock_key("reconcile/uae/A") == -1928698834030984968LL);
    CHECK(advisory_lock_key("reconcile/india/C") == 4752990836351015285LL);
    CHECK(advisory_lock_key("reconcile/migrate") == -7095526421288160335LL);
}

TEST_CASE("every book and category gets its own lock")
{
    std::set<std::int64_t> keys;
    for (const char* book : {"uae", "india"}) {
        for (Category category : {Category::A, Category::B, Category::C, Category::D})
            keys.insert(advisory_lock_key(run_lock_scope(book, category)));
    }
    CHECK(keys.size() == 8);
}
