#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <openssl/ssl.h>

#include "tests/support/test_db.hpp"

int main(int argc, char** argv)
{
    // libpq initialises OpenSSL on first connect and OpenSSL registers its atexit cleanup then,
    // after the test fixtures' statics were constructed: it would run before their destructors
    // close their connections (a double free in PQfinish). Initialising it first orders the
    // cleanup last.
    OPENSSL_init_ssl(0, nullptr);
    doctest::Context context(argc, argv);
    const int result = context.run();
    reconcile::test::drop_all_test_databases();
    return result;
}
