#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace reconcile {

/// The one exit-code table every subcommand uses (README "Exit codes").
enum class ExitCode : int {
    ok = 0,             ///< ran; every check ok or warn
    check_failed = 1,   ///< ran; at least one check failed (or warned with --fail-on warn)
    check_error = 2,    ///< ran; at least one check could not complete
    lock_held = 11,     ///< skipped: another run holds the lock; nothing written
    usage = 64,         ///< bad command line
    unavailable = 69,   ///< database (or every broker) unreachable
    internal = 70,      ///< internal error
    io_error = 74,      ///< the report could not be written (EX_IOERR)
    transient = 75,     ///< transient failure mid-run; safe to retry
    config = 78,        ///< bad configuration or unreadable secret
    interrupted = 130,  ///< a run stopped by SIGINT (128 + 2); marked `interrupted`, nothing written
    terminated = 143,   ///< a run stopped by SIGTERM (128 + 15); marked `interrupted`, nothing written
};

/// The numeric process exit status of a code.
constexpr int to_int(ExitCode code)
{
    return static_cast<int>(code);
}

/// One row of the exit-code table as documented (README, man page).
struct ExitCodeDoc {
    ExitCode code;
    const char* meaning;
};

/// The exit-code table in order, the one text the man page prints and the README must match.
const std::vector<ExitCodeDoc>& exit_code_docs();

/// A failure that knows which exit code it maps to; the message is one line for the operator.
/// `message` with every NUL written as the four characters \x00: what() is a C string, so a NUL
/// from a request or an argument would cut the message short wherever it is shown.
std::string without_nul(const std::string& message);

class Error : public std::runtime_error {
public:
    Error(ExitCode code, const std::string& message) : std::runtime_error(without_nul(message)), m_code(code) {}
    /// The exit code `main` returns for this failure.
    ExitCode code() const { return m_code; }

private:
    ExitCode m_code;
};

/// Maps the exception in flight (inside a catch block) to its exit code and a one-line message.
/// Connection losses become `transient` when `connected` (mid-run) and `unavailable` otherwise.
std::pair<ExitCode, std::string> classify_current_exception(bool connected = true);

}  // namespace reconcile
