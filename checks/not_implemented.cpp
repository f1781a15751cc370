#include "checks/not_implemented.hpp"

namespace reconcile {

void NotImplementedCheck::run(CheckContext& context) const
{
    context.metrics()["not_implemented"] = true;
    context.metrics()["error"] = "this check is registered but not implemented yet";
    context.raise(CheckStatus::error);
}

}  // namespace reconcile
