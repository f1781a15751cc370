#pragma once

// Runs a program with its stderr on a pseudo-terminal, as when a person starts it in a shell,
// and its stdout on a pipe, so a test can tell what the terminal showed from what a pipeline
// reads (terminal progress must never reach stdout).

#include <string>
#include <vector>

#include "tests/support/process.hpp"

namespace reconcile::test {

/// Runs argv[0] (a path, or a name looked up in PATH) to completion with stdin and stderr on a
/// new pseudo-terminal in raw mode (bytes arrive exactly as written: no "\n" -> "\r\n") and
/// stdout on a pipe. `err` is what the terminal received, `out` what the pipe did. SIGKILLs the
/// child after options.timeout (timed_out). options.stdin_data is ignored.
ProcessResult run_with_terminal_stderr(const std::vector<std::string>& argv, const ProcessOptions& options = {});

}  // namespace reconcile::test
