// Compiled by the `layering` test with checks/'s include root: it must not find cli/.
#include "cli/commands.hpp"
