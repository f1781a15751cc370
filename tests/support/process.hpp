#pragma once

// Runs real programs (above all the reconcile binary) from tests: fork/execve with pipes, output
// captured from both streams at once so a chatty child never blocks, and every child reaped.

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace reconcile::test {

/// How to start a child: tests vary its environment and stdin without touching their own.
struct ProcessOptions {
    std::map<std::string, std::string> env;    ///< added/overridden on top of the current environment
    std::vector<std::string> unset_env;        ///< removed from the child's environment
    std::string stdin_data;                    ///< written to the child's stdin, then closed
    std::chrono::milliseconds timeout{60000};  ///< run_process: SIGKILL after this, timed_out=true
                                               ///< (BackgroundProcess: wait() takes its own)
};

/// What a finished child left behind, so tests can assert on exit code and both streams.
struct ProcessResult {
    int exit_code = -1;      ///< the exit status, or -1 when a signal ended it
    int term_signal = 0;     ///< the signal that ended it (SIGKILL after a timeout), else 0
    bool timed_out = false;  ///< true when we killed it for running past its timeout
    std::string out;         ///< everything it wrote to stdout
    std::string err;         ///< everything it wrote to stderr
};

/// A child running in the background, for lock contention, kill -9 and server tests. A reader
/// thread drains stdout/stderr (and feeds stdin) continuously, so the child never blocks on a full
/// pipe. The child runs in its own process group and gets SIGKILL if the thread that started it
/// exits (PR_SET_PDEATHSIG): create it on a thread that outlives it. Use from one thread.
class BackgroundProcess {
public:
    /// Starts argv[0] (a path; a bare name is looked up in PATH). Throws std::system_error when it
    /// cannot be executed (missing file, no permission).
    BackgroundProcess(const std::vector<std::string>& argv, const ProcessOptions& options = {});
    /// SIGKILLs the child (and its process group) if it still runs, then reaps it: no leftovers.
    ~BackgroundProcess();
    BackgroundProcess(const BackgroundProcess&) = delete;
    BackgroundProcess& operator=(const BackgroundProcess&) = delete;

    /// The child's pid (also its process group id), e.g. to find it in pg_stat_activity.
    pid_t pid() const { return m_pid; }
    /// Sends `sig` to the child itself (not its group); a no-op once it has been reaped.
    void send_signal(int sig);
    /// Non-blocking: true while the child has not exited (reaps it when it has).
    bool running();
    /// Waits for the child to exit, SIGKILLing its process group after `timeout` (timed_out=true),
    /// and returns its exit status with all output. Calling it again returns the same result.
    ProcessResult wait(std::chrono::milliseconds timeout = std::chrono::milliseconds(60000));

    /// Output captured so far, while the child runs (e.g. to read the port a server printed).
    std::string out_so_far() const;
    /// Stderr captured so far, while the child runs.
    std::string err_so_far() const;
    /// Blocks until `needle` appears in stdout or stderr (true), or the child closed both streams
    /// or `timeout` passed (false): waits for a server's "listening" line without sleeping.
    bool wait_for_output(std::string_view needle, std::chrono::milliseconds timeout);

private:
    struct Io;  // pipes, buffers and reader-thread state shared with m_reader

    void kill_and_reap();
    void finish_io(std::chrono::milliseconds grace);

    std::shared_ptr<Io> m_io;
    pid_t m_pid = -1;
    bool m_reaped = false;
    int m_status = 0;
    std::thread m_reader;
    std::optional<ProcessResult> m_result;
};

/// Runs argv[0] (a path) to completion, capturing stdout and stderr (both pipes drained at once:
/// no deadlock on big outputs); SIGKILLs it after options.timeout. Throws std::system_error when
/// it cannot be executed.
ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options = {});

/// The environment a child started with `options` gets: ours in order, minus unset and
/// overridden names, plus the overrides (shared by every way of starting a child).
std::vector<std::string> child_environment(const ProcessOptions& options);

/// argv[0] when it names a path, else its first executable match in `env`'s PATH.
std::string resolve_program(const std::string& program, const std::vector<std::string>& env);

/// Path of the reconcile binary under test: env RECON_TEST_BINARY, else the compile definition
/// RECON_BINARY_PATH (a string literal), so one test build can exercise another binary.
std::string reconcile_binary();

}  // namespace reconcile::test
