// gort/gort.hpp: the whole public API (../shared/API.md).
#pragma once

#include "gort/chan.hpp"
#include "gort/context.hpp"
#include "gort/errgroup.hpp"
#include "gort/net.hpp"
#include "gort/runtime.hpp"
#include "gort/select.hpp"
#include "gort/sync.hpp"
#include "gort/trace.hpp"
#include "gort/time.hpp"
