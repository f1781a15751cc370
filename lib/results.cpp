#include "lib/results.hpp"

#include <algorithm>

#include "lib/decimal.hpp"
#include "lib/hash.hpp"

namespace reconcile {

std::string_view to_string(CheckStatus status)
{
    switch (status) {
        case CheckStatus::ok:
            return "ok";
        case CheckStatus::warn:
            return "warn";
        case CheckStatus::error:
            return "error";
        case CheckStatus::fail:
            return "fail";
    }
    return "error";
}

std::optional<CheckStatus> parse_check_status(std::string_view text)
{
    for (auto status : {CheckStatus::ok, CheckStatus::warn, CheckStatus::error, CheckStatus::fail}) {
        if (to_string(status) == text) return status;
    }
    return std::nullopt;
}

CheckStatus worst(CheckStatus a, CheckStatus b)
{
    return a < b ? b : a;
}

std::string variance_fingerprint(std::string_view check_name, const Variance& variance)
{
    auto keys = variance.keys;
    std::sort(keys.begin(), keys.end());
    // Unit separators keep ("ab","c") and ("a","bc") apart.
    std::string material;
    material.append(check_name).push_back('\x1f');
    material.append(variance.kind).push_back('\x1f');
    for (const auto& [name, value] : keys) {
        material.append(name).push_back('=');
        material.append(value).push_back('\x1f');
    }
    const auto digest = sha256(material);
    return to_hex(std::span<const std::uint8_t>(digest.data(), 16));
}

void VarianceCollector::add(Variance variance)
{
    // Every variance of every check, listed the one way: its figures at one scale, so a zero or
    // absent side reads "0.00" beside "10.00" (docs/decisions/one-scale-side-by-side.md).
    align_decimal_texts({variance.expected, variance.actual, variance.difference});
    ++m_total;
    if (m_listed.size() < m_cap) m_listed.push_back(std::move(variance));
}

void finalize_variances(CheckResult& result)
{
    for (auto& variance : result.variances) {
        variance.fingerprint = variance_fingerprint(result.check_name, variance);
    }
}

CheckStatus overall_status(const std::vector<CheckResult>& checks)
{
    CheckStatus status = CheckStatus::ok;
    for (const auto& check : checks) status = worst(status, check.status);
    return status;
}

RunStatus run_status_of(CheckStatus worst_check)
{
    switch (worst_check) {
        case CheckStatus::ok:
            return RunStatus::ok;
        case CheckStatus::warn:
            return RunStatus::warn;
        case CheckStatus::error:
            return RunStatus::error;
        case CheckStatus::fail:
            return RunStatus::fail;
    }
    return RunStatus::error;
}

std::optional<CheckStatus> check_status_of(RunStatus status)
{
    switch (status) {
        case RunStatus::ok:
            return CheckStatus::ok;
        case RunStatus::warn:
            return CheckStatus::warn;
        case RunStatus::error:
            return CheckStatus::error;
        case RunStatus::fail:
            return CheckStatus::fail;
        case RunStatus::running:
        case RunStatus::abandoned:
        case RunStatus::interrupted:
            return std::nullopt;
    }
    return std::nullopt;
}

}  // namespace reconcile
