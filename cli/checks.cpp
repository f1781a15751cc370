#include <fmt/format.h>

#include <iostream>

#include <nlohmann/json.hpp>

#include "checks/registry.hpp"
#include "cli/commands.hpp"
#include "lib/brokers/broker.hpp"
#include "lib/config.hpp"

namespace reconcile {

CLI::App* setup_checks(CLI::App& app, ChecksOptions& options)
{
    auto* command = app.add_subcommand("checks", "List every registered check");
    add_output_option(*command, options.output);
    return command;
}

int checks_command(const ChecksOptions& options, const GlobalOptions& global)
{
    const Settings settings = load_settings_from(global.config_path);
    const auto& registry = default_registry();
    if (options.output == OutputFormat::json) {
        nlohmann::json list = nlohmann::json::array();
        for (const auto& check : registry.all()) {
            nlohmann::json entry = {{"check_name", check->name()},
                                    {"category", check->category()},
                                    {"books", settings.books},
                                    {"description", check->description()}};
            // Category C: whose API the check speaks, and whether it is published or provisional.
            if (const auto broker = check->broker()) {
                entry["broker"] = broker_code(*broker);
                entry["contract"] = to_string(contract_of(*broker));
            }
            list.push_back(std::move(entry));
        }
        std::cout << list.dump(2) << '\n';
        return 0;
    }
    for (const auto& check : registry.all()) {
        std::cout << fmt::format("{}  {:<26}  {}\n", check->category(), check->name(), check->description());
    }
    return 0;
}

}  // namespace reconcile
