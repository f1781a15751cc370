#pragma once

#include <functional>

#include "lib/errors.hpp"

namespace reconcile::test {

/// The exit code an action's reconcile::Error carries, or ok when it throws nothing.
inline ExitCode exit_code_of(const std::function<void()>& action)
{
    try {
        action();
    } catch (const Error& e) {
        return e.code();
    }
    return ExitCode::ok;
}

}  // namespace reconcile::test
