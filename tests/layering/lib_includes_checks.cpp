// Compiled by the `layering` test with lib/'s include root: it must not find checks/.
#include "checks/registry.hpp"
