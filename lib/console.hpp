#pragma once

// The console page's files, compiled into the binary from lib/console/ by
// cmake/embed_console.cmake (no build step: what is in the directory is what is served).

#include <string_view>
#include <vector>

namespace reconcile {

struct ConsoleAsset {
    std::string_view name;  ///< file name under lib/console/, e.g. "index.html"
    std::string_view body;
};

/// Every file of lib/console/, in name order.
const std::vector<ConsoleAsset>& console_assets();

}  // namespace reconcile
