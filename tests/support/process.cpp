#include "tests/support/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <stdexcept>
#include <system_error>
#include <utility>

extern char** environ;

namespace reconcile::test {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// After the child exits, how long to keep reading for output that a grandchild still holding the
// pipes might write before we stop listening.
constexpr milliseconds k_exit_grace{500};

[[noreturn]] void throw_errno(const std::string& what)
{
    throw std::system_error(errno, std::generic_category(), what);
}

/// Owns one file descriptor.
class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : m_fd(fd) {}
    UniqueFd(UniqueFd&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept
    {
        if (this != &other) {
            reset();
            m_fd = std::exchange(other.m_fd, -1);
        }
        return *this;
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    ~UniqueFd() { reset(); }

    int get() const { return m_fd; }
    bool valid() const { return m_fd >= 0; }
    void reset()
    {
        if (m_fd >= 0) ::close(m_fd);
        m_fd = -1;
    }

private:
    int m_fd = -1;
};

struct Pipe {
    UniqueFd read;
    UniqueFd write;
};

/// A close-on-exec pipe whose ends are never 0, 1 or 2 (so dup2 onto them in the child is safe
/// even when the test process runs with a standard stream closed).
Pipe make_pipe()
{
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe2");
    Pipe result{UniqueFd(fds[0]), UniqueFd(fds[1])};
    for (UniqueFd* end : {&result.read, &result.write}) {
        if (end->get() <= 2) {
            const int moved = ::fcntl(end->get(), F_DUPFD_CLOEXEC, 3);
            if (moved < 0) throw_errno("fcntl(F_DUPFD_CLOEXEC)");
            *end = UniqueFd(moved);
        }
    }
    return result;
}

void set_nonblocking(int fd)
{
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) throw_errno("fcntl(O_NONBLOCK)");
}

void fill_status(ProcessResult& result, int status)
{
    if (WIFEXITED(status)) {
        result.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        result.exit_code = -1;
        result.term_signal = WTERMSIG(status);
    }
}

/// waitpid that retries on EINTR; returns the pid, 0 (WNOHANG, still running) or -1.
pid_t wait_for_pid(pid_t pid, int& status, int flags)
{
    while (true) {
        const pid_t done = ::waitpid(pid, &status, flags);
        if (done >= 0 || errno != EINTR) return done;
    }
}

}  // namespace

/// The child's environment: ours in order, minus unset and overridden names, plus overrides.
std::vector<std::string> child_environment(const ProcessOptions& options)
{
    std::set<std::string, std::less<>> dropped(options.unset_env.begin(), options.unset_env.end());
    for (const auto& [name, value] : options.env) dropped.insert(name);
    std::vector<std::string> result;
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
        const std::string_view item(*entry);
        const auto eq = item.find('=');
        const std::string_view name = item.substr(0, eq);
        if (dropped.count(name) == 0) result.emplace_back(item);
    }
    for (const auto& [name, value] : options.env) {
        if (std::find(options.unset_env.begin(), options.unset_env.end(), name) == options.unset_env.end()) {
            result.push_back(name + "=" + value);
        }
    }
    return result;
}

/// argv[0] when it names a path, else its first executable match in the child's PATH.
std::string resolve_program(const std::string& program, const std::vector<std::string>& env)
{
    if (program.find('/') != std::string::npos) return program;
    std::string path = "/usr/local/bin:/usr/bin:/bin";
    for (const auto& item : env) {
        if (item.rfind("PATH=", 0) == 0) path = item.substr(5);
    }
    std::size_t start = 0;
    while (start <= path.size()) {
        const auto end = std::min(path.find(':', start), path.size());
        const std::string dir = end == start ? "." : path.substr(start, end - start);
        const std::string candidate = dir + "/" + program;
        struct stat info {};
        if (::stat(candidate.c_str(), &info) == 0 && S_ISREG(info.st_mode) && ::access(candidate.c_str(), X_OK) == 0) {
            return candidate;
        }
        start = end + 1;
    }
    return program;  // execve fails with ENOENT and we report it
}

/// State shared between the owning BackgroundProcess and its reader thread.
struct BackgroundProcess::Io {
    UniqueFd stdin_fd;   // parent's write end; invalid once all data is written or refused
    UniqueFd stdout_fd;  // parent's read ends
    UniqueFd stderr_fd;
    UniqueFd wake_read;  // written by request_stop() to interrupt poll()
    UniqueFd wake_write;
    std::string stdin_data;
    std::size_t stdin_written = 0;

    mutable std::mutex mutex;
    std::condition_variable changed;
    std::string out;
    std::string err;
    bool done = false;

    void request_stop()
    {
        const char byte = 1;
        while (::write(wake_write.get(), &byte, 1) < 0 && errno == EINTR) {
        }
    }

    // Appends to `target` whatever `fd` has; closes `fd` on EOF or error. With `drain`, reads until
    // the pipe is empty. Returns false once the fd is closed.
    bool read_some(UniqueFd& fd, std::string& target, bool drain)
    {
        char buffer[65536];
        while (fd.valid()) {
            const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
            if (n > 0) {
                {
                    std::lock_guard lock(mutex);
                    target.append(buffer, static_cast<std::size_t>(n));
                }
                changed.notify_all();
                if (!drain) return true;
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
            fd.reset();  // EOF or a real error
        }
        return false;
    }

    void write_stdin()
    {
        while (stdin_fd.valid() && stdin_written < stdin_data.size()) {
            const ssize_t n =
                ::write(stdin_fd.get(), stdin_data.data() + stdin_written, stdin_data.size() - stdin_written);
            if (n > 0) {
                stdin_written += static_cast<std::size_t>(n);
            } else if (n < 0 && errno == EINTR) {
                continue;
            } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                return;
            } else {
                // EPIPE: the child closed its stdin. Swallow the SIGPIPE this thread has pending.
                sigset_t pipe_set;
                sigemptyset(&pipe_set);
                sigaddset(&pipe_set, SIGPIPE);
                const timespec zero{};
                ::sigtimedwait(&pipe_set, nullptr, &zero);
                break;
            }
        }
        stdin_fd.reset();  // all written (or refused): the child sees EOF
    }

    void run()
    {
        // A write to a child that closed stdin must not kill the test process with SIGPIPE.
        sigset_t pipe_set;
        sigemptyset(&pipe_set);
        sigaddset(&pipe_set, SIGPIPE);
        ::pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);

        if (stdin_data.empty()) stdin_fd.reset();
        write_stdin();
        bool stopping = false;
        while (!stopping && (stdout_fd.valid() || stderr_fd.valid() || stdin_fd.valid())) {
            pollfd fds[4];
            nfds_t count = 0;
            int out_index = -1;
            int err_index = -1;
            int in_index = -1;
            if (stdout_fd.valid()) {
                out_index = static_cast<int>(count);
                fds[count++] = {stdout_fd.get(), POLLIN, 0};
            }
            if (stderr_fd.valid()) {
                err_index = static_cast<int>(count);
                fds[count++] = {stderr_fd.get(), POLLIN, 0};
            }
            if (stdin_fd.valid()) {
                in_index = static_cast<int>(count);
                fds[count++] = {stdin_fd.get(), POLLOUT, 0};
            }
            const int wake_index = static_cast<int>(count);
            fds[count++] = {wake_read.get(), POLLIN, 0};

            if (::poll(fds, count, -1) < 0) {
                if (errno == EINTR) continue;
                break;
            }
            if (fds[wake_index].revents != 0) stopping = true;
            if (out_index >= 0 && fds[out_index].revents != 0) read_some(stdout_fd, out, stopping);
            if (err_index >= 0 && fds[err_index].revents != 0) read_some(stderr_fd, err, stopping);
            if (in_index >= 0 && fds[in_index].revents != 0) write_stdin();
        }
        // Take whatever is still buffered in the pipes, then let go of them.
        read_some(stdout_fd, out, true);
        read_some(stderr_fd, err, true);
        stdout_fd.reset();
        stderr_fd.reset();
        stdin_fd.reset();
        {
            std::lock_guard lock(mutex);
            done = true;
        }
        changed.notify_all();
    }
};

BackgroundProcess::BackgroundProcess(const std::vector<std::string>& argv, const ProcessOptions& options)
    : m_io(std::make_shared<Io>())
{
    if (argv.empty()) throw std::invalid_argument("run_process: empty argv");

    // Everything the child needs is allocated before fork: after it, only async-signal-safe calls.
    const std::vector<std::string> env_strings = child_environment(options);
    const std::string program = resolve_program(argv[0], env_strings);
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    std::vector<char*> envp;
    envp.reserve(env_strings.size() + 1);
    for (const auto& item : env_strings) envp.push_back(const_cast<char*>(item.c_str()));
    envp.push_back(nullptr);

    Pipe in = make_pipe();
    Pipe out = make_pipe();
    Pipe err = make_pipe();
    Pipe exec_error = make_pipe();  // the child reports a failed execve's errno here
    Pipe wake = make_pipe();
    const pid_t parent = ::getpid();

    const pid_t pid = ::fork();
    if (pid < 0) throw_errno("fork");
    if (pid == 0) {
        // Child. Own process group, so a timeout can kill whatever it forked as well.
        ::setpgid(0, 0);
        // Die with the thread that started us (a crashed or killed test leaves no orphans).
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(127);
        if (::dup2(in.read.get(), STDIN_FILENO) < 0 || ::dup2(out.write.get(), STDOUT_FILENO) < 0 ||
            ::dup2(err.write.get(), STDERR_FILENO) < 0) {
            const int code = errno;
            [[maybe_unused]] auto ignored = ::write(exec_error.write.get(), &code, sizeof code);
            ::_exit(127);
        }
        // Default signal handling and an empty mask, whatever the test process had set up.
        struct sigaction default_action {};
        default_action.sa_handler = SIG_DFL;
        sigemptyset(&default_action.sa_mask);
        for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &default_action, nullptr);
        sigset_t empty;
        sigemptyset(&empty);
        ::sigprocmask(SIG_SETMASK, &empty, nullptr);
        // No inherited descriptor (a test's database socket, say) outlives execve.
        ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
        ::execve(program.c_str(), args.data(), envp.data());
        const int code = errno;
        [[maybe_unused]] auto ignored = ::write(exec_error.write.get(), &code, sizeof code);
        ::_exit(127);
    }

    // Parent. Mirror the child's setpgid so a kill(-pid) right away cannot miss it.
    ::setpgid(pid, pid);
    in.read.reset();
    out.write.reset();
    err.write.reset();
    exec_error.write.reset();

    int exec_errno = 0;
    ssize_t got = 0;
    do {
        got = ::read(exec_error.read.get(), &exec_errno, sizeof exec_errno);
    } while (got < 0 && errno == EINTR);
    if (got == static_cast<ssize_t>(sizeof exec_errno)) {
        int status = 0;
        wait_for_pid(pid, status, 0);
        throw std::system_error(exec_errno, std::generic_category(), "cannot execute " + program);
    }

    m_pid = pid;
    m_io->stdin_fd = std::move(in.write);
    m_io->stdout_fd = std::move(out.read);
    m_io->stderr_fd = std::move(err.read);
    m_io->wake_read = std::move(wake.read);
    m_io->wake_write = std::move(wake.write);
    m_io->stdin_data = options.stdin_data;
    set_nonblocking(m_io->stdin_fd.get());
    set_nonblocking(m_io->stdout_fd.get());
    set_nonblocking(m_io->stderr_fd.get());
    try {
        m_reader = std::thread([io = m_io] { io->run(); });
    } catch (...) {
        kill_and_reap();
        throw;
    }
}

BackgroundProcess::~BackgroundProcess()
{
    if (!m_reaped) kill_and_reap();
    if (m_reader.joinable()) {
        m_io->request_stop();
        m_reader.join();
    }
}

void BackgroundProcess::kill_and_reap()
{
    if (m_reaped || m_pid <= 0) return;
    // The zombie keeps the pid (and so the group id) reserved until we reap it below.
    ::kill(-m_pid, SIGKILL);
    ::kill(m_pid, SIGKILL);
    if (wait_for_pid(m_pid, m_status, 0) == m_pid || errno == ECHILD) m_reaped = true;
}

void BackgroundProcess::send_signal(int sig)
{
    if (!m_reaped && m_pid > 0) ::kill(m_pid, sig);
}

bool BackgroundProcess::running()
{
    if (m_reaped) return false;
    const pid_t done = wait_for_pid(m_pid, m_status, WNOHANG);
    if (done == m_pid || (done < 0 && errno == ECHILD)) m_reaped = true;
    return !m_reaped;
}

void BackgroundProcess::finish_io(milliseconds grace)
{
    if (!m_reader.joinable()) return;
    {
        std::unique_lock lock(m_io->mutex);
        m_io->changed.wait_for(lock, grace, [&] { return m_io->done; });
    }
    m_io->request_stop();
    m_reader.join();
}

ProcessResult BackgroundProcess::wait(milliseconds timeout)
{
    if (m_result) return *m_result;
    ProcessResult result;
    const auto deadline = Clock::now() + timeout;
    auto step = milliseconds(1);
    while (running()) {
        const auto now = Clock::now();
        if (now >= deadline) {
            kill_and_reap();
            result.timed_out = true;
            break;
        }
        const auto left = std::chrono::duration_cast<milliseconds>(deadline - now) + milliseconds(1);
        std::this_thread::sleep_for(std::min(step, left));
        step = std::min(step * 2, milliseconds(20));
    }
    finish_io(k_exit_grace);
    fill_status(result, m_status);
    {
        std::lock_guard lock(m_io->mutex);
        result.out = std::move(m_io->out);
        result.err = std::move(m_io->err);
    }
    m_result = result;
    return result;
}

std::string BackgroundProcess::out_so_far() const
{
    if (m_result) return m_result->out;
    std::lock_guard lock(m_io->mutex);
    return m_io->out;
}

std::string BackgroundProcess::err_so_far() const
{
    if (m_result) return m_result->err;
    std::lock_guard lock(m_io->mutex);
    return m_io->err;
}

bool BackgroundProcess::wait_for_output(std::string_view needle, milliseconds timeout)
{
    if (m_result) {
        return m_result->out.find(needle) != std::string::npos || m_result->err.find(needle) != std::string::npos;
    }
    std::unique_lock lock(m_io->mutex);
    m_io->changed.wait_for(lock, timeout, [&] {
        return m_io->done || m_io->out.find(needle) != std::string::npos || m_io->err.find(needle) != std::string::npos;
    });
    return m_io->out.find(needle) != std::string::npos || m_io->err.find(needle) != std::string::npos;
}

ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options)
{
    BackgroundProcess child(argv, options);
    return child.wait(options.timeout);
}

std::string reconcile_binary()
{
    if (const char* path = std::getenv("RECON_TEST_BINARY"); path != nullptr && *path != '\0') {
        return path;
    }
#ifdef RECON_BINARY_PATH
    return RECON_BINARY_PATH;
#else
    throw std::runtime_error("RECON_TEST_BINARY is not set and RECON_BINARY_PATH was not defined at compile time");
#endif
}

}  // namespace reconcile::test
