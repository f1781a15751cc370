#pragma once

// Small ASCII text helpers, written once (headers, settings names, statuses, codes).

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

namespace reconcile {

/// ASCII upper case ("fail" -> "FAIL"); other bytes unchanged.
inline std::string upper(std::string_view text)
{
    std::string result(text);
    std::transform(result.begin(), result.end(), result.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    return result;
}

/// ASCII lower case ("Content-Type" -> "content-type"); other bytes unchanged.
inline std::string lower(std::string_view text)
{
    std::string result(text);
    std::transform(result.begin(), result.end(), result.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return result;
}

}  // namespace reconcile
