// The control: lib/'s include root does find lib/ (so the refusals above are about direction).
#include "lib/check_registry.hpp"
