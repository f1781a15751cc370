#include "tests/support/pty.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <system_error>

namespace reconcile::test {
namespace {

[[noreturn]] void throw_errno(const std::string& what)
{
    throw std::system_error(errno, std::generic_category(), what);
}

/// Reads what `fd` has into `target`; returns false (and closes it) at EOF or EIO, which is how
/// a pty master reports that the last slave descriptor closed.
bool drain(int& fd, std::string& target)
{
    char buffer[65536];
    for (;;) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n > 0) {
            target.append(buffer, static_cast<std::size_t>(n));
            return true;
        }
        if (n < 0 && errno == EINTR) continue;
        ::close(fd);
        fd = -1;
        return false;
    }
}

}  // namespace

ProcessResult run_with_terminal_stderr(const std::vector<std::string>& argv, const ProcessOptions& options)
{
    // Everything the child needs is built before fork: after it, only async-signal-safe calls.
    const std::vector<std::string> env_strings = child_environment(options);
    const std::string program = resolve_program(argv.at(0), env_strings);
    std::vector<char*> child_argv;
    for (const auto& arg : argv) child_argv.push_back(const_cast<char*>(arg.c_str()));
    child_argv.push_back(nullptr);
    std::vector<char*> child_env;
    for (const auto& item : env_strings) child_env.push_back(const_cast<char*>(item.c_str()));
    child_env.push_back(nullptr);

    int out_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw_errno("pipe2");
    termios raw{};
    ::cfmakeraw(&raw);
    winsize size{};
    size.ws_row = 24;
    size.ws_col = 120;
    int master = -1;
    const pid_t pid = ::forkpty(&master, nullptr, &raw, &size);
    if (pid < 0) {
        ::close(out_pipe[0]);
        ::close(out_pipe[1]);
        throw_errno("forkpty");
    }
    if (pid == 0) {
        // The child: stdin, stdout and stderr are the terminal; stdout becomes the pipe.
        if (::dup2(out_pipe[1], STDOUT_FILENO) < 0) ::_exit(127);
        ::execve(program.c_str(), child_argv.data(), child_env.data());
        ::_exit(127);
    }
    ::close(out_pipe[1]);
    int out_fd = out_pipe[0];
    ::fcntl(master, F_SETFD, FD_CLOEXEC);

    ProcessResult result;
    const auto deadline = std::chrono::steady_clock::now() + options.timeout;
    while (out_fd >= 0 || master >= 0) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0 && !result.timed_out) {
            result.timed_out = true;
            ::kill(pid, SIGKILL);
        }
        pollfd fds[2] = {{out_fd, POLLIN, 0}, {master, POLLIN, 0}};
        const int ready =
            ::poll(fds, 2, result.timed_out ? 1000 : static_cast<int>(std::min<long>(left.count(), 1000)));
        if (ready < 0 && errno != EINTR) throw_errno("poll");
        if (ready <= 0) {
            if (result.timed_out) break;  // killed, and nothing more arrives
            continue;
        }
        if (out_fd >= 0 && fds[0].revents != 0) drain(out_fd, result.out);
        if (master >= 0 && fds[1].revents != 0) drain(master, result.err);
    }
    if (out_fd >= 0) ::close(out_fd);
    if (master >= 0) ::close(master);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status)) {
        result.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        result.term_signal = WTERMSIG(status);
    }
    return result;
}

}  // namespace reconcile::test
