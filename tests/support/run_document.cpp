#include "tests/support/run_document.hpp"

#include <algorithm>
#include <stdexcept>

namespace reconcile::test {

const nlohmann::json& check_named(const nlohmann::json& run, const std::string& name)
{
    for (const auto& check : run["checks"]) {
        if (check["check_name"] == name) return check;
    }
    throw std::runtime_error("no check " + name);
}

std::vector<std::string> run_variance_lines(const nlohmann::json& run, WithAmounts amounts)
{
    std::vector<std::string> lines;
    for (const auto& check : run["checks"]) {
        for (const auto& variance : check["variances"]) {
            std::string line = check["check_name"].get<std::string>() + ": " + variance["kind"].get<std::string>();
            for (const auto& [key, value] : variance["keys"].items())
                line += " " + key + "=" + value.get<std::string>();
            if (amounts == WithAmounts::yes) {
                for (const char* amount : {"expected", "actual", "difference"}) {
                    if (variance.contains(amount) && variance[amount].is_string())
                        line += std::string(" ") + amount + "=" + variance[amount].get<std::string>();
                }
            }
            lines.push_back(std::move(line));
        }
    }
    std::sort(lines.begin(), lines.end());
    return lines;
}

}  // namespace reconcile::test
