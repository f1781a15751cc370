#include "lib/run_kinds.hpp"

#include <cctype>
#include <span>
#include <utility>

namespace reconcile {
namespace {

/// Each type's one table of names: to_string and parse read the same rows.
template <typename E>
using Name = std::pair<E, std::string_view>;
template <typename E>
using Names = std::span<const Name<E>>;

constexpr Name<Category> category_names[] = {
    {Category::A, "A"}, {Category::B, "B"}, {Category::C, "C"}, {Category::D, "D"}};
constexpr Name<RunStatus> status_names[] = {{RunStatus::running, "running"},
                                            {RunStatus::ok, "ok"},
                                            {RunStatus::warn, "warn"},
                                            {RunStatus::fail, "fail"},
                                            {RunStatus::error, "error"},
                                            {RunStatus::abandoned, "abandoned"},
                                            {RunStatus::interrupted, "interrupted"}};
constexpr Name<Trigger> trigger_table[] = {
    {Trigger::manual, "manual"}, {Trigger::schedule, "schedule"}, {Trigger::api, "api"}};
constexpr Name<BrokerReach> reach_names[] = {{BrokerReach::not_contacted, "not_contacted"},
                                             {BrokerReach::reachable, "reachable"},
                                             {BrokerReach::unreachable, "unreachable"},
                                             {BrokerReach::not_configured, "not_configured"}};
constexpr Name<RunScope> scope_names[] = {{RunScope::full, "full"}, {RunScope::partial, "partial"}};
constexpr Name<ProofKind> proof_names[] = {{ProofKind::full, "full"}, {ProofKind::incremental, "incremental"}};
constexpr Name<VarianceClass> class_names[] = {
    {VarianceClass::data, "data"}, {VarianceClass::code, "code"}, {VarianceClass::timing, "timing"}};

template <typename E>
std::string_view name_of(Names<E> names, E value)
{
    for (const auto& [entry, text] : names) {
        if (entry == value) return text;
    }
    return "?";  // unreachable: every enumerator has a row
}

template <typename E>
std::optional<E> value_of(Names<E> names, std::string_view text)
{
    for (const auto& [entry, name] : names) {
        if (name == text) return entry;
    }
    return std::nullopt;
}

template <typename E>
std::vector<std::string> all_names(Names<E> names)
{
    std::vector<std::string> out;
    for (const auto& [entry, name] : names) out.emplace_back(name);
    return out;
}

}  // namespace

std::string_view to_string(Category category)
{
    return name_of<Category>(category_names, category);
}

std::optional<Category> parse_category_text(std::string_view text)
{
    if (text.size() != 1) return std::nullopt;
    const char upper = static_cast<char>(std::toupper(static_cast<unsigned char>(text.front())));
    return value_of<Category>(category_names, std::string_view(&upper, 1));
}

std::string_view to_string(RunStatus status)
{
    return name_of<RunStatus>(status_names, status);
}

std::optional<RunStatus> parse_run_status(std::string_view text)
{
    return value_of<RunStatus>(status_names, text);
}

std::vector<std::string> run_status_names()
{
    return all_names<RunStatus>(status_names);
}

std::string_view to_string(Trigger trigger)
{
    return name_of<Trigger>(trigger_table, trigger);
}

std::optional<Trigger> parse_trigger(std::string_view text)
{
    return value_of<Trigger>(trigger_table, text);
}

std::vector<std::string> trigger_names()
{
    return all_names<Trigger>(trigger_table);
}

std::string_view to_string(BrokerReach reach)
{
    return name_of<BrokerReach>(reach_names, reach);
}

std::optional<BrokerReach> parse_broker_reach(std::string_view text)
{
    return value_of<BrokerReach>(reach_names, text);
}

std::string_view to_string(RunScope scope)
{
    return name_of<RunScope>(scope_names, scope);
}

std::optional<RunScope> parse_run_scope(std::string_view text)
{
    return value_of<RunScope>(scope_names, text);
}

std::string_view to_string(ProofKind kind)
{
    return name_of<ProofKind>(proof_names, kind);
}

std::optional<ProofKind> parse_proof_kind(std::string_view text)
{
    return value_of<ProofKind>(proof_names, text);
}

std::string_view to_string(VarianceClass variance_class)
{
    return name_of<VarianceClass>(class_names, variance_class);
}

std::optional<VarianceClass> parse_variance_class(std::string_view text)
{
    return value_of<VarianceClass>(class_names, text);
}

std::vector<std::string> variance_class_names()
{
    return all_names<VarianceClass>(class_names);
}

}  // namespace reconcile
