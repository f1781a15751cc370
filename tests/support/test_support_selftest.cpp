// The child-process helper that the end-to-end tests stand on: if it lies about exit codes, loses
// output, deadlocks or leaves children behind, every e2e result is suspect.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <string>
#include <system_error>

#include "tests/support/process.hpp"

using namespace reconcile::test;
using namespace std::chrono_literals;

namespace {

double seconds_since(std::chrono::steady_clock::time_point start)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

bool pid_alive(pid_t pid)
{
    return ::kill(pid, 0) == 0 || errno != ESRCH;
}

}  // namespace

TEST_CASE("run_process captures stdout, stderr and the exit code separately")
{
    const auto ok = run_process({"/bin/sh", "-c", "echo hello; echo oops >&2"});
    CHECK(ok.exit_code == 0);
    CHECK(ok.term_signal == 0);
    CHECK_FALSE(ok.timed_out);
    CHECK(ok.out == "hello\n");
    CHECK(ok.err == "oops\n");

    CHECK(run_process({"/bin/sh", "-c", "exit 3"}).exit_code == 3);
    CHECK(run_process({"/bin/sh", "-c", "exit 64"}).exit_code == 64);

    const auto killed = run_process({"/bin/sh", "-c", "kill -TERM $$"});
    CHECK(killed.exit_code == -1);
    CHECK(killed.term_signal == SIGTERM);
    CHECK_FALSE(killed.timed_out);
}

TEST_CASE("run_process overrides and unsets environment variables")
{
    ::setenv("RECON_SELFTEST_INHERITED", "from-parent", 1);
    ::setenv("RECON_SELFTEST_GONE", "present", 1);
    ProcessOptions options;
    options.env = {{"RECON_SELFTEST", "yes"}, {"RECON_SELFTEST_INHERITED", "overridden"}};
    options.unset_env = {"RECON_SELFTEST_GONE"};
    const auto result = run_process({"/bin/sh", "-c",
                                     "echo $RECON_SELFTEST,$RECON_SELFTEST_INHERITED,"
                                     "${RECON_SELFTEST_GONE:-unset},${PATH:+has-path}"},
                                    options);
    CHECK(result.out == "yes,overridden,unset,has-path\n");
    ::unsetenv("RECON_SELFTEST_INHERITED");
    ::unsetenv("RECON_SELFTEST_GONE");

    // Without options the child sees exactly our environment.
    ::setenv("RECON_SELFTEST_PLAIN", "plain", 1);
    CHECK(run_process({"/bin/sh", "-c", "echo $RECON_SELFTEST_PLAIN"}).out == "plain\n");
    ::unsetenv("RECON_SELFTEST_PLAIN");
}

TEST_CASE("run_process feeds stdin and closes it")
{
    ProcessOptions options;
    options.stdin_data = "line one\nline two\n";
    const auto echoed = run_process({"/bin/cat"}, options);
    CHECK(echoed.exit_code == 0);
    CHECK(echoed.out == options.stdin_data);

    // No stdin data: the child reads EOF at once instead of hanging.
    const auto empty = run_process({"/bin/sh", "-c", "cat; echo eof"});
    CHECK(empty.out == "eof\n");

    // A child that never reads a big stdin must not hurt us (no SIGPIPE, no hang).
    options.stdin_data.assign(4 << 20, 'x');
    const auto ignoring = run_process({"/bin/sh", "-c", "exec 0<&-; echo closed"}, options);
    CHECK(ignoring.exit_code == 0);
    CHECK(ignoring.out == "closed\n");
}

TEST_CASE("run_process moves 1 MiB through stdin, stdout and stderr without deadlock")
{
    const std::size_t mib = 1 << 20;
    const auto big =
        run_process({"/bin/sh", "-c", "head -c 1048576 /dev/zero; head -c 1048576 /dev/zero >&2; echo end"});
    CHECK(big.exit_code == 0);
    CHECK(big.out.size() == mib + 4);
    CHECK(big.err.size() == mib);

    // Interleaved: the child writes both streams while we are still feeding it stdin.
    ProcessOptions options;
    options.stdin_data.assign(mib, 'a');
    const auto piped = run_process({"/bin/sh", "-c", "tee /dev/stderr"}, options);
    CHECK(piped.exit_code == 0);
    CHECK(piped.out == options.stdin_data);
    CHECK(piped.err == options.stdin_data);
}

TEST_CASE("run_process kills a child (and what it forked) past its timeout")
{
    ProcessOptions options;
    options.timeout = 300ms;
    const auto start = std::chrono::steady_clock::now();
    const auto slow = run_process({"/bin/sleep", "30"}, options);
    CHECK(slow.timed_out);
    CHECK(slow.term_signal == SIGKILL);
    CHECK(slow.exit_code == -1);
    CHECK(seconds_since(start) < 5.0);

    // A grandchild holding the pipes open dies with the process group.
    const auto group_start = std::chrono::steady_clock::now();
    const auto group = run_process({"/bin/sh", "-c", "echo started; sleep 30 & wait"}, options);
    CHECK(group.timed_out);
    CHECK(group.out == "started\n");
    CHECK(seconds_since(group_start) < 5.0);
}

TEST_CASE("run_process does not wait for a grandchild that outlives the child")
{
    const auto start = std::chrono::steady_clock::now();
    const auto result = run_process({"/bin/sh", "-c", "sleep 3 & echo done"});
    CHECK(result.exit_code == 0);
    CHECK_FALSE(result.timed_out);
    CHECK(result.out == "done\n");
    CHECK(seconds_since(start) < 2.5);
}

TEST_CASE("run_process reports a program that cannot be executed, and finds bare names in PATH")
{
    CHECK_THROWS_AS(run_process({"/nonexistent/reconcile-selftest"}), std::system_error);
    CHECK_THROWS_AS(run_process({"/etc/hostname"}), std::system_error);  // not executable
    CHECK_THROWS_AS(run_process({}), std::invalid_argument);
    CHECK(run_process({"sh", "-c", "echo via-path"}).out == "via-path\n");
}

TEST_CASE("BackgroundProcess: running, kill -9, and the exit status")
{
    BackgroundProcess child({"/bin/sleep", "30"});
    CHECK(child.pid() > 0);
    CHECK(child.running());
    const auto start = std::chrono::steady_clock::now();
    child.send_signal(SIGKILL);
    const auto result = child.wait(5s);
    CHECK(seconds_since(start) < 4.0);
    CHECK(result.term_signal == SIGKILL);
    CHECK(result.exit_code == -1);
    CHECK_FALSE(result.timed_out);
    CHECK_FALSE(child.running());
    child.send_signal(SIGKILL);  // harmless once reaped
    CHECK(child.wait(1s).term_signal == SIGKILL);
}

TEST_CASE("BackgroundProcess: output while it runs, wait timeout, and cleanup on destruction")
{
    pid_t pid = 0;
    {
        BackgroundProcess server({"/bin/sh", "-c", "echo listening on 127.0.0.1:1234 >&2; exec sleep 30"});
        pid = server.pid();
        REQUIRE(server.wait_for_output("listening on", 5s));
        CHECK(server.err_so_far() == "listening on 127.0.0.1:1234\n");
        CHECK(server.out_so_far().empty());
        CHECK_FALSE(server.wait_for_output("never printed", 50ms));
        CHECK(server.running());
    }  // destructor: SIGKILL + reap
    CHECK_FALSE(pid_alive(pid));

    BackgroundProcess stuck({"/bin/sleep", "30"});
    const auto result = stuck.wait(200ms);
    CHECK(result.timed_out);
    CHECK(result.term_signal == SIGKILL);

    // A child that writes far more than a pipe holds, while nobody calls wait(): the reader thread
    // keeps draining, so the child finishes on its own.
    BackgroundProcess chatty({"/bin/sh", "-c", "head -c 4194304 /dev/zero; echo done >&2"});
    CHECK(chatty.wait_for_output("done", 10s));
    const auto chatty_result = chatty.wait(10s);
    CHECK(chatty_result.exit_code == 0);
    CHECK(chatty_result.out.size() == 4u << 20);
}

TEST_CASE("reconcile_binary prefers RECON_TEST_BINARY")
{
    const char* previous = std::getenv("RECON_TEST_BINARY");
    const std::string saved = previous == nullptr ? "" : previous;
    ::setenv("RECON_TEST_BINARY", "/opt/other/reconcile", 1);
    CHECK(reconcile_binary() == "/opt/other/reconcile");
    if (previous == nullptr) {
        ::unsetenv("RECON_TEST_BINARY");
    } else {
        ::setenv("RECON_TEST_BINARY", saved.c_str(), 1);
    }
}
