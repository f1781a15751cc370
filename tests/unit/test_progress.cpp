// Terminal progress (lib/progress.hpp) and the status line of lib/log.hpp: the formatter, the
// decision, the throttled counter, and log lines written above a status line, byte for byte.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "lib/log.hpp"
#include "lib/progress.hpp"

using namespace reconcile;
using namespace std::chrono_literals;

namespace {

struct Drawn {
    std::string text;
    bool final = false;
};

/// Everything written to stderr while `action` runs (fd 2 pointed at a temporary file).
template <typename Action>
std::string capture_stderr(Action action)
{
    std::fflush(stderr);
    std::FILE* file = std::tmpfile();
    REQUIRE(file != nullptr);
    const int saved = ::dup(STDERR_FILENO);
    ::dup2(::fileno(file), STDERR_FILENO);
    action();
    std::fflush(stderr);
    ::dup2(saved, STDERR_FILENO);
    ::close(saved);
    std::rewind(file);
    std::string text;
    char buffer[4096];
    for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, file)) > 0;) text.append(buffer, n);
    std::fclose(file);
    return text;
}

}  // namespace

TEST_CASE("format_progress names the activity, the count and the unit")
{
    CHECK(format_progress("gtn_ledger_recon", 1200, 5000, "customers") == "gtn_ledger_recon: 1200/5000 customers");
    CHECK(format_progress("india ledger-recon", 0, 36, "customers") == "india ledger-recon: 0/36 customers");
}

TEST_CASE("progress shows only on a terminal and never with --quiet")
{
    CHECK(progress_wanted(true, false));
    CHECK_FALSE(progress_wanted(false, false));
    CHECK_FALSE(progress_wanted(true, true));
    CHECK_FALSE(progress_wanted(false, true));
}

TEST_CASE("status_rewrite returns to the line start and blanks what the old line left")
{
    CHECK(status_rewrite(0, "a: 1/9 c") == "\ra: 1/9 c");
    CHECK(status_rewrite(8, "a: 2/9 c") == "\ra: 2/9 c");
    CHECK(status_rewrite(10, "a: 3/9 c") == "\ra: 3/9 c  \ra: 3/9 c");
    CHECK(status_rewrite(4, "") == "\r    \r");
}

TEST_CASE("a counter draws 0/N at once, is throttled, and ends with N/N once")
{
    std::vector<Drawn> drawn;
    {
        ProgressCounter counter(
            "zag_holdings_recon", 3, "customers",
            [&](const std::string& text, bool final) {
                drawn.push_back({text, final});
            },
            1h);
        counter.advance();
        counter.advance();
        counter.advance();
        counter.finish();
        counter.finish();
    }  // the destructor adds nothing after finish()
    REQUIRE(drawn.size() == 2);
    CHECK(drawn[0].text == "zag_holdings_recon: 0/3 customers");
    CHECK_FALSE(drawn[0].final);
    CHECK(drawn[1].text == "zag_holdings_recon: 3/3 customers");
    CHECK(drawn[1].final);
}

TEST_CASE("a counter left without finish() ends its line when it goes")
{
    std::vector<Drawn> drawn;
    {
        ProgressCounter counter(
            "x", 2, "customers",
            [&](const std::string& text, bool final) {
                drawn.push_back({text, final});
            },
            0ms);
        counter.advance();
    }
    REQUIRE(drawn.size() == 3);
    CHECK(drawn[1].text == "x: 1/2 customers");
    CHECK(drawn[2].text == "x: 1/2 customers");
    CHECK(drawn[2].final);
}

TEST_CASE("counted from many threads, the drawn counts never go backwards and end exact")
{
    std::vector<std::size_t> counts;
    std::size_t finals = 0;
    constexpr std::size_t threads = 8;
    constexpr std::size_t each = 2000;
    {
        ProgressCounter counter(
            "c", threads * each, "u",
            [&](const std::string& text, bool final) {
                const auto slash = text.find('/');
                counts.push_back(std::stoul(text.substr(3, slash - 3)));
                if (final) ++finals;
            },
            0ms);
        std::vector<std::thread> pool;
        for (std::size_t t = 0; t < threads; ++t) {
            pool.emplace_back([&] {
                for (std::size_t i = 0; i < each; ++i) counter.advance();
            });
        }
        for (auto& thread : pool) thread.join();
        counter.finish();
    }
    REQUIRE(counts.size() >= 2);
    for (std::size_t i = 1; i < counts.size(); ++i) CHECK(counts[i - 1] <= counts[i]);
    CHECK(counts.back() == threads * each);
    CHECK(finals == 1);
}

TEST_CASE("a disabled process draws nothing on stderr")
{
    set_progress_enabled(false);
    const auto written = capture_stderr([] {
        ProgressCounter counter("quiet", 2, "customers");
        counter.advance();
        counter.advance();
    });
    CHECK(written.empty());
}

TEST_CASE("an enabled process draws on stderr, and log lines go above the status line")
{
    set_progress_enabled(true);
    const auto written = capture_stderr([] {
        ProgressCounter counter("gtn_ledger_recon", 2, "customers");
        log_line(LogLevel::warn, "retrying");
        counter.advance();
        counter.advance();
    });
    set_progress_enabled(false);
    const std::string line0 = "gtn_ledger_recon: 0/2 customers";
    const std::string blank = "\r" + std::string(line0.size(), ' ') + "\r";
    CHECK(written ==
          "\r" + line0 + blank + "reconcile: warn: retrying\n" + line0 + "\rgtn_ledger_recon: 2/2 customers\n");
}
