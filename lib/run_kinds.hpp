#pragma once

// The closed sets a run is described by: its category, its status, its trigger, and how a
// broker answered. Code passes these enums; text exists only at the edges (SQL, JSON, CLI),
// converted by the one to_string/parse pair of each type below.

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace reconcile {

/// A check's category (DESIGN §3): A ledger integrity, B ledger derivations, C brokers, D flows.
enum class Category { A, B, C, D };

/// Every category in run order (a scheduled cycle runs them in this order).
inline constexpr std::array<Category, 4> all_categories{Category::A, Category::B, Category::C, Category::D};

/// "A".."D".
std::string_view to_string(Category category);
/// "A".."D", case-insensitive; std::nullopt for anything else.
std::optional<Category> parse_category_text(std::string_view text);

/// A run row's status. `running` until it ends; the others are terminal. New statuses are added
/// here and in the table of lib/run_kinds.cpp.
enum class RunStatus { running, ok, warn, fail, error, abandoned, interrupted };

/// "running", "ok", ...
std::string_view to_string(RunStatus status);
/// Inverse of to_string; std::nullopt for anything else.
std::optional<RunStatus> parse_run_status(std::string_view text);
/// Every run status as text, in declaration order (for CLI and API validation).
std::vector<std::string> run_status_names();

/// What started a run: a person (`reconcile run`), the scheduler (tick, serve, --if-due) or the
/// HTTP API.
enum class Trigger { manual, schedule, api };

/// "manual", "schedule", "api".
std::string_view to_string(Trigger trigger);
/// Inverse of to_string; std::nullopt for anything else.
std::optional<Trigger> parse_trigger(std::string_view text);
/// Every trigger as text (for CLI validation).
std::vector<std::string> trigger_names();

/// How the brokers a category C check needed answered (the check's typed result; the metrics
/// carry the same as "broker_status" text for readers of the JSON).
enum class BrokerReach {
    not_contacted,   ///< nothing to ask
    reachable,       ///< at least one answer came back
    unreachable,     ///< the broker as a whole could not be reached
    not_configured,  ///< no settings to reach it
};

/// "not_contacted", "reachable", "unreachable", "not_configured".
std::string_view to_string(BrokerReach reach);
/// Inverse of to_string (a check's persisted "broker_status" metric); std::nullopt otherwise.
std::optional<BrokerReach> parse_broker_reach(std::string_view text);

/// How much of its category a run covered: every check (`full`), or only the checks named with
/// `--check` (`partial`). A partial run never stands in for its category's status (issue 17).
enum class RunScope { full, partial };

/// "full", "partial".
std::string_view to_string(RunScope scope);
/// Inverse of to_string; std::nullopt for anything else.
std::optional<RunScope> parse_run_scope(std::string_view text);

/// How a category A or B run proved the ledger: from scratch (`full`) or from the stored proof of
/// the previous run plus what was committed since (`incremental`; issue 16).
enum class ProofKind { full, incremental };

/// "full", "incremental".
std::string_view to_string(ProofKind kind);
/// Inverse of to_string; std::nullopt for anything else.
std::optional<ProofKind> parse_proof_kind(std::string_view text);

/// What a person decided a break is (runbook step 3): a data issue (reverse the transaction, fix
/// the ingest), a code issue (fix the rule) or timing (often heals by itself next cycle).
enum class VarianceClass { data, code, timing };

/// "data", "code", "timing".
std::string_view to_string(VarianceClass variance_class);
/// Inverse of to_string; std::nullopt for anything else.
std::optional<VarianceClass> parse_variance_class(std::string_view text);
/// Every class as text (for CLI validation).
std::vector<std::string> variance_class_names();

inline void to_json(nlohmann::json& json, Category value)
{
    json = std::string(to_string(value));
}
inline void to_json(nlohmann::json& json, RunStatus value)
{
    json = std::string(to_string(value));
}
inline void to_json(nlohmann::json& json, Trigger value)
{
    json = std::string(to_string(value));
}
inline void to_json(nlohmann::json& json, BrokerReach value)
{
    json = std::string(to_string(value));
}
inline void to_json(nlohmann::json& json, RunScope value)
{
    json = std::string(to_string(value));
}
inline void to_json(nlohmann::json& json, ProofKind value)
{
    json = std::string(to_string(value));
}

/// Formats a run kind as its text, so log lines and messages read "uae/A", "status fail".
template <typename E>
struct KindFormatter : fmt::formatter<std::string_view> {
    template <typename Context>
    auto format(E value, Context& context) const
    {
        return fmt::formatter<std::string_view>::format(to_string(value), context);
    }
};

}  // namespace reconcile

template <>
struct fmt::formatter<reconcile::Category> : reconcile::KindFormatter<reconcile::Category> {
};
template <>
struct fmt::formatter<reconcile::RunStatus> : reconcile::KindFormatter<reconcile::RunStatus> {
};
template <>
struct fmt::formatter<reconcile::Trigger> : reconcile::KindFormatter<reconcile::Trigger> {
};
template <>
struct fmt::formatter<reconcile::BrokerReach> : reconcile::KindFormatter<reconcile::BrokerReach> {
};
template <>
struct fmt::formatter<reconcile::RunScope> : reconcile::KindFormatter<reconcile::RunScope> {
};
template <>
struct fmt::formatter<reconcile::ProofKind> : reconcile::KindFormatter<reconcile::ProofKind> {
};
