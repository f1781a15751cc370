#pragma once

#include <string>

#include "checks/check.hpp"

namespace reconcile {

/// A registered check whose implementation has not landed yet. It never pretends to pass:
/// it ends `error` with the metric {"not_implemented": true}.
class NotImplementedCheck : public Check {
public:
    NotImplementedCheck(std::string name, char category, std::string description)
        : m_name(std::move(name)), m_category(category), m_description(std::move(description))
    {
    }
    std::string_view name() const override { return m_name; }
    char category() const override { return m_category; }
    std::string_view description() const override { return m_description; }
    void run(CheckContext& context) const override;

private:
    std::string m_name;
    char m_category;
    std::string m_description;
};

}  // namespace reconcile
