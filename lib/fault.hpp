#pragma once

#include <string_view>

namespace reconcile {

/// TEST-ONLY fault injection: when the environment variable RECON_FAULT_PAUSE_<POINT>_MS holds a
/// positive number, logs "fault hook: pausing at <point> for N ms" and sleeps that long, so the
/// fault suite can kill the process or break its connection at an exact point of a run (e.g.
/// BEFORE_RESULTS_COMMIT: inside the results transaction, after every row is written, before
/// COMMIT). Never set it in production; unset, it costs one getenv.
void fault_pause(std::string_view point);

}  // namespace reconcile
