// gort/gort.hpp: the whole public API (../shared/API.md).
#pragma once

#include "gort/runtime.hpp"
#include "gort/sync.hpp"
